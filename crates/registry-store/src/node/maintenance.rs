//! Operator actions on the local Raft: build a snapshot now and purge the log behind it.

use std::time::Duration;

use super::NodeError;
use super::RegistryNode;
use crate::model::Revision;

/// How long a snapshot or purge may take before the caller is told it timed out.
const MAINTENANCE_TIMEOUT: Duration = Duration::from_secs(60);

impl RegistryNode {
    /// Builds a snapshot covering everything applied so far, then purges the log up to it.
    /// Returns the snapshot's revision.
    pub async fn snapshot_and_purge(&self) -> Result<Revision, NodeError> {
        let index = self.snapshot_now().await?;
        self.purge_log_upto(index).await?;
        Ok(index)
    }

    /// Builds a snapshot covering everything applied so far; its revision.
    pub(super) async fn snapshot_now(&self) -> Result<Revision, NodeError> {
        let raft = &self.inner.raft;
        let target = self.revision();
        raft.trigger()
            .snapshot()
            .await
            .map_err(|e| NodeError::Stopped(e.to_string()))?;
        let mut metrics = raft.metrics();
        let snapshot = async {
            let m = metrics
                .wait_for(|m| m.snapshot.is_some_and(|s| s.index >= target))
                .await;
            m.ok().and_then(|m| m.snapshot)
        };
        let snapshot = tokio::time::timeout(MAINTENANCE_TIMEOUT, snapshot)
            .await
            .map_err(|_| NodeError::Unavailable("snapshot did not finish in time".into()))?
            .ok_or_else(|| NodeError::Stopped("raft stopped".into()))?;
        Ok(snapshot.index)
    }

    /// Purges the log up to `index` (at most the last snapshot's), once no replication to a
    /// member still reads it.
    pub(super) async fn purge_log_upto(&self, index: u64) -> Result<(), NodeError> {
        let raft = &self.inner.raft;
        raft.trigger()
            .purge_log(index)
            .await
            .map_err(|e| NodeError::Stopped(e.to_string()))?;
        let mut metrics = raft.metrics();
        let purged = async {
            metrics
                .wait_for(|m| m.purged.is_some_and(|p| p.index >= index))
                .await
                .is_ok()
        };
        match tokio::time::timeout(MAINTENANCE_TIMEOUT, purged).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(NodeError::Stopped("raft stopped".into())),
            Err(_) => Err(NodeError::Unavailable("log purge did not finish in time".into())),
        }
    }
}
