//! Restore is all or nothing (issue 19, attacks 6 and 7), on three nodes:
//! - a backup with one bad record among 2,001 is refused and leaves the registry empty, so the
//!   good backup is then taken;
//! - two restores sent at once to two nodes of an empty cluster: exactly one wins, and the
//!   registry holds that backup's records only.

use std::sync::Arc;
use std::time::Duration;

use registry_store::backup::Backup;
use registry_store::model::Instance;
use registry_store::model::Service;
use registry_store::model::Tenant;
use registry_store::record::Entity;

use crate::support::Cluster;

/// A backup of one service `name` with `count` instances.
fn backup_of(name: &str, count: usize) -> Backup {
    let tenant = Tenant::default();
    let mut records = vec![
        Entity::Tenant(Box::new(tenant.clone())),
        Entity::Service(Arc::new(Service::new(tenant.clone(), name, "restored", name))),
    ];
    records.extend((0..count).map(|n| {
        Entity::Instance(Arc::new(Instance::new(
            tenant.clone(),
            name,
            format!("{name}-{n}"),
            "h",
        )))
    }));
    Backup {
        revision: 7,
        taken_at_ms: 1,
        records,
    }
}

async fn restore(cluster: &Cluster, node: usize, backup: &Backup) -> (u16, String) {
    let response = cluster
        .client
        .post(cluster.nodes[node].url("/admin/restore"))
        .body(backup.encode().unwrap())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn instance_count(cluster: &Cluster, node: usize) -> usize {
    let listed = cluster
        .get_json(node, "/admin/registry/instances?consistent=true")
        .await
        .unwrap();
    listed["instances"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_is_all_or_nothing_and_only_one_of_two_at_once_wins() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;

    // One bad record (an empty instance id) after 2,000 good ones: nothing is restored.
    let mut bad = backup_of("orders", 2_000);
    bad.records.push(Entity::Instance(Arc::new(Instance::new(
        Tenant::default(),
        "orders",
        "",
        "h",
    ))));
    let (status, body) = restore(&cluster, follower, &bad).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        instance_count(&cluster, leader).await,
        0,
        "a refused restore leaves nothing"
    );
    let (status, body) = restore(&cluster, follower, &backup_of("orders", 2_000)).await;
    assert_eq!(status, 200, "the good backup is taken after the bad one: {body}");
    assert_eq!(instance_count(&cluster, leader).await, 2_000);

    // Two restores at once into an empty cluster: one wins, the other is refused.
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let (a, b) = ((leader + 1) % 3, (leader + 2) % 3);
    let (first, second) = (backup_of("alpha", 3_000), backup_of("beta", 3_000));
    let ((status_a, body_a), (status_b, body_b)) =
        tokio::join!(restore(&cluster, a, &first), restore(&cluster, b, &second));
    let mut statuses = [status_a, status_b];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{body_a} / {body_b}");
    let listed = cluster
        .get_json(leader, "/admin/registry/instances?consistent=true")
        .await
        .unwrap();
    let services: std::collections::BTreeSet<&str> = listed["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["service_id"].as_str().unwrap())
        .collect();
    assert_eq!(services.len(), 1, "one backup only: {services:?}");
    assert_eq!(listed["instances"].as_array().unwrap().len(), 3_000);
}
