//! Writes: validate, stamp, propose on the leader through its [`super::batcher`] (forwarding
//! from followers), wait for apply.

use std::time::Duration;

use openraft::error::ClientWriteError;
use openraft::error::RaftError;
use tokio::time::Instant;

use super::NodeError;
use super::RegistryNode;
use crate::clock::wall_clock_ms;
use crate::command::Command;
use crate::command::CommandOutcome;
use crate::command::Proposal;
use crate::model::Revision;
use crate::storage::codec;
use crate::transport::pb;
use crate::transport::pb::forward_write_response::Result as ForwardResult;
use crate::validate::validate_command;

/// A committed and applied write.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub outcome: CommandOutcome,
    /// The revision (log index) it was applied at.
    pub revision: Revision,
}

/// Longest pause between attempts while no leader is known or the leader moved; a new leader
/// ends it at once.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

enum Forwarded {
    Done(Written),
    /// Not delivered to a leader (moved, or unreachable): safe to try again.
    Retry(String),
}

impl RegistryNode {
    /// Proposes `command`, from any node. Waits until the leader has applied it and, when the
    /// write was forwarded, until this node has too (read-your-writes on every node).
    ///
    /// A write is tried again (with another leader, until the write timeout) only when it
    /// certainly did not reach a log: the leader refused it before proposing, its entry was
    /// truncated, or the leader could not be connected to. A forwarded write whose answer is
    /// lost after it was sent fails as `Unavailable` with its outcome unknown, for the client to
    /// retry: sending it again here could apply it twice, and a registration applied again after
    /// someone else's cancellation would bring the instance back.
    pub async fn write(&self, command: Command) -> Result<Written, NodeError> {
        validate_command(&command)?;
        let proposal = Proposal {
            at_ms: wall_clock_ms(),
            command,
        };
        let encoded = codec::encode(&proposal).map_err(|e| NodeError::Stopped(e.to_string()))?;
        let deadline = Instant::now() + self.inner.config.write_timeout;
        let mut last_problem = String::from("no leader");
        while Instant::now() < deadline {
            let remaining = deadline - Instant::now();
            let proposed = self.inner.batcher.propose(proposal.clone(), encoded.len());
            let tried = match tokio::time::timeout(remaining, proposed).await {
                Err(_) => return Err(NodeError::Unavailable("no quorum answered in time".into())),
                Ok(Ok(written)) => return Ok(written),
                Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                    match f.leader_id {
                        Some(leader) if leader != self.node_id() => {
                            match self.forward_write(&encoded, deadline).await {
                                Ok(Forwarded::Done(w)) => {
                                    // Read your writes: answer once this node has applied it too, so
                                    // the caller's next read here sees it (usually about a millisecond).
                                    let remaining = deadline.saturating_duration_since(Instant::now());
                                    if self.wait_for_revision(w.revision, remaining).await.is_err() {
                                        tracing::debug!(
                                            revision = w.revision,
                                            "forwarded write not applied here in time"
                                        );
                                    }
                                    return Ok(w);
                                }
                                Ok(Forwarded::Retry(why)) => last_problem = why,
                                Err(e) => return Err(e),
                            }
                        }
                        // None, or this node while it steps down.
                        _ => last_problem = "no leader".into(),
                    }
                    f.leader_id
                }
                Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
                    return Err(NodeError::Membership(e.to_string()))
                }
                Ok(Err(RaftError::Fatal(f))) => return Err(NodeError::Stopped(f.to_string())),
            };
            self.await_leader_change(tried, RETRY_PAUSE).await;
        }
        Err(if last_problem == "no leader" {
            NodeError::NoLeader
        } else {
            NodeError::Unavailable(last_problem)
        })
    }

    /// Sends the encoded proposal to the leader, whose batcher proposes it.
    async fn forward_write(&self, encoded: &[u8], deadline: Instant) -> Result<Forwarded, NodeError> {
        let (leader, mut client) = match self.leader_client() {
            Ok(c) => c,
            Err(e) => return Ok(Forwarded::Retry(e.to_string())),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let call = client.forward_write(pb::ForwardWriteRequest {
            proposal: encoded.to_vec(),
        });
        let resp = match tokio::time::timeout(remaining, call).await {
            Err(_) => {
                return Err(NodeError::Unavailable(format!(
                    "leader {leader} did not answer in time"
                )))
            }
            Ok(Err(status)) if not_delivered(&status) => {
                return Ok(Forwarded::Retry(format!("leader {leader}: {}", status.message())))
            }
            Ok(Err(status)) => {
                return Err(NodeError::Unavailable(format!(
                    "leader {leader} failed during the write, which may or may not have applied: {}",
                    status.message()
                )))
            }
            Ok(Ok(r)) => r.into_inner(),
        };
        match resp.result {
            Some(ForwardResult::Outcome(bytes)) => {
                let outcome = codec::decode(&bytes).map_err(|e| NodeError::Unavailable(e.to_string()))?;
                Ok(Forwarded::Done(Written {
                    outcome,
                    revision: resp.revision,
                }))
            }
            Some(ForwardResult::NotLeader(_)) | None => Ok(Forwarded::Retry(format!("node {leader} no longer leads"))),
        }
    }
}

/// Whether a failed forwarding call certainly never reached the leader's log. gRPC's
/// `UNAVAILABLE` is what tonic reports when it cannot connect and what HTTP/2 reports for a
/// stream refused before processing; the leader itself answers `UNAVAILABLE` only before
/// proposing. Anything else (a connection reset mid-call, an internal error) may come after the
/// entry was appended.
fn not_delivered(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_undelivered_forwards_are_retried() {
        assert!(not_delivered(&tonic::Status::unavailable("tcp connect error")));
        assert!(!not_delivered(&tonic::Status::unknown("transport error")));
        assert!(!not_delivered(&tonic::Status::internal("raft stopped")));
        assert!(!not_delivered(&tonic::Status::unauthenticated("no credential")));
    }
}
