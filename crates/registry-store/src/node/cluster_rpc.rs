//! What this member answers to the others' cluster RPCs (forwarded writes, batched renewals,
//! the leader's lease times, read index, membership changes, the hand-over election trigger,
//! who this node is). The transport serves them ([`crate::transport::cluster_service`]).

use std::sync::Weak;

use openraft::error::ClientWriteError;
use openraft::error::RaftError;
use tonic::Status;

use super::heartbeat::key_from_pb;
use super::heartbeat::key_to_pb;
use super::upgrade;
use super::Inner;
use super::RegistryNode;
use crate::command::Proposal;
use crate::storage::codec;
use crate::transport::cluster_service::ClusterHandler;
use crate::transport::pb;

/// The node's [`ClusterHandler`]; holds the node weakly, so the server never keeps it alive.
pub(super) struct ClusterRpc {
    node: Weak<Inner>,
}

impl ClusterRpc {
    pub(super) fn new(node: Weak<Inner>) -> Self {
        Self { node }
    }

    fn node(&self) -> Result<RegistryNode, Status> {
        upgrade(&self.node).ok_or_else(|| Status::unavailable("node stopped"))
    }
}

fn not_leader(node: &RegistryNode) -> pb::NotLeader {
    pb::NotLeader {
        leader_id: node.leader().unwrap_or(0),
    }
}

#[tonic::async_trait]
impl ClusterHandler for ClusterRpc {
    async fn forward_write(&self, request: pb::ForwardWriteRequest) -> Result<pb::ForwardWriteResponse, Status> {
        let node = self.node()?;
        let encoded = request.proposal;
        let proposal: Proposal =
            codec::decode(&encoded).map_err(|e| Status::invalid_argument(format!("undecodable proposal: {e}")))?;
        crate::validate::validate_command(&proposal.command).map_err(|e| Status::invalid_argument(e.to_string()))?;
        match node.inner.batcher.propose(proposal, encoded.len()).await {
            Ok(written) => {
                let outcome = codec::encode(&written.outcome).map_err(|e| Status::internal(e.to_string()))?;
                Ok(pb::ForwardWriteResponse {
                    result: Some(pb::forward_write_response::Result::Outcome(outcome)),
                    revision: written.revision,
                })
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Ok(pb::ForwardWriteResponse {
                result: Some(pb::forward_write_response::Result::NotLeader(not_leader(&node))),
                revision: 0,
            }),
            // Raft stopped, perhaps after appending it: not `UNAVAILABLE`, which tells the
            // sender the write never reached the log and may be sent elsewhere.
            Err(e) => Err(Status::internal(e.to_string())),
        }
    }

    async fn forward_heartbeats(
        &self,
        request: pb::ForwardHeartbeatsRequest,
    ) -> Result<pb::ForwardHeartbeatsResponse, Status> {
        let node = self.node()?;
        let keys: Vec<_> = request.instances.into_iter().map(key_from_pb).collect();
        let resp = match node.renew_as_leader(&keys).await {
            Some(found) => pb::ForwardHeartbeatsResponse {
                found,
                not_leader: None,
            },
            None => pb::ForwardHeartbeatsResponse {
                found: Vec::new(),
                not_leader: Some(not_leader(&node)),
            },
        };
        Ok(resp)
    }

    async fn lease_times(&self, request: pb::LeaseTimesRequest) -> Result<pb::LeaseTimesResponse, Status> {
        let node = self.node()?;
        let since = request.since_ms;
        let resp = match node.inner.leases.renewed_since(since) {
            Some((times, cursor)) => pb::LeaseTimesResponse {
                times: times
                    .into_iter()
                    .map(|(key, time)| pb::LeaseTime {
                        instance: Some(key_to_pb(&key)),
                        renewed_ms: time.renewed_ms,
                        expires_ms: time.expires_ms,
                    })
                    .collect(),
                cursor,
                not_leader: None,
            },
            None => pb::LeaseTimesResponse {
                times: Vec::new(),
                cursor: 0,
                not_leader: Some(not_leader(&node)),
            },
        };
        Ok(resp)
    }

    async fn read_index(&self) -> Result<pb::ReadIndexResponse, Status> {
        let node = self.node()?;
        let resp = match node.inner.raft.get_read_log_id().await {
            Ok((read_log_id, _)) => pb::ReadIndexResponse {
                read_index: read_log_id.map_or(0, |l| l.index),
                not_leader: None,
            },
            Err(RaftError::APIError(_)) => pb::ReadIndexResponse {
                read_index: 0,
                not_leader: Some(not_leader(&node)),
            },
            Err(e) => return Err(Status::unavailable(e.to_string())),
        };
        Ok(resp)
    }

    async fn trigger_election(&self) -> Result<(), Status> {
        let node = self.node()?;
        // A drained node stays out of elections, even when a draining leader asks it to stand.
        if node.is_drained() {
            return Err(Status::failed_precondition(
                "this node is drained: it stays out of elections",
            ));
        }
        node.inner
            .raft
            .trigger()
            .elect()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(())
    }

    async fn change_membership(
        &self,
        request: pb::ChangeMembershipRequest,
    ) -> Result<pb::ChangeMembershipResponse, Status> {
        let node = self.node()?;
        let change = request
            .change
            .ok_or_else(|| Status::invalid_argument("missing change"))?;
        if node.leader() != Some(node.node_id()) {
            return Ok(pb::ChangeMembershipResponse {
                error: String::new(),
                not_leader: Some(not_leader(&node)),
            });
        }
        let error = match node.change_membership_locally(change).await {
            Ok(()) => String::new(),
            // Retryable (the new node did not answer yet, a quorum is slow): the asking node
            // reports it as such, not as a refusal.
            Err(e) if e.is_retryable() => return Err(Status::unavailable(e.to_string())),
            Err(e) => e.to_string(),
        };
        Ok(pb::ChangeMembershipResponse {
            error,
            not_leader: None,
        })
    }

    async fn identify(&self) -> Result<pb::IdentifyResponse, Status> {
        Ok(self.node()?.identity())
    }
}
