//! Restarting every node keeps exactly the same state.

use std::time::Duration;

use crate::support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_all_nodes_keeps_identical_state() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    for n in 0..200 {
        cluster.register(n % 3, "keep", &format!("k-{n}"), None).await.unwrap();
    }
    let before = cluster.wait_converged(Duration::from_secs(10)).await;

    // SIGTERM on the leader: it exits cleanly and a follower takes over.
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let old_term = cluster.status(leader).await["term"].as_u64().unwrap();
    assert_eq!(cluster.nodes[leader].terminate(), Some(0), "the leader stops cleanly");
    let successor = cluster.leader(Duration::from_secs(10)).await;
    assert_ne!(successor, leader);
    assert!(cluster.status(successor).await["term"].as_u64().unwrap() > old_term);
    cluster.nodes[leader].start();
    cluster.wait_healthy(Duration::from_secs(30)).await;
    assert_eq!(
        cluster.wait_converged(Duration::from_secs(10)).await["digest"],
        before["digest"]
    );
    for node in &mut cluster.nodes {
        assert_eq!(node.terminate(), Some(0), "node {} did not stop cleanly", node.id);
    }
    for node in &mut cluster.nodes {
        node.start();
    }
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let after = cluster.wait_converged(Duration::from_secs(30)).await;
    assert_eq!(after["digest"], before["digest"], "before {before}, after {after}");
    assert_eq!(after["instances"], 200);
    // The restarted cluster takes writes again.
    let leader = cluster.leader(Duration::from_secs(10)).await;
    cluster.register(leader, "keep", "after-restart", None).await.unwrap();
}

/// What the README tells an operator whose node refused to start on a damaged state: start it
/// on an empty data directory with `--join`; the leader, to which it is still a member, sends it
/// the state, and it ends with the same digest as the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_restarted_empty_with_join_gets_the_state_back() {
    let mut cluster = Cluster::start(3, &["--snapshot-every", "100"]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    for n in 0..300 {
        cluster.register(n % 3, "kept", &format!("k-{n}"), None).await.unwrap();
    }
    let before = cluster.wait_converged(Duration::from_secs(10)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let wiped = (leader + 1) % 3;
    assert_eq!(cluster.nodes[wiped].terminate(), Some(0));
    let dir = cluster.nodes[wiped].data_dir();
    std::fs::remove_dir_all(&dir).unwrap();
    cluster.nodes[wiped].args.push("--join".into());
    cluster.nodes[wiped].start();
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let after = cluster.wait_converged(Duration::from_secs(30)).await;
    assert_eq!(after["digest"], before["digest"], "before {before}, after {after}");
    assert_eq!(cluster.digest(wiped).await.unwrap()["digest"], before["digest"]);
}
