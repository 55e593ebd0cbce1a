//! Real, unmodified Eureka clients against a three-node cluster: py-eureka-client (reads XML)
//! and eureka-js-client (JSON), each pointed at a different node first. Both register,
//! heartbeat, discover each other, set a status override and deregister; the leader is killed
//! with -9 in the middle and neither client's instance is evicted while it renews elsewhere.
//!
//! The clients are installed by `tests/run.sh` into `tests/clients/` (`.venv`, `node_modules`).

use std::time::Duration;
use std::time::Instant;

use serde_json::Value;

use crate::client_driver::clients_dir;
use crate::client_driver::installed;
use crate::client_driver::python;
use crate::client_driver::Client;
use crate::support::send_json;
use crate::support::Cluster;

/// Instance statuses of `app` in node `i`'s `/eureka/apps` (JSON), with overrides.
async fn registered(cluster: &Cluster, i: usize, app: &str) -> Vec<(String, String)> {
    let apps = cluster.get_json(i, "/eureka/apps/").await.expect("/eureka/apps");
    apps["applications"]["application"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] == app)
        .flat_map(|a| a["instance"].as_array().unwrap().iter())
        .map(|i| {
            (
                i["status"].as_str().unwrap().to_string(),
                i["overriddenStatus"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn wait_registered(cluster: &Cluster, i: usize, app: &str, want: &[(&str, &str)], timeout: Duration) {
    let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let deadline = Instant::now() + timeout;
    loop {
        let got = registered(cluster, i, app).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {} shows {app} as {got:?}, wanted {want:?}",
            i + 1
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_javascript_clients_work_through_a_leader_failure() {
    let python = python();
    installed("node_modules/eureka-js-client");
    let mut cluster = Cluster::start(3, &["--lease-tick-ms", "200"]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let (follower, third) = ((leader + 1) % 3, (leader + 2) % 3);
    let servers = |first: usize, trailing: &str| {
        let mut order = vec![first];
        order.extend((0..3).filter(|i| *i != first));
        order
            .iter()
            .map(|i| format!("{}{trailing}", cluster.nodes[*i].url("/eureka")))
            .collect::<Vec<_>>()
            .join(",")
    };
    // py-eureka-client talks to the leader first, eureka-js-client to a follower.
    let script = |name: &str| clients_dir().join(name).display().to_string();
    let mut py = Client::spawn(
        "py-eureka-client",
        python,
        &[
            script("py_client.py"),
            servers(leader, "/"),
            "ACCOUNT".into(),
            "9091".into(),
        ],
    );
    let mut js = Client::spawn(
        "eureka-js-client",
        "node".into(),
        &[
            script("js_client.js"),
            servers(follower, ""),
            "HELLO".into(),
            "9092".into(),
        ],
    );
    assert_eq!(py.next_event(Duration::from_secs(60))["event"], "started");
    let started = js.next_event(Duration::from_secs(60));
    assert_eq!(started["error"], Value::Null, "{started}");

    py.discover_until("HELLO", &["UP"], Duration::from_secs(60));
    js.discover_until("ACCOUNT", &["UP"], Duration::from_secs(60));
    wait_registered(
        &cluster,
        third,
        "ACCOUNT",
        &[("UP", "UNKNOWN")],
        Duration::from_secs(10),
    )
    .await;
    wait_registered(&cluster, third, "HELLO", &[("UP", "UNKNOWN")], Duration::from_secs(10)).await;

    cluster.nodes[leader].kill9();
    // Well past twice the 3 s lease: both instances stay registered on both survivors.
    let watch_until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < watch_until {
        for i in [follower, third] {
            assert_eq!(
                registered(&cluster, i, "ACCOUNT").await.len(),
                1,
                "ACCOUNT evicted on node {}",
                i + 1
            );
            assert_eq!(
                registered(&cluster, i, "HELLO").await.len(),
                1,
                "HELLO evicted on node {}",
                i + 1
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    py.discover_until("HELLO", &["UP"], Duration::from_secs(30));
    js.discover_until("ACCOUNT", &["UP"], Duration::from_secs(30));

    // Status overrides through each client.
    assert_eq!(py.ask("status OUT_OF_SERVICE")["event"], "status");
    wait_registered(
        &cluster,
        third,
        "ACCOUNT",
        &[("OUT_OF_SERVICE", "OUT_OF_SERVICE")],
        Duration::from_secs(30),
    )
    .await;
    let reply = js.ask("status OUT_OF_SERVICE");
    assert_eq!(reply["code"], 200, "{reply}");
    wait_registered(
        &cluster,
        follower,
        "HELLO",
        &[("OUT_OF_SERVICE", "OUT_OF_SERVICE")],
        Duration::from_secs(30),
    )
    .await;
    py.discover_until("HELLO", &["OUT_OF_SERVICE"], Duration::from_secs(30));
    js.discover_until("ACCOUNT", &[], Duration::from_secs(30)); // it keeps only UP instances

    // Deregistration.
    assert_eq!(py.ask("stop")["event"], "stopped");
    assert_eq!(js.ask("stop")["event"], "stopped");
    for i in [follower, third] {
        wait_registered(&cluster, i, "ACCOUNT", &[], Duration::from_secs(30)).await;
        wait_registered(&cluster, i, "HELLO", &[], Duration::from_secs(30)).await;
    }
}

/// One registry, two views, three nodes: py-eureka-client registers ACCOUNT-SERVER on one node,
/// a ServiceCenter client finds it on another (appId `eureka`, serviceName `account-server`),
/// and a ServiceCenter-registered hello-server is listed by Eureka's `/apps` on the third.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eureka_and_servicecenter_clients_see_each_other_across_nodes() {
    let python = python();
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let script = clients_dir().join("py_client.py").display().to_string();
    let servers = format!("{}/", cluster.nodes[0].url("/eureka"));
    let mut py = Client::spawn(
        "py-eureka-client",
        python,
        &[script, servers, "ACCOUNT-SERVER".into(), "9093".into()],
    );
    assert_eq!(py.next_event(Duration::from_secs(60))["event"], "started");

    // The ServiceCenter side, on node 2: hello-server registers and looks for account-server.
    let sc = |path: &str| cluster.nodes[1].url(&format!("/v4/default/registry{path}"));
    let service = serde_json::json!({ "service": { "serviceName": "hello-server", "version": "1.0.0" } });
    let created: Value = send_json(cluster.client.post(sc("/microservices")).json(&service)).await;
    let hello = created["serviceId"].as_str().unwrap().to_string();
    let instance =
        serde_json::json!({ "instance": { "hostName": "hello-host", "endpoints": ["rest://10.3.0.1:9000"] } });
    let registered = cluster
        .client
        .post(sc(&format!("/microservices/{hello}/instances")))
        .json(&instance)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 200);
    let find = sc("/instances?appId=eureka&serviceName=account-server&version=latest");
    let deadline = Instant::now() + Duration::from_secs(30);
    let found = loop {
        let reply = cluster
            .client
            .get(&find)
            .header("x-consumerid", &hello)
            .send()
            .await
            .unwrap();
        if reply.status() == 200 {
            let body: Value = reply.json().await.unwrap();
            if body["instances"].as_array().is_some_and(|a| !a.is_empty()) {
                break body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "account-server never found through ServiceCenter"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let endpoint = found["instances"][0]["endpoints"][0].as_str().unwrap().to_string();
    assert!(
        endpoint.starts_with("rest://") && endpoint.ends_with(":9093"),
        "{found}"
    );
    assert_eq!(found["instances"][0]["status"], "UP");

    // Eureka's /apps on node 3 lists the ServiceCenter instance under its upper-cased name.
    wait_registered(
        &cluster,
        2,
        "HELLO-SERVER",
        &[("UP", "UNKNOWN")],
        Duration::from_secs(10),
    )
    .await;
    py.discover_until("HELLO-SERVER", &["UP"], Duration::from_secs(30));
    assert_eq!(py.ask("stop")["event"], "stopped");
}
