//! Propagation: a Eureka registration sent to one follower of a three-node cluster, until the
//! instance appears in `/eureka/apps/{APP}/{id}` on the other follower. Reports p50/p99/max of
//! (a) send → visible elsewhere and (b) acknowledged → visible elsewhere.
//!
//! `cargo bench -p registry-http --bench propagation [-- SAMPLES]`

mod support;

use std::time::Duration;
use std::time::Instant;

use serde_json::json;
use serde_json::Value;
use support::Proc;

#[tokio::main]
async fn main() {
    let samples: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let procs = support::three_nodes(&client, dir.path()).await;
    let status: Value = client
        .get(format!("{}/admin/cluster", procs[0].base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let leader = status["leader_id"].as_u64().unwrap() as usize - 1;
    let followers: Vec<&Proc> = (0..3).filter(|i| *i != leader).map(|i| &procs[i]).collect();
    let (writer, reader) = (followers[0].base(), followers[1].base());

    let mut from_send = Vec::with_capacity(samples);
    let mut from_ack = Vec::with_capacity(samples);
    for n in 0..samples {
        let id = format!("10.9.{}.{}:orders:8080", n / 250, n % 250);
        let body = json!({ "instance": {
            "instanceId": id, "hostName": "10.9.0.1", "app": "ORDERS", "ipAddr": "10.9.0.1",
            "status": "UP", "port": { "$": 8080, "@enabled": "true" },
            "dataCenterInfo": { "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn" }
        }});
        let sent = Instant::now();
        let reply = client
            .post(format!("{writer}/eureka/apps/ORDERS"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 204);
        let acked = Instant::now();
        let url = format!("{reader}/eureka/apps/ORDERS/{id}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if client.get(&url).send().await.unwrap().status() == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "{id} never appeared on the other node");
        }
        let seen = Instant::now();
        from_send.push(seen - sent);
        from_ack.push(seen - acked);
    }
    support::report(
        "register sent on one follower -> visible in /apps on another",
        &mut from_send,
    );
    support::report("register acknowledged -> visible on another node", &mut from_ack);
}
