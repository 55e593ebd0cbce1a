//! Measurements that take more than one load: how long a change takes to reach a watcher or
//! another node, what a leader's crash costs, how fast a wiped follower catches up.

pub mod catchup;
pub mod failover;
pub mod propagation;
pub mod watch;

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::load::new_histogram;
use crate::load::LoadResult;
use crate::report::Summary;

/// Collects per-event latencies into a [`Summary`] like a load's.
pub struct Samples {
    histogram: Histogram<u64>,
    started: std::time::Instant,
}

impl Samples {
    pub fn new() -> Samples {
        Samples {
            histogram: new_histogram(),
            started: std::time::Instant::now(),
        }
    }

    pub fn record(&mut self, latency: Duration) {
        self.histogram.saturating_record(latency.as_micros().max(1) as u64);
    }

    pub fn summary(self, name: &str) -> Summary {
        let result = LoadResult {
            requests: self.histogram.len(),
            errors: 0,
            first_error: None,
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
