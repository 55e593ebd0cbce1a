//! Adding and removing cluster members, from any node (forwarded to the leader). The leader adds
//! a node only once it proved who it is (see `joining`).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
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
                self.snapshot_for_joiner().await?;
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
    /// Before a node joins, while this one leads: if the newcomer would replay more than
    /// [`REPLAY_SHARE_MAX`] of the records in log entries written since the last snapshot,
    /// builds a fresh snapshot and purges the log every current member already holds, so that
    /// a newcomer without state (a replaced disk) starts from the snapshot. A returning member
    /// that holds the log after what is purged replays it as before.
    async fn snapshot_for_joiner(&self) -> Result<(), NodeError> {
        let writes = self.inner.writes_since_snapshot.load(Ordering::Relaxed);
        let records = {
            let applied = self.read();
            (applied.state.instance_count() + applied.state.service_count()) as u64
        };
        if !snapshot_pays(writes, records) {
            return Ok(());
        }
        let index = self.snapshot_now().await?;
        let metrics = self.metrics();
        let held_by_all = metrics
            .replication
            .iter()
            .flatten()
            .filter(|(id, _)| **id != self.node_id())
            .map(|(_, matched)| matched.map_or(0, |l| l.index))
            .min()
            .unwrap_or(index);
        let upto = index.min(held_by_all);
        tracing::info!(
            writes,
            records,
            snapshot = index,
            purge_upto = upto,
            "fresh snapshot for a joining node"
        );
        if upto > metrics.purged.map_or(0, |p| p.index) {
            self.purge_log_upto(upto).await?;
        }
        Ok(())
    }

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

/// A newcomer replays at most this share of the records from the log; beyond it, a fresh
/// snapshot is cheaper. Replaying a write cost a follower some 26 µs in the scale stage at a
/// million instances, building and installing a record some 6 µs.
const REPLAY_SHARE_MAX: f64 = 0.25;

/// Fewer writes than this are replayed whatever the records (a snapshot is not worth building).
const REPLAY_WRITES_MIN: u64 = 1_000;

/// Whether a fresh snapshot costs a newcomer less than replaying `writes` over `records`.
fn snapshot_pays(writes: u64, records: u64) -> bool {
    writes >= REPLAY_WRITES_MIN && writes as f64 > records as f64 * REPLAY_SHARE_MAX
}

async fn within_timeout<T>(fut: impl std::future::Future<Output = T>) -> Result<T, NodeError> {
    tokio::time::timeout(CHANGE_TIMEOUT, fut)
        .await
        .map_err(|_| NodeError::Unavailable("membership change timed out".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_built_for_a_newcomer_past_a_quarter_of_the_records_and_a_thousand_writes() {
        assert!(!snapshot_pays(999, 0), "a few writes are replayed");
        assert!(!snapshot_pays(250_000, 1_000_000));
        assert!(snapshot_pays(250_001, 1_000_000));
        assert!(snapshot_pays(crate::storage::UNKNOWN_WRITES, 1_000_000));
    }
}
