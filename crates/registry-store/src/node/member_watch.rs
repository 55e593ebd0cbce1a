//! The log lines about members that stop and start answering the leader, on a budget: one WARN
//! when a member goes, one INFO when it answers again, and while it stays away one reminder a
//! minute. (openraft's own replication logs, five lines per retry twice a second, are off by
//! default.) Runs on every node; only the leader knows whether members answer.

use std::collections::HashMap;
use std::time::Duration;
use std::time::Instant;

use std::sync::Weak;

use tokio::sync::watch;

use super::upgrade;
use super::Inner;
use crate::raft::types::NodeId;

/// How often a member still away is mentioned again.
const REMIND_EVERY: Duration = Duration::from_secs(60);
/// How often reachability is looked at.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// What to log about one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum MemberEvent {
    Gone,
    StillGone { for_secs: u64 },
    Back { after_secs: u64 },
}

/// Members away from the leader: since when, and when they were last mentioned.
#[derive(Debug, Default)]
pub(super) struct MemberWatch {
    away: HashMap<NodeId, (Instant, Instant)>,
}

impl MemberWatch {
    /// Takes in whether `member` answers (`None`: too soon to tell, or this node does not lead)
    /// at `now`; what to log, if anything.
    pub(super) fn observe(&mut self, member: NodeId, reachable: Option<bool>, now: Instant) -> Option<MemberEvent> {
        match (reachable, self.away.get_mut(&member)) {
            (Some(false), None) => {
                self.away.insert(member, (now, now));
                Some(MemberEvent::Gone)
            }
            (Some(false), Some((since, mentioned))) if now.duration_since(*mentioned) >= REMIND_EVERY => {
                *mentioned = now;
                Some(MemberEvent::StillGone {
                    for_secs: now.duration_since(*since).as_secs(),
                })
            }
            (Some(true), Some(_)) => {
                let (since, _) = self.away.remove(&member)?;
                Some(MemberEvent::Back {
                    after_secs: now.duration_since(since).as_secs(),
                })
            }
            _ => None,
        }
    }

    /// Forgets every member (this node stopped leading: it no longer knows).
    pub(super) fn forget(&mut self) {
        self.away.clear();
    }
}

/// Looks at the members' reachability every second and logs what changed, until the node stops
/// (or is gone).
pub(super) async fn watch_members(weak: Weak<Inner>, mut stop: watch::Receiver<bool>) {
    let mut watch = MemberWatch::default();
    let mut tick = tokio::time::interval(LOOK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        let Some(node) = upgrade(&weak) else { return };
        let status = node.status();
        let why = |id: NodeId| {
            node.inner
                .contacts
                .last_failure(id)
                .unwrap_or_else(|| "no answer".into())
        };
        if status.leader_id != Some(status.node_id) {
            watch.forget();
            continue;
        }
        let now = Instant::now();
        for member in status.members.iter().filter(|m| m.id != status.node_id) {
            let (id, addr) = (member.id, &member.raft_addr);
            match watch.observe(id, member.reachable, now) {
                Some(MemberEvent::Gone) => {
                    let why = why(id);
                    tracing::warn!(member = id, %addr, %why, "member {id} stopped answering the leader: {why}")
                }
                Some(MemberEvent::StillGone { for_secs }) => {
                    let why = why(id);
                    tracing::warn!(member = id, %addr, for_secs, %why, "member {id} still not answering: {why}")
                }
                Some(MemberEvent::Back { after_secs }) => {
                    tracing::info!(member = id, %addr, after_secs, "member {id} answers again")
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_away_is_mentioned_when_it_goes_once_a_minute_and_when_it_is_back() {
        let mut w = MemberWatch::default();
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        assert_eq!(w.observe(2, Some(true), at(0)), None);
        assert_eq!(w.observe(2, None, at(1)), None, "too soon to tell");
        assert_eq!(w.observe(2, Some(false), at(2)), Some(MemberEvent::Gone));
        for s in 3..62 {
            assert_eq!(w.observe(2, Some(false), at(s)), None, "second {s}");
        }
        assert_eq!(
            w.observe(2, Some(false), at(62)),
            Some(MemberEvent::StillGone { for_secs: 60 })
        );
        assert_eq!(w.observe(2, Some(false), at(63)), None);
        assert_eq!(
            w.observe(2, Some(true), at(70)),
            Some(MemberEvent::Back { after_secs: 68 })
        );
        assert_eq!(w.observe(2, Some(true), at(71)), None);
        // Leadership lost while a member was away: nothing is said about it later.
        assert_eq!(w.observe(3, Some(false), at(72)), Some(MemberEvent::Gone));
        w.forget();
        assert_eq!(w.observe(3, Some(true), at(73)), None);
    }
}
