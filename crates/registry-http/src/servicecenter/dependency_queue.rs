//! The dependency records that finds imply, written off the read path.
//!
//! ServiceCenter records "consumer C depends on the providers named (environment, app, name)"
//! when C finds them (`X-ConsumerId`); the records route watch events to C and answer
//! `/providers` and `/consumers`. Here a find only queues the record: the queue is bounded and
//! holds each record once (while queued or being written), and one background task writes what
//! has gathered as one `PutDependencies` command per flush. A find's latency never includes a
//! Raft write, a read never writes, and a burst of finds (a client starting up) costs one log
//! entry. The records appear a moment later: after the flush delay and one write.
//!
//! A consumer deleted before its records are written costs only its own records
//! (`skip_missing_consumers`). A write that may succeed later (no leader, quorum out of reach)
//! is retried with backoff; a record that is dropped (queue full, write refused) is queued
//! again by the consumer's next find, since it is still missing from the store.
//!
//! The writing is the queue's [`DependencyQueue::flusher`], a worker (`sc-dependencies`) the
//! binary starts; its stop signal ends it after one last flush of what is queued.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use registry_store::command::Command;
use registry_store::command::CommandOutcome;
use registry_store::command::PutDependencies;
use registry_store::command::Rejection;
use registry_store::node::NodeError;
use registry_store::node::RegistryNode;
use registry_store::record::Dependency;
use registry_store::registry::Registry;
use registry_store::worker::StopSignal;
use registry_store::worker::Worker;
use registry_store::worker::WorkerStatus;
use tokio::sync::watch;
use tokio::sync::Notify;

/// Most records held at once (queued or being written). Each is a few hundred bytes; a full
/// queue means writes have failed for a while, and finds go on without queuing.
pub const MAX_HELD: usize = 10_000;

/// Most records in one flush, far below the store's limit on a batch command, so that one
/// entry stays small enough to replicate quickly.
pub const MAX_PER_FLUSH: usize = 1_000;

/// First wait before retrying a write that may succeed later; doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Why a record was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("the dependency queue holds its maximum of {0} records")]
    Full(usize),
}

/// Why a flush did not write its records.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("the store refused the records: {0}")]
    Rejected(Rejection),
}

impl FlushError {
    /// Whether the same write may succeed if sent again shortly.
    pub fn is_retryable(&self) -> bool {
        matches!(self, FlushError::Node(e) if e.is_retryable())
    }
}

/// Where flushed records go: the store, or a test's fake.
pub trait DependencyWriter: Send + Sync + 'static {
    /// Writes `records` (new ones added, none removed) as one command.
    fn write(&self, records: Vec<Dependency>) -> impl Future<Output = Result<(), FlushError>> + Send;
}

/// The one command a flush writes.
fn flush_command(records: Vec<Dependency>) -> Command {
    Command::PutDependencies(PutDependencies {
        dependencies: records,
        replace: false,
        skip_missing_consumers: true,
    })
}

impl DependencyWriter for RegistryNode {
    async fn write(&self, records: Vec<Dependency>) -> Result<(), FlushError> {
        match RegistryNode::write(self, flush_command(records)).await?.outcome {
            CommandOutcome::Rejected(r) => Err(FlushError::Rejected(r)),
            _ => Ok(()),
        }
    }
}

impl DependencyWriter for Arc<dyn Registry> {
    async fn write(&self, records: Vec<Dependency>) -> Result<(), FlushError> {
        match Registry::write(&**self, flush_command(records)).await?.outcome {
            CommandOutcome::Rejected(r) => Err(FlushError::Rejected(r)),
            _ => Ok(()),
        }
    }
}

/// The queue finds push to (cheap to clone: shared).
#[derive(Clone)]
pub struct DependencyQueue {
    shared: Arc<Shared>,
}

/// The worker that writes a [`DependencyQueue`]'s records.
pub struct Flusher<W> {
    shared: Arc<Shared>,
    writer: W,
    delay: Duration,
}

impl<W: DependencyWriter> Worker for Flusher<W> {
    fn name(&self) -> String {
        "sc-dependencies".into()
    }

    fn run(self: Box<Self>, stop: StopSignal, _status: WorkerStatus) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move {
            run(self.shared, self.writer, self.delay, stop).await;
            Ok(())
        })
    }
}

struct Shared {
    pending: Mutex<Pending>,
    /// Woken by a push; holds one permit if no flush is waiting.
    wake: Notify,
    capacity: usize,
}

#[derive(Default)]
struct Pending {
    /// In the order they came.
    queued: Vec<Dependency>,
    /// Queued or being written: not queued again meanwhile.
    held: HashSet<Dependency>,
}

impl Shared {
    fn take(&self, most: usize) -> Vec<Dependency> {
        let mut pending = self.pending.lock();
        let n = pending.queued.len().min(most);
        pending.queued.drain(..n).collect()
    }

    /// Puts a batch that is to be tried again back at the front.
    fn requeue(&self, mut batch: Vec<Dependency>) {
        let mut pending = self.pending.lock();
        batch.append(&mut pending.queued);
        pending.queued = batch;
    }

    /// Forgets a batch that was written (or given up on): a find may queue its records again.
    fn release(&self, batch: &[Dependency]) {
        let mut pending = self.pending.lock();
        for d in batch {
            pending.held.remove(d);
        }
    }
}

impl DependencyQueue {
    /// An empty queue holding at most `capacity` records; nothing is written until its
    /// [`DependencyQueue::flusher`] runs.
    pub fn new(capacity: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                pending: Mutex::new(Pending::default()),
                wake: Notify::new(),
                capacity,
            }),
        }
    }

    /// The worker that writes queued records to `writer`, each flush `delay` after the first
    /// record it carries was queued (so that records of finds close together share one
    /// command); told to stop, it writes what is queued once and ends.
    pub fn flusher<W: DependencyWriter>(&self, writer: W, delay: Duration) -> Flusher<W> {
        Flusher {
            shared: self.shared.clone(),
            writer,
            delay,
        }
    }

    /// Queues `record` to be written, unless it is queued or being written already.
    pub fn push(&self, record: Dependency) -> Result<(), QueueError> {
        {
            let mut pending = self.shared.pending.lock();
            if pending.held.contains(&record) {
                return Ok(());
            }
            if pending.held.len() >= self.shared.capacity {
                return Err(QueueError::Full(self.shared.capacity));
            }
            pending.held.insert(record.clone());
            pending.queued.push(record);
        }
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Records queued or being written.
    pub fn held(&self) -> usize {
        self.shared.pending.lock().held.len()
    }
}

/// Waits for `stop` to turn true or its sender to go; either is a stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn run(shared: Arc<Shared>, writer: impl DependencyWriter, delay: Duration, mut stop: watch::Receiver<bool>) {
    let mut backoff = RETRY_MIN;
    loop {
        let mut stopping = tokio::select! {
            () = shared.wake.notified() => false,
            () = stopped(&mut stop) => true,
        };
        if !stopping && !delay.is_zero() {
            stopping = tokio::select! {
                () = tokio::time::sleep(delay) => false,
                () = stopped(&mut stop) => true,
            };
        }
        loop {
            let batch = shared.take(MAX_PER_FLUSH);
            if batch.is_empty() {
                break;
            }
            let records = batch.len();
            match writer.write(batch.clone()).await {
                Ok(()) => {
                    shared.release(&batch);
                    backoff = RETRY_MIN;
                }
                Err(e) if e.is_retryable() && !stopping => {
                    tracing::warn!(error = %e, records, "dependency records not written yet; retrying");
                    shared.requeue(batch);
                    stopping = tokio::select! {
                        () = tokio::time::sleep(backoff) => false,
                        () = stopped(&mut stop) => true,
                    };
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
                Err(e) => {
                    // The consumers' next finds queue these again.
                    tracing::warn!(error = %e, records, "dependency records dropped");
                    shared.release(&batch);
                }
            }
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use registry_store::model::ServiceRef;
    use registry_store::model::Tenant;

    use registry_store::worker::WorkerHandle;
    use registry_store::worker::Workers;

    use super::*;

    /// A queue with its flusher running.
    fn start(fake: Fake, delay: Duration, capacity: usize) -> (DependencyQueue, WorkerHandle) {
        let queue = DependencyQueue::new(capacity);
        let flusher = Workers::new().start(queue.flusher(fake, delay));
        (queue, flusher)
    }

    /// Records every batch it is given; refuses the first `fail` writes as retryable.
    #[derive(Clone, Default)]
    struct Fake {
        batches: Arc<Mutex<Vec<Vec<Dependency>>>>,
        fail: Arc<Mutex<usize>>,
    }

    impl DependencyWriter for Fake {
        async fn write(&self, records: Vec<Dependency>) -> Result<(), FlushError> {
            {
                let mut fail = self.fail.lock();
                if *fail > 0 {
                    *fail -= 1;
                    return Err(FlushError::Node(NodeError::NoLeader));
                }
            }
            self.batches.lock().push(records);
            Ok(())
        }
    }

    impl Fake {
        fn batches(&self) -> Vec<Vec<Dependency>> {
            self.batches.lock().clone()
        }
    }

    fn on(consumer: &str, provider: &str) -> Dependency {
        Dependency {
            consumer: ServiceRef {
                tenant: Tenant::default(),
                id: consumer.into(),
            },
            provider_environment: String::new(),
            provider_app: "default".into(),
            provider_name: provider.into(),
        }
    }

    /// Waits (a bounded time) until `done`.
    async fn eventually(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn records_of_finds_close_together_are_written_once_in_one_batch() {
        let fake = Fake::default();
        let (queue, flusher) = start(fake.clone(), Duration::from_millis(200), 100);
        for _ in 0..3 {
            queue.push(on("web", "orders")).unwrap();
            queue.push(on("web", "billing")).unwrap();
        }
        queue.push(on("app", "orders")).unwrap();
        assert_eq!(queue.held(), 3, "each record held once");
        assert!(fake.batches().is_empty(), "written before the flush delay");
        eventually("a flush", || !fake.batches().is_empty()).await;
        assert_eq!(
            fake.batches(),
            [vec![on("web", "orders"), on("web", "billing"), on("app", "orders")]]
        );
        eventually("released after the write", || queue.held() == 0).await;
        assert!(flusher.stop(Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn the_queue_is_bounded() {
        let fake = Fake::default();
        let (queue, flusher) = start(fake.clone(), Duration::from_secs(60), 2);
        queue.push(on("a", "p")).unwrap();
        queue.push(on("b", "p")).unwrap();
        queue.push(on("a", "p")).unwrap();
        assert_eq!(queue.push(on("c", "p")), Err(QueueError::Full(2)));
        assert!(flusher.stop(Duration::from_secs(5)).await);
        assert_eq!(fake.batches(), [vec![on("a", "p"), on("b", "p")]]);
    }

    #[tokio::test]
    async fn a_write_that_may_succeed_later_is_retried() {
        let fake = Fake::default();
        *fake.fail.lock() = 2;
        let (queue, flusher) = start(fake.clone(), Duration::ZERO, 100);
        queue.push(on("web", "orders")).unwrap();
        eventually("written after two failures", || fake.batches().len() == 1).await;
        assert_eq!(fake.batches(), [vec![on("web", "orders")]]);
        assert!(flusher.stop(Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn stopping_writes_what_is_queued_then_ends_the_worker() {
        let fake = Fake::default();
        let (queue, flusher) = start(fake.clone(), Duration::from_secs(60), 100);
        queue.push(on("web", "orders")).unwrap();
        assert!(flusher.stop(Duration::from_secs(5)).await);
        assert_eq!(fake.batches(), [vec![on("web", "orders")]]);
    }
}
