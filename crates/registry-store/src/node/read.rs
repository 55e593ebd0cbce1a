//! Reads (D4): local by default, from this node's applied state; a read barrier makes the next
//! local read linearizable (read index from the leader, then wait until applied).

use std::time::Duration;

use openraft::error::CheckIsLeaderError;
use openraft::error::RaftError;
use parking_lot::RwLockReadGuard;
use tokio::time::Instant;

use super::call_peer;
use super::NodeError;
use super::RegistryNode;
use crate::backup::Backup;
use crate::model::Revision;
use crate::storage::AppliedState;
use crate::transport::pb;

impl RegistryNode {
    /// This node's applied state, for local reads. Hold the guard briefly.
    pub fn read(&self) -> RwLockReadGuard<'_, AppliedState> {
        self.inner.state.read()
    }

    /// A linearizable point-in-time copy of every record (see [`Backup`]).
    pub async fn backup(&self) -> Result<Backup, NodeError> {
        self.read_barrier().await?;
        let applied = self.read();
        Ok(Backup::of(
            &applied.state,
            applied.revision(),
            crate::clock::wall_clock_ms(),
        ))
    }

    /// Waits until this node has applied everything committed before the call, so the next
    /// [`read`](Self::read) is linearizable. Returns the revision it waited for.
    pub async fn read_barrier(&self) -> Result<Revision, NodeError> {
        let deadline = Instant::now() + self.inner.config.write_timeout;
        let mut last = NodeError::NoLeader;
        while Instant::now() < deadline {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let Ok(result) = tokio::time::timeout(remaining, self.inner.raft.ensure_linearizable()).await else {
                break;
            };
            match result {
                Ok(read_log_id) => return Ok(read_log_id.map_or(0, |l| l.index)),
                Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_))) => {
                    match self.remote_read_index().await {
                        Ok(index) => {
                            let remaining = deadline.saturating_duration_since(Instant::now());
                            self.wait_for_revision(index, remaining).await?;
                            return Ok(index);
                        }
                        Err(e) => last = e,
                    }
                }
                Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q))) => {
                    last = NodeError::Unavailable(q.to_string())
                }
                Err(RaftError::Fatal(f)) => return Err(NodeError::Stopped(f.to_string())),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(match last {
            NodeError::NoLeader => NodeError::NoLeader,
            other => NodeError::Unavailable(other.to_string()),
        })
    }

    async fn remote_read_index(&self) -> Result<Revision, NodeError> {
        let (leader, mut client) = self.leader_client()?;
        let call = client.read_index(pb::ReadIndexRequest {});
        let resp = call_peer(leader, Duration::from_secs(2), call).await?;
        if resp.not_leader.is_some() {
            return Err(NodeError::NoLeader);
        }
        Ok(resp.read_index)
    }
}

impl RegistryNode {
    /// Whether `key` is registered. If this node does not see it, it asks again after a read
    /// barrier (it may have been registered through another node a moment ago), so callers can
    /// refuse unknown instances without proposing a write that would only be rejected.
    pub async fn instance_exists(&self, key: &crate::model::InstanceKey) -> Result<bool, NodeError> {
        if self.read().state.instance(key).is_some() {
            return Ok(true);
        }
        self.read_barrier().await?;
        Ok(self.read().state.instance(key).is_some())
    }
}
