//! Lease deadlines, the renewal rate and self-preservation, as pure bookkeeping over a
//! monotonic millisecond clock supplied by the caller.

use std::hash::Hash;
use std::hash::Hasher;
use std::hash::RandomState;
use std::sync::Arc;

use hashbrown::Equivalent;
use hashbrown::HashMap;

use crate::change::Change;
use crate::change::ChangeKind;
use crate::change::Entity;
use crate::command::EvictItem;
use crate::model::Instance;
use crate::model::InstanceKey;
use crate::model::Revision;
use crate::model::Tenant;

/// How leases expire. Every field is configurable; defaults follow Eureka.
#[derive(Debug, Clone, PartialEq)]
pub struct LeasePolicy {
    /// Stop evicting when renewals in the last window fall to or below the threshold. Default on.
    pub self_preservation: bool,
    /// Share of expected renewals below which self-preservation holds evictions. Default 0.85.
    pub renewal_percent_threshold: f64,
    /// The window over which renewals are counted, in ms. Default 60 000 (Eureka's minute).
    pub window_ms: u64,
    /// Most of the leased instances evicted in one round (Eureka: 15 %, at least one). Default 0.15.
    pub max_evict_share: f64,
}

impl Default for LeasePolicy {
    fn default() -> Self {
        Self {
            self_preservation: true,
            renewal_percent_threshold: 0.85,
            window_ms: 60_000,
            max_evict_share: 0.15,
        }
    }
}

/// A lease's key: the instance record it is held for, hashed and compared by that record's
/// (tenant, service id, id) so an [`InstanceKey`] finds it. A pointer instead of a copy of the
/// key: the table holds every local instance.
#[derive(Debug, Clone)]
struct LeaseKey(Arc<Instance>);

impl Hash for LeaseKey {
    /// The same hash as the record's [`InstanceKey`] (its derived `Hash`: the fields in order).
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.tenant.hash(state);
        self.0.service_id.hash(state);
        self.0.id.hash(state);
    }
}

impl LeaseKey {
    fn is(&self, tenant: &Tenant, service_id: &str, id: &str) -> bool {
        self.0.tenant == *tenant && self.0.service_id == service_id && self.0.id == id
    }
}

impl PartialEq for LeaseKey {
    fn eq(&self, other: &Self) -> bool {
        self.is(&other.0.tenant, &other.0.service_id, &other.0.id)
    }
}

impl Eq for LeaseKey {}

impl Equivalent<LeaseKey> for InstanceKey {
    fn equivalent(&self, key: &LeaseKey) -> bool {
        key.is(&self.tenant, &self.service_id, &self.id)
    }
}

#[derive(Debug, Clone)]
struct Lease {
    deadline_ms: u64,
    duration_ms: u64,
    interval_secs: u32,
    mod_revision: Revision,
    generation: u64,
}

/// Renewal counts per second over a sliding window.
#[derive(Debug, Clone, Default)]
struct RenewalWindow {
    /// (second, count), oldest first.
    buckets: std::collections::VecDeque<(u64, u64)>,
}

impl RenewalWindow {
    fn record(&mut self, now_ms: u64, n: u64) {
        let second = now_ms / 1000;
        match self.buckets.back_mut() {
            Some((s, c)) if *s == second => *c += n,
            _ => self.buckets.push_back((second, n)),
        }
    }

    fn count(&mut self, now_ms: u64, window_ms: u64) -> u64 {
        let oldest = (now_ms.saturating_sub(window_ms)) / 1000;
        while self.buckets.front().is_some_and(|(s, _)| *s < oldest) {
            self.buckets.pop_front();
        }
        self.buckets.iter().map(|(_, c)| c).sum()
    }
}

/// What the dashboard and metrics show about leases.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LeaseStats {
    pub leases: usize,
    /// Renewals counted in the last window (scaled up while the window is not yet full).
    pub renewals_last_window: u64,
    /// Self-preservation threshold: renewals at or below it hold evictions.
    pub threshold: u64,
    /// Whether expired leases are being evicted now.
    pub expiry_enabled: bool,
    /// How long this leader has counted renewals: while shorter than the window, the count is
    /// extrapolated and clients may not have renewed even once yet.
    pub counted_for_ms: u64,
}

/// The leader's lease deadlines for locally registered instances.
#[derive(Debug, Clone, Default)]
pub struct LeaseTable {
    leases: HashMap<LeaseKey, Lease, RandomState>,
    renewals: RenewalWindow,
    since_ms: u64,
    generation: u64,
}

impl LeaseTable {
    /// A table for a node that became leader at `now_ms`: every lease gets a full fresh TTL.
    pub fn new_term<'a>(now_ms: u64, instances: impl Iterator<Item = &'a Arc<Instance>>) -> Self {
        let mut t = Self {
            since_ms: now_ms,
            ..Self::default()
        };
        t.reconcile(now_ms, instances);
        t
    }

    /// Brings the table in line with the registry: new or re-registered instances get a fresh
    /// deadline, vanished ones lose their lease. Only locally registered instances hold leases.
    pub fn reconcile<'a>(&mut self, now_ms: u64, instances: impl Iterator<Item = &'a Arc<Instance>>) {
        self.generation += 1;
        for i in instances {
            self.upsert(now_ms, i);
        }
        let generation = self.generation;
        self.leases.retain(|_, l| l.generation == generation);
    }

    /// Follows one applied change: what [`Self::reconcile`] does, for just that record.
    pub fn observe(&mut self, now_ms: u64, change: &Change) {
        let Entity::Instance(instance) = &change.entity else {
            return;
        };
        match change.kind {
            ChangeKind::Deleted => {
                self.leases.remove(&instance.key());
            }
            ChangeKind::Created | ChangeKind::Updated => self.upsert(now_ms, instance),
        }
    }

    /// Records `i`'s lease (a fresh deadline when it was re-registered or changed since).
    fn upsert(&mut self, now_ms: u64, i: &Arc<Instance>) {
        if !i.origin.is_local() {
            return;
        }
        let generation = self.generation;
        let duration_ms = u64::from(i.lease.duration_secs) * 1000;
        let key = i.key();
        let same_record = match self.leases.get_key_value_mut(&key) {
            Some((held, l)) => {
                l.generation = generation;
                if l.mod_revision != i.mod_revision {
                    l.mod_revision = i.mod_revision;
                    l.deadline_ms = now_ms + duration_ms;
                }
                l.duration_ms = duration_ms;
                l.interval_secs = i.lease.renewal_interval_secs;
                Arc::ptr_eq(&held.0, i)
            }
            None => {
                let lease = Lease {
                    deadline_ms: now_ms + duration_ms,
                    duration_ms,
                    interval_secs: i.lease.renewal_interval_secs,
                    mod_revision: i.mod_revision,
                    generation,
                };
                self.leases.insert(LeaseKey(i.clone()), lease);
                return;
            }
        };
        // A newer record takes the old one's place as the key, so the old one is not kept alive.
        if !same_record {
            if let Some((_, lease)) = self.leases.remove_entry(&key) {
                self.leases.insert(LeaseKey(i.clone()), lease);
            }
        }
    }

    /// Renews the lease of `instance` (which the caller found registered). Returns `false` if
    /// the instance holds no lease (mirrored records are kept alive by their adapter).
    pub fn renew(&mut self, now_ms: u64, instance: &Arc<Instance>) -> bool {
        if !instance.origin.is_local() {
            return false;
        }
        match self.leases.get_mut(&instance.key()) {
            Some(lease) => lease.deadline_ms = now_ms + lease.duration_ms,
            None => {
                let duration_ms = u64::from(instance.lease.duration_secs) * 1000;
                let lease = Lease {
                    deadline_ms: now_ms + duration_ms,
                    duration_ms,
                    interval_secs: instance.lease.renewal_interval_secs,
                    mod_revision: instance.mod_revision,
                    generation: self.generation,
                };
                self.leases.insert(LeaseKey(instance.clone()), lease);
            }
        }
        self.renewals.record(now_ms, 1);
        true
    }

    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// Renewal statistics and whether expiry is enabled under `policy`.
    pub fn stats(&mut self, now_ms: u64, policy: &LeasePolicy) -> LeaseStats {
        let expected_per_window: f64 = self
            .leases
            .values()
            .map(|l| policy.window_ms as f64 / (1000.0 * f64::from(l.interval_secs.max(1))))
            .sum();
        let threshold = (expected_per_window * policy.renewal_percent_threshold) as u64;
        let counted = self.renewals.count(now_ms, policy.window_ms);
        // A young leader has seen less than a full window: extrapolate what it has seen.
        let elapsed = now_ms.saturating_sub(self.since_ms).max(1000);
        let renewals = if elapsed < policy.window_ms {
            counted * policy.window_ms / elapsed
        } else {
            counted
        };
        let expiry_enabled = !policy.self_preservation || (threshold > 0 && renewals > threshold);
        LeaseStats {
            leases: self.leases.len(),
            renewals_last_window: renewals,
            threshold,
            expiry_enabled,
            counted_for_ms: now_ms.saturating_sub(self.since_ms),
        }
    }

    /// The leases past their deadline that may be evicted now, most overdue first, capped per
    /// round; empty while self-preservation holds.
    pub fn evictable(&mut self, now_ms: u64, policy: &LeasePolicy) -> (Vec<EvictItem>, LeaseStats) {
        let stats = self.stats(now_ms, policy);
        let mut expired: Vec<(InstanceKey, &Lease)> = self
            .leases
            .iter()
            .filter(|(_, l)| now_ms > l.deadline_ms)
            .map(|(k, l)| (k.0.key(), l))
            .collect();
        if expired.is_empty() || !stats.expiry_enabled {
            return (Vec::new(), stats);
        }
        expired.sort_by(|(ka, a), (kb, b)| (a.deadline_ms, ka).cmp(&(b.deadline_ms, kb)));
        let cap = ((self.leases.len() as f64 * policy.max_evict_share) as usize).max(1);
        let items = expired
            .into_iter()
            .take(cap)
            .map(|(instance, l)| EvictItem {
                instance,
                expected_mod_revision: l.mod_revision,
            })
            .collect();
        (items, stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LeaseSettings;
    use crate::model::MirroredFrom;
    use crate::model::Origin;
    use crate::model::Tenant;

    fn inst(id: &str, rev: Revision) -> Arc<Instance> {
        let mut i = Instance::new(Tenant::default(), "svc", id, "h");
        i.lease = LeaseSettings {
            renewal_interval_secs: 1,
            duration_secs: 3,
        };
        i.mod_revision = rev;
        Arc::new(i)
    }

    fn off() -> LeasePolicy {
        LeasePolicy {
            self_preservation: false,
            ..LeasePolicy::default()
        }
    }

    #[test]
    fn a_new_term_gives_every_lease_a_full_ttl() {
        let all = [inst("a", 1), inst("b", 2)];
        let mut t = LeaseTable::new_term(100_000, all.iter());
        assert!(t.evictable(102_999, &off()).0.is_empty());
        let (items, _) = t.evictable(103_001, &off());
        // At most 15 % per round, and at least one.
        assert_eq!(items.len(), 1);
    }

    #[test]
    fn renewals_push_the_deadline_and_reregistration_resets_it() {
        let a = inst("a", 1);
        let mut t = LeaseTable::new_term(0, [a.clone()].iter());
        assert!(t.renew(2_000, &a));
        assert!(t.evictable(4_500, &off()).0.is_empty());
        let re = inst("a", 9);
        t.reconcile(6_000, [re.clone()].iter());
        assert!(t.evictable(8_500, &off()).0.is_empty());
        let (items, _) = t.evictable(9_001, &off());
        assert_eq!(
            items,
            vec![EvictItem {
                instance: re.key(),
                expected_mod_revision: 9
            }]
        );
    }

    #[test]
    fn a_lease_is_found_by_its_instance_key_and_holds_only_the_current_record() {
        use std::hash::BuildHasher;
        let hasher = RandomState::new();
        let a = inst("a", 1);
        assert_eq!(hasher.hash_one(LeaseKey(a.clone())), hasher.hash_one(a.key()));
        let mut t = LeaseTable::new_term(0, [a.clone()].iter());
        assert!(t.renew(1, &inst("a", 1)), "found by key, not by pointer");
        assert_eq!(t.len(), 1);
        let newer = inst("a", 2);
        t.reconcile(2, [newer.clone()].iter());
        assert_eq!(t.len(), 1);
        assert_eq!(Arc::strong_count(&a), 1, "the replaced record is let go");
        assert_eq!(Arc::strong_count(&newer), 2);
    }

    #[test]
    fn vanished_and_mirrored_instances_hold_no_lease() {
        let mut m = Instance::clone(&inst("m", 1));
        m.origin = Origin::Mirrored(Box::new(MirroredFrom {
            source: "dc2".into(),
            remote_id: "m".into(),
            remote_revision: None,
            observed_at_ms: 0,
        }));
        let m = Arc::new(m);
        let mut t = LeaseTable::new_term(0, [inst("a", 1), m.clone()].iter());
        assert_eq!(t.len(), 1);
        assert!(!t.renew(1, &m));
        t.reconcile(10, std::iter::empty());
        assert!(t.is_empty());
    }

    #[test]
    fn self_preservation_holds_evictions_below_the_threshold() {
        let all: Vec<Arc<Instance>> = (0..10).map(|n| inst(&format!("i{n}"), 1)).collect();
        let policy = LeasePolicy::default();
        let mut t = LeaseTable::new_term(0, all.iter());
        // 60 s of renewals from 9 of 10 instances (interval 1 s): 540 > threshold 510.
        for s in 0..60u64 {
            for i in &all[..9] {
                t.renew(s * 1000 + 500, i);
            }
        }
        let (items, stats) = t.evictable(60_600, &policy);
        assert_eq!(stats.threshold, 510);
        assert!(stats.expiry_enabled, "{stats:?}");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].instance.id, "i9");
        // Then only 5 of 10 keep renewing: self-preservation holds everything.
        for s in 61..121u64 {
            for i in &all[..5] {
                t.renew(s * 1000 + 500, i);
            }
        }
        let (items, stats) = t.evictable(121_600, &policy);
        assert!(!stats.expiry_enabled);
        assert!(items.is_empty());
        // Turned off, the expired ones go (at most 15 % per round).
        let (items, _) = t.evictable(121_600, &off());
        assert_eq!(items.len(), 1);
    }
}
