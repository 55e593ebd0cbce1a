//! What every node knows of the leader's leases: per instance, when its client last renewed it
//! and when it expires, in wall-clock ms. Renewals never touch the log (D3); the leader's lease
//! table has these, and every node copies what changed from it about once a second, so Eureka's
//! `lastRenewalTimestamp`, the dashboard and `registryctl` show the same figures on every node.

use std::collections::HashMap;
use std::time::Duration;
use std::time::Instant;

use parking_lot::RwLock;

use crate::model::InstanceKey;
use crate::model::Millis;

/// One instance's lease as the leader last reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTime {
    /// When its client last renewed it (the leader's wall clock).
    pub renewed_ms: Millis,
    /// When it expires unless renewed again.
    pub expires_ms: Millis,
}

/// How often, at most, cached views are told that lease times changed: a full Eureka fetch
/// is then encoded again at most this often for their sake, and shows renewals at most this
/// much (plus one copy) late.
pub const VIEW_EPOCH_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Inner {
    by_key: HashMap<InstanceKey, LeaseTime>,
    /// Bumped when copies brought changes (at most every `epoch_every`): caches of views
    /// showing these figures use it.
    epoch: u64,
    /// Changes arrived since the last bump.
    pending: bool,
    bumped_at: Option<Instant>,
    /// Where the next copy starts: the leader it comes from and that leader's clock.
    cursor: Option<(u64, u64)>,
}

/// This node's copy of the leader's lease times.
#[derive(Debug)]
pub struct LeaseTimes {
    inner: RwLock<Inner>,
    epoch_every: Duration,
}

impl Default for LeaseTimes {
    fn default() -> Self {
        Self::with_epoch_every(VIEW_EPOCH_EVERY)
    }
}

impl LeaseTimes {
    pub fn with_epoch_every(epoch_every: Duration) -> Self {
        Self {
            inner: RwLock::default(),
            epoch_every,
        }
    }

    pub fn get(&self, key: &InstanceKey) -> Option<LeaseTime> {
        self.inner.read().by_key.get(key).copied()
    }

    /// Changes each time new figures arrive.
    pub fn epoch(&self) -> u64 {
        self.inner.read().epoch
    }

    /// Reads many at once (one lock for a whole view).
    pub fn with<R>(&self, read: impl FnOnce(&dyn Fn(&InstanceKey) -> Option<LeaseTime>) -> R) -> R {
        let inner = self.inner.read();
        read(&|key| inner.by_key.get(key).copied())
    }

    /// Where to ask `leader` from: its clock at the last copy, or 0 (everything) for a new
    /// leader.
    pub fn cursor_for(&self, leader: u64) -> u64 {
        match self.inner.read().cursor {
            Some((from, at)) if from == leader => at,
            _ => 0,
        }
    }

    /// Takes a copy from `leader`, whose clock then read `cursor`.
    pub fn merge(&self, leader: u64, cursor: u64, times: Vec<(InstanceKey, LeaseTime)>) {
        let mut inner = self.inner.write();
        inner.pending |= !times.is_empty();
        if inner.pending && inner.bumped_at.is_none_or(|at| at.elapsed() >= self.epoch_every) {
            inner.epoch += 1;
            inner.pending = false;
            inner.bumped_at = Some(Instant::now());
        }
        inner.by_key.extend(times);
        inner.cursor = Some((leader, cursor));
    }

    /// Forgets the instances `exists` says are gone.
    pub fn retain(&self, exists: impl Fn(&InstanceKey) -> bool) {
        self.inner.write().by_key.retain(|k, _| exists(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Tenant;

    fn key(id: &str) -> InstanceKey {
        InstanceKey {
            tenant: Tenant::default(),
            service_id: "svc".into(),
            id: id.into(),
        }
    }

    #[test]
    fn copies_merge_and_a_new_leader_starts_from_the_beginning() {
        let times = LeaseTimes::with_epoch_every(Duration::ZERO);
        assert_eq!(times.cursor_for(1), 0);
        let t = |ms| LeaseTime {
            renewed_ms: ms,
            expires_ms: ms + 90_000,
        };
        times.merge(1, 500, vec![(key("a"), t(10)), (key("b"), t(20))]);
        assert_eq!(times.epoch(), 1);
        assert_eq!(times.cursor_for(1), 500);
        assert_eq!(times.cursor_for(2), 0, "another leader's clock is not ours");
        times.merge(1, 900, vec![(key("a"), t(30))]);
        times.merge(1, 950, Vec::new());
        assert_eq!(times.epoch(), 2, "an empty copy changes nothing");
        assert_eq!(times.get(&key("a")), Some(t(30)));
        times.retain(|k| k.id != "b");
        assert_eq!(times.get(&key("b")), None);
        assert_eq!(times.with(|get| get(&key("a"))), Some(t(30)));

        // Views are told of changes at most every so often.
        let slow = LeaseTimes::with_epoch_every(Duration::from_secs(3600));
        slow.merge(1, 1, vec![(key("a"), t(1))]);
        slow.merge(1, 2, vec![(key("a"), t(2))]);
        assert_eq!(slow.epoch(), 1);
        assert_eq!(slow.get(&key("a")), Some(t(2)), "the figures themselves are current");
    }
}
