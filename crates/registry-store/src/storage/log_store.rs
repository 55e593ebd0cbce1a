//! The Raft log, vote and commit index on sled (openraft storage v2 `RaftLogStorage`).
//!
//! Appends are group-committed: `append` writes the entries into sled's memory and hands the
//! completion callback to one flusher thread, which makes everything appended so far durable
//! with one fsync and then reports every waiting append as done. Under load many appends share a
//! flush; an idle log flushes each append at once.

// openraft's trait signatures fix these error types; boxing them here would only add conversions.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::Bound;
use std::ops::RangeBounds;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use openraft::storage::LogFlushed;
use openraft::storage::RaftLogStorage;
use openraft::EntryPayload;
use openraft::ErrorSubject;
use openraft::ErrorVerb;
use openraft::LogState;
use openraft::OptionalSend;
use openraft::RaftLogId;
use openraft::RaftLogReader;
use prometheus_client::metrics::histogram::Histogram;

use super::codec;
use super::entry_cache::EntryCache;
use super::flush::FlushGuard;
use super::io_error;
use crate::raft::types::Entry;
use crate::raft::types::LogId;
use crate::raft::types::StorageError;
use crate::raft::types::TypeConfig;
use crate::raft::types::Vote;
use crate::raft::MAX_APPEND_BYTES;

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";
/// Purged entries removed per sled batch.
const PURGE_BATCH: usize = 256;

/// Log entries keyed by big-endian index, plus vote/commit/purge metadata. Cheap to clone.
#[derive(Clone)]
pub struct SledLogStore {
    db: sled::Db,
    log: sled::Tree,
    meta: sled::Tree,
    counters: Arc<LogCounters>,
    flusher: mpsc::Sender<PendingFlush>,
    recent: Arc<EntryCache>,
    flush: FlushGuard,
}

/// An append waiting for the flush that makes it durable.
struct PendingFlush {
    entries: u64,
    commands: u64,
    callback: LogFlushed<TypeConfig>,
}

/// Starts the thread that flushes `db` for waiting appends, as many at a time as are waiting.
/// It ends when every sender (every clone of the store) is gone.
fn spawn_flusher(
    db: sled::Db,
    counters: Arc<LogCounters>,
    flush_seconds: Histogram,
    guard: &FlushGuard,
) -> std::io::Result<mpsc::Sender<PendingFlush>> {
    let (tx, rx) = mpsc::channel::<PendingFlush>();
    let flusher = guard.blocking(db)?;
    std::thread::Builder::new()
        .name("raft-log-flush".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut waiting = vec![first];
                waiting.extend(rx.try_iter());
                let started = Instant::now();
                let flushed = flusher.flush().map_err(|e| e.to_string());
                flush_seconds.observe(started.elapsed().as_secs_f64());
                counters.flushes.fetch_add(1, Ordering::Relaxed);
                let entries: u64 = waiting.iter().map(|p| p.entries).sum();
                counters.entries.fetch_add(entries, Ordering::Relaxed);
                let commands: u64 = waiting.iter().map(|p| p.commands).sum();
                counters.commands.fetch_add(commands, Ordering::Relaxed);
                for pending in waiting {
                    pending
                        .callback
                        .log_io_completed(flushed.clone().map_err(std::io::Error::other));
                }
            }
        })?;
    Ok(tx)
}

/// Appends to the log since the process started: how many flushes (fsyncs), and how many
/// entries and registry commands they made durable. Commands per flush show how well writes are
/// batched: by the flusher (entries per flush) and by the leader's batcher (commands per entry).
#[derive(Debug, Default)]
pub struct LogCounters {
    flushes: AtomicU64,
    entries: AtomicU64,
    commands: AtomicU64,
}

/// A reading of [`LogCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogTotals {
    pub flushes: u64,
    pub entries: u64,
    pub commands: u64,
}

impl LogCounters {
    /// The totals so far.
    pub fn read(&self) -> LogTotals {
        LogTotals {
            flushes: self.flushes.load(Ordering::Relaxed),
            entries: self.entries.load(Ordering::Relaxed),
            commands: self.commands.load(Ordering::Relaxed),
        }
    }
}

impl SledLogStore {
    pub(super) fn open(db: &sled::Db, flush_seconds: Histogram, flush: FlushGuard) -> Result<Self, sled::Error> {
        let counters = Arc::<LogCounters>::default();
        Ok(Self {
            db: db.clone(),
            log: db.open_tree("raft_log")?,
            meta: db.open_tree("raft_meta")?,
            flusher: spawn_flusher(db.clone(), counters.clone(), flush_seconds, &flush)?,
            counters,
            recent: Arc::default(),
            flush,
        })
    }

    /// Removes the entries up to `index`, which the log no longer holds, from the first one
    /// stored (so entries a removal cut short are removed by the next), in small batches: at a
    /// million instances the log behind a snapshot can be tens of thousands of entries and
    /// hundreds of MB, and their keys are known, so their values are not read.
    fn remove_purged(&self, index: u64) -> Result<(), sled::Error> {
        let Some((first, _)) = self.log.first()? else {
            return Ok(());
        };
        let first = u64::from_be_bytes(first.as_ref().try_into().unwrap_or_default());
        for from in (first..=index).step_by(PURGE_BATCH) {
            let mut batch = sled::Batch::default();
            for i in from..=index.min(from + PURGE_BATCH as u64 - 1) {
                batch.remove(&index_key(i)[..]);
            }
            self.log.apply_batch(batch)?;
        }
        Ok(())
    }

    fn read_meta<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        let raw = self
            .meta
            .get(key)
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Read, e))?;
        raw.map(|b| codec::decode(&b).map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Read, e)))
            .transpose()
    }

    async fn write_meta<T: serde::Serialize>(
        &self,
        key: &[u8],
        value: &T,
        subject: ErrorSubject<u64>,
    ) -> Result<(), StorageError> {
        let bytes = codec::encode(value).map_err(|e| io_error(subject.clone(), ErrorVerb::Write, e))?;
        self.meta
            .insert(key, bytes)
            .map_err(|e| io_error(subject.clone(), ErrorVerb::Write, e))?;
        self.flush
            .flush_async(&self.db)
            .await
            .map_err(|e| io_error(subject, ErrorVerb::Write, e))?;
        Ok(())
    }

    /// The index up to which the log was purged (0 if never).
    pub(super) fn last_purged_index(&self) -> Result<u64, StorageError> {
        Ok(self.read_meta::<LogId>(LAST_PURGED)?.map_or(0, |l| l.index))
    }

    fn last_entry_log_id(&self) -> Result<Option<LogId>, StorageError> {
        let last = self
            .log
            .last()
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
        last.map(|(_, v)| {
            codec::decode::<Entry>(&v)
                .map(|e| *e.get_log_id())
                .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e))
        })
        .transpose()
    }

    /// The append counters (shared by every clone).
    pub fn counters(&self) -> Arc<LogCounters> {
        self.counters.clone()
    }

    /// How many entries the log holds (for tests and metrics).
    pub fn len(&self) -> usize {
        self.log.len()
    }

    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl SledLogStore {
    /// Entries `start..end` (`end` unbounded if `None`) from sled, stopping after the entry that
    /// takes them to `max_bytes` encoded.
    fn read_entries(&self, start: u64, end: Option<u64>, max_bytes: usize) -> Result<Vec<Entry>, StorageError> {
        let end = end.map_or(Bound::Unbounded, |e| Bound::Excluded(index_key(e)));
        let mut entries = Vec::new();
        let mut bytes = 0;
        for item in self.log.range::<[u8; 8], _>((Bound::Included(index_key(start)), end)) {
            let (_, v) = item.map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
            entries.push(codec::decode(&v).map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e))?);
            bytes += v.len();
            if bytes >= max_bytes {
                break;
            }
        }
        Ok(entries)
    }
}

impl RaftLogReader<TypeConfig> for SledLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Some(i + 1),
            Bound::Excluded(i) => Some(*i),
            Bound::Unbounded => None,
        };
        if let Some(entries) = end.and_then(|end| self.recent.get(start, end)) {
            return Ok(entries);
        }
        self.read_entries(start, end, usize::MAX)
    }

    /// What one AppendEntries sends: openraft asks for up to `max_payload_entries`, which for
    /// batched entries can be far more than one request carries ([`MAX_APPEND_BYTES`]).
    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> Result<Vec<Entry>, StorageError> {
        if let Some(entries) = self.recent.get_limited(start, end, MAX_APPEND_BYTES) {
            return Ok(entries);
        }
        self.read_entries(start, Some(end), MAX_APPEND_BYTES)
    }
}

impl RaftLogStorage<TypeConfig> for SledLogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.read_meta(LAST_PURGED)?;
        // Entries a removal cut short may remain below the purge point until the next purge.
        let last_log_id = self.last_entry_log_id()?.max(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.write_meta(VOTE, vote, ErrorSubject::Vote).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.read_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not flushed on its own: the commit index is a hint that lets a restart re-apply
        // committed entries sooner; losing the latest value is harmless.
        let bytes = codec::encode(&committed).map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Write, e))?;
        self.meta
            .insert(COMMITTED, bytes)
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Write, e))?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        let mut count = 0;
        let mut commands = 0;
        for entry in entries {
            count += 1;
            if let EntryPayload::Normal(batch) = &entry.payload {
                commands += batch.proposals.len() as u64;
            }
            let index = entry.get_log_id().index;
            let bytes = codec::encode(&entry).map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Write, e))?;
            self.recent.appended(entry, bytes.len());
            batch.insert(&index_key(index), bytes);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        self.flusher
            .send(PendingFlush {
                entries: count,
                commands,
                callback,
            })
            .map_err(|_| {
                io_error(
                    ErrorSubject::Logs,
                    ErrorVerb::Write,
                    std::io::Error::other("the log flusher has stopped"),
                )
            })
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.recent.truncated(log_id.index);
        // Last entry first, one removal at a time: sled keeps the writes of a batch before one
        // that failed (a full disk), so removing in index order could leave a gap, the stale
        // entries after it taken for the log's end on restart. Cut short this way, the log keeps
        // a prefix.
        let doomed: Vec<sled::IVec> = self
            .log
            .range(index_key(log_id.index)..)
            .keys()
            .collect::<Result<_, _>>()
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        for key in doomed.iter().rev() {
            self.log
                .remove(key)
                .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        }
        self.flush
            .flush_async(&self.db)
            .await
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        Ok(())
    }

    /// Records the purge point, then removes the entries by their known keys. openraft awaits
    /// a purge on its core task: reading every entry behind the snapshot to find its key, as
    /// this did, held that task for over a second at a million instances (hundreds of MB), long
    /// enough for a follower to start an election. (Removing them on a thread of its own was
    /// tried: after a full disk, sled's stuck flush then kept the next append waiting forever.)
    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point first: a crash in between leaves extra entries, never a gap.
        self.write_meta(LAST_PURGED, &log_id, ErrorSubject::Logs).await?;
        self.recent.purged(log_id.index);
        self.remove_purged(log_id.index)
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_entry as entry;

    /// Entries 1..=9 written straight to sled (not through `append`, so none is cached).
    fn store_with_nine_entries() -> (tempfile::TempDir, SledLogStore, usize) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let store = SledLogStore::open(&db, Histogram::new([1.0]), FlushGuard::new(super::super::FLUSH_LIMIT)).unwrap();
        let size = codec::encode(&entry(1)).unwrap().len();
        for i in 1..=9 {
            store
                .log
                .insert(index_key(i), codec::encode(&entry(i)).unwrap())
                .unwrap();
        }
        (dir, store, size)
    }

    fn indexes(entries: Vec<Entry>) -> Vec<u64> {
        entries.iter().map(|e| e.log_id.index).collect()
    }

    #[tokio::test]
    async fn reads_from_sled_stop_after_the_entry_that_reaches_the_byte_limit() {
        let (_dir, mut store, size) = store_with_nine_entries();
        assert_eq!(
            indexes(store.read_entries(2, Some(9), 2 * size + 1).unwrap()),
            vec![2, 3, 4]
        );
        assert_eq!(indexes(store.read_entries(2, Some(9), 1).unwrap()), vec![2]);
        assert_eq!(indexes(store.read_entries(7, None, usize::MAX).unwrap()), vec![7, 8, 9]);
        let limited = store.limited_get_log_entries(3, 6).await.unwrap();
        assert_eq!(indexes(limited), vec![3, 4, 5], "small entries all fit one request");
        let all = store.try_get_log_entries(1..=9).await.unwrap();
        assert_eq!(indexes(all), (1..=9).collect::<Vec<_>>());
    }

    /// The keys left in the log tree.
    fn stored_indexes(store: &SledLogStore) -> Vec<u64> {
        store
            .log
            .iter()
            .keys()
            .map(|k| u64::from_be_bytes(k.unwrap().as_ref().try_into().unwrap()))
            .collect()
    }

    /// A purge removes the entries up to its point (by their keys, unread), and entries an
    /// earlier removal left behind it (cut short) with them.
    #[tokio::test]
    async fn a_purge_removes_the_entries_behind_it_and_those_an_earlier_removal_left() {
        let (dir, mut store, _) = store_with_nine_entries();
        store.purge(entry(4).log_id).await.unwrap();
        let read = store.try_get_log_entries(5..=9).await.unwrap();
        assert_eq!(indexes(read), vec![5, 6, 7, 8, 9]);
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(4));
        assert_eq!(state.last_log_id.map(|l| l.index), Some(9));
        assert_eq!(stored_indexes(&store), vec![5, 6, 7, 8, 9]);

        // A removal cut short: entries 1..=3 back on disk behind the purge point of 4.
        for i in 1..=3 {
            store
                .log
                .insert(index_key(i), codec::encode(&entry(i)).unwrap())
                .unwrap();
        }
        store.purge(entry(6).log_id).await.unwrap();
        assert_eq!(stored_indexes(&store), vec![7, 8, 9]);
        drop(dir);
    }
}
