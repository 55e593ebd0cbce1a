//! Adding and removing cluster members, from any node (forwarded to the leader). The leader adds
//! a node only once it proved who it is (see `joining`).

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::error::ClientWriteError;
use openraft::error::RaftError;
use openraft::BasicNode;
use openraft::ChangeMembers;

use super::call_peer;
use super::NodeError;
use super::RegistryNode;
use crate::raft::types::NodeId;
use crate::transport::pb;

/// A membership change waits this long for the new node to catch up.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(120);

impl RegistryNode {
    /// Adds node `id` at `raft_addr`: as a learner until caught up, then as a voter unless
    /// `learner` keeps it a learner (until [`Self::promote_member`]).
    pub async fn add_member(&self, id: NodeId, raft_addr: String, learner: bool) -> Result<(), NodeError> {
        if id == 0 || raft_addr.trim().is_empty() {
            return Err(NodeError::Membership(
                "node id must be ≥ 1 and the address non-empty".into(),
            ));
        }
        let change = pb::change_membership_request::Change::Add(pb::AddMember {
            node_id: id,
            raft_addr,
            learner,
        });
        self.change_membership(change).await
    }

    /// Makes learner `id` a voter (once it has caught up).
    pub async fn promote_member(&self, id: NodeId) -> Result<(), NodeError> {
        self.change_membership(pb::change_membership_request::Change::Promote(id))
            .await
    }

    /// Removes node `id` from the cluster.
    pub async fn remove_member(&self, id: NodeId) -> Result<(), NodeError> {
        self.change_membership(pb::change_membership_request::Change::Remove(id))
            .await
    }

    async fn change_membership(&self, change: pb::change_membership_request::Change) -> Result<(), NodeError> {
        if self.leader() == Some(self.node_id()) {
            return self.change_membership_locally(change).await;
        }
        let (leader, mut client) = self.leader_client()?;
        let call = client.change_membership(pb::ChangeMembershipRequest { change: Some(change) });
        let resp = call_peer(leader, CHANGE_TIMEOUT, call).await?;
        if resp.not_leader.is_some() {
            return Err(NodeError::NoLeader);
        }
        if !resp.error.is_empty() {
            return Err(NodeError::Membership(resp.error));
        }
        Ok(())
    }

    /// Runs a membership change on this node, which must lead.
    pub(super) async fn change_membership_locally(
        &self,
        change: pb::change_membership_request::Change,
    ) -> Result<(), NodeError> {
        let raft = &self.inner.raft;
        let map = |e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>| match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => NodeError::NoLeader,
            RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => NodeError::Membership(c.to_string()),
            RaftError::Fatal(f) => NodeError::Stopped(f.to_string()),
        };
        match change {
            pb::change_membership_request::Change::Add(add) => {
                self.check_joiner(add.node_id, &add.raft_addr).await?;
                tracing::info!(node = add.node_id, addr = %add.raft_addr, "adding member");
                let learner = raft.add_learner(add.node_id, BasicNode::new(add.raft_addr.clone()), true);
                within_timeout(learner).await?.map_err(map)?;
                if !add.learner {
                    let voters = BTreeSet::from([add.node_id]);
                    within_timeout(raft.change_membership(ChangeMembers::AddVoterIds(voters), false))
                        .await?
                        .map_err(map)?;
                }
            }
            pb::change_membership_request::Change::Promote(id) => {
                let membership = self.metrics().membership_config.clone();
                let membership = membership.membership();
                if membership.voter_ids().any(|v| v == id) {
                    return Err(NodeError::Membership(format!("node {id} is already a voter")));
                }
                if !membership.nodes().any(|(n, _)| *n == id) {
                    return Err(NodeError::Membership(format!("node {id} is not a member")));
                }
                tracing::info!(node = id, "promoting learner to voter");
                self.wait_caught_up(id).await?;
                let voters = BTreeSet::from([id]);
                within_timeout(raft.change_membership(ChangeMembers::AddVoterIds(voters), false))
                    .await?
                    .map_err(map)?;
            }
            pb::change_membership_request::Change::Remove(id) => {
                let membership = self.metrics().membership_config.clone();
                if !membership.membership().nodes().any(|(n, _)| *n == id) {
                    return Err(NodeError::Membership(format!("node {id} is not a member")));
                }
                tracing::info!(node = id, "removing member");
                let is_voter = membership.membership().voter_ids().any(|v| v == id);
                let ids = BTreeSet::from([id]);
                let change = if is_voter {
                    ChangeMembers::RemoveVoters(ids)
                } else {
                    ChangeMembers::RemoveNodes(ids)
                };
                within_timeout(raft.change_membership(change, false))
                    .await?
                    .map_err(map)?;
            }
        }
        Ok(())
    }
}

impl RegistryNode {
    /// Waits (while leading) until learner `id` has replicated the log up to where it was now.
    async fn wait_caught_up(&self, id: NodeId) -> Result<(), NodeError> {
        let target = self.metrics().last_log_index;
        let deadline = tokio::time::Instant::now() + CHANGE_TIMEOUT;
        loop {
            if self.replicated_to(id) >= target {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(NodeError::Unavailable(format!("node {id} has not caught up")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn within_timeout<T>(fut: impl std::future::Future<Output = T>) -> Result<T, NodeError> {
    tokio::time::timeout(CHANGE_TIMEOUT, fut)
        .await
        .map_err(|_| NodeError::Unavailable("membership change timed out".into()))
}
