//! `/apps/delta` from the change feed, and the `waitRevision` long poll.

use std::time::Duration;
use std::time::Instant;

use serde_json::Value;

use crate::support::instance;
use crate::support::Node;

fn actions(delta: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for app in delta["applications"]["application"].as_array().unwrap() {
        for i in app["instance"].as_array().unwrap() {
            out.push((
                i["instanceId"].as_str().unwrap().to_string(),
                i["actionType"].as_str().unwrap().to_string(),
            ));
        }
    }
    out.sort();
    out
}

/// The delta window follows the feed asynchronously: wait until it shows `want`.
async fn delta_until(node: &Node, want: &[(&str, &str)]) -> Value {
    let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let delta = node.get_json("/eureka/apps/delta").await.json();
        if actions(&delta) == want {
            return delta;
        }
        assert!(Instant::now() < deadline, "delta never became {want:?}: {delta}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_delta_shows_recent_changes_with_their_action_and_the_full_hashcode() {
    let node = Node::start().await;
    node.register_json("ORDERS", &instance("ORDERS", "10.0.0.11", 8080))
        .await;
    node.register_json("ORDERS", &instance("ORDERS", "10.0.0.12", 8080))
        .await;
    let delta = delta_until(
        &node,
        &[("10.0.0.11:orders:8080", "ADDED"), ("10.0.0.12:orders:8080", "ADDED")],
    )
    .await;
    assert_eq!(delta["applications"]["apps__hashcode"], "UP_2_");
    node.put("/eureka/apps/ORDERS/10.0.0.11:orders:8080/status?value=OUT_OF_SERVICE")
        .await;
    node.delete("/eureka/apps/ORDERS/10.0.0.12:orders:8080").await;
    let delta = delta_until(
        &node,
        &[
            ("10.0.0.11:orders:8080", "MODIFIED"),
            ("10.0.0.12:orders:8080", "DELETED"),
        ],
    )
    .await;
    assert_eq!(
        delta["applications"]["apps__hashcode"], "OUT_OF_SERVICE_1_",
        "hash of the full registry"
    );
    let full = node.get_json("/eureka/apps").await;
    assert_ne!(delta["applications"]["versions__delta"], "1");
    assert_eq!(full.json()["applications"]["versions__delta"], "1");
}

#[tokio::test]
async fn wait_revision_long_polls_until_the_registry_moves() {
    let node = Node::start().await;
    node.register_json("ORDERS", &instance("ORDERS", "10.0.0.11", 8080))
        .await;
    let first = node.get_json("/eureka/apps/delta").await;
    let revision: u64 = first.headers["x-registry-revision"].to_str().unwrap().parse().unwrap();
    let started = Instant::now();
    let uri = format!("/eureka/apps/delta?waitRevision={revision}&waitSeconds=20");
    let (reply, _) = tokio::join!(node.get_json(&uri), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        node.register_json("ORDERS", &instance("ORDERS", "10.0.0.12", 8080))
            .await;
    });
    let after: u64 = reply.headers["x-registry-revision"].to_str().unwrap().parse().unwrap();
    assert!(after > revision);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "answered on the change, not the timeout"
    );
    // With nothing happening, it answers at the timeout with the same revision.
    let quiet = node
        .get_json(&format!("/eureka/apps/delta?waitRevision={after}&waitSeconds=1"))
        .await;
    assert_eq!(
        quiet.headers["x-registry-revision"].to_str().unwrap(),
        after.to_string()
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Netflix: `AbstractInstanceRegistry.internalCancel` (cancel and eviction alike) calls
/// `Lease.cancel()`, which sets `evictionTimestamp` to now, then `setLastUpdatedTimestamp()`;
/// `decorateInstanceInfo` copies the lease's `evictionTimestamp` into the delta's `leaseInfo`.
#[tokio::test]
async fn deleted_delta_entries_carry_the_eviction_time() {
    let node = Node::start().await;
    node.register_json("ORDERS", &instance("ORDERS", "10.0.0.11", 8080))
        .await;
    let before = now_ms();
    node.delete("/eureka/apps/ORDERS/10.0.0.11:orders:8080").await;
    let after = now_ms();
    let delta = delta_until(&node, &[("10.0.0.11:orders:8080", "DELETED")]).await;
    let gone = &delta["applications"]["application"][0]["instance"][0];
    let evicted = gone["leaseInfo"]["evictionTimestamp"].as_i64().unwrap();
    assert!(
        before <= evicted && evicted <= after + 1000,
        "{evicted} not in [{before}, {after}]"
    );
    let updated: i64 = gone["lastUpdatedTimestamp"].as_str().unwrap().parse().unwrap();
    assert_eq!(updated, evicted);
}
