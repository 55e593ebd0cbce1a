//! The store's own measurements for `/metrics`: how long log flushes (fsyncs) and applies take,
//! how many instances the lease keeper evicted and how often the leader changed. Kept as
//! Prometheus types (shared handles), so the HTTP front registers them as they are.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::metrics::histogram::Histogram;

/// Latency buckets from 50 µs to about 1.6 s, doubling.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_05, 2.0, 16)
}

/// Shared handles: clones count into the same meters.
#[derive(Debug, Clone)]
pub struct StoreMeters {
    /// Seconds per flush of the Raft log (one fsync, however many appends it covers).
    pub log_flush_seconds: Histogram,
    /// Seconds per apply of a run of committed entries to the state machine.
    pub apply_seconds: Histogram,
    /// Instances removed by applied evictions (expired leases), on every node.
    pub evicted_instances: Counter,
    /// Times this node saw the cluster's leader change (including to none).
    pub leader_changes: Counter,
}

impl Default for StoreMeters {
    fn default() -> Self {
        Self {
            log_flush_seconds: Histogram::new(latency_buckets()),
            apply_seconds: Histogram::new(latency_buckets()),
            evicted_instances: Counter::default(),
            leader_changes: Counter::default(),
        }
    }
}
