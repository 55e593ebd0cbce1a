//! Members are added (learner, then voter) and removed through any node's HTTP API.

use std::time::Duration;
use std::time::Instant;

use serde_json::json;

use crate::support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_node_is_added_then_removed() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    for n in 0..50 {
        cluster.register(n % 3, "m", &format!("m-{n}"), None).await.unwrap();
    }
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;
    let joiner = cluster.add_joiner();
    cluster.nodes[joiner].start();
    // Not a member yet: it serves, but reports itself unhealthy.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let health = cluster
        .client
        .get(cluster.nodes[joiner].url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 503);

    let body = json!({ "id": cluster.nodes[joiner].id, "raft_addr": cluster.raft_addr(joiner) });
    let resp = cluster
        .client
        .post(cluster.nodes[follower].url("/admin/members"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let digest = cluster.wait_converged(Duration::from_secs(30)).await;
    assert_eq!(digest["instances"], 50);
    let status = cluster.status(leader).await;
    let roles: Vec<_> = status["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(roles.len(), 4, "{status}");
    assert!(
        !roles.contains(&"learner".to_string()),
        "the new node is promoted to voter: {status}"
    );

    let removed = cluster.nodes[joiner].id;
    let resp = cluster
        .client
        .delete(cluster.nodes[follower].url(&format!("/admin/members/{removed}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = cluster.status(leader).await;
        if status["members"].as_array().unwrap().len() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "member not removed: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resp = cluster
        .client
        .delete(cluster.nodes[leader].url("/admin/members/99"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert!(err["error"].as_str().unwrap().contains("not a member"), "{err}");
}
