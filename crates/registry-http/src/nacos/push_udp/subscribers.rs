//! The v1 subscribers this node pushes to: who listed which service with a `udpPort`, as Nacos
//! keeps them (`InstanceOperatorClientImpl.listInstance` subscribes an `IpPortBasedClient` per
//! `ip:udpPort`). A subscriber stays while it lists again within the idle time (Nacos's
//! `nacos.naming.client.expired.time`, 3 minutes); the table is bounded in total and per source
//! address, and a key longer than a bound is not kept.

use std::collections::HashMap;
use std::collections::HashSet;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::time::Duration;

use registry_store::model::Tenant;
use tokio::time::Instant;

use super::super::mapping::ServiceName;

/// The table's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableLimits {
    /// Subscribers on this node.
    pub max_total: usize,
    /// Subscribers pushed to at one IP address.
    pub max_per_ip: usize,
    /// A subscriber that does not list again within this is dropped.
    pub idle: Duration,
    /// The longest service name (`group@@name`) or `clusters` text kept, in bytes.
    pub max_name: usize,
}

impl Default for TableLimits {
    fn default() -> Self {
        Self {
            max_total: 10_000,
            max_per_ip: 256,
            idle: Duration::from_secs(180),
            max_name: 512,
        }
    }
}

/// One subscription: a service of a tenant, the clusters asked for (as given), and where the
/// pushes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub tenant: Tenant,
    pub service: ServiceName,
    pub clusters: String,
    pub address: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    address: SocketAddr,
    tenant: Tenant,
    grouped: String,
    clusters: String,
}

struct Entry {
    subscriber: Subscriber,
    last_seen: Instant,
}

/// What [`SubscriberTable::record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    Refreshed,
    /// Not kept: the table, or the address's share of it, is full, or a name is too long.
    Refused,
}

/// The services whose instances changed since the last push round.
#[derive(Debug, Default)]
pub struct Dirty {
    /// Every service of every tenant (the change feed was compacted under the follower).
    pub all: bool,
    /// Every service of these tenants (a change whose service is gone).
    pub tenants: HashSet<Tenant>,
    /// `(tenant, service name lower-cased)`.
    pub services: HashSet<(Tenant, String)>,
}

impl Dirty {
    pub fn is_empty(&self) -> bool {
        !self.all && self.tenants.is_empty() && self.services.is_empty()
    }

    fn covers(&self, s: &Subscriber) -> bool {
        self.all
            || self.tenants.contains(&s.tenant)
            || self
                .services
                .contains(&(s.tenant.clone(), s.service.name.to_ascii_lowercase()))
    }
}

/// The subscribers, bounded.
pub struct SubscriberTable {
    limits: TableLimits,
    entries: HashMap<Key, Entry>,
    per_ip: HashMap<IpAddr, usize>,
}

impl SubscriberTable {
    pub fn new(limits: TableLimits) -> Self {
        Self {
            limits,
            entries: HashMap::new(),
            per_ip: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds `s`, or notes that it listed again.
    pub fn record(&mut self, s: Subscriber, now: Instant) -> Recorded {
        let grouped = s.service.grouped();
        if grouped.len() > self.limits.max_name || s.clusters.len() > self.limits.max_name {
            return Recorded::Refused;
        }
        let key = Key {
            address: s.address,
            tenant: s.tenant.clone(),
            grouped,
            clusters: s.clusters.clone(),
        };
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.last_seen = now;
            return Recorded::Refreshed;
        }
        let ip = s.address.ip();
        let at_ip = self.per_ip.get(&ip).copied().unwrap_or(0);
        if self.entries.len() >= self.limits.max_total || at_ip >= self.limits.max_per_ip {
            return Recorded::Refused;
        }
        self.per_ip.insert(ip, at_ip + 1);
        self.entries.insert(
            key,
            Entry {
                subscriber: s,
                last_seen: now,
            },
        );
        Recorded::New
    }

    /// Drops the subscribers idle for longer than the idle time; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let idle = self.limits.idle;
        let before = self.entries.len();
        let per_ip = &mut self.per_ip;
        self.entries.retain(|_, e| {
            let keep = now.saturating_duration_since(e.last_seen) <= idle;
            if !keep {
                let ip = e.subscriber.address.ip();
                if let Some(n) = per_ip.get_mut(&ip) {
                    *n -= 1;
                    if *n == 0 {
                        per_ip.remove(&ip);
                    }
                }
            }
            keep
        });
        before - self.entries.len()
    }

    /// The subscribers of the services `dirty` names.
    pub fn of(&self, dirty: &Dirty) -> Vec<Subscriber> {
        if dirty.is_empty() {
            return Vec::new();
        }
        self.entries
            .values()
            .map(|e| &e.subscriber)
            .filter(|s| dirty.covers(s))
            .cloned()
            .collect()
    }

    /// Whether anyone subscribes to a service of `tenant` named `name` (any case).
    pub fn watches(&self, tenant: &Tenant, name: &str) -> bool {
        self.entries
            .values()
            .any(|e| &e.subscriber.tenant == tenant && e.subscriber.service.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> Tenant {
        Tenant {
            domain: "default".into(),
            project: "default".into(),
        }
    }

    fn sub(ip: [u8; 4], port: u16, service: &str) -> Subscriber {
        Subscriber {
            tenant: tenant(),
            service: ServiceName {
                group: "DEFAULT_GROUP".into(),
                name: service.into(),
            },
            clusters: String::new(),
            address: SocketAddr::from((ip, port)),
        }
    }

    #[test]
    fn listing_again_refreshes_and_idle_ones_go() {
        let mut t = SubscriberTable::new(TableLimits::default());
        let t0 = Instant::now();
        assert_eq!(t.record(sub([127, 0, 0, 1], 5000, "orders"), t0), Recorded::New);
        assert_eq!(t.record(sub([127, 0, 0, 1], 5001, "orders"), t0), Recorded::New);
        let later = t0 + Duration::from_secs(100);
        assert_eq!(
            t.record(sub([127, 0, 0, 1], 5000, "orders"), later),
            Recorded::Refreshed
        );
        assert_eq!(t.len(), 2);
        assert_eq!(
            t.expire(t0 + Duration::from_secs(200)),
            1,
            "only the one not seen again"
        );
        assert_eq!(t.len(), 1);
        assert_eq!(t.expire(t0 + Duration::from_secs(281)), 1);
        assert!(t.is_empty());
        assert!(t.per_ip.is_empty());
    }

    #[test]
    fn the_table_is_bounded_in_total_and_per_address() {
        let limits = TableLimits {
            max_total: 1000,
            max_per_ip: 100,
            ..TableLimits::default()
        };
        let mut t = SubscriberTable::new(limits);
        let now = Instant::now();
        // Thousands of subscriptions from one address: a hundred are kept.
        let kept = (0..5000u16)
            .filter(|i| t.record(sub([10, 0, 0, 1], 1000 + i, "orders"), now) == Recorded::New)
            .count();
        assert_eq!(kept, 100);
        // From many addresses: the total bound holds.
        for i in 0..5000u32 {
            let [_, a, b, c] = i.to_be_bytes();
            t.record(sub([10, a, b, c.wrapping_add(2)], 9, &format!("s{i}")), now);
        }
        assert_eq!(t.len(), 1000);
        assert_eq!(t.record(sub([10, 9, 9, 9], 9, "x"), now), Recorded::Refused);
    }

    #[test]
    fn overlong_names_are_not_kept() {
        let mut t = SubscriberTable::new(TableLimits::default());
        let now = Instant::now();
        assert_eq!(
            t.record(sub([127, 0, 0, 1], 1, &"x".repeat(600)), now),
            Recorded::Refused
        );
        let mut s = sub([127, 0, 0, 1], 1, "orders");
        s.clusters = "c,".repeat(300);
        assert_eq!(t.record(s, now), Recorded::Refused);
        assert!(t.is_empty());
    }

    #[test]
    fn a_change_selects_the_subscribers_of_its_service() {
        let mut t = SubscriberTable::new(TableLimits::default());
        let now = Instant::now();
        t.record(sub([127, 0, 0, 1], 1, "Orders"), now);
        t.record(sub([127, 0, 0, 1], 2, "billing"), now);
        let mut dirty = Dirty::default();
        assert!(t.of(&dirty).is_empty());
        dirty.services.insert((tenant(), "orders".into()));
        let picked = t.of(&dirty);
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].address.port(), 1);
        assert!(t.watches(&tenant(), "ORDERS"));
        assert!(!t.watches(&tenant(), "other"));
        let all = Dirty {
            tenants: [tenant()].into(),
            ..Dirty::default()
        };
        assert_eq!(t.of(&all).len(), 2);
    }
}
