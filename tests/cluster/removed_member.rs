//! A member removed from the cluster notices: it stops campaigning (its term stays still), says
//! so in `/health` (`REMOVED`) and its log, and stops promptly on SIGTERM. The others go on.

use std::time::Duration;
use std::time::Instant;

use serde_json::Value;

use crate::support::Cluster;

/// Node `i`'s current term, as it reports it.
async fn term(cluster: &Cluster, i: usize) -> u64 {
    cluster.status(i).await["term"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_stops_campaigning_and_says_so() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let removed = (leader + 1) % 3;
    let removed_id = cluster.nodes[removed].id;
    let resp = cluster
        .client
        .delete(cluster.nodes[leader].url(&format!("/admin/members/{removed_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let others: Vec<usize> = (0..3).filter(|i| *i != removed).collect();

    // It says it was removed, within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    let health = loop {
        let resp = cluster
            .client
            .get(cluster.nodes[removed].url("/health"))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        if body["status"] == "REMOVED" {
            assert_eq!(status, 503);
            break body;
        }
        assert!(Instant::now() < deadline, "never reported removed: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(health["reason"].as_str().unwrap().contains("removed"), "{health}");
    println!("node {removed_id}'s health after its removal: {health}");

    // Its term stays still: it no longer campaigns. The others lead on and take writes.
    let before = term(&cluster, removed).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = term(&cluster, removed).await;
    assert_eq!(before, after, "the removed node still campaigns");
    cluster.wait_nodes_healthy(&others, Duration::from_secs(10)).await;
    cluster.register(others[0], "svc", "after-removal", None).await.unwrap();
    let log = std::fs::read_to_string(&cluster.nodes[removed].log).unwrap();
    assert_eq!(
        log.matches("removed from the cluster").count(),
        1,
        "said once in its log:\n{log}"
    );

    // SIGTERM stops it promptly and cleanly.
    let asked = Instant::now();
    let code = cluster.nodes[removed].terminate();
    assert_eq!(code, Some(0));
    println!("stopped {:?} after SIGTERM", asked.elapsed());
    assert!(asked.elapsed() < Duration::from_secs(5), "took {:?}", asked.elapsed());
}
