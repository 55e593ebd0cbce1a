//! Follower catch-up: a follower's disk is replaced, the way Raft allows it: the member is
//! removed, restarted empty and added back. Measured from its restart until it serves
//! (healthy) at the revision the leader had before.

use std::time::Duration;
use std::time::Instant;

use crate::conn::Conn;
use crate::driver::bodiless;
use crate::driver::with_body;
use crate::error::BenchError;
use crate::procs::registry::Cluster;
use crate::procs::wait_for;

/// Replaces the disk of `cluster.nodes[index]` through the leader `cluster.nodes[leader]`;
/// returns seconds until it caught up.
pub async fn catch_up(cluster: &mut Cluster, index: usize, leader: usize) -> Result<f64, BenchError> {
    let goal = cluster.nodes[leader]
        .healthy_revision()
        .await
        .ok_or_else(|| BenchError::Setup("the leader is not healthy".into()))?;
    let (id, raft) = (cluster.nodes[index].id, cluster.nodes[index].raft.clone());
    let mut admin = Conn::new(cluster.nodes[leader].target());
    let remove = bodiless("DELETE", &format!("/admin/members/{id}"), "application/json");
    admin
        .send_expecting(remove, "removing the member", |s| s.is_success())
        .await?;
    cluster.nodes[index].kill_and_wipe()?;
    let started = Instant::now();
    cluster.nodes[index].start()?;
    let body = format!(r#"{{"id":{id},"raft_addr":"{raft}"}}"#).into_bytes();
    // As an operator would: a 503 (the leader changed meanwhile) is retried at the new leader.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let add = with_body("POST", "/admin/members", "application/json", body.clone());
        match admin
            .send_expecting(add, "adding the member back", |s| s.is_success())
            .await
        {
            Ok(_) => break,
            Err(BenchError::Status { status: 503, .. }) if attempts < 5 => {
                let leader = cluster.leader(Duration::from_secs(30)).await?;
                admin = Conn::new(cluster.nodes[leader].target());
            }
            Err(e) => return Err(e),
        }
    }
    if attempts > 1 {
        eprintln!("  adding the member back took {attempts} attempts (the leader changed)");
    }
    let node = &cluster.nodes[index];
    wait_for(
        "the replaced follower to catch up",
        Duration::from_secs(300),
        || async { node.healthy_revision().await.filter(|r| *r >= goal) },
    )
    .await?;
    Ok(started.elapsed().as_secs_f64())
}
