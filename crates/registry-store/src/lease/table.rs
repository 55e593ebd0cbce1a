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
use crate::command::EvictItem;
use crate::model::Instance;
use crate::model::InstanceKey;
use crate::model::Revision;
use crate::model::Tenant;
use crate::record::Entity;

/// Which rule holds evictions back when leases expire in large numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GuardRule {
    /// Per tenant: hold its evictions while the leases expiring within one window are both at
    /// least `mass_expiry_share` of its leases and at least `mass_expiry_min` of them (clients
    /// cut off from the registry), for at most `max_hold_ms`. A lone dead instance, or a few,
    /// expire as ServiceCenter's clients expect.
    #[default]
    MassExpiry,
    /// Eureka's self-preservation, exactly: hold every eviction while renewals in the last
    /// window are at or below `renewal_percent_threshold` of those expected, for as long as that
    /// lasts. Until a leader has counted one full window, the renewal rate is unknown and the
    /// mass-expiry rule guards instead.
    Eureka,
}

/// How leases expire. Every field is configurable.
#[derive(Debug, Clone, PartialEq)]
pub struct LeasePolicy {
    /// Guard against mass expiry at all (Eureka's name for it). Default on.
    pub self_preservation: bool,
    /// Which guard. Default [`GuardRule::MassExpiry`].
    pub rule: GuardRule,
    /// Eureka rule: share of expected renewals at or below which evictions are held. Default 0.85.
    pub renewal_percent_threshold: f64,
    /// The window renewals and expiries are counted over, in ms. Default 60 000 (Eureka's minute).
    pub window_ms: u64,
    /// Most of the leased instances evicted in one round (Eureka: 15 %, at least one). Default 0.15.
    pub max_evict_share: f64,
    /// Mass-expiry rule: share of a tenant's leases that, expiring within one window, is a mass
    /// expiry. Default 0.5: when half of a tenant's instances fall silent at once, the network
    /// between them and the registry is the likelier cause.
    pub mass_expiry_share: f64,
    /// Mass-expiry rule: and how many at least. Default 10: a few instances dying together
    /// (one host, one pod set) still expire.
    pub mass_expiry_min: usize,
    /// Mass-expiry rule: the longest a tenant's evictions are held, in ms; then they go (at the
    /// per-round cap), as ServiceCenter replays the deletions it held back. Default 600 000.
    pub max_hold_ms: u64,
}

impl Default for LeasePolicy {
    fn default() -> Self {
        Self {
            self_preservation: true,
            rule: GuardRule::MassExpiry,
            renewal_percent_threshold: 0.85,
            window_ms: 60_000,
            max_evict_share: 0.15,
            mass_expiry_share: 0.5,
            mass_expiry_min: 10,
            max_hold_ms: 600_000,
        }
    }
}

/// A tenant whose evictions the mass-expiry rule holds.
#[derive(Debug, Clone, PartialEq)]
struct Hold {
    since_ms: u64,
    /// Held for `max_hold_ms`: its evictions go ahead until the mass expiry is over.
    released: bool,
}

/// A lease's key: the instance record it is held for, hashed and compared by that record's
/// (tenant, service id, id) so an [`InstanceKey`] finds it. A pointer instead of a copy of the
/// key: the table holds every local instance.
#[derive(Debug, Clone)]
struct LeaseKey(Arc<Instance>);

impl Hash for LeaseKey {
    /// The same hash as the record's [`InstanceKey`] (its derived `Hash`: the fields in order).
    fn hash<H: Hasher>(&self, state: &mut H) {
        ByRecord(&self.0).hash(state);
    }
}

/// A record looking up its own lease by its key's fields, where they are (no copy of the key):
/// the renewal path does this for every heartbeat.
struct ByRecord<'a>(&'a Instance);

impl Hash for ByRecord<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.tenant.hash(state);
        self.0.service_id.hash(state);
        self.0.id.hash(state);
    }
}

impl Equivalent<LeaseKey> for ByRecord<'_> {
    fn equivalent(&self, key: &LeaseKey) -> bool {
        key.is(&self.0.tenant, &self.0.service_id, &self.0.id)
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

/// One lease: four words (the table holds one per local instance, a million at a million; its
/// key is the instance's current record, whose `mod_revision` the lease follows).
#[derive(Debug, Clone)]
struct Lease {
    deadline_ms: u64,
    /// When its client last renewed it in this term (0: not yet; a new term's fresh TTL is
    /// not a renewal).
    renewed_ms: u64,
    duration_secs: u32,
    interval_secs: u32,
    /// Its record's tenant, as [`LeaseTable::tenant_id`] numbers them: the round counts leases
    /// per tenant without reading the records (a cache miss per lease at a million).
    tenant: u32,
    /// The reconcile that last saw its record, and whether it was handed out for eviction.
    marks: Marks,
}

/// A lease's [`LeaseTable::reconcile`] generation (31 bits, compared for equality only, so it
/// may wrap) and, in the top bit, whether it is condemned: handed out for eviction
/// ([`LeaseTable::evictable`]). The eviction is in the log or about to be, and applies unless
/// the record changes first. A renewal cannot save it (renewals write nothing the eviction
/// could see), so none is acknowledged: the client registers again, which changes the record.
/// Cleared when the record changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Marks(u32);

const CONDEMNED: u32 = 1 << 31;

impl Marks {
    fn new(generation: u32) -> Self {
        Self(generation & !CONDEMNED)
    }

    fn generation(self) -> u32 {
        self.0 & !CONDEMNED
    }

    fn condemned(self) -> bool {
        self.0 & CONDEMNED != 0
    }

    fn set_generation(&mut self, generation: u32) {
        self.0 = (self.0 & CONDEMNED) | (generation & !CONDEMNED);
    }

    fn set_condemned(&mut self, condemned: bool) {
        self.0 = if condemned {
            self.0 | CONDEMNED
        } else {
            self.0 & !CONDEMNED
        };
    }
}

/// The generation after `generation`, within [`Marks`]' 31 bits.
fn next_generation(generation: u32) -> u32 {
    generation.wrapping_add(1) & !CONDEMNED
}

/// One lease's last renewal and deadline, on the table's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewedLease {
    pub instance: InstanceKey,
    pub renewed_ms: u64,
    pub deadline_ms: u64,
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
    /// Eureka rule: renewals at or below it hold evictions.
    pub threshold: u64,
    /// Whether no eviction is held back now.
    pub expiry_enabled: bool,
    /// Tenants (`domain/project`) whose evictions the mass-expiry rule holds now.
    pub held_tenants: Vec<String>,
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
    generation: u32,
    /// Leases handed out for eviction by expiry, and when: the last window's count per tenant.
    expired: HashMap<InstanceKey, u64, RandomState>,
    /// Tenants the mass-expiry rule holds.
    holds: HashMap<Tenant, Hold, RandomState>,
    /// The tenants of the leases, numbered in the order first seen (see [`Lease::tenant`]).
    tenants: Vec<Tenant>,
    tenant_ids: HashMap<Tenant, u32, RandomState>,
}

impl LeaseTable {
    /// A table for a node that became leader at `now_ms`: every lease gets a full fresh TTL.
    /// Sized for `instances` at once, each hashed once: at a million, growing the table as it
    /// filled hashed every key about three times (0.8 s of a leader's start).
    pub fn new_term<'a>(now_ms: u64, instances: impl Iterator<Item = &'a Arc<Instance>>) -> Self {
        let mut t = Self {
            since_ms: now_ms,
            ..Self::default()
        };
        t.generation = 1;
        let instances = instances.filter(|i| i.origin.is_local());
        let (least, most) = instances.size_hint();
        t.leases.reserve(most.unwrap_or(least));
        // The registry holds each key once.
        for i in instances {
            let lease = t.fresh_lease(now_ms, i, 0);
            t.leases.insert(LeaseKey(i.clone()), lease);
        }
        t
    }

    /// The number of `tenant` in [`Self::tenants`], given on first sight. A registry has a few
    /// tenants, and consecutive records mostly share one: that case is a comparison.
    fn tenant_id(&mut self, tenant: &Tenant) -> u32 {
        if self.tenants.last() == Some(tenant) {
            return self.tenants.len() as u32 - 1;
        }
        if let Some(id) = self.tenant_ids.get(tenant) {
            return *id;
        }
        let id = self.tenants.len() as u32;
        self.tenants.push(tenant.clone());
        self.tenant_ids.insert(tenant.clone(), id);
        id
    }

    /// A lease for `i` that runs a full TTL from `now_ms`.
    fn fresh_lease(&mut self, now_ms: u64, i: &Instance, renewed_ms: u64) -> Lease {
        Lease {
            deadline_ms: now_ms + duration_ms(i.lease.duration_secs),
            renewed_ms,
            duration_secs: i.lease.duration_secs,
            interval_secs: i.lease.renewal_interval_secs,
            tenant: self.tenant_id(&i.tenant),
            marks: Marks::new(self.generation),
        }
    }

    /// Brings the table in line with the registry: new or re-registered instances get a fresh
    /// deadline, vanished ones lose their lease. Only locally registered instances hold leases.
    pub fn reconcile<'a>(&mut self, now_ms: u64, instances: impl Iterator<Item = &'a Arc<Instance>>) {
        self.generation = next_generation(self.generation);
        for i in instances {
            self.upsert(now_ms, i);
        }
        let generation = self.generation;
        self.leases.retain(|_, l| l.marks.generation() == generation);
    }

    /// Follows one applied change: what [`Self::reconcile`] does, for just that record.
    pub fn observe(&mut self, now_ms: u64, change: &Change) {
        let Entity::Instance(instance) = &change.entity else {
            return;
        };
        match change.kind {
            ChangeKind::Deleted => {
                self.leases.remove(&ByRecord(instance));
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
        let same_record = match self.leases.get_key_value_mut(&ByRecord(i)) {
            Some((held, l)) => {
                l.marks.set_generation(generation);
                if held.0.mod_revision != i.mod_revision {
                    l.deadline_ms = now_ms + duration_ms(i.lease.duration_secs);
                    l.marks.set_condemned(false);
                }
                l.duration_secs = i.lease.duration_secs;
                l.interval_secs = i.lease.renewal_interval_secs;
                Arc::ptr_eq(&held.0, i)
            }
            None => {
                let lease = self.fresh_lease(now_ms, i, 0);
                self.leases.insert(LeaseKey(i.clone()), lease);
                return;
            }
        };
        // A newer record takes the old one's place as the key, so the old one is not kept alive
        // (and the lease follows its `mod_revision`).
        if !same_record {
            if let Some((_, lease)) = self.leases.remove_entry(&ByRecord(i)) {
                self.leases.insert(LeaseKey(i.clone()), lease);
            }
        }
    }

    /// Whether `instance`'s lease was handed out for eviction and its record has not changed
    /// since: the eviction will apply, so a renewal must not be acknowledged.
    pub fn awaits_eviction(&self, instance: &Arc<Instance>) -> bool {
        self.leases
            .get_key_value(&ByRecord(instance))
            .is_some_and(|(held, l)| l.marks.condemned() && held.0.mod_revision == instance.mod_revision)
    }

    /// Renews the lease of `instance` (which the caller found registered). Returns `false` if
    /// the instance holds no lease (mirrored records are kept alive by their adapter), or its
    /// lease awaits eviction ([`Self::awaits_eviction`]: left as it is).
    pub fn renew(&mut self, now_ms: u64, instance: &Arc<Instance>) -> bool {
        instance.origin.is_local() && self.renew_registered(now_ms, instance)
    }

    /// A client's renewal of registered `instance`: its lease is renewed as by [`Self::renew`];
    /// `false` only if it awaits eviction (the renewal must not be acknowledged). One lookup.
    pub fn renew_registered(&mut self, now_ms: u64, instance: &Arc<Instance>) -> bool {
        if !instance.origin.is_local() {
            return !self.awaits_eviction(instance);
        }
        match self.leases.get_key_value_mut(&ByRecord(instance)) {
            Some((held, lease)) if lease.marks.condemned() && held.0.mod_revision == instance.mod_revision => {
                return false
            }
            Some((_, lease)) => {
                lease.deadline_ms = now_ms + duration_ms(lease.duration_secs);
                lease.renewed_ms = now_ms;
            }
            None => {
                let lease = self.fresh_lease(now_ms, instance, now_ms);
                self.leases.insert(LeaseKey(instance.clone()), lease);
            }
        }
        self.renewals.record(now_ms, 1);
        true
    }

    pub fn len(&self) -> usize {
        self.leases.len()
    }

    /// The leases renewed at or after `since_ms`, with their deadlines.
    pub fn renewed_since(&self, since_ms: u64) -> Vec<RenewedLease> {
        self.leases
            .iter()
            .filter(|(_, l)| l.renewed_ms > 0 && l.renewed_ms >= since_ms)
            .map(|(k, l)| RenewedLease {
                instance: k.0.key(),
                renewed_ms: l.renewed_ms,
                deadline_ms: l.deadline_ms,
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// Renewal statistics and what the guard holds under `policy` (as of the last round).
    pub fn stats(&mut self, now_ms: u64, policy: &LeasePolicy) -> LeaseStats {
        let expected_per_window: f64 = self.leases.values().map(|l| expected_renewals(policy, l)).sum();
        self.stats_given(now_ms, policy, expected_per_window)
    }

    /// [`Self::stats`], with the renewals expected per window already summed.
    fn stats_given(&mut self, now_ms: u64, policy: &LeasePolicy, expected_per_window: f64) -> LeaseStats {
        let threshold = (expected_per_window * policy.renewal_percent_threshold) as u64;
        let counted = self.renewals.count(now_ms, policy.window_ms);
        // A young leader has seen less than a full window: extrapolate what it has seen.
        let elapsed = now_ms.saturating_sub(self.since_ms).max(1000);
        let renewals = if elapsed < policy.window_ms {
            counted * policy.window_ms / elapsed
        } else {
            counted
        };
        let mut held_tenants: Vec<String> = self
            .holds
            .iter()
            .filter(|(_, h)| !h.released)
            .map(|(t, _)| t.to_string())
            .collect();
        held_tenants.sort();
        let eureka_holds = self.eureka_holds(now_ms, policy, renewals, threshold);
        LeaseStats {
            leases: self.leases.len(),
            renewals_last_window: renewals,
            threshold,
            expiry_enabled: !eureka_holds && held_tenants.is_empty(),
            held_tenants,
            counted_for_ms: now_ms.saturating_sub(self.since_ms),
        }
    }

    /// Whether Eureka's rule holds every eviction now: only once a full window was counted.
    fn eureka_holds(&self, now_ms: u64, policy: &LeasePolicy, renewals: u64, threshold: u64) -> bool {
        policy.self_preservation
            && policy.rule == GuardRule::Eureka
            && now_ms.saturating_sub(self.since_ms) >= policy.window_ms
            && !(threshold > 0 && renewals > threshold)
    }

    /// Whether the mass-expiry rule guards now.
    fn mass_rule_applies(&self, now_ms: u64, policy: &LeasePolicy) -> bool {
        policy.self_preservation
            && (policy.rule == GuardRule::MassExpiry || now_ms.saturating_sub(self.since_ms) < policy.window_ms)
    }

    /// Updates the mass-expiry holds and returns the tenants whose evictions may go ahead
    /// although held (held for the longest hold).
    ///
    /// A tenant's expiring leases are those overdue, those silent (not renewed for two renewal
    /// intervals: they will be overdue within the TTL, and a cut-off fleet falls silent before
    /// its first lease is overdue, so the hold begins before any eviction), and those evicted
    /// within the window.
    fn update_holds(&mut self, now_ms: u64, policy: &LeasePolicy, per_tenant: Vec<(usize, usize)>) -> Vec<Tenant> {
        let oldest = now_ms.saturating_sub(policy.window_ms);
        self.expired.retain(|_, at| *at > oldest);
        if !self.mass_rule_applies(now_ms, policy) {
            self.holds.clear();
            return Vec::new();
        }
        // (expiring, leases and those already evicted), per tenant.
        let mut per_tenant = per_tenant;
        // Those evicted within the window count as expiring (their tenants may hold no lease now).
        let evicted: Vec<Tenant> = self.expired.keys().map(|k| k.tenant.clone()).collect();
        for tenant in &evicted {
            let id = self.tenant_id(tenant) as usize;
            if per_tenant.len() <= id {
                per_tenant.resize(id + 1, (0, 0));
            }
            let (expiring, of) = &mut per_tenant[id];
            *expiring += 1;
            *of += 1;
        }
        let massive: Vec<Tenant> = per_tenant
            .iter()
            .enumerate()
            .filter(|(_, (expiring, of))| {
                *of > 0
                    && *expiring >= policy.mass_expiry_min
                    && *expiring as f64 >= policy.mass_expiry_share * *of as f64
            })
            .map(|(id, _)| self.tenants[id].clone())
            .collect();
        self.holds.retain(|t, _| massive.contains(t));
        let mut released = Vec::new();
        for tenant in massive {
            let hold = self.holds.entry(tenant.clone()).or_insert_with(|| {
                tracing::warn!(%tenant, "mass expiry: holding this tenant's evictions");
                Hold {
                    since_ms: now_ms,
                    released: false,
                }
            });
            if !hold.released && now_ms.saturating_sub(hold.since_ms) >= policy.max_hold_ms {
                tracing::warn!(%tenant, "mass expiry held for the longest hold: evicting");
                hold.released = true;
            }
            if hold.released {
                released.push(tenant);
            }
        }
        released
    }

    /// One pass over the leases, reading no record but the overdue ones': what a round needs.
    fn scan(&self, now_ms: u64, policy: &LeasePolicy) -> Scan {
        let mut scan = Scan {
            overdue: Vec::new(),
            per_tenant: vec![(0, 0); self.tenants.len()],
            expected_per_window: 0.0,
        };
        for (key, lease) in &self.leases {
            let overdue = now_ms > lease.deadline_ms;
            if overdue {
                scan.overdue.push(Overdue {
                    instance: key.0.key(),
                    mod_revision: key.0.mod_revision,
                    deadline_ms: lease.deadline_ms,
                });
            }
            let last_renewal = lease.deadline_ms.saturating_sub(duration_ms(lease.duration_secs));
            let silent_since = last_renewal + 2_000 * u64::from(lease.interval_secs.max(1));
            let (expiring, of) = &mut scan.per_tenant[lease.tenant as usize];
            *expiring += usize::from(overdue || now_ms > silent_since);
            *of += 1;
            scan.expected_per_window += expected_renewals(policy, lease);
        }
        scan
    }

    /// The leases past their deadline that may be evicted now, most overdue first, capped per
    /// round; those of held tenants (or all, under Eureka's rule) wait.
    pub fn evictable(&mut self, now_ms: u64, policy: &LeasePolicy) -> (Vec<EvictItem>, LeaseStats) {
        let scan = self.scan(now_ms, policy);
        let released = self.update_holds(now_ms, policy, scan.per_tenant);
        let stats = self.stats_given(now_ms, policy, scan.expected_per_window);
        let eureka_holds = self.eureka_holds(now_ms, policy, stats.renewals_last_window, stats.threshold);
        let mut eligible: Vec<Overdue> = scan
            .overdue
            .into_iter()
            .filter(|o| {
                !eureka_holds && (!self.holds.contains_key(&o.instance.tenant) || released.contains(&o.instance.tenant))
            })
            .collect();
        if eligible.is_empty() {
            return (Vec::new(), stats);
        }
        eligible.sort_by(|a, b| (a.deadline_ms, &a.instance).cmp(&(b.deadline_ms, &b.instance)));
        let cap = ((self.leases.len() as f64 * policy.max_evict_share) as usize).max(1);
        let items: Vec<EvictItem> = eligible
            .into_iter()
            .take(cap)
            .map(|o| EvictItem {
                instance: o.instance,
                expected_mod_revision: o.mod_revision,
            })
            .collect();
        for item in &items {
            self.expired.entry(item.instance.clone()).or_insert(now_ms);
            if let Some(lease) = self.leases.get_mut(&item.instance) {
                lease.marks.set_condemned(true);
            }
        }
        (items, stats)
    }
}

/// A lease past its deadline, as a round found it.
struct Overdue {
    instance: InstanceKey,
    /// Of the record it was found with: the eviction applies only if the record is still that.
    mod_revision: Revision,
    deadline_ms: u64,
}

/// A lease's duration in milliseconds.
fn duration_ms(secs: u32) -> u64 {
    u64::from(secs) * 1000
}

/// What one pass over the leases found.
struct Scan {
    overdue: Vec<Overdue>,
    /// Per tenant (by [`Lease::tenant`]): (expiring, all).
    per_tenant: Vec<(usize, usize)>,
    /// Renewals the leases are expected to make in one window.
    expected_per_window: f64,
}

/// Renewals `lease` is expected to make in one window.
fn expected_renewals(policy: &LeasePolicy, lease: &Lease) -> f64 {
    policy.window_ms as f64 / (1000.0 * f64::from(lease.interval_secs.max(1)))
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

    /// The table holds a lease per local instance: its key (a pointer) and four words.
    #[test]
    fn a_lease_is_four_words() {
        assert_eq!(std::mem::size_of::<(LeaseKey, Lease)>(), 40);
    }

    #[test]
    fn marks_keep_the_generation_and_the_condemned_flag_apart() {
        let mut marks = Marks::new(7);
        assert_eq!((marks.generation(), marks.condemned()), (7, false));
        marks.set_condemned(true);
        assert_eq!((marks.generation(), marks.condemned()), (7, true));
        marks.set_generation(next_generation(u32::MAX >> 1));
        assert_eq!(
            (marks.generation(), marks.condemned()),
            (0, true),
            "wraps within 31 bits"
        );
        marks.set_condemned(false);
        assert_eq!(marks, Marks::new(0));
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
    fn a_new_terms_leases_are_kept_by_the_next_reconcile_with_their_deadlines() {
        let all = [inst("a", 1), inst("b", 2)];
        let mut t = LeaseTable::new_term(0, all.iter());
        t.reconcile(1_000, all.iter());
        assert_eq!(t.len(), 2);
        // Unchanged records keep their deadlines: overdue after 3 000, not 4 000.
        assert_eq!(t.evictable(3_001, &off()).0.len(), 1);
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

    /// The chaos suite's five-node run under 30-80 ms delays: a renewal acknowledged after the
    /// leader had proposed evicting that lease (the proposal waiting for a quorum), then the
    /// eviction applied, the record unchanged, and the next renewal was told "not registered".
    #[test]
    fn a_lease_handed_out_for_eviction_is_not_renewed_until_registered_again() {
        let a = inst("a", 1);
        let mut t = LeaseTable::new_term(0, [a.clone()].iter());
        let (items, _) = t.evictable(3_001, &off());
        assert_eq!(items.len(), 1);
        assert!(t.awaits_eviction(&a));
        assert!(!t.renew(3_100, &a), "a renewal the eviction will undo is refused");
        // Still overdue: handed out again next round (the first proposal may have failed).
        assert_eq!(t.evictable(4_000, &off()).0.len(), 1);
        // Registered again (a new record): a fresh lease, renewed as usual.
        let re = inst("a", 7);
        t.reconcile(4_100, [re.clone()].iter());
        assert!(!t.awaits_eviction(&re));
        assert!(t.renew(4_200, &re));
        assert!(t.evictable(6_000, &off()).0.is_empty());
    }

    #[test]
    fn renewals_are_reported_since_a_point_and_a_new_terms_ttl_is_not_one() {
        let (a, b) = (inst("a", 1), inst("b", 1));
        let mut t = LeaseTable::new_term(100, [a.clone(), b.clone()].iter());
        assert!(t.renewed_since(0).is_empty(), "a fresh TTL is no renewal");
        t.renew(2_000, &a);
        t.renew(5_000, &b);
        let all = t.renewed_since(0);
        assert_eq!(all.len(), 2);
        assert_eq!(
            t.renewed_since(3_000),
            vec![RenewedLease {
                instance: b.key(),
                renewed_ms: 5_000,
                deadline_ms: 8_000
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

    fn in_tenant(tenant: &Tenant, id: &str) -> Arc<Instance> {
        let mut i = Instance::clone(&inst(id, 1));
        i.tenant = tenant.clone();
        Arc::new(i)
    }

    #[test]
    fn the_mass_expiry_guard_lets_a_lone_dead_instance_expire() {
        let policy = LeasePolicy::default();
        let lone = inst("a", 1);
        let mut t = LeaseTable::new_term(0, [lone.clone()].iter());
        // It never renews: after its 3 s lease, it goes, whatever the renewal rate says.
        let (items, stats) = t.evictable(3_001, &policy);
        assert_eq!(items.len(), 1, "{stats:?}");
        assert!(stats.expiry_enabled && stats.held_tenants.is_empty());
    }

    #[test]
    fn the_mass_expiry_guard_holds_a_mass_cut_off_per_tenant_until_the_longest_hold() {
        let policy = LeasePolicy {
            max_hold_ms: 30_000,
            ..LeasePolicy::default()
        };
        let cut = Tenant::new("cut", "off");
        let calm = Tenant::new("calm", "default");
        let cut_off: Vec<Arc<Instance>> = (0..20).map(|n| in_tenant(&cut, &format!("c{n}"))).collect();
        let quiet: Vec<Arc<Instance>> = (0..20).map(|n| in_tenant(&calm, &format!("q{n}"))).collect();
        let mut t = LeaseTable::new_term(0, cut_off.iter().chain(quiet.iter()));
        // Every second: 4 of 20 in `cut` keep renewing (16 fell silent at once); in `calm` all
        // but 2 do (2 dead). A round then evicts, and what it evicts goes as the log deletes it.
        let renewing: Vec<Arc<Instance>> = cut_off[..4].iter().chain(quiet[..18].iter()).cloned().collect();
        let second = |t: &mut LeaseTable, s: u64| {
            let now = s * 1000;
            renewing.iter().for_each(|i| {
                t.renew(now, i);
            });
            let (items, stats) = t.evictable(now + 500, &policy);
            let mut gone_now = Vec::new();
            for item in items {
                let gone = t.leases.keys().find(|k| k.0.key() == item.instance).unwrap().0.clone();
                let change = Change {
                    revision: 0,
                    kind: ChangeKind::Deleted,
                    entity: Entity::Instance(gone),
                };
                t.observe(now + 600, &change);
                gone_now.push(item.instance);
            }
            (stats, gone_now)
        };
        let mut evicted: Vec<InstanceKey> = Vec::new();
        for s in 1..=20u64 {
            let (stats, gone) = second(&mut t, s);
            evicted.extend(gone);
            if s >= 3 {
                assert_eq!(stats.held_tenants, vec!["cut/off".to_string()], "at {s} s");
                assert!(!stats.expiry_enabled);
            }
        }
        let ids: Vec<&str> = evicted.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(ids.len(), 2, "only calm's two dead instances go: {ids:?}");
        assert!(evicted.iter().all(|k| k.tenant == calm));
        // Held for the longest hold (30 s from when it began), the cut-off tenant's expiries go.
        for s in 21..=40u64 {
            evicted.extend(second(&mut t, s).1);
        }
        assert_eq!(evicted.iter().filter(|k| k.tenant == cut).count(), 16);
        assert_eq!(t.len(), 22);
    }

    #[test]
    fn the_hold_begins_before_the_first_of_a_staggered_fleet_is_overdue() {
        let policy = LeasePolicy::default();
        let fleet: Vec<Arc<Instance>> = (0..12).map(|n| inst(&format!("f{n}"), 1)).collect();
        let mut t = LeaseTable::new_term(0, fleet.iter());
        // Their last renewals 100 ms apart, then ten fall silent; every 100 ms a round.
        for (n, i) in fleet.iter().enumerate() {
            t.renew(100 * n as u64, i);
        }
        for tick in 12..100u64 {
            let now = tick * 100;
            if tick % 10 == 0 {
                fleet[..2].iter().for_each(|i| {
                    t.renew(now, i);
                });
            }
            let (items, _) = t.evictable(now, &policy);
            assert!(items.is_empty(), "evicted {items:?} at {now} ms");
        }
        assert_eq!(
            t.stats(10_000, &policy).held_tenants,
            vec!["default/default".to_string()]
        );
    }

    #[test]
    fn the_eureka_rule_lets_the_mass_rule_guard_a_young_leader() {
        let policy = LeasePolicy {
            rule: GuardRule::Eureka,
            ..LeasePolicy::default()
        };
        let lone = inst("a", 1);
        let mut t = LeaseTable::new_term(0, [lone.clone()].iter());
        // Within the first window nobody knows the renewal rate: a lone expiry goes.
        assert_eq!(t.evictable(3_001, &policy).0.len(), 1);
        // After a full window without renewals, Eureka's rule holds everything.
        let mut t = LeaseTable::new_term(0, [lone].iter());
        let (items, stats) = t.evictable(60_001, &policy);
        assert!(items.is_empty() && !stats.expiry_enabled, "{stats:?}");
    }

    #[test]
    fn self_preservation_holds_evictions_below_the_threshold() {
        let all: Vec<Arc<Instance>> = (0..10).map(|n| inst(&format!("i{n}"), 1)).collect();
        let policy = LeasePolicy {
            rule: GuardRule::Eureka,
            ..LeasePolicy::default()
        };
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
