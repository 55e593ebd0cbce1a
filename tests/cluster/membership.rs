//! Members are added (learner, then voter) and removed through any node's HTTP API.

use std::time::Duration;
use std::time::Instant;

use serde_json::json;

use crate::support::register_at;
use crate::support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_node_is_added_then_removed() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    for n in 0..50 {
        cluster.register(n % 3, "m", &format!("m-{n}"), None).await.unwrap();
    }
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;
    let joiner = cluster.add_joiner();
    cluster.nodes[joiner].start();
    // Not a member yet: it serves, but reports itself unhealthy.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let health = cluster
        .client
        .get(cluster.nodes[joiner].url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 503);

    let body = json!({ "id": cluster.nodes[joiner].id, "raft_addr": cluster.raft_addr(joiner) });
    let resp = cluster
        .client
        .post(cluster.nodes[follower].url("/admin/members"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let digest = cluster.wait_converged(Duration::from_secs(30)).await;
    assert_eq!(digest["instances"], 50);
    let status = cluster.status(leader).await;
    let roles: Vec<_> = status["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(roles.len(), 4, "{status}");
    assert!(
        !roles.contains(&"learner".to_string()),
        "the new node is promoted to voter: {status}"
    );

    let removed = cluster.nodes[joiner].id;
    let resp = cluster
        .client
        .delete(cluster.nodes[follower].url(&format!("/admin/members/{removed}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = cluster.status(leader).await;
        if status["members"].as_array().unwrap().len() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "member not removed: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resp = cluster
        .client
        .delete(cluster.nodes[leader].url("/admin/members/99"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert!(err["error"].as_str().unwrap().contains("not a member"), "{err}");
}

/// A node that joins with an empty disk after more writes than a quarter of the records starts
/// from a snapshot the leader builds for it (the log replays a write at some four times what a
/// snapshot costs a record), not from a replay of the whole log; the state converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joining_with_an_empty_disk_starts_from_a_fresh_snapshot() {
    const RECORDS: usize = 1_500;
    let mut cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let base = cluster.nodes[leader].url("");
    let deadline = Instant::now() + Duration::from_secs(120);
    let writers = (0..16).map(|w| {
        let (client, base) = (cluster.client.clone(), base.clone());
        tokio::spawn(async move {
            for n in (w..RECORDS).step_by(16) {
                while let Err(e) = register_at(&client, &base, "bulk", &format!("b-{n}"), None).await {
                    assert!(Instant::now() < deadline, "b-{n} never acknowledged: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    let before = cluster.status(leader).await;
    assert_eq!(
        before["snapshot_index"].as_u64().unwrap_or(0),
        0,
        "no snapshot yet: {before}"
    );

    let joiner = cluster.add_joiner();
    cluster.nodes[joiner].start();
    let (status, body) = add_member(
        &cluster,
        leader,
        cluster.nodes[joiner].id,
        &cluster.raft_addr(joiner),
        false,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    cluster.wait_healthy(Duration::from_secs(60)).await;
    let digest = cluster.wait_converged(Duration::from_secs(60)).await;
    assert_eq!(digest["instances"].as_u64(), Some(RECORDS as u64));
    let built = cluster.status(leader).await["snapshot_index"].as_u64().unwrap_or(0);
    assert!(built > 0, "the leader built no snapshot for the newcomer");
    let joined = cluster.status(joiner).await;
    assert!(
        joined["snapshot_index"].as_u64().unwrap_or(0) >= built,
        "the newcomer replayed the log instead of installing the snapshot: {joined}"
    );
}

/// Asks node `via` to add node `id` at `raft_addr` (`learner`: to stay one); the answer's status
/// and body. Retried (bounded) while 503: the new node may not listen yet.
async fn add_member(
    cluster: &Cluster,
    via: usize,
    id: u64,
    raft_addr: &str,
    learner: bool,
) -> (u16, serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let resp = cluster
            .client
            .post(cluster.nodes[via].url("/admin/members"))
            .json(&json!({ "id": id, "raft_addr": raft_addr, "learner": learner }))
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or_default();
        if status != 503 || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The member ids node `i` lists.
async fn member_ids(cluster: &Cluster, i: usize) -> Vec<u64> {
    let status = cluster.status(i).await;
    let members = status["members"].as_array().unwrap();
    members.iter().map(|m| m["id"].as_u64().unwrap()).collect()
}

/// A joining node must prove who it is: added under an id other than its `--node-id`, or when
/// it already belongs to a cluster of its own, or when its cluster secret differs, it is refused
/// with 409 and the membership stays as it was. Added under its own id, it joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_is_not_who_it_is_added_as_is_refused() {
    let secret = ["--cluster-secret", "these-nodes-share-a-long-secret"];
    let mut cluster = Cluster::start(3, &secret);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let joiner = cluster.add_joiner();
    cluster.nodes[joiner].args.extend(secret.map(String::from));
    cluster.nodes[joiner].start();
    let joiner_id = cluster.nodes[joiner].id;
    let addr = cluster.raft_addr(joiner);

    // Started as node 4, added as node 5: refused, naming both ids.
    let (status, body) = add_member(&cluster, 0, joiner_id + 1, &addr, false).await;
    assert_eq!(status, 409, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains(&format!("node {joiner_id}")), "{error}");
    assert!(error.contains(&format!("not node {}", joiner_id + 1)), "{error}");
    assert_eq!(member_ids(&cluster, 0).await, vec![1, 2, 3]);

    // A node that formed a cluster of its own (no --join) is refused.
    let other = cluster.add_joiner();
    let join_flag = cluster.nodes[other].args.iter().position(|a| a == "--join").unwrap();
    cluster.nodes[other].args.remove(join_flag);
    cluster.nodes[other].args.extend(secret.map(String::from));
    cluster.nodes[other].start();
    cluster.wait_nodes_healthy(&[other], Duration::from_secs(30)).await;
    let (status, body) = add_member(&cluster, 1, cluster.nodes[other].id, &cluster.raft_addr(other), false).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("another cluster"), "{body}");
    cluster.nodes[other].kill9();

    // A node whose cluster secret differs is refused.
    let stranger = cluster.add_joiner();
    cluster.nodes[stranger]
        .args
        .extend(["--cluster-secret", "a-different-long-cluster-secret"].map(String::from));
    cluster.nodes[stranger].start();
    let (status, body) = add_member(
        &cluster,
        2,
        cluster.nodes[stranger].id,
        &cluster.raft_addr(stranger),
        false,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("cluster secret"), "{body}");
    cluster.nodes[stranger].kill9();
    assert_eq!(member_ids(&cluster, 0).await, vec![1, 2, 3]);

    // Under its own id, the first joiner is added, and the cluster takes writes through it.
    let (status, body) = add_member(&cluster, 0, joiner_id, &addr, false).await;
    assert_eq!(status, 200, "{body}");
    cluster
        .wait_nodes_healthy(&[0, 1, 2, joiner], Duration::from_secs(30))
        .await;
    cluster.register(joiner, "m", "through-the-joiner", None).await.unwrap();
}

/// Adding an id that is already a member (voter or learner) is refused with 409, whatever the
/// address, instead of a silent success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_an_existing_member_is_refused() {
    let mut cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let (status, body) = add_member(&cluster, 0, 2, &cluster.raft_addr(1), false).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("already a voter"), "{body}");

    // A learner too, and under another address.
    let joiner = cluster.add_joiner();
    cluster.nodes[joiner].start();
    let id = cluster.nodes[joiner].id;
    let (status, body) = add_member(&cluster, 0, id, &cluster.raft_addr(joiner), true).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = add_member(&cluster, 1, id, &cluster.raft_addr(0), false).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("already a learner"), "{body}");
    assert_eq!(member_ids(&cluster, 0).await, vec![1, 2, 3, 4]);
}
