//! How many log entries one AppendEntries to a peer carries.
//!
//! openraft gives every AppendEntries the heartbeat interval as its deadline (50 ms by default)
//! and drops it when that passes, and its only limit is a count of entries. Our entries are
//! batches of commands, so that count alone could send megabytes. [`AppendPacing`] answers
//! openraft with `PayloadTooLarge` (and a smaller count, which openraft keeps for its next
//! RPCs) in two cases:
//!
//! - **Probes.** A new leader does not know what a follower holds and binary-searches for it,
//!   sending entries from the middle of its log onwards. Those entries are mostly ones the
//!   follower already has, and a few megabytes per step over a dozen steps is what made
//!   failover slow with a long log. Until the follower has confirmed the entry just before the
//!   ones sent, a request carries one entry.
//! - **Byte budget.** Otherwise a request carries at most a budget of encoded bytes, adapted to
//!   what the peer takes within the deadline: it halves when an RPC never finished (openraft
//!   dropped it) and grows by a quarter while RPCs that use most of it finish within half their
//!   deadline. Most of an RPC's time is the follower's flush, whatever its size, so a slow RPC
//!   that finished is no reason to send less.

use std::time::Duration;

use crate::raft::types::LogId;

use crate::raft::MAX_APPEND_BYTES;

/// Fewest encoded entry bytes one AppendEntries may carry, and where it starts.
const MIN_APPEND_BYTES: usize = 64 * 1024;
const FIRST_APPEND_BYTES: usize = 1024 * 1024;

/// The pacing of AppendEntries to one peer, for one replication stream (one leader term).
#[derive(Debug)]
pub(super) struct AppendPacing {
    bytes: usize,
    /// The entry bytes of the RPC under way. Still set when the next RPC starts: openraft
    /// dropped it at its deadline.
    in_flight: Option<usize>,
    /// The last entry the peer confirmed holding, as far as this stream has seen.
    confirmed: Option<LogId>,
}

impl Default for AppendPacing {
    fn default() -> Self {
        Self {
            bytes: FIRST_APPEND_BYTES,
            in_flight: None,
            confirmed: None,
        }
    }
}

impl AppendPacing {
    /// For a request of `count` entries following `prev`, before they are encoded: `Some(1)` if
    /// it is a probe. Notes a previous RPC that never finished.
    pub(super) fn probe_limit(&mut self, prev: Option<LogId>, count: usize) -> Option<u64> {
        if self.in_flight.take().is_some() {
            self.bytes = (self.bytes / 2).max(MIN_APPEND_BYTES);
        }
        (count > 1 && prev.is_some() && prev != self.confirmed).then_some(1)
    }

    /// For entries of encoded `sizes`: how many leading ones fit the budget (at least one), if
    /// not all of them do.
    pub(super) fn budget_limit(&self, sizes: &[usize]) -> Option<u64> {
        let mut total = 0;
        for (n, size) in sizes.iter().enumerate() {
            total += size;
            if total > self.bytes && n > 0 {
                return Some(n as u64);
            }
        }
        None
    }

    /// An RPC carrying `bytes` of entries is being sent (a heartbeat carries none and does not
    /// count against the budget).
    pub(super) fn started(&mut self, bytes: usize) {
        self.in_flight = (bytes > 0).then_some(bytes);
    }

    /// The RPC finished after `took` of its `deadline`; `matched` is the last entry the peer
    /// now confirms holding, if it answered so.
    pub(super) fn finished(&mut self, took: Duration, deadline: Duration, matched: Option<LogId>) {
        if matched.is_some() {
            self.confirmed = matched;
        }
        let Some(sent) = self.in_flight.take() else { return };
        if took < deadline / 2 && sent >= self.bytes / 2 {
            self.bytes = (self.bytes + self.bytes / 4).min(MAX_APPEND_BYTES);
        }
    }
}

#[cfg(test)]
mod tests {
    use openraft::CommittedLeaderId;

    use super::*;

    const MIB: usize = 1024 * 1024;
    const DEADLINE: Duration = Duration::from_millis(100);

    fn log_id(index: u64) -> Option<LogId> {
        Some(LogId::new(CommittedLeaderId::new(1, 1), index))
    }

    fn confirmed_at(index: u64, bytes: usize) -> AppendPacing {
        AppendPacing {
            bytes,
            in_flight: None,
            confirmed: log_id(index),
        }
    }

    #[test]
    fn requests_after_a_confirmed_entry_are_cut_to_the_budget_and_one_entry_always_goes() {
        let mut pacing = confirmed_at(7, 4 * MIB);
        assert_eq!(pacing.probe_limit(log_id(7), 4), None);
        assert_eq!(pacing.budget_limit(&[MIB, MIB, MIB]), None);
        assert_eq!(pacing.budget_limit(&[MIB, 2 * MIB, 2 * MIB, MIB]), Some(2));
        assert_eq!(pacing.budget_limit(&[8 * MIB, MIB]), Some(1));
        assert_eq!(pacing.budget_limit(&[8 * MIB]), None);
    }

    #[test]
    fn probes_carry_one_entry_until_the_peer_confirms_the_one_before() {
        let mut pacing = AppendPacing::default();
        // A new leader's first request starts in the middle of its log.
        assert_eq!(pacing.probe_limit(log_id(5_000), 100), Some(1));
        // The follower has entry 5,000 and takes 5,001.
        pacing.started(10);
        pacing.finished(Duration::from_millis(1), DEADLINE, log_id(5_001));
        // The next step of the search jumps ahead: still a probe.
        assert_eq!(pacing.probe_limit(log_id(7_500), 100), Some(1));
        pacing.started(10);
        pacing.finished(Duration::from_millis(1), DEADLINE, log_id(7_501));
        // Found: from here on, requests continue from what the follower confirmed.
        assert_eq!(pacing.probe_limit(log_id(7_501), 100), None);
        // A follower starting from an empty log is no probe either.
        assert_eq!(AppendPacing::default().probe_limit(None, 100), None);
        // A conflict confirms nothing.
        let mut pacing = confirmed_at(10, MIB);
        pacing.started(10);
        pacing.finished(Duration::from_millis(1), DEADLINE, None);
        assert_eq!(pacing.probe_limit(log_id(10), 3), None);
    }

    #[test]
    fn the_budget_follows_how_long_the_peer_takes() {
        let mut pacing = confirmed_at(1, FIRST_APPEND_BYTES);
        pacing.started(pacing.bytes);
        pacing.finished(Duration::from_millis(80), DEADLINE, log_id(2));
        assert_eq!(
            pacing.bytes, FIRST_APPEND_BYTES,
            "a slow RPC that finished changes nothing"
        );

        // A dropped RPC (openraft's deadline passed) halves it when the next one starts.
        for _ in 0..20 {
            pacing.started(pacing.bytes);
            pacing.probe_limit(log_id(2), 1);
        }
        assert_eq!(pacing.bytes, MIN_APPEND_BYTES);

        // Fast RPCs that use the budget grow it up to the cap; small ones do not.
        let mut pacing = AppendPacing::default();
        pacing.started(10);
        pacing.finished(Duration::from_millis(1), DEADLINE, log_id(1));
        assert_eq!(pacing.bytes, FIRST_APPEND_BYTES);
        for _ in 0..40 {
            pacing.started(pacing.bytes);
            pacing.finished(Duration::from_millis(10), DEADLINE, log_id(1));
        }
        assert_eq!(pacing.bytes, MAX_APPEND_BYTES);
    }
}
