//! `lastRenewalTimestamp` moves (issue 18, item 5): every node serves, within a few seconds, the
//! last renewal the leader saw, with no log entry per renewal; the native list (which
//! `registryctl` and the dashboard read) shows the same figure and the lease's expiry.

use std::time::Duration;
use std::time::Instant;

use serde_json::Value;

use crate::support::eureka_register;
use crate::support::Cluster;

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn renew(cluster: &Cluster, node: usize) {
    let response = cluster
        .client
        .put(cluster.nodes[node].url("/eureka/apps/TICKER/ticker-1?status=UP"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Waits (bounded) until `read` on every node gives a value of at least `at_least`.
async fn wait_everywhere(
    cluster: &Cluster,
    what: &str,
    at_least: u64,
    read: impl Fn(&Value) -> Option<u64>,
    path: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for node in 0..cluster.nodes.len() {
        loop {
            let got = cluster.get_json(node, path).await.as_ref().and_then(&read);
            if got.is_some_and(|v| v >= at_least) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {node}: {what} stayed {got:?}, below {at_least}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_shows_the_last_renewal_the_leader_saw() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;
    let base = cluster.nodes[leader].url("");
    eureka_register(&cluster.client, &base, "TICKER", "ticker-1")
        .await
        .unwrap();
    cluster.wait_converged(Duration::from_secs(10)).await;
    let record_revision = |list: &Value| list["instances"][0]["mod_revision"].as_u64();
    let before = cluster
        .get_json(leader, "/admin/registry/instances?service=eureka.ticker")
        .await
        .unwrap();

    let last_renewal = |v: &Value| v["instance"]["leaseInfo"]["lastRenewalTimestamp"].as_u64();
    let in_full_fetch =
        |v: &Value| v["applications"]["application"][0]["instance"][0]["leaseInfo"]["lastRenewalTimestamp"].as_u64();
    let listed = |v: &Value| v["instances"][0]["last_renewal_ms"].as_u64();
    for round in 0..2 {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let before = wall_ms();
        // Through a follower in the first round, the leader in the second.
        renew(&cluster, if round == 0 { follower } else { leader }).await;
        wait_everywhere(
            &cluster,
            "one instance",
            before,
            last_renewal,
            "/eureka/apps/TICKER/ticker-1",
        )
        .await;
        wait_everywhere(&cluster, "the full fetch", before, in_full_fetch, "/eureka/apps").await;
        wait_everywhere(
            &cluster,
            "the native list",
            before,
            listed,
            "/admin/registry/instances?service=eureka.ticker",
        )
        .await;
    }
    for node in 0..3 {
        let list = cluster
            .get_json(node, "/admin/registry/instances?service=eureka.ticker")
            .await
            .unwrap();
        let (renewed, expires) = (
            listed(&list).unwrap(),
            list["instances"][0]["lease_expires_ms"].as_u64().unwrap(),
        );
        assert!(expires > renewed, "{list}");
    }
    let after = cluster
        .get_json(leader, "/admin/registry/instances?service=eureka.ticker")
        .await
        .unwrap();
    assert_eq!(
        record_revision(&after),
        record_revision(&before),
        "renewals changed the record (they must not go through the log)"
    );
}
