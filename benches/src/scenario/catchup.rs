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

/// How long the addition of the member is waited for: longer than the leader's own limit.
const ADD_ANSWER_LIMIT: Duration = Duration::from_secs(180);

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
    // The leader answers an addition once the new member has the log (a learner first, then a
    // voter), up to its own limit of two minutes: waited for as an operator's registryctl does
    // (no answer within the client's usual 10 s at a million instances is not a failure).
    let mut admin = admin.with_timeout(ADD_ANSWER_LIMIT);
    // As an operator would: a 503 (the leader changed meanwhile) is retried at the new leader;
    // if the interrupted attempt had already added the learner, it is promoted, as the 409 says.
    let mut attempts = 0;
    let mut promote = false;
    loop {
        attempts += 1;
        let request = if promote {
            bodiless("POST", &format!("/admin/members/{id}/promote"), "application/json")
        } else {
            with_body("POST", "/admin/members", "application/json", body.clone())
        };
        match admin
            .send_expecting(request, "adding the member back", |s| s.is_success())
            .await
        {
            Ok(_) => break,
            Err(BenchError::Status { status, body, .. }) if attempts < 5 && (status == 503 || status == 409) => {
                eprintln!("  adding the member back: HTTP {status} {body}");
                promote = promote || (status == 409 && body.contains("already a learner"));
                if status == 409 && !promote {
                    return Err(BenchError::Setup(format!("adding the member back: HTTP 409 {body}")));
                }
                let leader = cluster.leader(Duration::from_secs(60)).await?;
                admin = Conn::new(cluster.nodes[leader].target()).with_timeout(ADD_ANSWER_LIMIT);
            }
            Err(e) => return Err(e),
        }
    }
    if attempts > 1 {
        eprintln!("  adding the member back took {attempts} attempts");
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
