//! Draining a node before maintenance: it stops standing for election and, if it leads, hands
//! leadership to its most caught-up voter; undraining puts it back in the running (so does a
//! restart).
//!
//! openraft 0.9 has no leadership transfer, and followers refuse votes while the leader's
//! lease (the longest election timeout since they last heard from it) lasts. So the leader
//! holds new log entries (writes wait in the batcher's queue, they are not refused), stops its
//! heartbeats, waits until the successor has every entry and the lease has run out, and asks the
//! successor to campaign. Held writes then go to the new leader.

use std::sync::atomic::Ordering;
use std::time::Duration;

use openraft::ServerState;
use tokio::time::Instant;

use super::NodeError;
use super::RegistryNode;
use crate::raft::types::NodeId;
use crate::transport::pb;

/// How long the successor may take to receive the leader's last entries.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts at asking a successor to campaign.
const ELECTION_ATTEMPTS: u32 = 3;

impl RegistryNode {
    /// Takes this node out of elections and, if it leads, moves leadership to another voter.
    /// Answers the leader afterwards. On failure the node stays in the running and leads on.
    pub async fn drain(&self) -> Result<Option<NodeId>, NodeError> {
        self.set_drained(true);
        if self.metrics().state != ServerState::Leader {
            return Ok(self.leader());
        }
        match self.hand_over().await {
            Ok(leader) => Ok(Some(leader)),
            Err(e) => {
                self.set_drained(false);
                Err(e)
            }
        }
    }

    /// Puts this node back in the running for leadership.
    pub fn undrain(&self) {
        self.set_drained(false);
    }

    /// Whether this node is kept out of elections.
    pub fn is_drained(&self) -> bool {
        self.inner.drained.load(Ordering::Relaxed)
    }

    fn set_drained(&self, drained: bool) {
        self.inner.drained.store(drained, Ordering::Relaxed);
        self.inner.raft.runtime_config().elect(self.may_campaign());
        tracing::info!(drained, "election candidacy changed");
    }

    /// Moves leadership from this node (the leader) to its most caught-up voter.
    async fn hand_over(&self) -> Result<NodeId, NodeError> {
        let paused = self
            .inner
            .batcher
            .pause()
            .await
            .ok_or_else(|| NodeError::Stopped("the write path is closed".into()))?;
        let runtime = self.inner.raft.runtime_config();
        runtime.heartbeat(false);
        let moved = self.move_leadership().await;
        runtime.heartbeat(true);
        drop(paused);
        moved
    }

    /// Asks the most caught-up voter to campaign; one that refuses because it is drained itself
    /// is passed over for the next.
    async fn move_leadership(&self) -> Result<NodeId, NodeError> {
        let lease = self.inner.config.election_timeout.1;
        let mut drained = Vec::new();
        let mut attempt = 0;
        while attempt < ELECTION_ATTEMPTS {
            let (successor, addr) = self.caught_up_successor(&drained).await?;
            // Followers refuse votes until the lease since the leader's last message ends.
            tokio::time::sleep(lease + Duration::from_millis(20)).await;
            let mut client = self.cluster_client(&addr)?;
            let call = client.trigger_election(pb::TriggerElectionRequest {});
            match tokio::time::timeout(lease * 2, call).await {
                Ok(Err(status)) if status.code() == tonic::Code::FailedPrecondition => {
                    tracing::info!(successor, "successor is drained itself; asking the next");
                    drained.push(successor);
                    continue;
                }
                Ok(Err(status)) => {
                    tracing::warn!(successor, attempt, error = %status.message(), "successor could not campaign")
                }
                Err(_) => tracing::warn!(successor, attempt, "successor did not answer in time"),
                Ok(Ok(_)) => {}
            }
            attempt += 1;
            let deadline = Instant::now() + lease * 4;
            while Instant::now() < deadline {
                if let Some(leader) = self.leader().filter(|l| *l != self.node_id()) {
                    tracing::info!(leader, "handed leadership over");
                    return Ok(leader);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Err(NodeError::Unavailable(
            "no other voter took leadership over".to_string(),
        ))
    }

    /// The voter with the most log replicated, once it has all of this leader's log.
    async fn caught_up_successor(&self, excluded: &[NodeId]) -> Result<(NodeId, String), NodeError> {
        let deadline = Instant::now() + CATCH_UP_TIMEOUT;
        loop {
            let last = self.metrics().last_log_index;
            let (successor, addr) = self
                .successor(excluded)
                .ok_or_else(|| NodeError::Membership(no_successor(excluded)))?;
            let matched = self.replicated_to(successor);
            if matched >= last {
                return Ok((successor, addr));
            }
            if Instant::now() >= deadline {
                return Err(NodeError::Unavailable(format!(
                    "node {successor} has not caught up (at {matched:?} of {last:?})"
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Why no voter can take leadership over.
fn no_successor(drained: &[NodeId]) -> String {
    if drained.is_empty() {
        "no other voter can take leadership over".into()
    } else {
        format!("no other voter can take leadership over: {drained:?} are drained")
    }
}
