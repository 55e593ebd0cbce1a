//! Flushes of the sled database that cannot hang.
//!
//! Once a write to its log file has failed (a full disk), sled 0.34's flush can wait forever: it
//! waits for a stable log sequence number that the failed write never makes stable. A node whose
//! Raft waits on such a flush stays up, reports healthy and never takes another entry (the
//! 30-minute chaos run saw a node stuck for good after its second full disk). Every flush here
//! gives up after a limit; after one has, the database counts as wedged and every later flush
//! fails at once, so Raft stops on a storage error and the process exits to be restarted on what
//! it made durable.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// How long a flush may take before the database counts as wedged. A healthy disk flushes in
/// milliseconds, a busy one in well under a second.
pub const FLUSH_LIMIT: Duration = Duration::from_secs(15);

/// Why a flush did not make the writes before it durable.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error(transparent)]
    Sled(#[from] sled::Error),
    #[error(
        "the disk stopped taking writes: a flush did not finish within {0:?} (after a failed write, \
         e.g. a full disk, the storage engine cannot recover without a restart)"
    )]
    Wedged(Duration),
}

/// The flush limit and whether a flush has already overrun it, shared by every user of one
/// database.
#[derive(Debug, Clone)]
pub struct FlushGuard {
    limit: Duration,
    wedged: Arc<AtomicBool>,
}

impl FlushGuard {
    pub fn new(limit: Duration) -> Self {
        Self {
            limit,
            wedged: Arc::default(),
        }
    }

    fn check(&self) -> Result<(), FlushError> {
        match self.wedged.load(Ordering::Acquire) {
            true => Err(FlushError::Wedged(self.limit)),
            false => Ok(()),
        }
    }

    fn overran(&self) -> FlushError {
        self.wedged.store(true, Ordering::Release);
        tracing::error!(limit = ?self.limit, "a flush of the store did not finish in time: taking the disk for wedged");
        FlushError::Wedged(self.limit)
    }

    /// Flushes `db` from async code, within the limit.
    pub async fn flush_async(&self, db: &sled::Db) -> Result<(), FlushError> {
        self.check()?;
        match tokio::time::timeout(self.limit, db.flush_async()).await {
            Ok(flushed) => flushed.map(drop).map_err(FlushError::from),
            Err(_) => Err(self.overran()),
        }
    }

    /// A flusher for a thread of its own (sled's flush blocks): the flush runs on a helper
    /// thread, which may be left behind waiting forever; the caller waits only the limit.
    pub fn blocking(&self, db: sled::Db) -> std::io::Result<BlockingFlush> {
        let (requests, incoming) = mpsc::channel::<()>();
        let (reply, done) = mpsc::channel();
        std::thread::Builder::new().name("sled-flush".into()).spawn(move || {
            while incoming.recv().is_ok() {
                if reply.send(db.flush().map(drop)).is_err() {
                    break;
                }
            }
        })?;
        Ok(BlockingFlush {
            guard: self.clone(),
            requests,
            done,
        })
    }
}

/// See [`FlushGuard::blocking`].
pub struct BlockingFlush {
    guard: FlushGuard,
    requests: mpsc::Sender<()>,
    done: mpsc::Receiver<sled::Result<()>>,
}

impl BlockingFlush {
    pub fn flush(&self) -> Result<(), FlushError> {
        self.guard.check()?;
        if self.requests.send(()).is_err() {
            return Err(self.guard.overran());
        }
        match self.done.recv_timeout(self.guard.limit) {
            Ok(flushed) => flushed.map_err(FlushError::from),
            Err(_) => Err(self.guard.overran()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn flushes_pass_through_until_one_overruns_then_all_fail_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let guard = FlushGuard::new(Duration::from_secs(5));
        let blocking = guard.blocking(db.clone()).unwrap();
        db.insert(b"k", b"v").unwrap();
        guard.flush_async(&db).await.unwrap();
        blocking.flush().unwrap();

        guard.overran();
        assert!(matches!(blocking.flush(), Err(FlushError::Wedged(_))));
        assert!(matches!(guard.flush_async(&db).await, Err(FlushError::Wedged(_))));
    }
}
