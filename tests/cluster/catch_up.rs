//! A follower that missed 10,000 writes, while the leader snapshotted and purged its log,
//! catches up by snapshot install and ends with the same state.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use crate::support::register_at;
use crate::support::Cluster;

const RECORDS: usize = 10_000;
const CONCURRENCY: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_follower_catches_up_by_snapshot_after_the_log_was_purged() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    assert_eq!(cluster.nodes[follower].terminate(), Some(0), "clean shutdown exits 0");

    let next = Arc::new(AtomicUsize::new(0));
    let last_revision = Arc::new(AtomicU64::new(0));
    let bases = Arc::new([cluster.nodes[leader].url(""), cluster.nodes[other].url("")]);
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut tasks = Vec::new();
    for t in 0..CONCURRENCY {
        let (next, bases, client) = (next.clone(), bases.clone(), cluster.client.clone());
        let last_revision = last_revision.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= RECORDS {
                    return;
                }
                let id = format!("rec-{n}");
                // Retry until acknowledged, bounded by the test deadline.
                loop {
                    match register_at(&client, &bases[t % 2], "bulk", &id, None).await {
                        Ok(revision) => {
                            last_revision.fetch_max(revision, Ordering::SeqCst);
                            break;
                        }
                        Err(e) => assert!(Instant::now() < deadline, "write {id} never acknowledged: {e}"),
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let resp = cluster
        .client
        .post(cluster.nodes[leader].url("/admin/snapshot"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let status = cluster.status(leader).await;
    let snapshot = status["snapshot_index"].as_u64().unwrap();
    assert!(
        status["purged_index"].as_u64().unwrap() >= snapshot && snapshot >= last_revision.load(Ordering::SeqCst),
        "{status}"
    );

    cluster.nodes[follower].start();
    cluster.wait_healthy(Duration::from_secs(60)).await;
    let digest = cluster.wait_converged(Duration::from_secs(120)).await;
    assert_eq!(digest["instances"].as_u64(), Some(RECORDS as u64));
    let caught_up = cluster.status(follower).await;
    assert!(
        caught_up["snapshot_index"].as_u64().unwrap() >= snapshot,
        "the follower should have installed the leader's snapshot: {caught_up}"
    );
    assert_eq!(cluster.instance_ids(follower, "bulk").await.len(), RECORDS);
}
