//! Measurements that take more than one load: how long a change takes to reach a watcher or
//! another node, what a leader's crash costs, how fast a wiped follower catches up, how `/health`
//! and Raft fare while clients fetch the whole registry and send hostile bodies, and how every
//! cost grows with the instances held (the scale stage).

pub mod catchup;
pub mod failover;
pub mod full_fetch;
pub mod heavy_reads;
pub mod propagation;
pub mod renewal_cost;
pub mod restart;
pub mod scale;
pub mod watch;
pub mod watch_fanout;

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::load::new_histogram;
use crate::load::LoadResult;
use crate::report::Summary;

/// Collects per-event latencies into a [`Summary`] like a load's.
pub struct Samples {
    histogram: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
    started: std::time::Instant,
}

impl Samples {
    pub fn new() -> Samples {
        Samples {
            histogram: new_histogram(),
            errors: 0,
            first_error: None,
            started: std::time::Instant::now(),
        }
    }

    pub fn record(&mut self, latency: Duration) {
        self.histogram.saturating_record(latency.as_micros().max(1) as u64);
    }

    /// Takes in `other`'s events (both cover the same time).
    pub fn merge(&mut self, other: Samples) {
        // Both have the same bounds; values past them were saturated when recorded.
        let _ = self.histogram.add(&other.histogram);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// An event that failed (no latency is recorded for it).
    pub fn error(&mut self, error: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error.to_string());
        }
    }

    pub fn summary(self, name: &str) -> Summary {
        let result = LoadResult {
            requests: self.histogram.len() + self.errors,
            errors: self.errors,
            first_error: self.first_error,
            elapsed: self.started.elapsed(),
            latency: self.histogram,
            per_second: Vec::new(),
        };
        Summary::of(name, &result)
    }
}

impl Default for Samples {
    fn default() -> Self {
        Samples::new()
    }
}
