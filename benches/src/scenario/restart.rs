//! A full restart (issue 23): every node of the cluster stopped cleanly (SIGTERM), then started
//! again together; measured from the starts until each node is healthy again at the revision the
//! cluster had before, i.e. serving its stored state.

use std::time::Duration;
use std::time::Instant;

use serde::Serialize;

use crate::error::BenchError;
use crate::procs::registry::Cluster;
use crate::procs::wait_for;

/// Seconds from the start until each node served its stored state again.
#[derive(Debug, Clone, Serialize)]
pub struct RestartReport {
    pub revision: u64,
    /// By node, in the cluster's order.
    pub per_node_s: Vec<f64>,
    /// The slowest node's.
    pub max_s: f64,
    /// Seconds the clean stop took (all nodes).
    pub stop_s: f64,
}

/// Stops and restarts every node of `cluster`; waits up to `limit` for each.
pub async fn full_restart(cluster: &mut Cluster, limit: Duration) -> Result<RestartReport, BenchError> {
    let mut revision = 0;
    for node in &cluster.nodes {
        revision = revision.max(node.healthy_revision().await.unwrap_or(0));
    }
    let stopping = Instant::now();
    for node in &mut cluster.nodes {
        node.terminate();
    }
    let stop_s = stopping.elapsed().as_secs_f64();
    let started = Instant::now();
    for node in &mut cluster.nodes {
        node.start()?;
    }
    let waits = cluster.nodes.iter().map(|node| async move {
        wait_for(
            &format!("node {} to serve revision {revision} again", node.id),
            limit,
            || async { node.healthy_revision().await.filter(|r| *r >= revision) },
        )
        .await?;
        Ok::<f64, BenchError>(started.elapsed().as_secs_f64())
    });
    let per_node_s = futures::future::try_join_all(waits).await?;
    Ok(RestartReport {
        revision,
        max_s: per_node_s.iter().copied().fold(0.0, f64::max),
        per_node_s,
        stop_s,
    })
}
