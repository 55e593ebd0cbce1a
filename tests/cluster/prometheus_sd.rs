//! A third real Eureka client, written in Go: Prometheus (Debian's `prometheus`, installed by
//! `tests/run.sh`) with `eureka_sd_configs` pointed at a follower lists the registered instances
//! as scrape targets with their `__meta_eureka_*` labels (read from its `/api/v1/targets`), and
//! drops one when it cancels. Prometheus reads `GET {server}/apps` as XML.

use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use serde_json::json;
use serde_json::Value;

use crate::support::free_port;
use crate::support::Cluster;

/// A Prometheus server on loopback with its own data folder, killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(eureka: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: eureka\n    eureka_sd_configs:\n      - server: {eureka}\n        refresh_interval: 1s\n"
            ),
        )
        .unwrap();
        let address = format!("127.0.0.1:{}", free_port());
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address={address}"))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Debian's prometheus: run `bash tests/run.sh`, which installs it");
        Prometheus {
            child,
            url: format!("http://{address}"),
            _dir: dir,
        }
    }

    /// The discovered labels of every active target, once Prometheus answers.
    async fn targets(&self, client: &reqwest::Client) -> Option<Vec<Value>> {
        let body: Value = client
            .get(format!("{}/api/v1/targets", self.url))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        Some(
            body["data"]["activeTargets"]
                .as_array()?
                .iter()
                .map(|t| t["discoveredLabels"].clone())
                .collect(),
        )
    }

    /// Waits (bounded) until the targets' instance ids are `want`; returns their labels.
    async fn wait_for(&self, client: &reqwest::Client, want: &[&str]) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = None;
        while Instant::now() < deadline {
            if let Some(targets) = self.targets(client).await {
                let mut ids: Vec<&str> = targets
                    .iter()
                    .filter_map(|t| t["__meta_eureka_app_instance_id"].as_str())
                    .collect();
                ids.sort();
                if ids == want {
                    return targets;
                }
                last = Some(targets);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("Prometheus never listed {want:?}; last targets: {last:?}");
    }
}

async fn register(cluster: &Cluster, node: usize, id: &str, port: u16) {
    let body = json!({ "instance": {
        "instanceId": id, "hostName": "127.0.0.1", "app": "PROM-APP", "ipAddr": "127.0.0.1",
        "vipAddress": "prom-app", "status": "UP",
        "port": { "$": port, "@enabled": "true" }, "securePort": { "$": 443, "@enabled": "false" },
        "dataCenterInfo": { "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn" },
        "leaseInfo": { "renewalIntervalInSecs": 30, "durationInSecs": 90 },
        "metadata": { "zone": "zone-a", "team": "metrics" }
    }});
    let response = cluster
        .client
        .post(cluster.nodes[node].url("/eureka/apps/PROM-APP"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_eureka_sd_lists_the_instances_and_drops_cancelled_ones() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;
    register(&cluster, leader, "prom-1", 9101).await;
    register(&cluster, leader, "prom-2", 9102).await;
    let prometheus = Prometheus::start(&cluster.nodes[follower].url("/eureka"));

    let targets = prometheus.wait_for(&cluster.client, &["prom-1", "prom-2"]).await;
    let first = targets
        .iter()
        .find(|t| t["__meta_eureka_app_instance_id"] == "prom-1")
        .unwrap();
    for (label, value) in [
        ("__address__", "127.0.0.1:9101"),
        ("__meta_eureka_app_name", "PROM-APP"),
        ("__meta_eureka_app_instance_hostname", "127.0.0.1"),
        ("__meta_eureka_app_instance_ip_addr", "127.0.0.1"),
        ("__meta_eureka_app_instance_status", "UP"),
        ("__meta_eureka_app_instance_port", "9101"),
        ("__meta_eureka_app_instance_port_enabled", "true"),
        ("__meta_eureka_app_instance_vip_address", "prom-app"),
        ("__meta_eureka_app_instance_datacenterinfo_name", "MyOwn"),
        ("__meta_eureka_app_instance_metadata_zone", "zone-a"),
        ("__meta_eureka_app_instance_metadata_team", "metrics"),
    ] {
        assert_eq!(first[label], value, "{label} in {first}");
    }

    let response = cluster
        .client
        .delete(cluster.nodes[leader].url("/eureka/apps/PROM-APP/prom-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    prometheus.wait_for(&cluster.client, &["prom-1"]).await;
}
