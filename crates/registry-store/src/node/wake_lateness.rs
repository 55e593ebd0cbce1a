//! How late this process wakes up: a task on the async runtime and a plain thread each ask to
//! wake every [`PERIOD`], and record by how much they overslept.
//!
//! Raft's heartbeats and election timers run on the same runtime as everything else the node
//! does, so a stall of the runtime longer than the election timeout starts an election. The two
//! clocks tell the causes apart: runtime wakes late while the thread wakes on time means the
//! runtime's workers are held by long synchronous work; both late means the machine is short of
//! CPU (or the process was paused). Stalls longer than [`LOGGED`] are logged as well.

use std::time::Duration;
use std::time::Instant;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::watch;

use crate::meters::ClockLabel;

/// How often each clock asks to wake.
pub const PERIOD: Duration = Duration::from_millis(20);

/// Lateness worth a log line: longer than openraft's shortest election timeout we run with.
pub const LOGGED: Duration = Duration::from_millis(150);

/// Starts both clocks; they end when `stop` turns true or its sender is dropped (the thread
/// within one [`PERIOD`]).
pub fn start(
    lateness: &Family<ClockLabel, Histogram, fn() -> Histogram>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let thread_histogram = lateness.get_or_create(&ClockLabel { clock: "thread" }).clone();
    let thread_stop = stop.clone();
    let spawned = std::thread::Builder::new().name("wake-lateness".into()).spawn(move || {
        let mut late = Lateness::new("thread", thread_histogram);
        // Ends when told to, or when the node that owns the signal is gone.
        while thread_stop.has_changed().is_ok() && !*thread_stop.borrow() {
            let asked = Instant::now();
            std::thread::sleep(PERIOD);
            late.record(asked.elapsed());
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the thread that measures wake lateness");
    }
    let runtime_histogram = lateness.get_or_create(&ClockLabel { clock: "runtime" }).clone();
    let mut stop = stop;
    tokio::spawn(async move {
        let mut late = Lateness::new("runtime", runtime_histogram);
        loop {
            let asked = Instant::now();
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep(PERIOD) => late.record(asked.elapsed()),
            }
        }
    })
}

/// One clock's record of how late it woke.
struct Lateness {
    clock: &'static str,
    histogram: Histogram,
}

impl Lateness {
    fn new(clock: &'static str, histogram: Histogram) -> Self {
        Self { clock, histogram }
    }

    /// Records one wake that came `slept` after it was asked for, [`PERIOD`] ahead.
    fn record(&mut self, slept: Duration) {
        let late = slept.saturating_sub(PERIOD);
        self.histogram.observe(late.as_secs_f64());
        if late >= LOGGED {
            tracing::warn!(
                clock = self.clock,
                late_ms = late.as_millis() as u64,
                "woke late: a stall this long can start a Raft election"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(lateness: &Family<ClockLabel, Histogram, fn() -> Histogram>, clock: &'static str) -> Histogram {
        lateness.get_or_create(&ClockLabel { clock }).clone()
    }

    /// A current-thread runtime: blocking its one thread stalls every task on it.
    #[tokio::test]
    async fn a_blocked_runtime_is_recorded_on_the_runtime_clock_while_the_thread_clock_runs_on() {
        let lateness: Family<ClockLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(crate::meters::lateness_histogram);
        let (stop_tx, stop) = watch::channel(false);
        let task = start(&lateness, stop);
        let deadline = Instant::now() + Duration::from_secs(10);
        while clock(&lateness, "runtime").count() < 3 && Instant::now() < deadline {
            tokio::time::sleep(PERIOD).await;
        }
        assert!(
            clock(&lateness, "runtime").count() >= 3,
            "the runtime clock records its wakes"
        );
        let before = clock(&lateness, "runtime").sum();
        let thread_wakes = clock(&lateness, "thread").count();
        std::thread::sleep(Duration::from_millis(400));
        tokio::time::sleep(PERIOD * 3).await;
        // The runtime clock asked to wake before the block began: it woke at least 380 ms late.
        assert!(clock(&lateness, "runtime").sum() - before >= 0.38);
        assert!(
            clock(&lateness, "thread").count() > thread_wakes,
            "the thread clock woke while the runtime was blocked"
        );
        stop_tx.send_replace(true);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the runtime clock ends when told to stop")
            .expect("it does not panic");
    }
}
