//! ServiceCenter's WebSockets and expiry as go-chassis sees them, driven by a real client
//! library (Python's websocket-client, `tests/clients/sc_socket.py`) against three nodes:
//! - the heartbeat socket of an unknown instance closes with 4001 (sc-client re-registers only
//!   on 4001, `client.go` `WSHeartbeat`), and so does one whose instance is deleted while it is
//!   connected; pongs answered through a follower keep an instance alive past its TTL;
//! - the watcher of an unknown consumer gets ServiceCenter's plain text `service does not exist`;
//! - under default settings (the mass-expiry guard), a lone instance that stops heartbeating
//!   expires after interval × (times + 1) and its watcher gets DELETE, with empty fields
//!   omitted; while a mass cut-off (most of a tenant's instances silent at once) is held, until
//!   the longest hold.

use std::time::Duration;
use std::time::Instant;

use serde_json::json;
use serde_json::Value;

use crate::client_driver::clients_dir;
use crate::client_driver::python;
use crate::client_driver::Client;
use crate::support::send_json;
use crate::support::Cluster;

const BASE: &str = "/v4/default/registry";

async fn call(
    cluster: &Cluster,
    node: usize,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = cluster
        .client
        .request(method, cluster.nodes[node].url(&format!("{BASE}{path}")));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn create_service(cluster: &Cluster, node: usize, name: &str) -> String {
    let body = json!({ "service": { "appId": "sockets", "serviceName": name, "version": "1.0.0" } });
    let (status, created) = call(cluster, node, reqwest::Method::POST, "/microservices", Some(body)).await;
    assert_eq!(status, 200, "{created}");
    created["serviceId"].as_str().unwrap().to_string()
}

/// Registers `id` with the shortest lease ServiceCenter allows here: interval 1 s, times raised
/// to 3, so TTL = 1 × (3 + 1) = 4 s.
async fn register(cluster: &Cluster, node: usize, service: &str, id: &str) {
    let body = json!({ "instance": { "instanceId": id, "hostName": "h", "endpoints": ["rest://127.0.0.1:1"],
        "healthCheck": { "mode": "push", "interval": 1, "times": 1 } } });
    let path = format!("/microservices/{service}/instances");
    let (status, reply) = call(cluster, node, reqwest::Method::POST, &path, Some(body)).await;
    assert_eq!(status, 200, "{reply}");
}

/// One batch heartbeat (`PUT /heartbeats`), which must be taken.
async fn heartbeats(cluster: &Cluster, node: usize, beats: &Value) {
    let (status, reply) = call(cluster, node, reqwest::Method::PUT, "/heartbeats", Some(beats.clone())).await;
    assert_eq!(status, 200, "{reply}");
}

async fn exists(cluster: &Cluster, node: usize, service: &str, id: &str) -> bool {
    let path = format!("/microservices/{service}/instances/{id}");
    call(cluster, node, reqwest::Method::GET, &path, None).await.0 == 200
}

fn socket(cluster: &Cluster, node: usize, path: &str) -> Client {
    let url = format!("ws://{}{BASE}{path}", cluster.nodes[node].http);
    let script = clients_dir().join("sc_socket.py").display().to_string();
    Client::spawn(
        "websocket-client",
        python(),
        &[script, url, "x-domain-name:default".into()],
    )
}

const FLAGS: [&str; 6] = [
    "--servicecenter-min-interval",
    "1",
    "--servicecenter-ping-interval",
    "1",
    "--lease-tick-ms",
    "100",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_sockets_close_with_4001_and_watchers_of_unknown_consumers_get_sc_text() {
    let cluster = Cluster::start(3, &FLAGS);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;
    let service = create_service(&cluster, leader, "beating").await;
    register(&cluster, leader, &service, "ws-1").await;
    cluster.wait_converged(Duration::from_secs(10)).await;

    let unknown = socket(
        &cluster,
        follower,
        &format!("/microservices/{service}/instances/nobody/heartbeat"),
    );
    assert_eq!(unknown.next_event(Duration::from_secs(30))["event"], "open");
    let closed = unknown.next_event(Duration::from_secs(30));
    assert_eq!(closed["event"], "close", "{closed}");
    assert_eq!(closed["code"], 4001, "{closed}");
    assert_eq!(
        closed["reason"],
        "heartbeat reporting failed because the instance does not exist"
    );

    // Pongs through a follower renew the lease: alive after twice its TTL.
    let beating = socket(
        &cluster,
        follower,
        &format!("/microservices/{service}/instances/ws-1/heartbeat"),
    );
    assert_eq!(beating.next_event(Duration::from_secs(30))["event"], "open");
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(exists(&cluster, leader, &service, "ws-1").await, "pongs renewed it");
    // Deleted while connected: the next pong finds it gone and the socket closes with 4001.
    let path = format!("/microservices/{service}/instances/ws-1");
    assert_eq!(
        call(&cluster, leader, reqwest::Method::DELETE, &path, None).await.0,
        200
    );
    let closed = beating.next_event(Duration::from_secs(30));
    assert_eq!(
        (closed["event"].as_str(), closed["code"].as_u64()),
        (Some("close"), Some(4001)),
        "{closed}"
    );

    let watcher = socket(&cluster, follower, "/microservices/no-such-consumer/watcher");
    assert_eq!(watcher.next_event(Duration::from_secs(30))["event"], "open");
    let refused = watcher.next_event(Duration::from_secs(30));
    assert_eq!(refused, json!({ "event": "text", "data": "service does not exist" }));
    assert_eq!(watcher.next_event(Duration::from_secs(30))["event"], "close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_lone_silent_instance_expires_and_its_watcher_gets_delete() {
    let cluster = Cluster::start(3, &FLAGS);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let (a, b) = ((leader + 1) % 3, (leader + 2) % 3);
    let provider = create_service(&cluster, a, "lonely").await;
    let consumer = create_service(&cluster, a, "watching").await;
    cluster.wait_converged(Duration::from_secs(10)).await;
    // The find records the dependency that routes the provider's events to the consumer.
    let find = "/instances?appId=sockets&serviceName=lonely&version=0%2B";
    let response = cluster
        .client
        .get(cluster.nodes[b].url(&format!("{BASE}{find}")))
        .header("x-consumerid", &consumer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Written off the find's path, a moment later.
    cluster
        .wait_depends(b, &consumer, &provider, Duration::from_secs(10))
        .await;
    cluster.wait_converged(Duration::from_secs(10)).await;
    let watcher = socket(&cluster, b, &format!("/microservices/{consumer}/watcher"));
    assert_eq!(watcher.next_event(Duration::from_secs(30))["event"], "open");

    register(&cluster, a, &provider, "alone").await;
    let registered = Instant::now();
    let created = watcher.next_event(Duration::from_secs(30));
    let event: Value = serde_json::from_str(created["data"].as_str().unwrap()).unwrap();
    assert_eq!(event["action"], "CREATE", "{event}");
    assert_eq!(event["instance"]["instanceId"], "alone");
    assert_eq!(event["key"]["appId"], "sockets");
    assert!(
        event["key"].get("environment").is_none(),
        "empty fields omitted: {event}"
    );
    assert!(event["instance"].get("properties").is_none(), "{event}");

    // Never renewed: still there before its TTL (4 s), gone after it, DELETE pushed.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(
        registered.elapsed() >= Duration::from_millis(3_500) || exists(&cluster, b, &provider, "alone").await,
        "not expired before its TTL"
    );
    let deleted = watcher.next_event(Duration::from_secs(60));
    let event: Value = serde_json::from_str(deleted["data"].as_str().unwrap()).unwrap();
    assert_eq!(event["action"], "DELETE", "{event}");
    assert_eq!(event["instance"]["instanceId"], "alone");
    assert!(
        registered.elapsed() >= Duration::from_secs(4),
        "expired after interval × (times + 1)"
    );
    assert!(!exists(&cluster, b, &provider, "alone").await);
    let leases = cluster.get_json(leader, "/admin/leases").await.unwrap();
    assert_eq!(leases["rule"], "mass-expiry", "{leases}");
    assert_eq!(leases["banner"], Value::Null, "a lone expiry is no emergency: {leases}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_cut_off_is_held_per_tenant_until_the_longest_hold() {
    let mut flags = FLAGS.to_vec();
    flags.extend(["--mass-expiry-max-hold-secs", "12"]);
    let cluster = Cluster::start(3, &flags);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let service = create_service(&cluster, leader, "fleet").await;
    let ids: Vec<String> = (0..12).map(|n| format!("fleet-{n}")).collect();
    for id in &ids {
        register(&cluster, leader, &service, id).await;
    }
    // Another tenant's lone instance, silent from the start: it expires meanwhile.
    let other = cluster.nodes[leader].url("/v4/other/registry/microservices");
    let body = json!({ "service": { "appId": "sockets", "serviceName": "loner", "version": "1.0.0" } });
    let loner = send_json(cluster.client.post(&other).json(&body)).await;
    let loner = loner["serviceId"].as_str().unwrap().to_string();
    let instance = json!({ "instance": { "instanceId": "loner-1", "hostName": "h",
        "healthCheck": { "mode": "push", "interval": 1, "times": 1 } } });
    let response = cluster
        .client
        .post(format!("{other}/{loner}/instances"))
        .json(&instance)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Two of twelve keep heartbeating; ten fall silent at once.
    let beats = json!({ "instances": ids[..2].iter().map(|id| json!({ "serviceId": service, "instanceId": id })).collect::<Vec<_>>() });
    let started = Instant::now();
    let mut held_seen = false;
    let mut loner_gone = false;
    while started.elapsed() < Duration::from_secs(10) {
        heartbeats(&cluster, leader, &beats).await;
        let leases = cluster.get_json(leader, "/admin/leases").await.unwrap();
        if leases["held_tenants"] == json!(["default/default"]) {
            held_seen = true;
            assert!(leases["banner"].as_str().unwrap().starts_with("EMERGENCY!"), "{leases}");
        }
        let loner_instances = send_json(cluster.client.get(format!("{other}/{loner}/instances"))).await;
        loner_gone |= loner_instances.get("instances").is_none();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(held_seen, "the cut-off tenant is reported held");
    assert!(loner_gone, "the other tenant's lone expiry went through");
    for id in &ids {
        assert!(
            exists(&cluster, leader, &service, id).await,
            "{id} held, 6 s past its TTL"
        );
    }
    // Past the longest hold (12 s), the silent ten go; the two heartbeating stay.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        heartbeats(&cluster, leader, &beats).await;
        let path = format!("/microservices/{service}/instances");
        let (_, listed) = call(&cluster, leader, reqwest::Method::GET, &path, None).await;
        let left = listed["instances"].as_array().map_or(0, Vec::len);
        if left == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the held expiries never went: {left} left");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for id in &ids[..2] {
        assert!(exists(&cluster, leader, &service, id).await);
    }
}
