//! Concurrent writes through every node are packed into shared log entries by the leader, and
//! each keeps its own outcome: of two concurrent cancels of one instance exactly one succeeds,
//! while registrations in the same entries go through, and every node ends up with exactly the
//! instances that should remain.

use std::collections::HashSet;
use std::time::Duration;

use futures::future::join_all;

use crate::support::eureka_register;
use crate::support::Cluster;

const APP: &str = "BATCHED";
const FIRST: usize = 120;
const SECOND: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_entries_and_keep_their_own_outcomes() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let base = |n: usize| cluster.nodes[n % 3].url("");
    let register = |n: usize, id: String| {
        let base = base(n);
        let client = cluster.client.clone();
        async move { eureka_register(&client, &base, APP, &id).await }
    };
    let cancel = |n: usize, id: String| {
        let url = cluster.nodes[n % 3].url(&format!("/eureka/apps/{APP}/{id}"));
        let client = cluster.client.clone();
        async move { client.delete(url).send().await.map(|r| r.status().as_u16()).unwrap() }
    };

    let first = join_all((0..FIRST).map(|n| register(n, format!("first-{n}")))).await;
    assert!(first.iter().all(Result::is_ok), "{first:?}");

    // Two cancels per instance, through different nodes, racing new registrations.
    let cancels =
        join_all((0..FIRST).flat_map(|n| [cancel(n, format!("first-{n}")), cancel(n + 1, format!("first-{n}"))]));
    let second = join_all((0..SECOND).map(|n| register(n, format!("second-{n}"))));
    let (cancelled, second) = tokio::join!(cancels, second);
    assert!(second.iter().all(Result::is_ok), "{second:?}");
    for (n, pair) in cancelled.chunks(2).enumerate() {
        let mut pair = pair.to_vec();
        pair.sort_unstable();
        assert_eq!(pair, [200, 404], "the two cancels of first-{n}");
    }

    let digest = cluster.wait_converged(Duration::from_secs(20)).await;
    assert_eq!(digest["instances"], SECOND as u64, "{digest}");
    for node in 0..3 {
        let ids = app_instance_ids(&cluster, node).await;
        let want = (0..SECOND).map(|n| format!("second-{n}")).collect();
        assert_eq!(ids, want, "node {node}");
    }

    // Fewer entries than commands on the leader's log: writes shared entries.
    let metrics = cluster.metrics_text(leader).await;
    let total = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
    };
    let entries = total("registry_raft_log_entries_appended_total ");
    let commands = total("registry_raft_log_commands_appended_total ");
    assert!(
        commands > entries,
        "{commands} commands in {entries} entries: writes were not batched"
    );
}

/// The instance ids node `i` lists for [`APP`] through Eureka (a local read).
async fn app_instance_ids(cluster: &Cluster, i: usize) -> HashSet<String> {
    let app = cluster
        .get_json(i, &format!("/eureka/apps/{APP}"))
        .await
        .expect("the app");
    app["application"]["instance"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|i| i["instanceId"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}
