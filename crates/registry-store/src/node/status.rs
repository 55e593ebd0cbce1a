//! The cluster as this node sees it, and whether it is healthy enough to serve. The leader adds
//! each member's reachability and replication lag, as it sees them: it calls every member each
//! heartbeat, so a member that has not answered for [`RegistryNode::unreachable_after`] is down
//! or cut off.

use std::time::Duration;
use std::time::Instant;

use openraft::ServerState;
use serde::Serialize;

use super::RegistryNode;
use crate::raft::types::NodeId;
use crate::transport::contact::Contact;

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
    /// As the leader sees it: whether the member answered within the last
    /// [`RegistryNode::unreachable_after`]. `null` when the answering node does not lead, or has
    /// not been calling the member that long.
    pub reachable: Option<bool>,
    /// As the leader sees it: milliseconds since the member last answered (`null`: never, or the
    /// answering node does not lead).
    pub last_answer_ms: Option<u64>,
    /// As the leader sees it: the index of the last log entry the member holds.
    pub matched_index: Option<u64>,
    /// As the leader sees it: how many entries the member's log trails the leader's.
    pub lag: Option<u64>,
}

/// Whether a peer is reachable, from the contact with it `now`: it answered within `after`
/// (yes); it has been called that long without an answer since (no); or too soon to tell.
fn reachability(contact: Option<Contact>, now: Instant, after: Duration) -> Option<bool> {
    let contact = contact?;
    let within = |t: Instant| now.saturating_duration_since(t) <= after;
    if contact.last_answer.is_some_and(within) {
        Some(true)
    } else if within(contact.calling_since) {
        None
    } else {
        Some(false)
    }
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
        let last_log = m.last_log_index.unwrap_or(0);
        let now = Instant::now();
        let after = self.unreachable_after();
        let members = membership
            .nodes()
            .map(|(id, node)| {
                let (reachable, last_answer_ms, matched_index) = match &m.replication {
                    None => (None, None, None),
                    Some(_) if *id == m.id => (Some(true), Some(0), Some(last_log)),
                    Some(replication) => {
                        let contact = self.inner.contacts.get(*id);
                        let answered = contact.and_then(|c| c.last_answer);
                        (
                            reachability(contact, now, after),
                            answered.map(|t| now.saturating_duration_since(t).as_millis() as u64),
                            replication.get(id).copied().flatten().map(|l| l.index),
                        )
                    }
                };
                let lag = m
                    .replication
                    .as_ref()
                    .map(|_| last_log.saturating_sub(matched_index.unwrap_or(0)));
                MemberStatus {
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
                    reachable,
                    last_answer_ms,
                    matched_index,
                    lag,
                }
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

    /// How long a member may go without answering the leader before it is shown unreachable:
    /// three of the longest election timeouts (a heartbeat goes every interval), at least 1 s.
    pub fn unreachable_after(&self) -> Duration {
        (self.inner.config.election_timeout.1 * 3).max(Duration::from_secs(1))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_unreachable_once_called_longer_than_the_limit_without_an_answer() {
        let start = Instant::now();
        let after = Duration::from_secs(1);
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert_eq!(reachability(None, at(5_000), after), None);
        let never = Contact {
            last_answer: None,
            calling_since: start,
        };
        assert_eq!(reachability(Some(never), at(500), after), None);
        assert_eq!(reachability(Some(never), at(1_500), after), Some(false));
        let answered = Contact {
            last_answer: Some(at(1_000)),
            calling_since: start,
        };
        assert_eq!(reachability(Some(answered), at(1_900), after), Some(true));
        assert_eq!(reachability(Some(answered), at(2_100), after), Some(false));
        // Called again (a new leader term) after an old answer: too soon to tell.
        let recalled = Contact {
            last_answer: Some(start),
            calling_since: at(5_000),
        };
        assert_eq!(reachability(Some(recalled), at(5_500), after), None);
    }
}
