//! The log budget (issue 21): an idle cluster logs nothing at WARN or above; a member down for a
//! minute costs each of the others at most one WARN when it goes, one INFO when it comes back
//! and one summary line a minute, not a line per retry. Lines are counted in each node's log
//! (the product's default level, `info,openraft=warn`). Forming a cluster (three nodes started
//! together, calling each other before all are up) logs no ERROR and a couple of WARN lines at
//! most, and a follower catching up on a long log costs nothing above INFO (sizing the
//! AppendEntries to what the follower takes is expected, not a fault).

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use serde_json::json;

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

/// The ERROR lines among `lines`.
fn errors(lines: &[String]) -> Vec<&String> {
    lines.iter().filter(|l| l.contains(" ERROR ")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forming_a_cluster_logs_no_error_and_at_most_a_couple_of_warnings() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    cluster.leader(Duration::from_secs(10)).await;
    cluster.wait_converged(Duration::from_secs(20)).await;
    // Settled: members announced their addresses.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for i in 0..3 {
        let loud = loud_lines(&cluster, i, 0);
        assert!(
            errors(&loud).is_empty() && loud.len() <= 2,
            "node {} logged {} lines at WARN or above while the cluster formed:\n{}",
            i + 1,
            loud.len(),
            loud.join("\n")
        );
    }
}

/// Records the stopped follower misses; each carries about 2 KB of metadata, so catching up
/// takes many AppendEntries sized to the byte budget.
const CATCH_UP_RECORDS: usize = 3_000;

/// A Eureka registration of `id` with a long lease and about 2 KB of metadata.
fn bulky(id: &str) -> serde_json::Value {
    let metadata: serde_json::Map<String, serde_json::Value> = (0..16)
        .map(|k| (format!("key{k}"), json!(format!("{id}-{}", "x".repeat(120)))))
        .collect();
    json!({ "instance": {
        "instanceId": id, "hostName": "10.0.0.1", "app": "BULKY", "ipAddr": "10.0.0.1",
        "status": "UP", "port": {"$": 8080, "@enabled": "true"},
        "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
        "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": 900},
        "metadata": metadata
    }})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_catching_up_a_long_log_logs_nothing_above_info() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;
    assert_eq!(cluster.nodes[follower].terminate(), Some(0), "clean shutdown exits 0");

    let next = Arc::new(AtomicUsize::new(0));
    let base = Arc::new(cluster.nodes[leader].url(""));
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (next, base, client) = (next.clone(), base.clone(), cluster.client.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= CATCH_UP_RECORDS {
                    return;
                }
                let id = format!("bulky-{n}");
                loop {
                    let sent = client
                        .post(format!("{base}/eureka/apps/BULKY"))
                        .json(&bulky(&id))
                        .send()
                        .await;
                    if sent.is_ok_and(|r| r.status().as_u16() == 204) {
                        break;
                    }
                    assert!(Instant::now() < deadline, "write {id} never acknowledged");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let from: Vec<usize> = (0..3).map(|i| log_len(&cluster, i)).collect();
    cluster.nodes[follower].start();
    cluster.wait_healthy(Duration::from_secs(60)).await;
    let digest = cluster.wait_converged(Duration::from_secs(120)).await;
    assert!(
        digest["instances"].as_u64() >= Some(CATCH_UP_RECORDS as u64),
        "{digest}"
    );
    for (i, from) in from.into_iter().enumerate() {
        // The restarted follower's log is new from its start: its own startup counts too. The
        // leader's one line that the follower went away is the budgeted one (tested above); it
        // may come after the writes when they finish quickly, so it is not counted here.
        let gone = format!("member {} stopped answering", cluster.nodes[follower].id);
        let mut loud = loud_lines(&cluster, i, from);
        loud.retain(|line| !line.contains(&gone));
        assert!(
            loud.is_empty(),
            "node {} logged at WARN or above while node {} caught up:\n{}",
            i + 1,
            cluster.nodes[follower].id,
            loud.join("\n")
        );
    }
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
