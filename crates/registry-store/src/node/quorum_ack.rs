//! When a quorum last acknowledged this node as leader, dated when the Raft core said so.
//!
//! openraft reports `millis_since_quorum_ack` as it was when the core last published its
//! metrics. A core blocked on storage (a full disk wedges a flush for up to its limit) publishes
//! nothing, so the last value stays small while the rest of the cluster elects a successor: read
//! as it is, it proved leadership for as long as the wedge lasted, and the wedged node kept
//! acknowledging renewals its successor never saw, which then evicted the instances (the chaos
//! suite's `FullDisk` fault caught it). Here each report is turned into an instant when it
//! arrives, so its age keeps growing while the core is silent.

use std::time::Duration;
use std::time::Instant;

use parking_lot::Mutex;

/// The instant a quorum last acknowledged this node's leadership, as far as the metrics say.
#[derive(Debug, Default)]
pub(super) struct QuorumAck {
    acked_at: Mutex<Option<Instant>>,
}

impl QuorumAck {
    /// Records a metrics report received at `now`: `millis_since` is its
    /// `millis_since_quorum_ack` (`None` when not leading).
    pub(super) fn observe(&self, now: Instant, millis_since: Option<u64>) {
        *self.acked_at.lock() = millis_since.map(|ms| now.checked_sub(Duration::from_millis(ms)).unwrap_or(now));
    }

    /// Whether the last acknowledgement is younger than `limit` at `now`.
    ///
    /// A report reaches the watcher a moment after the core made it, so the instant recorded is
    /// that moment late; the caller's `limit` (the shortest election timeout, while followers
    /// refuse votes for the longest) leaves room for it.
    pub(super) fn within(&self, now: Instant, limit: Duration) -> bool {
        self.acked_at
            .lock()
            .is_some_and(|at| now.saturating_duration_since(at) < limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_millis(1_000);

    #[test]
    fn a_report_proves_leadership_only_until_its_acknowledgement_is_older_than_the_limit() {
        let ack = QuorumAck::default();
        let t0 = Instant::now();
        ack.observe(t0, Some(200));
        assert!(ack.within(t0, LIMIT));
        assert!(ack.within(t0 + Duration::from_millis(799), LIMIT));
        assert!(!ack.within(t0 + Duration::from_millis(800), LIMIT));
    }

    /// The wedged core: no report after the last one, whose value stays small. Read straight
    /// from the metrics it would say "acknowledged 10 ms ago" forever.
    #[test]
    fn a_silent_core_does_not_keep_its_last_report_fresh() {
        let ack = QuorumAck::default();
        let t0 = Instant::now();
        ack.observe(t0, Some(10));
        assert!(ack.within(t0 + Duration::from_millis(500), LIMIT));
        assert!(!ack.within(t0 + Duration::from_secs(15), LIMIT));
    }

    #[test]
    fn not_leading_or_never_acknowledged_proves_nothing() {
        let ack = QuorumAck::default();
        let t0 = Instant::now();
        assert!(!ack.within(t0, LIMIT));
        ack.observe(t0, Some(0));
        assert!(ack.within(t0, LIMIT));
        ack.observe(t0, None);
        assert!(!ack.within(t0, LIMIT));
    }

    #[test]
    fn later_reports_move_the_instant_forward() {
        let ack = QuorumAck::default();
        let t0 = Instant::now();
        ack.observe(t0, Some(50));
        let t1 = t0 + Duration::from_secs(5);
        assert!(!ack.within(t1, LIMIT));
        ack.observe(t1, Some(50));
        assert!(ack.within(t1 + Duration::from_millis(900), LIMIT));
    }
}
