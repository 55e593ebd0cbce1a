//! Durable storage on sled (D5): the Raft log store and the write-through state machine.
//!
//! openraft's storage traits ([`openraft::storage::RaftLogStorage`] and
//! [`openraft::storage::RaftStateMachine`]) are the seam: only this module names `sled`, so the
//! engine can be replaced without touching Raft, leases or the APIs. Layout of one sled database
//! in the data directory:
//! - tree `raft_log`: big-endian log index → encoded entry;
//! - tree `raft_meta`: vote, committed log id, last purged log id;
//! - tree `state`: typed key spaces of records (see [`keys`]) plus one seal (last applied log
//!   id, membership, a checksum of the records, see [`checksum`]), written in one batch per
//!   applied batch and checked on opening. sled keeps the writes of a batch before one that
//!   failed (a full disk), so a batch is not atomic on disk: records that do not match their
//!   seal are rebuilt from the stored snapshot and the log (Raft applies the entries again);
//! - tree `snapshot`: the current snapshot, metadata and bytes in one value.

// openraft's trait signatures fix these error types; boxing them here would only add conversions.
#![allow(clippy::result_large_err)]

mod checksum;
pub mod codec;
mod entry_cache;
mod flush;
pub mod keys;
mod log_store;
mod state_machine;

use std::path::Path;
use std::path::PathBuf;

use crate::meters::StoreMeters;

pub use flush::FLUSH_LIMIT;
pub use log_store::LogCounters;
pub use log_store::LogTotals;
pub use log_store::SledLogStore;
pub use state_machine::AppliedState;
pub use state_machine::SledStateMachine;
pub use state_machine::StateHandle;
pub use state_machine::UNKNOWN_WRITES;

/// Why the data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("data directory {path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("cannot create data directory {path}: its parent directory does not exist")]
    MissingParent { path: PathBuf },
    #[error("cannot create data directory {path}: {source}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error("data directory {path} is locked by another process (is another registryd running on it?)")]
    Locked { path: PathBuf },
    #[error("data directory {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "cannot open data directory {path}: its disk is full ({reason}). Keep the directory, it holds this \
         node's state: free space on its file system and start the node again"
    )]
    NoSpace { path: PathBuf, reason: String },
    #[error("cannot open data directory {path}: {reason}")]
    Other { path: PathBuf, reason: String },
}

/// Whether an I/O error says the file system has no room left (ENOSPC, or a quota).
fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// sled's page cache. Every record is also held decoded in memory (the state machine's index)
/// and recent log entries in the log's own cache, so sled is read at start-up, for snapshots and
/// for followers far behind; its default 1 GiB cache would mostly duplicate what is in memory.
const SLED_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// Opens (creating if needed) the store in `dir` and loads the state machine's records.
/// `feed_history` is how many recent changes the change feed keeps for late subscribers.
pub fn open(
    dir: &Path,
    feed_history: usize,
    meters: &StoreMeters,
) -> Result<(SledLogStore, SledStateMachine), OpenError> {
    open_with_flush_limit(dir, feed_history, meters, FLUSH_LIMIT)
}

/// [`open`], with flushes that count the disk as wedged after `flush_limit` (see [`flush`]).
pub fn open_with_flush_limit(
    dir: &Path,
    feed_history: usize,
    meters: &StoreMeters,
    flush_limit: std::time::Duration,
) -> Result<(SledLogStore, SledStateMachine), OpenError> {
    let flush = flush::FlushGuard::new(flush_limit);
    let db = open_db(dir)?;
    let corrupt = |reason: String| OpenError::Corrupt {
        path: dir.to_path_buf(),
        reason,
    };
    let log = SledLogStore::open(&db, meters.log_flush_seconds.clone(), flush.clone()).map_err(|e| match e {
        sled::Error::Io(io) if is_disk_full(&io) => OpenError::NoSpace {
            path: dir.to_path_buf(),
            reason: io.to_string(),
        },
        e => corrupt(e.to_string()),
    })?;
    let sm = SledStateMachine::open(&db, feed_history, meters.clone(), flush).map_err(|e| corrupt(e.to_string()))?;
    let purged = log.last_purged_index().map_err(|e| corrupt(e.to_string()))?;
    if purged > sm.last_applied_index() {
        return Err(corrupt(format!(
            "the state machine stands at revision {} but the log was purged up to {purged}, so the entries \
             in between are gone (the state was rebuilt from an older snapshot, or lost on disk). Keep the \
             directory for inspection, start this node on an empty data directory with --join, and the \
             leader, to which it is still a member, sends it its state",
            sm.last_applied_index()
        )));
    }
    Ok((log, sm))
}

fn open_db(dir: &Path) -> Result<sled::Db, OpenError> {
    let path = dir.to_path_buf();
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => return Err(OpenError::NotADirectory { path }),
        Ok(_) => {}
        Err(_) => {
            let parent = dir
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !parent.is_dir() {
                return Err(OpenError::MissingParent { path });
            }
            std::fs::create_dir(dir).map_err(|source| {
                if is_disk_full(&source) {
                    OpenError::NoSpace {
                        path: path.clone(),
                        reason: source.to_string(),
                    }
                } else {
                    OpenError::Create {
                        path: path.clone(),
                        source,
                    }
                }
            })?;
        }
    }
    let config = sled::Config::new()
        .path(dir)
        .mode(sled::Mode::HighThroughput)
        .cache_capacity(SLED_CACHE_BYTES);
    // sled may panic on some malformed files rather than return an error: turn that into one.
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open()));
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(classify_open_error(path, e)),
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "storage engine panicked while opening".into());
            Err(OpenError::Corrupt { path, reason })
        }
    }
}

fn classify_open_error(path: PathBuf, e: sled::Error) -> OpenError {
    match e {
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") => {
            OpenError::Locked { path }
        }
        sled::Error::Io(io) if is_disk_full(&io) => OpenError::NoSpace {
            path,
            reason: io.to_string(),
        },
        sled::Error::Corruption { .. } => OpenError::Corrupt {
            path,
            reason: e.to_string(),
        },
        sled::Error::Unsupported(reason) => OpenError::Corrupt { path, reason },
        other => OpenError::Other {
            path,
            reason: other.to_string(),
        },
    }
}

/// Converts a sled error into openraft's storage error for the given subject.
fn io_error(
    subject: openraft::ErrorSubject<u64>,
    verb: openraft::ErrorVerb,
    e: impl std::error::Error + 'static,
) -> crate::raft::types::StorageError {
    openraft::StorageIOError::new(subject, verb, openraft::AnyError::new(&e)).into()
}

/// A blank log entry at `index` (term 1, leader 1), for the storage tests.
#[cfg(test)]
pub(crate) fn test_entry(index: u64) -> crate::raft::types::Entry {
    crate::raft::types::Entry {
        log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
        payload: openraft::EntryPayload::Blank,
    }
}
