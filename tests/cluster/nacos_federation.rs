//! Federation with a real Nacos server (issue 22): r-nacos, built from crates.io by
//! `tests/peers/rnacos.sh` (or the binary `RNACOS_BIN` names), on loopback ports with its own
//! data directory, and a hub cluster of ours with a `kind = "nacos"` table, `direction = "both"`:
//! - import: instances registered in r-nacos (two groups) appear in the hub, through its Eureka
//!   and Nacos APIs, mirrored from the peer (`origin=rn`) with the hub in their hop path;
//! - export: instances registered at the hub (through Eureka and through Nacos) appear in
//!   r-nacos as ephemeral copies carrying `sync.origin` and `sync.hops`, kept alive by beats;
//! - no loop: each side lists each instance once, and over several seconds of rounds no import
//!   upsert and no export registration happens again (counted in `/admin/sync`);
//! - deletion both ways, and a deleted instance does not come back;
//! - the mass-delete guard: r-nacos restarted empty lists nothing, and the hub keeps its copies
//!   until a second complete listing confirms the deletion.
//! - ephemeral copies and beats: a three-node hub's leader killed, the next leader adopts and
//!   beats the copy (still there past r-nacos's instance timeout); the whole hub killed, r-nacos
//!   drops the copy by itself (no ghost).
//!
//! The r-nacos build takes minutes the first time, so these tests are `#[ignore]`d in the
//! workspace run and run by `tests/interop.sh` (which `.ci/run` runs too).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;
use std::time::Instant;

use serde_json::json;
use serde_json::Value;
use tempfile::TempDir;

use crate::support::eureka_app;
use crate::support::free_port;
use crate::support::send_json;
use crate::support::Cluster;

/// The r-nacos binary: `RNACOS_BIN`, else what `tests/peers/rnacos.sh` builds (once, cached).
fn rnacos_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("RNACOS_BIN") {
            return PathBuf::from(bin);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/peers/rnacos.sh");
        let out = Command::new("bash")
            .arg(script)
            .stderr(Stdio::inherit())
            .output()
            .expect("run tests/peers/rnacos.sh");
        assert!(out.status.success(), "tests/peers/rnacos.sh failed");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
    .clone()
}

/// One r-nacos server on loopback: HTTP, gRPC (its Raft too) and console ports of its own.
struct RNacos {
    http: u16,
    grpc: u16,
    console: u16,
    dir: TempDir,
    generation: u32,
    /// Extra environment (timeouts) for every start.
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl RNacos {
    fn start() -> Self {
        Self::start_with(&[])
    }

    fn start_with(env: &[(&str, &str)]) -> Self {
        let mut server = Self {
            http: free_port(),
            grpc: free_port(),
            console: free_port(),
            dir: tempfile::tempdir().unwrap(),
            generation: 0,
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            child: None,
        };
        server.spawn();
        server
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join(format!("rnacos-{}.log", self.generation))
    }

    /// Starts the process with a fresh data directory (nothing registered).
    fn spawn(&mut self) {
        self.generation += 1;
        let data = self.dir.path().join(format!("data-{}", self.generation));
        std::fs::create_dir_all(&data).unwrap();
        let log = std::fs::File::create(self.log()).unwrap();
        let child = Command::new(rnacos_binary())
            // Its `.env` lookup reads the working directory: an empty one.
            .current_dir(&data)
            .env("RNACOS_HTTP_PORT", self.http.to_string())
            .env("RNACOS_GRPC_PORT", self.grpc.to_string())
            .env("RNACOS_HTTP_CONSOLE_PORT", self.console.to_string())
            .env("RNACOS_SDK_HOST", "127.0.0.1")
            .env("RNACOS_CONSOLE_HOST", "127.0.0.1")
            .env("RNACOS_RAFT_NODE_ADDR", format!("127.0.0.1:{}", self.grpc))
            .env("RNACOS_DATA_DIR", &data)
            .env("RNACOS_ENABLE_METRICS", "false")
            // Persistent test instances at unreachable addresses are not probed unhealthy.
            .env("RNACOS_NAMING_PERPETUAL_INSTANCE_PROBE_INTERVAL_SECOND", "0")
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn rnacos");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }

    /// Waits (bounded) until it answers a service list and takes a persistent registration.
    async fn wait_ready(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // In a group the hub does not mirror.
            let probe = rn_register(client, self, "readiness", "probe", "10.255.0.1", 1).await;
            if probe.is_ok() {
                rn_deregister(client, self, "readiness", "probe", "10.255.0.1", 1)
                    .await
                    .unwrap();
                return;
            }
            assert!(
                Instant::now() < deadline,
                "r-nacos not ready: {probe:?}\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }
}

impl Drop for RNacos {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let text = self.log_text();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("--- r-nacos log (last lines) ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        self.kill();
    }
}

/// Registers a persistent instance at r-nacos (`ip:port`, cluster `DEFAULT`).
async fn rn_register(
    client: &reqwest::Client,
    rn: &RNacos,
    group: &str,
    service: &str,
    ip: &str,
    port: u16,
) -> Result<(), String> {
    let metadata = json!({ "owner": "r-nacos", "service": service }).to_string();
    let resp = client
        .post(rn.url("/nacos/v1/ns/instance"))
        .query(&[
            ("serviceName", service),
            ("groupName", group),
            ("ip", ip),
            ("port", &port.to_string()),
            ("ephemeral", "false"),
            ("metadata", &metadata),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if status == 200 && body == "ok" {
        Ok(())
    } else {
        Err(format!("register {group}@@{service} {ip}:{port}: {status} {body}"))
    }
}

async fn rn_deregister(
    client: &reqwest::Client,
    rn: &RNacos,
    group: &str,
    service: &str,
    ip: &str,
    port: u16,
) -> Result<(), String> {
    let resp = client
        .delete(rn.url("/nacos/v1/ns/instance"))
        .query(&[
            ("serviceName", service),
            ("groupName", group),
            ("ip", ip),
            ("port", &port.to_string()),
            ("ephemeral", "false"),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match resp.status().as_u16() {
        200 => Ok(()),
        s => Err(format!("deregister {group}@@{service} {ip}:{port}: {s}")),
    }
}

/// Every host r-nacos lists in `group`, healthy or not, by `service/ip:port`.
async fn rn_hosts(client: &reqwest::Client, rn: &RNacos, group: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let Ok(resp) = client
        .get(rn.url("/nacos/v1/ns/service/list"))
        .query(&[("groupName", group), ("pageNo", "1"), ("pageSize", "1000")])
        .send()
        .await
    else {
        return out;
    };
    let services: Value = resp.json().await.unwrap_or_default();
    for service in services["doms"].as_array().into_iter().flatten() {
        let service = service.as_str().unwrap_or_default();
        let Ok(resp) = client
            .get(rn.url("/nacos/v1/ns/instance/list"))
            .query(&[("serviceName", service), ("groupName", group), ("healthyOnly", "false")])
            .send()
            .await
        else {
            continue;
        };
        let list: Value = resp.json().await.unwrap_or_default();
        for host in list["hosts"].as_array().into_iter().flatten() {
            let key = format!(
                "{}/{}:{}",
                service.to_ascii_lowercase(),
                host["ip"].as_str().unwrap_or_default(),
                host["port"]
            );
            out.insert(key, host.clone());
        }
    }
    out
}

/// The hosts our Nacos API lists for `group@@service` on `base`.
async fn our_nacos_hosts(client: &reqwest::Client, base: &str, group: &str, service: &str) -> Vec<Value> {
    let Ok(resp) = client
        .get(format!("{base}/nacos/v1/ns/instance/list"))
        .query(&[("serviceName", service), ("groupName", group)])
        .send()
        .await
    else {
        return Vec::new();
    };
    let list: Value = resp.json().await.unwrap_or_default();
    list["hosts"].as_array().cloned().unwrap_or_default()
}

/// The ids of the instances the hub holds mirrored from peer `origin`.
async fn mirrored_ids(client: &reqwest::Client, base: &str, origin: &str) -> Vec<String> {
    let body: Value = send_json(client.get(format!("{base}/admin/registry/instances?origin={origin}"))).await;
    let mut ids: Vec<String> = body["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["id"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids
}

async fn peer_report(client: &reqwest::Client, base: &str) -> Value {
    let report: Value = send_json(client.get(format!("{base}/admin/sync"))).await;
    report["peers"][0].clone()
}

/// Polls `check` every 100 ms until it holds, bounded by `timeout`.
async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return;
        }
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A hub of one node syncing both ways with `rn`, every `interval_ms`.
fn hub_for(rn: &RNacos, interval_ms: u64) -> Cluster {
    hub_of(1, rn, interval_ms)
}

/// A hub of `size` nodes syncing both ways with `rn`, every `interval_ms`.
fn hub_of(size: usize, rn: &RNacos, interval_ms: u64) -> Cluster {
    let mut hub = Cluster::new(size, &[]);
    hub.use_config(&format!(
        "cluster_name = \"hub\"\n[[sync]]\nname = \"rn\"\nkind = \"nacos\"\nurl = \"{}\"\ndirection = \"both\"\n\
         interval_ms = {interval_ms}\ngroups = [\"DEFAULT_GROUP\", \"pay\"]\n",
        rn.url("")
    ));
    hub.start_all();
    hub
}

/// A Eureka registration at the hub with a long lease.
async fn eureka_register(client: &reqwest::Client, base: &str, app: &str, id: &str, ip: &str) {
    let body = json!({ "instance": {
        "instanceId": id, "hostName": ip, "app": app, "ipAddr": ip, "status": "UP",
        "port": { "$": 8080, "@enabled": "true" },
        "securePort": { "$": 443, "@enabled": "false" },
        "dataCenterInfo": { "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn" },
        "leaseInfo": { "renewalIntervalInSecs": 30, "durationInSecs": 900 },
        "metadata": { "owner": "hub-eureka" }
    }});
    let status = client
        .post(format!("{base}/eureka/apps/{app}"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204, "eureka register {app}/{id}");
}

#[ignore = "needs r-nacos (minutes to build once): run by tests/interop.sh"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_and_r_nacos_mirror_each_other_both_ways_without_loops() {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let rn = RNacos::start();
    rn.wait_ready(&client).await;
    let hub = hub_for(&rn, 200);
    hub.wait_healthy(Duration::from_secs(30)).await;
    let base = hub.nodes[0].url("");

    // Import: two instances of orders (default group) and one of pay@@billing.
    for (group, service, ip) in [
        ("DEFAULT_GROUP", "orders", "10.7.0.1"),
        ("DEFAULT_GROUP", "orders", "10.7.0.2"),
        ("pay", "billing", "10.7.0.3"),
    ] {
        rn_register(&client, &rn, group, service, ip, 8080).await.unwrap();
    }
    wait_for(Duration::from_secs(30), "r-nacos's instances reach the hub", || async {
        mirrored_ids(&client, &base, "rn").await.len() == 3
    })
    .await;
    assert_eq!(
        mirrored_ids(&client, &base, "rn").await,
        vec![
            "10.7.0.1#8080#DEFAULT#DEFAULT_GROUP@@orders",
            "10.7.0.2#8080#DEFAULT#DEFAULT_GROUP@@orders",
            "10.7.0.3#8080#DEFAULT#pay@@billing",
        ]
    );
    // Through Eureka: the default group's services are Eureka apps.
    let orders = eureka_app(&client, &base, "ORDERS").await;
    assert_eq!(orders.len(), 2, "{orders:?}");
    for metadata in orders.values() {
        assert_eq!(metadata["sync.hops"], "hub", "{orders:?}");
        assert_eq!(metadata["owner"], "r-nacos", "{orders:?}");
    }
    // Through Nacos: both groups.
    let billing = our_nacos_hosts(&client, &base, "pay", "billing").await;
    assert_eq!(billing.len(), 1, "{billing:?}");
    assert_eq!(billing[0]["ip"], "10.7.0.3");
    assert_eq!(
        our_nacos_hosts(&client, &base, "DEFAULT_GROUP", "orders").await.len(),
        2
    );

    // Export: one Eureka registration (default group) and one Nacos registration in group pay.
    eureka_register(&client, &base, "ACCOUNTS", "accounts-1", "10.8.0.1").await;
    let status = client
        .post(format!("{base}/nacos/v1/ns/instance"))
        .query(&[
            ("serviceName", "ledger"),
            ("groupName", "pay"),
            ("ip", "10.8.0.2"),
            ("port", "9090"),
            ("clusterName", "zone-a"),
            ("ephemeral", "false"),
        ])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    wait_for(Duration::from_secs(30), "the hub's instances reach r-nacos", || async {
        let default = rn_hosts(&client, &rn, "DEFAULT_GROUP").await;
        let pay = rn_hosts(&client, &rn, "pay").await;
        default.contains_key("accounts/10.8.0.1:8080") && pay.contains_key("ledger/10.8.0.2:9090")
    })
    .await;
    let default = rn_hosts(&client, &rn, "DEFAULT_GROUP").await;
    let pay = rn_hosts(&client, &rn, "pay").await;
    let accounts = &default["accounts/10.8.0.1:8080"];
    assert_eq!(accounts["metadata"]["sync.origin"], "hub", "{accounts}");
    assert_eq!(accounts["metadata"]["sync.hops"], "hub", "{accounts}");
    assert_eq!(accounts["metadata"]["owner"], "hub-eureka", "{accounts}");
    assert_eq!(accounts["ephemeral"], true, "exported copies are ephemeral: {accounts}");
    let ledger = &pay["ledger/10.8.0.2:9090"];
    assert_eq!(ledger["clusterName"], "zone-a", "{ledger}");
    assert_eq!(ledger["metadata"]["sync.hops"], "hub", "{ledger}");

    // No loop: each side lists each instance once, and rounds go on without writing again
    // (export copies are seen by the import, and skipped as having passed through the hub).
    assert_eq!(default.len(), 3, "{default:?}");
    assert_eq!(pay.len(), 2, "{pay:?}");
    assert_eq!(mirrored_ids(&client, &base, "rn").await.len(), 3);
    wait_for(
        Duration::from_secs(10),
        "the import skips the hub's own copies",
        || async { peer_report(&client, &base).await["imported"]["loops_skipped"].as_u64() > Some(0) },
    )
    .await;
    let before = peer_report(&client, &base).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let after = peer_report(&client, &base).await;
    println!("hub ↔ r-nacos over 8 s: {before}\n→ {after}");
    assert_eq!(after["state"], "syncing", "{after}");
    assert_eq!(before["imported"]["upserted"], 3, "{before}");
    assert_eq!(after["imported"]["upserted"], 3, "an import upserted again: {after}");
    assert_eq!(
        after["exported"]["registered"], before["exported"]["registered"],
        "an export registered again: {after}"
    );
    assert_eq!(after["exported"]["exported"], 2, "{after}");
    assert!(
        after["exported"]["heartbeats"].as_u64() > before["exported"]["heartbeats"].as_u64(),
        "copies are beaten: {after}"
    );
    assert_eq!(rn_hosts(&client, &rn, "DEFAULT_GROUP").await.len(), 3);
    assert_eq!(eureka_app(&client, &base, "ORDERS").await.len(), 2);

    // Deletion at r-nacos reaches the hub, and stays.
    rn_deregister(&client, &rn, "DEFAULT_GROUP", "orders", "10.7.0.1", 8080)
        .await
        .unwrap();
    wait_for(
        Duration::from_secs(30),
        "a deletion at r-nacos reaches the hub",
        || async { eureka_app(&client, &base, "ORDERS").await.len() == 1 },
    )
    .await;
    // Deletion at the hub reaches r-nacos, and stays.
    let status = client
        .delete(format!("{base}/eureka/apps/ACCOUNTS/accounts-1"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    wait_for(
        Duration::from_secs(30),
        "a deletion at the hub reaches r-nacos",
        || async {
            !rn_hosts(&client, &rn, "DEFAULT_GROUP")
                .await
                .contains_key("accounts/10.8.0.1:8080")
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        mirrored_ids(&client, &base, "rn").await,
        vec![
            "10.7.0.2#8080#DEFAULT#DEFAULT_GROUP@@orders",
            "10.7.0.3#8080#DEFAULT#pay@@billing",
        ],
        "a deletion at r-nacos came back"
    );
    assert!(
        eureka_app(&client, &base, "ACCOUNTS").await.is_empty(),
        "a deletion at the hub came back"
    );
    let default = rn_hosts(&client, &rn, "DEFAULT_GROUP").await;
    assert_eq!(
        default.keys().collect::<Vec<_>>(),
        vec!["orders/10.7.0.2:8080"],
        "{default:?}"
    );
    let report = peer_report(&client, &base).await;
    assert_eq!(report["imported"]["upserted"], 3, "{report}");
    assert_eq!(report["imported"]["deleted"], 1, "{report}");
    assert_eq!(report["exported"]["deleted"], 1, "{report}");
}

#[ignore = "needs r-nacos (minutes to build once): run by tests/interop.sh"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_nacos_suddenly_listing_nothing_is_held_until_a_second_listing_confirms() {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut rn = RNacos::start();
    rn.wait_ready(&client).await;
    // Rounds 1.5 s apart, so the held round can be seen before the next one confirms it.
    let hub = hub_for(&rn, 1500);
    hub.wait_healthy(Duration::from_secs(30)).await;
    let base = hub.nodes[0].url("");
    for n in 1..=4 {
        rn_register(&client, &rn, "DEFAULT_GROUP", "stock", &format!("10.9.0.{n}"), 7000)
            .await
            .unwrap();
    }
    wait_for(Duration::from_secs(30), "mirrored", || async {
        mirrored_ids(&client, &base, "rn").await.len() == 4
    })
    .await;

    // r-nacos loses everything (restarted on the same ports with an empty data directory).
    rn.kill();
    rn.spawn();
    // The first empty listing is held: the copies stay, and the report says how many. Polled
    // often: the next listing, 1.5 s later, confirms it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = peer_report(&client, &base).await;
        assert_eq!(
            p["imported"]["deleted"], 0,
            "deleted before a second listing confirmed: {p}"
        );
        if p["imported"]["held"] == 4 {
            break;
        }
        assert!(Instant::now() < deadline, "the empty listing was never held: {p}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        mirrored_ids(&client, &base, "rn").await.len(),
        4,
        "copies deleted by a single empty listing"
    );
    assert_eq!(eureka_app(&client, &base, "STOCK").await.len(), 4);
    // The second empty listing confirms: they go, counted.
    wait_for(Duration::from_secs(30), "the confirmed deletion", || async {
        mirrored_ids(&client, &base, "rn").await.is_empty()
    })
    .await;
    wait_for(Duration::from_secs(10), "the report counts it", || async {
        let p = peer_report(&client, &base).await;
        p["imported"]["deleted"] == 4 && p["imported"]["held"] == 0
    })
    .await;
}

#[ignore = "needs r-nacos (minutes to build once): run by tests/interop.sh"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_copies_outlive_a_leader_kill_and_go_with_the_hub() {
    // r-nacos with short timeouts: unhealthy after 6 + 3 s without a beat, deleted after 8 + 3 s
    // (it adds 3 s to both). Our beats come every 5 s.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let rn = RNacos::start_with(&[
        ("RNACOS_NAMING_HEALTH_TIMEOUT_SECOND", "6"),
        ("RNACOS_NAMING_INSTANCE_TIMEOUT_SECOND", "8"),
    ]);
    rn.wait_ready(&client).await;
    let mut hub = hub_of(3, &rn, 200);
    hub.wait_healthy(Duration::from_secs(30)).await;
    let leader = hub.leader(Duration::from_secs(30)).await;
    let base = hub.nodes[leader].url("");
    eureka_register(&client, &base, "ACCOUNTS", "accounts-1", "10.8.0.1").await;
    let copy_is_there = || async {
        rn_hosts(&client, &rn, "DEFAULT_GROUP")
            .await
            .get("accounts/10.8.0.1:8080")
            .is_some_and(|h| h["healthy"] == true)
    };
    wait_for(Duration::from_secs(30), "the copy reaches r-nacos", copy_is_there).await;

    // The leader dies: the next one adopts the copy and beats it; it stays healthy past
    // r-nacos's instance timeout.
    hub.nodes[leader].kill9();
    let survivors = hub.running();
    let next = hub.leader_among(&survivors, Duration::from_secs(30)).await;
    let next_url = hub.nodes[next].url("");
    wait_for(Duration::from_secs(30), "the new leader exports", || async {
        peer_report(&client, &next_url).await["exported"]["exported"] == 1
    })
    .await;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(14) {
        assert!(copy_is_there().await, "the copy was lost across the leader change");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(rn_hosts(&client, &rn, "DEFAULT_GROUP").await.len(), 1);

    // The whole hub dies: nobody beats, and r-nacos drops the copy by itself (no ghost).
    for i in hub.running() {
        hub.nodes[i].kill9();
    }
    wait_for(Duration::from_secs(40), "r-nacos drops the dead hub's copy", || async {
        rn_hosts(&client, &rn, "DEFAULT_GROUP").await.is_empty()
    })
    .await;
}
