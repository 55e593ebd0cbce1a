//! Prompt candidacy when the leader is gone (issue 23): a follower campaigns as soon as the
//! leader's lease has run out, instead of a whole election timeout later, but only once the
//! leader is certainly gone (its Raft port refuses connections: the process is dead).
//!
//! openraft 0.9 starts an election only after the leader's lease (the longest election timeout)
//! plus a random election timeout since the leader was last heard from: 450–600 ms with the
//! default timeouts, plus up to one tick (75 ms), and most of a failover's unavailability.
//! Followers refuse votes for as long as the lease lasts, which is what lets a leader answer
//! renewals on a recent quorum acknowledgement (see `heartbeat`), so nothing campaigns before
//! it ends here either: this task fires at the end of the lease plus a small random spread (so
//! two followers rarely split the vote), asks the leader's port, and calls the election only if
//! the connection is refused. A leader that is alive but silent (a hand-over, which stops its
//! heartbeats on purpose; a wedged disk; a partition, where connecting times out) is left to
//! openraft's own timer, as before.
//!
//! A candidacy started here that has not won after a short random pause (the vote was split, or
//! a voter heard the old leader a moment later and its lease had not quite run out) is called
//! again, a few times at most; after that openraft's timer takes over.

use std::sync::Weak;
use std::time::Duration;

use openraft::ServerState;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::upgrade;
use super::Inner;
use super::RegistryNode;
use crate::raft::types::NodeId;

/// Waited beyond the leader's lease before campaigning: the voters heard the leader's last
/// message a moment later than this node may have.
const MARGIN: Duration = Duration::from_millis(10);
/// Upper bound of the random spread added to [`MARGIN`] (two followers campaigning within one
/// vote round split the vote).
const SPREAD_MS: u64 = 60;
/// How long a connection attempt to the leader may take; a refusal on a live network is
/// immediate, so anything slower is not taken as proof the leader is gone.
const PROBE_TIMEOUT: Duration = Duration::from_millis(100);
/// A candidacy started here is called again after this pause plus a random spread of up to
/// [`SPREAD_MS`], at most [`RETRIES`] times.
const RETRY_PAUSE: Duration = Duration::from_millis(40);
const RETRIES: u32 = 3;
/// How long to wait before looking again when there is nothing to watch for (no leader known,
/// leading, drained).
const IDLE: Duration = Duration::from_millis(100);

/// What the Raft core said about this node's vote.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VoteSeen {
    /// When the vote was last refreshed (by the leader's messages, or by granting/casting it).
    refreshed: Option<Instant>,
    term: u64,
    /// The node voted for (the leader, when committed).
    voted_for: Option<NodeId>,
    committed: bool,
    state: ServerState,
}

impl RegistryNode {
    async fn vote_seen(&self) -> Option<VoteSeen> {
        self.inner
            .raft
            .with_raft_state(|st| {
                let vote = st.vote_ref();
                VoteSeen {
                    refreshed: st.vote_last_modified(),
                    term: vote.leader_id().get_term(),
                    voted_for: vote.leader_id().voted_for(),
                    committed: vote.is_committed(),
                    state: st.server_state,
                }
            })
            .await
            .ok()
    }

    /// Whether this node is one of several voters and may stand for election now.
    fn eligible(&self) -> bool {
        let voters: Vec<NodeId> = {
            let metrics = self.inner.raft.metrics();
            let m = metrics.borrow();
            m.membership_config.membership().voter_ids().collect()
        };
        voters.len() > 1 && voters.contains(&self.node_id()) && self.may_campaign()
    }

    /// Whether the member `id`'s Raft port refuses connections (its process is gone).
    async fn refuses_connections(&self, id: NodeId) -> bool {
        let Some(addr) = self.member_addr(id) else {
            return false;
        };
        match tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(&addr)).await {
            Ok(Err(e)) => e.kind() == std::io::ErrorKind::ConnectionRefused,
            Ok(Ok(_)) | Err(_) => false,
        }
    }
}

fn spread() -> Duration {
    Duration::from_millis(fastrand::u64(0..=SPREAD_MS))
}

/// What to do at the next look, if the vote is unchanged by then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The leader's lease has run out: campaign if its port refuses connections.
    ProbeLeader,
    /// This node's candidacy is still undecided: campaign again.
    CampaignAgain,
}

/// The candidacy this task started: its term, and how many times it was called again.
type Ours = Option<(u64, u32)>;

/// When to look again and what to do then, given the vote seen now; `None`: nothing to watch
/// for (leading, no leader known, or a candidacy openraft started).
fn plan(seen: &VoteSeen, ours: Ours, lease: Duration, spread: Duration) -> Option<(Instant, Step)> {
    let refreshed = seen.refreshed?;
    match seen.state {
        ServerState::Follower if seen.committed => Some((refreshed + lease + MARGIN + spread, Step::ProbeLeader)),
        ServerState::Candidate if ours.is_some_and(|(term, n)| term == seen.term && n < RETRIES) => {
            Some((refreshed + RETRY_PAUSE + spread, Step::CampaignAgain))
        }
        _ => None,
    }
}

/// Runs on every node until it stops.
pub(super) async fn campaign_loop(weak: Weak<Inner>, mut stop: watch::Receiver<bool>) {
    let lease = match upgrade(&weak) {
        Some(node) => node.inner.config.election_timeout.1,
        None => return,
    };
    let mut ours: Ours = None;
    loop {
        let Some(node) = upgrade(&weak) else { return };
        let seen = if node.eligible() { node.vote_seen().await } else { None };
        let planned = seen.as_ref().and_then(|v| plan(v, ours, lease, spread()));
        drop(node);
        let wake = planned.map_or_else(|| Instant::now() + IDLE, |(at, _)| at);
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep_until(wake) => {}
        }
        let (Some(before), Some((_, step))) = (seen, planned) else {
            continue;
        };
        let Some(node) = upgrade(&weak) else { return };
        if !node.eligible() {
            continue;
        }
        // Anything heard since (a heartbeat, a vote, a new leader) starts over.
        if node.vote_seen().await.as_ref() != Some(&before) {
            continue;
        }
        match step {
            Step::ProbeLeader => {
                let Some(leader) = before.voted_for else { continue };
                if leader == node.node_id() || !node.refuses_connections(leader).await {
                    continue;
                }
                tracing::info!(
                    leader,
                    term = before.term,
                    "the leader is gone and its lease ran out: campaigning"
                );
                if node.inner.raft.trigger().elect().await.is_ok() {
                    ours = Some((before.term + 1, 0));
                }
            }
            Step::CampaignAgain => {
                let retries = ours.map_or(0, |(_, n)| n);
                tracing::info!(term = before.term, "candidacy undecided: campaigning again");
                if node.inner.raft.trigger().elect().await.is_ok() {
                    ours = Some((before.term + 1, retries + 1));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_millis(300);
    const SPREAD: Duration = Duration::from_millis(7);

    fn seen(state: ServerState, committed: bool, term: u64, at: Instant) -> VoteSeen {
        VoteSeen {
            refreshed: Some(at),
            term,
            voted_for: Some(1),
            committed,
            state,
        }
    }

    #[test]
    fn a_follower_looks_at_the_leader_once_its_lease_has_run_out() {
        let t0 = Instant::now();
        let planned = plan(&seen(ServerState::Follower, true, 4, t0), None, LEASE, SPREAD);
        assert_eq!(planned, Some((t0 + LEASE + MARGIN + SPREAD, Step::ProbeLeader)));
    }

    #[test]
    fn only_candidacies_started_here_are_called_again_and_only_a_few_times() {
        let t0 = Instant::now();
        let candidate = seen(ServerState::Candidate, false, 5, t0);
        assert_eq!(
            plan(&candidate, Some((5, 0)), LEASE, SPREAD),
            Some((t0 + RETRY_PAUSE + SPREAD, Step::CampaignAgain))
        );
        // openraft's own candidacy, an older one of ours, or retries used up: left to openraft.
        assert_eq!(plan(&candidate, None, LEASE, SPREAD), None);
        assert_eq!(plan(&candidate, Some((4, 0)), LEASE, SPREAD), None);
        assert_eq!(plan(&candidate, Some((5, RETRIES)), LEASE, SPREAD), None);
    }

    #[test]
    fn nothing_to_watch_while_leading_or_without_an_established_leader() {
        let t0 = Instant::now();
        assert_eq!(plan(&seen(ServerState::Leader, true, 4, t0), None, LEASE, SPREAD), None);
        // A vote granted to a candidate that has not won yet: no leader's lease to wait out.
        assert_eq!(
            plan(&seen(ServerState::Follower, false, 4, t0), None, LEASE, SPREAD),
            None
        );
        let mut never = seen(ServerState::Follower, true, 4, t0);
        never.refreshed = None;
        assert_eq!(plan(&never, None, LEASE, SPREAD), None);
    }
}
