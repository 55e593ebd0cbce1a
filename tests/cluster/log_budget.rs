//! The log budget (issue 21): an idle cluster logs nothing at WARN or above; a member down for a
//! minute costs each of the others at most one WARN when it goes, one INFO when it comes back
//! and one summary line a minute, not a line per retry. Lines are counted in each node's log
//! (the product's default level, `info,openraft=warn`).

use std::time::Duration;

use crate::support::Cluster;

/// A node's log size now: lines after it are what a step logged.
fn log_len(cluster: &Cluster, i: usize) -> usize {
    std::fs::read_to_string(&cluster.nodes[i].log).map_or(0, |t| t.len())
}

/// The WARN and ERROR lines node `i` logged after `from` bytes.
fn loud_lines(cluster: &Cluster, i: usize, from: usize) -> Vec<String> {
    let text = std::fs::read_to_string(&cluster.nodes[i].log).unwrap_or_default();
    text.get(from..)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_cluster_logs_nothing_at_warn_or_above() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    cluster.leader(Duration::from_secs(10)).await;
    // Settled: members announced, first snapshot policy checks done.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let from: Vec<usize> = (0..3).map(|i| log_len(&cluster, i)).collect();
    tokio::time::sleep(Duration::from_secs(60)).await;
    for (i, from) in from.into_iter().enumerate() {
        let loud = loud_lines(&cluster, i, from);
        assert!(
            loud.is_empty(),
            "idle node {} logged at WARN or above:\n{}",
            i + 1,
            loud.join("\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_member_costs_a_line_when_it_goes_and_one_when_it_returns() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let victim = (leader + 1) % 3;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let from: Vec<usize> = (0..3).map(|i| log_len(&cluster, i)).collect();
    cluster.nodes[victim].kill9();
    tokio::time::sleep(Duration::from_secs(60)).await;
    cluster.nodes[victim].start();
    cluster.wait_healthy(Duration::from_secs(30)).await;
    cluster.wait_converged(Duration::from_secs(30)).await;
    for (i, from) in from.into_iter().enumerate().filter(|(i, _)| *i != victim) {
        let loud = loud_lines(&cluster, i, from);
        // One WARN when it went, at most one summary a minute (a second may fall in the window).
        assert!(
            loud.len() <= 3,
            "node {} logged {} lines at WARN or above for one member down a minute:\n{}",
            i + 1,
            loud.len(),
            loud.join("\n")
        );
    }
    let back = format!("member {} answers again", cluster.nodes[victim].id);
    let said = |cluster: &Cluster| std::fs::read_to_string(&cluster.nodes[leader].log).is_ok_and(|t| t.contains(&back));
    for _ in 0..100 {
        if said(&cluster) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(said(&cluster), "the leader did not say the member came back");
}
