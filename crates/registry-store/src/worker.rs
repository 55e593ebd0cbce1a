//! Background work as named workers: the [`Worker`] trait (a name, and a run that ends when its
//! stop signal turns true), the [`WorkerStatus`] a worker reports through, and [`Workers`], the
//! supervisor the binary starts them with and stops them in order (last started, first stopped),
//! each within a bounded wait. Nothing here aborts a task: a worker ends by returning.
//!
//! It lives in the store crate, the lowest layer, so that the store's own workers (the lease
//! keeper, the announcer), the adapters' and the HTTP front's share one trait and one report.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::wall_clock_ms;

/// The signal a worker stops on: its value turns `true` (or its sender goes) once it must end.
pub type StopSignal = watch::Receiver<bool>;

/// Resolves once `stop` says stop (or its sender is gone, which is a stop too).
pub async fn stopped(stop: &mut StopSignal) {
    let _ = stop.wait_for(|s| *s).await;
}

/// A piece of background work the binary starts and stops.
pub trait Worker: Send + 'static {
    /// A name unique among the running workers (`lease-keeper`, `sync-import:east`).
    fn name(&self) -> String;

    /// Works until `stop` says stop, then returns; an `Err` says why it failed instead. Activity
    /// and passing errors go to `status`.
    fn run(self: Box<Self>, stop: StopSignal, status: WorkerStatus) -> BoxFuture<'static, Result<(), String>>;
}

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    Running,
    /// Told to stop, not ended yet.
    Stopping,
    Stopped,
    /// Ended by itself with an error (or a panic).
    Failed,
}

/// What `GET /admin/workers` shows of one worker.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerReport {
    pub name: String,
    pub state: WorkerState,
    /// The last error it reported or failed with.
    pub last_error: Option<String>,
    /// Wall clock (ms since the epoch) of its last reported activity.
    pub last_activity_ms: Option<u64>,
    pub started_at_ms: u64,
}

/// A worker's live report, shared between it, its supervisor and readers.
#[derive(Clone)]
pub struct WorkerStatus(Arc<Mutex<WorkerReport>>);

impl WorkerStatus {
    fn new(name: String) -> Self {
        Self(Arc::new(Mutex::new(WorkerReport {
            name,
            state: WorkerState::Running,
            last_error: None,
            last_activity_ms: None,
            started_at_ms: wall_clock_ms(),
        })))
    }

    /// A status not attached to a supervisor, for running a worker by hand (tests).
    pub fn detached(name: impl Into<String>) -> Self {
        Self::new(name.into())
    }

    /// Notes that the worker did something (a round, a change followed).
    pub fn activity(&self) {
        self.0.lock().last_activity_ms = Some(wall_clock_ms());
    }

    /// Notes an error the worker goes on after (a failed round).
    pub fn error(&self, error: impl std::fmt::Display) {
        self.0.lock().last_error = Some(error.to_string());
    }

    pub fn report(&self) -> WorkerReport {
        self.0.lock().clone()
    }
}

/// One started worker: its report, its stop switch and its task.
struct Entry {
    status: WorkerStatus,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// The running workers, in the order they started. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Workers {
    entries: Arc<Mutex<Vec<Entry>>>,
}

/// Stops one worker started with [`Workers::start`] before the others (e.g. a sync worker when
/// this node stops leading).
pub struct WorkerHandle {
    status: WorkerStatus,
    stop: watch::Sender<bool>,
    done: watch::Receiver<bool>,
}

impl WorkerHandle {
    pub fn name(&self) -> String {
        self.status.report().name
    }

    /// Tells the worker to stop and waits up to `within` for it to end. `false` if it did not.
    pub async fn stop(mut self, within: Duration) -> bool {
        signal_stop(&self.status, &self.stop);
        let ended = tokio::time::timeout(within, self.done.wait_for(|d| *d)).await.is_ok();
        if !ended {
            tracing::warn!(worker = %self.name(), "worker did not stop in {within:?}");
        }
        ended
    }
}

fn signal_stop(status: &WorkerStatus, stop: &watch::Sender<bool>) {
    let mut report = status.0.lock();
    if report.state == WorkerState::Running {
        report.state = WorkerState::Stopping;
    }
    drop(report);
    stop.send_replace(true);
}

impl Workers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts `worker` on the runtime. A finished worker of the same name is replaced in the
    /// report (a sync worker restarted when this node leads again).
    pub fn start(&self, worker: impl Worker) -> WorkerHandle {
        self.start_boxed(Box::new(worker))
    }

    pub fn start_boxed(&self, worker: Box<dyn Worker>) -> WorkerHandle {
        let name = worker.name();
        let status = WorkerStatus::new(name.clone());
        let (stop, stop_rx) = watch::channel(false);
        let (done_tx, done) = watch::channel(false);
        let run = worker.run(stop_rx, status.clone());
        let reported = status.clone();
        let task = tokio::spawn(async move {
            // The run goes in a task of its own so that a panic is reported as a failure.
            let outcome = tokio::spawn(run).await;
            let (state, error) = match outcome {
                Ok(Ok(())) => (WorkerState::Stopped, None),
                Ok(Err(e)) => (WorkerState::Failed, Some(e)),
                Err(e) => (WorkerState::Failed, Some(format!("panicked: {e}"))),
            };
            if let Some(e) = &error {
                tracing::error!(worker = %reported.report().name, error = %e, "worker failed");
            }
            {
                let mut report = reported.0.lock();
                report.state = state;
                if error.is_some() {
                    report.last_error = error;
                }
            }
            done_tx.send_replace(true);
        });
        let mut entries = self.entries.lock();
        entries.retain(|e| {
            let report = e.status.report();
            report.name != name || matches!(report.state, WorkerState::Running | WorkerState::Stopping)
        });
        entries.push(Entry {
            status: status.clone(),
            stop: stop.clone(),
            task: Some(task),
        });
        WorkerHandle { status, stop, done }
    }

    /// Every worker's report, in the order they started.
    pub fn reports(&self) -> Vec<WorkerReport> {
        self.entries.lock().iter().map(|e| e.status.report()).collect()
    }

    /// Stops every worker, the last started first, waiting up to `each` for each to end; one that
    /// does not is logged and left behind (the process is about to exit).
    pub async fn stop_all(&self, each: Duration) {
        loop {
            // One at a time, newest first; a worker started meanwhile is stopped too.
            let next = {
                let mut entries = self.entries.lock();
                entries.iter_mut().rev().find(|e| e.task.is_some()).map(|e| {
                    signal_stop(&e.status, &e.stop);
                    (e.status.clone(), e.task.take())
                })
            };
            let Some((status, Some(task))) = next else { return };
            if tokio::time::timeout(each, task).await.is_err() {
                tracing::warn!(worker = %status.report().name, "worker did not stop in {each:?}");
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

impl WorkerStatus {
    #[cfg(test)]
    fn state(&self) -> WorkerState {
        self.0.lock().state
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    struct Ticker(&'static str);

    impl Worker for Ticker {
        fn name(&self) -> String {
            self.0.into()
        }

        fn run(self: Box<Self>, mut stop: StopSignal, status: WorkerStatus) -> BoxFuture<'static, Result<(), String>> {
            async move {
                loop {
                    tokio::select! {
                        _ = stopped(&mut stop) => return Ok(()),
                        _ = tokio::time::sleep(Duration::from_millis(10)) => status.activity(),
                    }
                }
            }
            .boxed()
        }
    }

    struct Failing;

    impl Worker for Failing {
        fn name(&self) -> String {
            "failing".into()
        }

        fn run(self: Box<Self>, _stop: StopSignal, _status: WorkerStatus) -> BoxFuture<'static, Result<(), String>> {
            async { Err("the peer is gone".to_string()) }.boxed()
        }
    }

    #[tokio::test]
    async fn workers_run_until_stopped_and_report_it() {
        let workers = Workers::new();
        workers.start(Ticker("a"));
        workers.start(Ticker("b"));
        let states: Vec<_> = workers.reports().iter().map(|r| (r.name.clone(), r.state)).collect();
        assert_eq!(
            states,
            vec![("a".into(), WorkerState::Running), ("b".into(), WorkerState::Running)]
        );
        workers.stop_all(Duration::from_secs(5)).await;
        assert!(workers.reports().iter().all(|r| r.state == WorkerState::Stopped));
    }

    #[tokio::test]
    async fn a_failure_is_reported_with_its_error() {
        let workers = Workers::new();
        let handle = workers.start(Failing);
        assert!(handle.stop(Duration::from_secs(5)).await);
        let report = &workers.reports()[0];
        assert_eq!(report.state, WorkerState::Failed);
        assert_eq!(report.last_error.as_deref(), Some("the peer is gone"));
    }

    #[tokio::test]
    async fn a_restarted_worker_replaces_its_stopped_self() {
        let workers = Workers::new();
        let first = workers.start(Ticker("sync"));
        assert!(first.stop(Duration::from_secs(5)).await);
        let second = workers.start(Ticker("sync"));
        assert_eq!(workers.len(), 1);
        assert_eq!(second.status.state(), WorkerState::Running);
        workers.stop_all(Duration::from_secs(5)).await;
    }
}
