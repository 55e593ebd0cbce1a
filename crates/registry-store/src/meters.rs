//! The store's own measurements for `/metrics`: how long log flushes (fsyncs) and applies take,
//! how many instances expired leases evicted (by the protocol that registered them) and how
//! often the leader changed. Kept as Prometheus types (shared handles), so the HTTP front
//! registers them as they are.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::metrics::histogram::Histogram;

use crate::change::Change;
use crate::change::ChangeKind;
use crate::model::Instance;
use crate::protocol::eureka::mapping::PROTOCOL as EUREKA;
use crate::protocol::servicecenter::mapping::PROTOCOL as SERVICECENTER;
use crate::record::Entity;

/// Latency buckets from 50 µs to about 1.6 s, doubling.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_05, 2.0, 16)
}

/// Lateness buckets from 1 ms to about 4 s, doubling: the stalls that matter to Raft are from
/// tens of ms (a heartbeat interval) up.
pub fn lateness_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 13))
}

/// The `clock` label of wake lateness: `runtime` (a task on the async runtime) or `thread`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClockLabel {
    pub clock: &'static str,
}

/// The `protocol` label: `eureka`, `servicecenter`, or `other` for an instance that carries
/// neither protocol's fields (one restored or mirrored from elsewhere).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabel {
    pub protocol: &'static str,
}

/// The protocols the label takes, each counted from 0 so its series exists before the first event.
pub const PROTOCOLS: [&str; 3] = [EUREKA, SERVICECENTER, "other"];

/// The protocol `instance` was registered through: the one whose own fields it keeps.
pub fn protocol_of(instance: &Instance) -> &'static str {
    if instance.protocol_fields.contains_key(EUREKA) {
        EUREKA
    } else if instance.protocol_fields.contains_key(SERVICECENTER) {
        SERVICECENTER
    } else {
        "other"
    }
}

/// Shared handles: clones count into the same meters.
#[derive(Debug, Clone)]
pub struct StoreMeters {
    /// Seconds per flush of the Raft log (one fsync, however many appends it covers).
    pub log_flush_seconds: Histogram,
    /// Seconds per apply of a run of committed entries to the state machine.
    pub apply_seconds: Histogram,
    /// Instances removed by applied evictions (expired leases), on every node, by protocol.
    /// Counted when the eviction is applied, not when the leader proposes it: the lease keeper
    /// proposes an overdue lease again until its eviction is applied.
    pub evicted_instances: Family<ProtocolLabel, Counter>,
    /// Times this node saw the cluster's leader change (including to none).
    pub leader_changes: Counter,
    /// How late this process woke from a timer, by clock (`node::wake_lateness`).
    pub wake_lateness_seconds: Family<ClockLabel, Histogram, fn() -> Histogram>,
    /// Seconds between consecutive AppendEntries (heartbeats included) this node received: a
    /// gap past the election timeout is an election.
    pub append_gap_seconds: Histogram,
    /// Seconds this node's Raft took to answer one AppendEntries.
    pub append_seconds: Histogram,
}

impl StoreMeters {
    /// Counts the instances an applied eviction deleted (`made`: the changes it made).
    pub fn count_evictions(&self, made: &[Change]) {
        for change in made.iter().filter(|c| c.kind == ChangeKind::Deleted) {
            if let Entity::Instance(instance) = &change.entity {
                let protocol = protocol_of(instance);
                self.evicted_instances.get_or_create(&ProtocolLabel { protocol }).inc();
            }
        }
    }
}

impl Default for StoreMeters {
    fn default() -> Self {
        let evicted_instances = Family::<ProtocolLabel, Counter>::default();
        for protocol in PROTOCOLS {
            let _ = evicted_instances.get_or_create(&ProtocolLabel { protocol });
        }
        Self {
            log_flush_seconds: Histogram::new(latency_buckets()),
            apply_seconds: Histogram::new(latency_buckets()),
            evicted_instances,
            leader_changes: Counter::default(),
            wake_lateness_seconds: Family::new_with_constructor(lateness_histogram),
            append_gap_seconds: lateness_histogram(),
            append_seconds: Histogram::new(latency_buckets()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::RawJson;
    use crate::model::Tenant;

    fn evicted(meters: &StoreMeters, protocol: &'static str) -> u64 {
        meters
            .evicted_instances
            .get_or_create(&ProtocolLabel { protocol })
            .get()
    }

    #[test]
    fn evictions_are_counted_by_the_protocol_that_registered_the_instance() {
        let with = |key: Option<&str>| {
            let mut i = Instance::new(Tenant::default(), "svc", "i", "h");
            if let Some(key) = key {
                i.protocol_fields.insert(key.into(), RawJson::to_json(&1));
            }
            Change {
                revision: 1,
                kind: ChangeKind::Deleted,
                entity: Entity::Instance(Arc::new(i)),
            }
        };
        let meters = StoreMeters::default();
        let mut updated = with(Some(EUREKA));
        updated.kind = ChangeKind::Updated;
        meters.count_evictions(&[
            with(Some(EUREKA)),
            with(Some(EUREKA)),
            with(Some(SERVICECENTER)),
            with(None),
            updated,
        ]);
        assert_eq!(evicted(&meters, EUREKA), 2);
        assert_eq!(evicted(&meters, SERVICECENTER), 1);
        assert_eq!(evicted(&meters, "other"), 1);
    }
}
