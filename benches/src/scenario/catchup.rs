//! Follower catch-up: a follower loses its disk and restarts empty; the time until it serves
//! (healthy) at the revision the leader had when it restarted.

use std::time::Duration;
use std::time::Instant;

use crate::error::BenchError;
use crate::procs::registry::Cluster;
use crate::procs::wait_for;

/// Wipes and restarts `cluster.nodes[index]`; returns seconds until it caught up.
pub async fn catch_up(cluster: &mut Cluster, index: usize, leader: usize) -> Result<f64, BenchError> {
    let goal = cluster.nodes[leader]
        .healthy_revision()
        .await
        .ok_or_else(|| BenchError::Setup("the leader is not healthy".into()))?;
    cluster.nodes[index].kill_and_wipe()?;
    let started = Instant::now();
    cluster.nodes[index].start()?;
    let node = &cluster.nodes[index];
    wait_for("the wiped follower to catch up", Duration::from_secs(300), || async {
        node.healthy_revision().await.filter(|r| *r >= goal)
    })
    .await?;
    Ok(started.elapsed().as_secs_f64())
}
