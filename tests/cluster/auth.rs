//! Authentication across real processes: three nodes sharing a cluster secret and users (from
//! the TOML file), an unmodified py-eureka-client with Basic credentials in its server URL,
//! registryctl with and without credentials, a follower's dashboard reading the leader's leases
//! with its own node token, the client's heartbeats forwarded by a follower, and a node whose cluster secret
//! differs left out of the cluster.

use std::time::Duration;
use std::time::Instant;

use base64::Engine;
use reqwest::header::HeaderMap;
use reqwest::header::HeaderValue;
use serde_json::Value;

use crate::client_driver::clients_dir;
use crate::client_driver::python;
use crate::client_driver::Client;
use crate::metrics::scrape;
use crate::metrics::value;
use crate::registryctl::registryctl;
use crate::registryctl::Run;
use crate::support::Cluster;

pub const SECRET: &str = "three-nodes-share-this-secret";

pub const USERS: &str = r#"
[[auth.users]]
name = "admin"
password = "admin-password"
role = "admin"

[[auth.users]]
name = "orders"
password = "orders-password"
role = "write"
tenants = ["default/default"]
"#;

/// Headers carrying `name`'s Basic credentials.
pub fn basic(name: &str, password: &str) -> HeaderMap {
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"));
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Basic {pair}")).unwrap(),
    );
    headers
}

/// A client that sends `name`'s Basic credentials with every request.
pub fn client_as(name: &str, password: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .default_headers(basic(name, password))
        .build()
        .unwrap()
}

/// Checks that `anonymous` is refused Eureka's apps on node `i`, then starts py-eureka-client
/// there as user `orders` (credentials in its server URL, `env` added) and waits until it sees
/// its own `app` UP.
pub async fn orders_client_refused_then_registered(
    cluster: &Cluster,
    i: usize,
    anonymous: &reqwest::Client,
    app: &str,
    env: &[(&str, &str)],
) -> Client {
    let refused = anonymous
        .get(cluster.nodes[i].url("/eureka/apps"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let url = cluster.nodes[i]
        .url("/eureka/")
        .replacen("://", "://orders:orders-password@", 1);
    let script = clients_dir().join("py_client.py").display().to_string();
    let port = crate::support::free_port().to_string();
    let mut py = Client::spawn_with_env("py-eureka-client", python(), &[script, url, app.into(), port], env);
    assert_eq!(py.next_event(Duration::from_secs(60))["event"], "started");
    py.discover_until(app, &["UP"], Duration::from_secs(60));
    py
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secured_cluster_serves_real_clients_with_credentials_only() {
    let mut cluster = Cluster::new(
        3,
        &[
            "--cluster-secret",
            SECRET,
            "--lease-tick-ms",
            "200",
            "--log-format",
            "json",
        ],
    );
    cluster.use_config(USERS);
    cluster.start_all();
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let anonymous = cluster.client.clone();
    cluster.client = client_as("admin", "admin-password");
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;

    let mut py = orders_client_refused_then_registered(&cluster, follower, &anonymous, "ORDERS", &[]).await;
    let apps = cluster.get_json(leader, "/eureka/apps").await.unwrap();
    let names: Vec<&Value> = apps["applications"]["application"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["name"])
        .collect();
    assert_eq!(names, [&Value::from("ORDERS")]);

    // registryctl: refused without credentials, answered with them.
    let server = cluster.nodes[follower].url("");
    let Run { code, stderr, .. } = registryctl(&server, &["members", "list"]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("401"), "{stderr}");
    let Run { code, stdout, stderr } = registryctl(
        &server,
        &["--user", "admin:admin-password", "--json", "members", "list"],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let in_url = server.replace("http://", "http://admin:admin-password@");
    let Run { code, stderr, .. } = registryctl(&in_url, &["status"]).await;
    assert_eq!(code, 0, "{stderr}");
    let Run { code, stderr, .. } = registryctl(
        &server,
        &["--user", "orders:orders-password", "snapshot", "save", "/dev/null"],
    )
    .await;
    assert_eq!(code, 1);
    assert!(stderr.contains("403"), "{stderr}");

    // A follower's dashboard reads the leader's leases and the members' health with its own
    // node token.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = cluster.get_json(follower, "/admin/dashboard").await.unwrap();
        let all_up = o["members"].as_array().unwrap().iter().all(|m| m["health"] == "UP");
        if all_up && o["leases"]["leases"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{o}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // py-eureka-client renews every second through the follower, which forwards the renewals
    // to the leader on the renewal stream, guarded by the cluster secret like every call
    // between nodes: the follower counts the renewals it answered with success.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let scraped = scrape(&cluster, follower).await;
        let renewed = value(
            &scraped,
            "registry_operations",
            &[("protocol", "eureka"), ("operation", "renew")],
        );
        if renewed.is_some_and(|n| n >= 3.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "renewals answered by the follower: {renewed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(py.ask("stop")["event"], "stopped");

    // The audit trail: the client's registration, by its user, in the follower's JSON log.
    let log = std::fs::read_to_string(&cluster.nodes[follower].log).unwrap();
    let audited = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "registry::audit")
        .find(|l| l["fields"]["who"] == "orders" && l["fields"]["method"] == "POST");
    let line = audited.expect("an audit line for the registration");
    assert_eq!(line["fields"]["path"], "/eureka/apps/ORDERS");
    assert_eq!(line["fields"]["status"], 204);
    assert_eq!(line["fields"]["protocol"], "eureka");
    assert!(
        line["fields"]["client"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_cluster_secret_is_kept_out() {
    let mut cluster = Cluster::new(3, &[]);
    for (i, n) in cluster.nodes.iter_mut().enumerate() {
        let secret = if i == 2 { "a-different-secret-entirely" } else { SECRET };
        n.args.extend(["--cluster-secret".to_string(), secret.to_string()]);
    }
    cluster.start_all();
    cluster.assert_kept_out(2, &cluster.client.clone()).await;
    // The leader says why it cannot reach the outsider.
    let leader = cluster.leader_among(&[0, 1], Duration::from_secs(10)).await;
    let log = std::fs::read_to_string(&cluster.nodes[leader].log).unwrap();
    assert!(
        log.contains("requires the shared cluster secret"),
        "the refusal is logged"
    );
}
