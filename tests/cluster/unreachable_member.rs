//! The leader's view of each member: a killed member is shown unreachable within a few seconds
//! (in `/admin/cluster` and `registryctl members list` / `status`), with its replication lag
//! growing while writes go on, and reachable again once restarted.

use std::time::Duration;
use std::time::Instant;

use serde_json::Value;

use crate::registryctl::registryctl;
use crate::support::Cluster;

/// Waits (bounded by `within`) until the leader's view of node `id` has `reachable == want`.
async fn wait_reachable(cluster: &Cluster, leader: usize, id: u64, want: bool, within: Duration) -> Value {
    let asked = Instant::now();
    loop {
        let status = cluster.status(leader).await;
        let member = status["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap();
        if member["reachable"] == want {
            return member;
        }
        assert!(
            asked.elapsed() < within,
            "node {id} not reachable={want} in {within:?}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_member_is_shown_unreachable_within_seconds() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let victim = (leader + 1) % 3;
    let follower = (leader + 2) % 3;
    let id = cluster.nodes[victim].id;

    let member = wait_reachable(&cluster, leader, id, true, Duration::from_secs(5)).await;
    assert!(member["lag"].is_u64(), "{member}");
    cluster.nodes[victim].kill9();
    let killed = Instant::now();
    for n in 0..5 {
        cluster.register(leader, "svc", &format!("i-{n}"), None).await.unwrap();
    }
    let member = wait_reachable(&cluster, leader, id, false, Duration::from_secs(5)).await;
    println!("shown unreachable {:?} after the kill: {member}", killed.elapsed());
    assert!(member["lag"].as_u64().unwrap() >= 5, "{member}");

    // registryctl shows it too, asked of a follower: it reports the leader's view.
    let server = cluster.nodes[follower].url("");
    let victim_addr = cluster.raft_addr(victim);
    let shows_unreachable = |run: &crate::registryctl::Run| {
        assert_eq!(run.code, 0, "{}", run.stderr);
        let line = run.stdout.lines().find(|l| l.contains(&victim_addr)).unwrap();
        assert!(line.contains("UNREACHABLE"), "{}", run.stdout);
    };
    shows_unreachable(&registryctl(&server, &["members", "list"]).await);
    let run = registryctl(&server, &["--json", "members", "list"]).await;
    let members: Value = serde_json::from_str(&run.stdout).unwrap();
    let shown = members.as_array().unwrap().iter().find(|m| m["id"] == id).unwrap();
    assert_eq!(shown["reachable"], false, "{members}");
    let run = registryctl(&server, &["status"]).await;
    println!("registryctl status, asked of a follower:\n{}", run.stdout);
    shows_unreachable(&run);

    // Back up: reachable again, and caught up.
    cluster.nodes[victim].start();
    wait_reachable(&cluster, leader, id, true, Duration::from_secs(15)).await;
}
