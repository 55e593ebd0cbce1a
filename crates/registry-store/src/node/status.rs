//! The cluster as this node sees it, and whether it is healthy enough to serve.

use openraft::ServerState;
use serde::Serialize;

use super::RegistryNode;
use crate::raft::types::NodeId;

/// How far the applied state may trail the local log before the node reports itself unhealthy.
const MAX_APPLY_LAG: u64 = 1_000;

/// What `GET /admin/cluster` shows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClusterStatus {
    pub node_id: NodeId,
    pub leader_id: Option<NodeId>,
    pub term: u64,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub role: &'static str,
    pub last_applied: u64,
    pub last_log_index: u64,
    /// Revision of this node's latest snapshot (built or installed), 0 if none.
    pub snapshot_index: u64,
    /// Log entries up to this index are purged, 0 if none.
    pub purged_index: u64,
    /// This node is kept out of elections (drained for maintenance).
    pub drained: bool,
    /// Why this node considers itself removed from the cluster, if it does.
    pub removed: Option<String>,
    pub members: Vec<MemberStatus>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MemberStatus {
    pub id: NodeId,
    pub raft_addr: String,
    /// The node's first HTTP address, once it has announced it.
    pub http_addr: Option<String>,
    /// `leader`, `follower` or `learner`.
    pub role: &'static str,
}

fn role_name(state: ServerState) -> &'static str {
    match state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

impl RegistryNode {
    pub fn status(&self) -> ClusterStatus {
        let m = self.metrics();
        let membership = m.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let state = self.read();
        let members = membership
            .nodes()
            .map(|(id, node)| MemberStatus {
                id: *id,
                raft_addr: node.addr.clone(),
                http_addr: state.state.node(*id).and_then(|r| r.http_addrs.first().cloned()),
                role: if Some(*id) == m.current_leader {
                    "leader"
                } else if voters.contains(id) {
                    "follower"
                } else {
                    "learner"
                },
            })
            .collect();
        ClusterStatus {
            node_id: m.id,
            leader_id: m.current_leader,
            term: m.current_term,
            role: role_name(m.state),
            last_applied: m.last_applied.map_or(0, |l| l.index),
            last_log_index: m.last_log_index.unwrap_or(0),
            snapshot_index: m.snapshot.map_or(0, |l| l.index),
            purged_index: m.purged.map_or(0, |l| l.index),
            drained: self.is_drained(),
            removed: self.removal(),
            members,
        }
    }

    /// While leading: the members whose replicated log trails the leader's by more than the
    /// health lag (or that have not answered yet). Empty on other nodes.
    pub fn lagging_followers(&self) -> Vec<NodeId> {
        let m = self.metrics();
        let last = m.last_log_index.unwrap_or(0);
        m.replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .filter(|(id, matched)| {
                        **id != m.id && matched.is_none_or(|l| last.saturating_sub(l.index) > MAX_APPLY_LAG)
                    })
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `Ok` once the node knows a leader and has applied what it had on disk at start (and is
    /// not far behind its own log); otherwise the reason.
    pub fn health(&self) -> Result<(), String> {
        let s = self.status();
        if let Some(reason) = s.removed {
            return Err(format!("this node was removed from the cluster: {reason}"));
        }
        if s.role == "shutdown" {
            return Err("node is shutting down".into());
        }
        if s.leader_id.is_none() {
            return Err("no leader is known".into());
        }
        if !s.members.iter().any(|m| m.id == s.node_id) {
            return Err("this node is not a member of the cluster".into());
        }
        if s.last_applied < self.inner.startup_log_index {
            return Err(format!(
                "replaying stored log: applied {} of {}",
                s.last_applied, self.inner.startup_log_index
            ));
        }
        if s.last_log_index.saturating_sub(s.last_applied) > MAX_APPLY_LAG {
            return Err(format!(
                "applying: {} of {} entries applied",
                s.last_applied, s.last_log_index
            ));
        }
        Ok(())
    }
}
