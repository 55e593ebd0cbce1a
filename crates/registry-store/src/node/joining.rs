//! A joining node proves who it is before the leader adds it.
//!
//! Before `add_member(id, addr)` touches the membership, the leader refuses an id that is
//! already a member (voter or learner) or an address another member has, then asks the node at
//! `addr` who it is (`Identify`, over the same authenticated channel Raft uses) and refuses it
//! unless it is node `id`, shares this cluster's secret, and holds no membership yet (started
//! with `--join` on an empty data directory). Adding a node under another id used to make it
//! believe it was an existing voter: it claimed leadership and broke writes.
//!
//! [`judge`] is the pure decision on the answer; the rest is the call.

use std::time::Duration;

use super::NodeError;
use super::RegistryNode;
use crate::raft::types::NodeId;
use crate::transport::auth;
use crate::transport::pb;

/// How long the node at the address has to say who it is.
const IDENTIFY_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between attempts to reach a node that does not listen yet.
const RETRY_IDENTIFY: Duration = Duration::from_millis(200);

/// Why a node may not be added; each says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefused {
    #[error("node {0} is already a voter (at {1}); remove it first to add it again")]
    AlreadyVoter(NodeId, String),
    #[error("node {0} is already a learner (at {1}); promote it, or remove it first to add it again")]
    AlreadyLearner(NodeId, String),
    #[error("address {addr} is already member {member}'s")]
    AddressTaken { addr: String, member: NodeId },
    #[error(
        "the node at {addr} is node {actual} (its --node-id), not node {asked}: add it as node {actual}, or restart it \
         with --node-id {asked} on an empty data directory"
    )]
    OtherId {
        addr: String,
        actual: NodeId,
        asked: NodeId,
    },
    #[error(
        "the node at {0} refused this cluster's credential: its cluster secret differs (it belongs to another cluster)"
    )]
    SecretRefused(String),
    #[error(
        "the node at {0} has a different cluster secret (or none) than this cluster: it belongs to another cluster"
    )]
    SecretDiffers(String),
    #[error(
        "the node at {addr} already belongs to a cluster (members {members:?}, leader {leader}): another cluster, or \
         this one before it was removed; start it on an empty data directory with --join to add it"
    )]
    HasMembership {
        addr: String,
        members: Vec<NodeId>,
        leader: NodeId,
    },
    #[error("the node at {0} cannot say who it is (an older version?); upgrade it before adding it")]
    CannotIdentify(String),
}

impl From<JoinRefused> for NodeError {
    fn from(e: JoinRefused) -> Self {
        NodeError::Membership(e.to_string())
    }
}

/// Whether the node that answered `answer` at `addr` may be added as node `asked` to a cluster
/// whose secret's fingerprint is `ours`.
pub fn judge(asked: NodeId, addr: &str, ours: &str, answer: &pb::IdentifyResponse) -> Result<(), JoinRefused> {
    if answer.node_id != asked {
        return Err(JoinRefused::OtherId {
            addr: addr.to_string(),
            actual: answer.node_id,
            asked,
        });
    }
    if answer.secret_fingerprint != ours {
        return Err(JoinRefused::SecretDiffers(addr.to_string()));
    }
    if !answer.members.is_empty() {
        return Err(JoinRefused::HasMembership {
            addr: addr.to_string(),
            members: answer.members.clone(),
            leader: answer.leader_id,
        });
    }
    Ok(())
}

impl RegistryNode {
    /// Refuses to add node `id` at `addr` unless it is new to the membership and proves, when
    /// asked at `addr`, that it is node `id` of this cluster, not yet in any.
    pub(super) async fn check_joiner(&self, id: NodeId, addr: &str) -> Result<(), NodeError> {
        let m = self.metrics();
        let membership = m.membership_config.membership();
        if let Some(node) = membership.get_node(&id) {
            let voter = membership.voter_ids().any(|v| v == id);
            return Err(if voter {
                JoinRefused::AlreadyVoter(id, node.addr.clone())
            } else {
                JoinRefused::AlreadyLearner(id, node.addr.clone())
            }
            .into());
        }
        if let Some((member, _)) = membership.nodes().find(|(_, node)| node.addr == addr) {
            return Err(JoinRefused::AddressTaken {
                addr: addr.to_string(),
                member: *member,
            }
            .into());
        }
        let answer = self.ask_identity(addr).await?;
        let ours = auth::fingerprint(self.inner.config.cluster_secret.as_ref());
        judge(id, addr, &ours, &answer)?;
        Ok(())
    }

    /// Asks the node at `addr` who it is. A node just started may not listen yet (operators
    /// start it and add it at once): refused connections are retried until [`IDENTIFY_TIMEOUT`].
    async fn ask_identity(&self, addr: &str) -> Result<pb::IdentifyResponse, NodeError> {
        let deadline = tokio::time::Instant::now() + IDENTIFY_TIMEOUT;
        loop {
            let mut client = self.cluster_client(addr)?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let status = match tokio::time::timeout(left, client.identify(pb::IdentifyRequest {})).await {
                Ok(Ok(answer)) => return Ok(answer.into_inner()),
                Ok(Err(status)) => status,
                Err(_) => {
                    return Err(NodeError::Unavailable(format!(
                        "the node at {addr} did not say who it is within {IDENTIFY_TIMEOUT:?}"
                    )))
                }
            };
            match status.code() {
                tonic::Code::Unauthenticated => return Err(JoinRefused::SecretRefused(addr.to_string()).into()),
                tonic::Code::Unimplemented => return Err(JoinRefused::CannotIdentify(addr.to_string()).into()),
                tonic::Code::Unavailable if tokio::time::Instant::now() + RETRY_IDENTIFY < deadline => {
                    tokio::time::sleep(RETRY_IDENTIFY).await;
                }
                _ => {
                    return Err(NodeError::Unavailable(format!(
                        "cannot ask the node at {addr} who it is: {}",
                        status.message()
                    )))
                }
            }
        }
    }

    /// What this node answers when asked who it is.
    pub(super) fn identity(&self) -> pb::IdentifyResponse {
        let m = self.metrics();
        pb::IdentifyResponse {
            node_id: self.node_id(),
            secret_fingerprint: auth::fingerprint(self.inner.config.cluster_secret.as_ref()),
            members: m.membership_config.membership().nodes().map(|(id, _)| *id).collect(),
            leader_id: m.current_leader.unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(node_id: NodeId, fingerprint: &str, members: &[NodeId]) -> pb::IdentifyResponse {
        pb::IdentifyResponse {
            node_id,
            secret_fingerprint: fingerprint.into(),
            members: members.to_vec(),
            leader_id: members.first().copied().unwrap_or(0),
        }
    }

    #[test]
    fn only_a_new_node_of_this_cluster_under_its_own_id_passes() {
        let addr = "10.0.0.4:5000";
        assert_eq!(judge(4, addr, "ab", &answer(4, "ab", &[])), Ok(()));
        let other_id = judge(5, addr, "ab", &answer(2, "ab", &[])).unwrap_err();
        assert!(other_id.to_string().contains("is node 2 (its --node-id), not node 5"));
        assert_eq!(
            judge(4, addr, "ab", &answer(4, "cd", &[])),
            Err(JoinRefused::SecretDiffers(addr.into()))
        );
        assert_eq!(
            judge(4, addr, "ab", &answer(4, "", &[])),
            Err(JoinRefused::SecretDiffers(addr.into()))
        );
        let owned = judge(4, addr, "ab", &answer(4, "ab", &[4])).unwrap_err();
        assert!(owned.to_string().contains("another cluster"), "{owned}");
        // The id is checked first: the most likely typo gets the most useful message.
        assert!(matches!(
            judge(5, addr, "ab", &answer(4, "cd", &[4])),
            Err(JoinRefused::OtherId { actual: 4, .. })
        ));
    }
}
