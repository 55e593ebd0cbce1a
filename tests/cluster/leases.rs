//! Leases (D3): heartbeats sent to followers renew on the leader without adding log entries; a
//! leader change evicts nobody who keeps heartbeating; an instance that stops heartbeating is
//! evicted once, through the log, on every node.

use std::time::Duration;
use std::time::Instant;

use crate::support::Cluster;

const INSTANCES: usize = 10;
/// Renew every second, expire after three (short so the test is quick).
const LEASE: (u32, u32) = (1, 3);

fn ids() -> Vec<String> {
    (0..INSTANCES).map(|n| format!("hb-{n}")).collect()
}

/// Renews every id through the followers of `leader` (alternating) for `period`.
async fn heartbeat_for(cluster: &Cluster, leader: usize, ids: &[String], period: Duration) -> usize {
    let followers: Vec<usize> = cluster.running().into_iter().filter(|i| *i != leader).collect();
    let end = Instant::now() + period;
    let mut sent = 0;
    while Instant::now() < end {
        for id in ids {
            let via = followers[sent % followers.len()];
            let found = cluster
                .renew(via, "hb", std::slice::from_ref(id))
                .await
                .expect("renewal accepted");
            assert_eq!(found, vec![true], "{id} should be registered");
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_renew_on_the_leader_without_touching_the_log_and_expiry_evicts_once() {
    let cluster = Cluster::start(3, &["--lease-tick-ms", "200"]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    for id in ids() {
        cluster.register(leader, "hb", &id, Some(LEASE)).await.unwrap();
    }
    // Let the nodes' address announcements settle so the log is quiet.
    cluster.wait_converged(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = cluster.status(leader).await["last_log_index"].as_u64().unwrap();

    // 1,000 heartbeats (in well over one lease duration) through the followers.
    let mut sent = 0;
    while sent < 1_000 {
        sent += heartbeat_for(&cluster, leader, &ids(), Duration::from_secs(1)).await;
    }
    let after = cluster.status(leader).await["last_log_index"].as_u64().unwrap();
    assert_eq!(before, after, "{sent} heartbeats must add no log entry");
    assert_eq!(
        cluster.instance_ids(leader, "hb").await.len(),
        INSTANCES,
        "renewed instances stay"
    );

    // Unknown instances are reported as such, so clients register again.
    let found = cluster
        .renew((leader + 1) % 3, "hb", &["never-registered".to_string()])
        .await
        .unwrap();
    assert_eq!(found, vec![false]);

    // One instance stops heartbeating; the others go on. It is evicted by one log entry.
    let alive: Vec<String> = ids()[1..].to_vec();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        heartbeat_for(&cluster, leader, &alive, Duration::from_millis(500)).await;
        if !cluster.instance_ids(leader, "hb").await.contains("hb-0") {
            break;
        }
        assert!(Instant::now() < deadline, "hb-0 was never evicted");
    }
    let digest = cluster.wait_converged(Duration::from_secs(10)).await;
    assert_eq!(digest["instances"].as_u64(), Some((INSTANCES - 1) as u64));
    for i in 0..3 {
        assert!(!cluster.instance_ids(i, "hb").await.contains("hb-0"));
    }
    let evicted_at = cluster.status(leader).await["last_log_index"].as_u64().unwrap();
    assert_eq!(evicted_at, after + 1, "exactly one eviction entry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_change_evicts_no_instance_that_keeps_heartbeating() {
    let mut cluster = Cluster::start(3, &["--lease-tick-ms", "200"]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    for id in ids() {
        cluster.register(leader, "hb", &id, Some(LEASE)).await.unwrap();
    }
    heartbeat_for(&cluster, leader, &ids(), Duration::from_secs(2)).await;

    cluster.nodes[leader].kill9();
    let survivors = cluster.running();
    // Keep renewing through the survivors while they elect a new leader and well past 2× TTL.
    let end = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    while Instant::now() < end {
        for id in ids() {
            let via = survivors[n % survivors.len()];
            n += 1;
            // During the election renewals may be refused as retryable; the client retries.
            let _ = cluster.renew(via, "hb", &[id]).await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let new_leader = cluster.leader(Duration::from_secs(10)).await;
    assert_ne!(new_leader, leader);
    for i in survivors {
        assert_eq!(
            cluster.instance_ids(i, "hb").await.len(),
            INSTANCES,
            "node {} evicted a live instance",
            i + 1
        );
    }
}
