//! Watch latency: a ServiceCenter registration sent to one node of a three-node cluster, until
//! the CREATE event arrives on a watcher connected to another node. Reports p50/p99/max of
//! (a) sent → event and (b) acknowledged → event.
//!
//! `cargo bench -p registry-http --bench watch_latency [-- SAMPLES]`

mod support;

use std::time::Duration;
use std::time::Instant;

use futures::StreamExt;
use serde_json::json;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

const BASE: &str = "/v4/default/registry";

#[tokio::main]
async fn main() {
    let samples: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let procs = support::three_nodes(&client, dir.path()).await;
    let (writer, watcher) = (procs[0].base(), &procs[1]);
    let create = |name: &str| json!({ "service": { "serviceName": name, "version": "1.0.0" } });
    let id_of = |v: Value| v["serviceId"].as_str().unwrap().to_string();
    let provider = id_of(
        client
            .post(format!("{writer}{BASE}/microservices"))
            .json(&create("provider"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    let consumer = id_of(
        client
            .post(format!("{writer}{BASE}/microservices"))
            .json(&create("consumer"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    client
        .get(format!("{writer}{BASE}/instances?serviceName=provider"))
        .header("x-consumerid", &consumer)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let url = format!("ws://{}{BASE}/microservices/{consumer}/watcher", watcher.http);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();

    let mut from_send = Vec::with_capacity(samples);
    let mut from_ack = Vec::with_capacity(samples);
    for n in 0..samples {
        let id = format!("i{n}");
        let body = json!({ "instance": { "instanceId": id, "hostName": "h", "endpoints": ["rest://10.0.0.1:80"] } });
        let sent = Instant::now();
        let reply = client
            .post(format!("{writer}{BASE}/microservices/{provider}/instances"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        let acked = Instant::now();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("event in time")
                .unwrap()
                .unwrap();
            if let Message::Text(text) = message {
                let event: Value = serde_json::from_str(&text).unwrap();
                if event["action"] == "CREATE" && event["instance"]["instanceId"] == id.as_str() {
                    break;
                }
            }
        }
        let seen = Instant::now();
        from_send.push(seen - sent);
        from_ack.push(seen.saturating_duration_since(acked));
    }
    support::report(
        "register sent on node 1 -> CREATE event on a watcher at node 2",
        &mut from_send,
    );
    support::report("register acknowledged -> CREATE event on node 2", &mut from_ack);
}
