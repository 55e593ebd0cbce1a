//! The state machine on sled: applies committed entries to the in-memory [`RegistryState`],
//! writes the records they touched through to sled in one atomic batch per applied batch
//! (with the last applied log id), publishes the changes, and builds / installs snapshots.
//!
//! A restart loads the records from sled instead of replaying the log, and checks them against
//! the checksum stored with them (a store that lost a write refuses to open and says why).

// openraft's trait signatures fix these error types; boxing them here would only add conversions.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use openraft::storage::RaftStateMachine;
use openraft::EntryPayload;
use openraft::ErrorSubject;
use openraft::ErrorVerb;
use openraft::OptionalSend;
use openraft::RaftSnapshotBuilder;
use parking_lot::Mutex;
use parking_lot::RwLock;
use serde::Deserialize;
use serde::Serialize;
use tokio::sync::watch;

use super::checksum::RecordHash;
use super::checksum::StateChecksum;
use super::codec;
use super::flush::FlushGuard;
use super::io_error;
use super::keys;
use crate::change::ChangeKind;
use crate::command::Command;
use crate::command::CommandOutcome;
use crate::feed::ChangeFeed;
use crate::meters::StoreMeters;
use crate::model::Revision;
use crate::raft::types::Entry;
use crate::raft::types::LogId;
use crate::raft::types::Snapshot;
use crate::raft::types::SnapshotMeta;
use crate::raft::types::StorageError;
use crate::raft::types::StoredMembership;
use crate::raft::types::TypeConfig;
use crate::record::Entity;
use crate::state::RegistryState;

/// The current snapshot: its metadata and bytes in one value, so they are replaced together
/// (sled keeps a failed batch's earlier writes, so two values could end up from two snapshots).
const SNAPSHOT: &[u8] = b"current";
/// Where stores written before [`SNAPSHOT`] kept the two parts.
const LEGACY_SNAPSHOT_META: &[u8] = b"meta";
const LEGACY_SNAPSHOT_DATA: &[u8] = b"data";

/// The applied state and where it stands in the log, behind one lock so they always agree.
#[derive(Debug, Default)]
pub struct AppliedState {
    pub state: RegistryState,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

impl AppliedState {
    /// The registry revision: the index of the last applied log entry (D2).
    pub fn revision(&self) -> Revision {
        self.last_applied.map_or(0, |l| l.index)
    }
}

/// Shared read access to the applied state.
pub type StateHandle = Arc<RwLock<AppliedState>>;

/// What a snapshot's bytes hold: every record. Log position and membership are in its metadata.
#[derive(Serialize, Deserialize)]
struct SnapshotPayload {
    entities: Vec<Entity>,
}

/// What [`keys::META_SEAL`] holds: where the stored records stand in the log, and their checksum.
/// One value, written in the same batch as the records, so a batch cut short on disk (sled keeps
/// the writes before the one that failed, e.g. on a full disk) shows as records that do not
/// match the seal, never as a revision that claims records it lacks.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Seal {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    checksum: StateChecksum,
}

/// The state machine. Cheap to clone; all clones share the same state.
#[derive(Clone)]
pub struct SledStateMachine {
    db: sled::Db,
    tree: sled::Tree,
    snapshots: sled::Tree,
    applied: StateHandle,
    feed: Arc<ChangeFeed>,
    revision: watch::Sender<Revision>,
    snapshot_seq: Arc<AtomicU64>,
    /// Records written since the last snapshot was built or installed ([`UNKNOWN_WRITES`]
    /// after opening): what a member starting from that snapshot would replay.
    writes_since_snapshot: Arc<AtomicU64>,
    meters: StoreMeters,
    /// The stored records' checksum, kept up to date with every batch written.
    checksum: Arc<Mutex<StateChecksum>>,
    flush: FlushGuard,
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError {
    io_error(ErrorSubject::StateMachine, ErrorVerb::Read, e)
}

fn write_err(e: impl std::error::Error + 'static) -> StorageError {
    io_error(ErrorSubject::StateMachine, ErrorVerb::Write, e)
}

impl SledStateMachine {
    /// Loads the stored records (and, if a stored snapshot is newer, that snapshot).
    pub(super) fn open(
        db: &sled::Db,
        feed_history: usize,
        meters: StoreMeters,
        flush: FlushGuard,
    ) -> Result<Self, StorageError> {
        let tree = db.open_tree("state").map_err(read_err)?;
        let snapshots = db.open_tree("snapshot").map_err(read_err)?;
        let (applied, checksum, mismatch) = load_applied(&tree)?;
        let sm = Self {
            db: db.clone(),
            tree,
            snapshots,
            feed: ChangeFeed::new(applied.revision(), feed_history),
            revision: watch::Sender::new(applied.revision()),
            applied: Arc::new(RwLock::new(applied)),
            snapshot_seq: Arc::new(AtomicU64::new(0)),
            writes_since_snapshot: Arc::new(AtomicU64::new(UNKNOWN_WRITES)),
            meters,
            checksum: Arc::new(Mutex::new(checksum)),
            flush,
        };
        let stored = sm.read_stored_snapshot()?;
        if let Some(mismatch) = mismatch {
            sm.rebuild(mismatch, stored)?;
        } else if let Some((meta, data)) = stored {
            let loaded = sm.applied.read().last_applied;
            if meta.last_log_id > loaded {
                // A crash after saving a received snapshot but before writing its records.
                tracing::warn!(snapshot = %meta.snapshot_id, "state is older than the stored snapshot; restoring it");
                sm.replace_state(&meta, decode_payload(data.bytes())?)?;
            }
        }
        Ok(sm)
    }

    /// Rebuilds records that do not match their seal from what this node holds for sure: its
    /// stored snapshot (or nothing, if it has none) and, through Raft's start-up, the log entries
    /// after it, which Raft applies again. The caller checks that the log still has them.
    fn rebuild(
        &self,
        mismatch: ChecksumMismatch,
        stored: Option<(SnapshotMeta, StoredBytes)>,
    ) -> Result<(), StorageError> {
        let (meta, data) = match stored {
            Some(snapshot) => snapshot,
            None => (
                SnapshotMeta::default(),
                StoredBytes::whole(
                    codec::encode(&SnapshotPayload { entities: Vec::new() })
                        .map_err(write_err)?
                        .into(),
                ),
            ),
        };
        tracing::warn!(
            %mismatch,
            from_revision = meta.last_log_id.map_or(0, |l| l.index),
            "rebuilding the state machine from the stored snapshot and the log"
        );
        self.replace_state(&meta, decode_payload(data.bytes())?)
    }

    /// The log index the state machine stands at.
    pub(super) fn last_applied_index(&self) -> u64 {
        self.applied.read().revision()
    }

    pub fn state_handle(&self) -> StateHandle {
        self.applied.clone()
    }

    pub fn feed(&self) -> Arc<ChangeFeed> {
        self.feed.clone()
    }

    /// Records written since the last snapshot was built or installed, kept current by apply
    /// ([`UNKNOWN_WRITES`] until the first snapshot after opening).
    pub fn writes_since_snapshot(&self) -> Arc<AtomicU64> {
        self.writes_since_snapshot.clone()
    }

    /// Follows the applied revision.
    pub fn revision_watch(&self) -> watch::Receiver<Revision> {
        self.revision.subscribe()
    }

    /// The stored snapshot's metadata and bytes, as sled read them (not copied: at a million
    /// instances they are about 300 MB, and opening the store needs only the metadata).
    fn read_stored_snapshot(&self) -> Result<Option<(SnapshotMeta, StoredBytes)>, StorageError> {
        if let Some(stored) = self.snapshots.get(SNAPSHOT).map_err(read_err)? {
            return split_snapshot(stored).map(Some);
        }
        let meta = self.snapshots.get(LEGACY_SNAPSHOT_META).map_err(read_err)?;
        let data = self.snapshots.get(LEGACY_SNAPSHOT_DATA).map_err(read_err)?;
        match (meta, data) {
            (Some(meta), Some(data)) => Ok(Some((
                codec::decode(&meta).map_err(read_err)?,
                StoredBytes::whole(data),
            ))),
            _ => Ok(None),
        }
    }

    /// Writes the snapshot (not yet flushed: see [`Self::flush_stored`]).
    fn save_snapshot(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<(), StorageError> {
        let meta = codec::encode(meta).map_err(write_err)?;
        let mut joined = Vec::with_capacity(4 + meta.len() + data.len());
        joined.extend_from_slice(&(meta.len() as u32).to_be_bytes());
        joined.extend_from_slice(&meta);
        joined.extend_from_slice(data);
        self.snapshots.insert(SNAPSHOT, joined).map_err(write_err)?;
        Ok(())
    }

    /// Makes what was written durable.
    async fn flush_stored(&self) -> Result<(), StorageError> {
        self.flush.flush_async(&self.db).await.map_err(write_err)
    }

    /// The snapshot of the applied state, encoded and saved.
    fn make_snapshot(&self) -> Result<(SnapshotMeta, Vec<u8>), StorageError> {
        let (entities, last_applied, membership) = {
            let a = self.applied.read();
            // Apply counts under the write lock: none runs while the records are taken.
            self.writes_since_snapshot.store(0, Ordering::Relaxed);
            (
                a.state.entities().collect::<Vec<_>>(),
                a.last_applied,
                a.membership.clone(),
            )
        };
        let data = codec::encode(&SnapshotPayload { entities }).map_err(write_err)?;
        let seq = self.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match last_applied {
            Some(l) => format!("{}-{}-{}-{seq}", l.leader_id.term, l.leader_id.node_id, l.index),
            None => format!("0-0-0-{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        self.save_snapshot(&meta, &data)?;
        Ok((meta, data))
    }

    /// Replaces the whole state (memory and disk) with a snapshot's.
    ///
    /// At a million instances that is a million records to write: they are encoded and hashed,
    /// then inserted by [`INSTALL_THREADS`] threads at once, each over its own run of keys,
    /// while another builds the in-memory state (one sled batch would hold sled's write lock
    /// through every insert, one at a time). Not atomic, as a batch cut short on disk is not
    /// either: the seal is written last, so records written part way do not match it, and
    /// `open` rebuilds them from the stored snapshot, saved before this runs.
    fn replace_state(&self, meta: &SnapshotMeta, payload: SnapshotPayload) -> Result<(), StorageError> {
        let records = encoded_records(&payload.entities)?;
        let mut stale = sled::Batch::default();
        for key in self.tree.iter().keys() {
            let key = key.map_err(read_err)?;
            let kept = key.as_ref() == keys::META_SEAL
                || records
                    .binary_search_by(|record| record.key.as_slice().cmp(key.as_ref()))
                    .is_ok();
            if !kept {
                stale.remove(key);
            }
        }
        self.tree.apply_batch(stale).map_err(write_err)?;
        let (state, checksum) = std::thread::scope(|scope| {
            let restoring = scope.spawn(move || {
                let mut state = RegistryState::new();
                state.restore_all(payload.entities);
                state
            });
            let checksum = insert_in_parallel(&self.tree, &records);
            let state = restoring
                .join()
                .map_err(|_| write_err(std::io::Error::other("restoring the state panicked")));
            Ok::<_, StorageError>((state?, checksum?))
        })?;
        drop(records);
        let seal = Seal {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
            checksum,
        };
        self.tree
            .insert(keys::META_SEAL, codec::encode(&seal).map_err(write_err)?)
            .map_err(write_err)?;
        *self.checksum.lock() = checksum;
        let revision = meta.last_log_id.map_or(0, |l| l.index);
        {
            let mut applied = self.applied.write();
            *applied = AppliedState {
                state,
                last_applied: meta.last_log_id,
                membership: meta.last_membership.clone(),
            };
        }
        self.writes_since_snapshot.store(0, Ordering::Relaxed);
        self.feed.reset(revision);
        self.revision.send_replace(revision);
        Ok(())
    }
}

/// What [`SledStateMachine::writes_since_snapshot`] reads when the count is not known.
pub const UNKNOWN_WRITES: u64 = u64::MAX;

/// Threads that write an installed snapshot's records (at most; fewer on fewer cores).
const INSTALL_THREADS: usize = 4;

/// One record as stored: its key, its encoded value and its share of the checksum.
struct StoredRecord {
    key: Vec<u8>,
    value: Vec<u8>,
    hash: RecordHash,
}

/// `work` over `items` cut into runs, one thread each (at most [`INSTALL_THREADS`], as many
/// as cores), the runs' results in order.
fn on_threads<T: Sync, R: Send>(
    items: &[T],
    work: impl Fn(&[T]) -> Result<R, StorageError> + Sync,
) -> Result<Vec<R>, StorageError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(INSTALL_THREADS).min(items.len()).max(1);
    let run = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let work = &work;
        let running: Vec<_> = items.chunks(run).map(|part| scope.spawn(move || work(part))).collect();
        running
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(write_err(std::io::Error::other("a worker thread panicked"))))
            })
            .collect()
    })
}

/// `entities` as stored records, sorted by key, encoded by several threads.
fn encoded_records(entities: &[Entity]) -> Result<Vec<StoredRecord>, StorageError> {
    let parts = on_threads(entities, |part| {
        part.iter()
            .map(|entity| {
                let (key, value) = (keys::entity_key(entity), codec::encode(entity).map_err(write_err)?);
                let hash = RecordHash::of(&key, &value);
                Ok(StoredRecord { key, value, hash })
            })
            .collect::<Result<Vec<_>, StorageError>>()
    })?;
    let mut records: Vec<StoredRecord> = parts.into_iter().flatten().collect();
    // The state lists entities by kind, then key: sorted already but for the kinds' order.
    records.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    Ok(records)
}

/// Inserts `records` into `tree`, several threads each over its own run of keys; their
/// checksum.
fn insert_in_parallel(tree: &sled::Tree, records: &[StoredRecord]) -> Result<StateChecksum, StorageError> {
    let parts = on_threads(records, |part| {
        let mut checksum = StateChecksum::default();
        for record in part {
            tree.insert(record.key.as_slice(), record.value.as_slice())
                .map_err(write_err)?;
            checksum.add(record.hash);
        }
        Ok(checksum)
    })?;
    let mut checksum = StateChecksum::default();
    parts.into_iter().for_each(|part| checksum.merge(part));
    Ok(checksum)
}

/// Stored records that do not match their seal: a write was cut short or undone on disk.
#[derive(Debug, thiserror::Error)]
#[error(
    "the stored records do not match their checksum ({found} records found, {stored} recorded at revision \
     {revision}): a write was cut short or undone on disk (a full disk, say)"
)]
pub struct ChecksumMismatch {
    found: u64,
    stored: u64,
    revision: u64,
}

/// A snapshot's bytes inside the value sled read.
struct StoredBytes {
    value: sled::IVec,
    from: usize,
}

impl StoredBytes {
    fn whole(value: sled::IVec) -> Self {
        Self { value, from: 0 }
    }

    fn bytes(&self) -> &[u8] {
        &self.value[self.from..]
    }
}

/// Runs `work` on the blocking pool. Snapshots are some 300 MB at a million instances: encoded,
/// decoded, copied or written on the runtime, they held one of Raft's two threads for seconds,
/// and its heartbeats and replication to the other members waited behind them.
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work).await.map_err(write_err)?
}

/// A snapshot's records, from its bytes.
fn decode_payload(data: &[u8]) -> Result<SnapshotPayload, StorageError> {
    codec::decode(data).map_err(read_err)
}

/// Splits a stored snapshot value into its metadata and bytes.
fn split_snapshot(stored: sled::IVec) -> Result<(SnapshotMeta, StoredBytes), StorageError> {
    let damaged = || read_err(std::io::Error::other("the stored snapshot is cut short"));
    let (len, rest) = stored.split_first_chunk::<4>().ok_or_else(damaged)?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return Err(damaged());
    }
    let meta = codec::decode(&rest[..len]).map_err(read_err)?;
    Ok((
        meta,
        StoredBytes {
            value: stored,
            from: 4 + len,
        },
    ))
}

/// The stored records and seal; and, if the records do not match the seal, why.
fn load_applied(tree: &sled::Tree) -> Result<(AppliedState, StateChecksum, Option<ChecksumMismatch>), StorageError> {
    let mut applied = AppliedState::default();
    let mut checksum = StateChecksum::default();
    let mut seal: Option<Seal> = None;
    let mut legacy = Seal::default();
    let mut legacy_checksum: Option<StateChecksum> = None;
    let mut entities = Vec::new();
    for item in tree.iter() {
        let (k, v) = item.map_err(read_err)?;
        match k.as_ref() {
            keys::META_SEAL => seal = Some(codec::decode(&v).map_err(read_err)?),
            keys::LEGACY_LAST_APPLIED => legacy.last_applied = codec::decode(&v).map_err(read_err)?,
            keys::LEGACY_MEMBERSHIP => legacy.membership = codec::decode(&v).map_err(read_err)?,
            keys::LEGACY_CHECKSUM => legacy_checksum = Some(codec::decode(&v).map_err(read_err)?),
            _ if keys::ENTITY_PREFIXES.contains(&k[0]) => {
                checksum.add(RecordHash::of(&k, &v));
                entities.push(codec::decode::<Entity>(&v).map_err(read_err)?);
            }
            _ => tracing::warn!(key = ?k, "ignoring unknown state key"),
        }
    }
    applied.state.restore_all(entities);
    let expected = match seal {
        Some(seal) => {
            applied.last_applied = seal.last_applied;
            applied.membership = seal.membership;
            Some(seal.checksum)
        }
        None => {
            applied.last_applied = legacy.last_applied;
            applied.membership = legacy.membership;
            if legacy_checksum.is_none() {
                tracing::info!("the stored state has no checksum yet; it gets one with the next write");
            }
            legacy_checksum
        }
    };
    let mismatch = expected.filter(|e| *e != checksum).map(|e| ChecksumMismatch {
        found: checksum.records,
        stored: e.records,
        revision: applied.revision(),
    });
    Ok((applied, checksum, mismatch))
}

impl RaftStateMachine<TypeConfig> for SledStateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let a = self.applied.read();
        Ok((a.last_applied, a.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<CommandOutcome>>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let started = Instant::now();
        let mut outcomes = Vec::new();
        let mut changes = Vec::new();
        let mut batch = sled::Batch::default();
        let (last_applied, membership) = {
            let mut applied = self.applied.write();
            for entry in entries {
                applied.last_applied = Some(entry.log_id);
                let entry_outcomes = match entry.payload {
                    EntryPayload::Blank => Vec::new(),
                    EntryPayload::Normal(batch) => batch
                        .proposals
                        .iter()
                        .map(|proposal| {
                            if let Command::EvictInstances(e) = &proposal.command {
                                let term = entry.log_id.leader_id.get_term();
                                if e.is_stale_in(term) {
                                    tracing::info!(
                                        decided_in = e.term,
                                        entry_term = term,
                                        "skipping an eviction decided by an earlier leader"
                                    );
                                    return CommandOutcome::Batch { applied: 0 };
                                }
                            }
                            let (outcome, made) = applied.state.apply(entry.log_id.index, proposal);
                            if matches!(proposal.command, Command::EvictInstances(_)) {
                                self.meters.count_evictions(&made);
                            }
                            changes.extend(made);
                            outcome
                        })
                        .collect(),
                    EntryPayload::Membership(m) => {
                        applied.membership = StoredMembership::new(Some(entry.log_id), m);
                        Vec::new()
                    }
                };
                outcomes.push(entry_outcomes);
            }
            (applied.last_applied, applied.membership.clone())
        };
        let written = changes.len() as u64;
        let _ = self
            .writes_since_snapshot
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(written))
            });
        let revision = last_applied.map_or(0, |l| l.index);
        let mut checksum = self.checksum.lock();
        let mut sum = *checksum;
        // What this batch has written so far, by key: a key changed twice in one batch replaces
        // the first change, not what the store holds.
        let mut written: HashMap<Vec<u8>, Option<RecordHash>> = HashMap::new();
        for change in &changes {
            let key = keys::entity_key(&change.entity);
            let before = match written.get(&key) {
                Some(before) => *before,
                None => self
                    .tree
                    .get(&key)
                    .map_err(read_err)?
                    .map(|stored| RecordHash::of(&key, &stored)),
            };
            let after = match change.kind {
                ChangeKind::Deleted => {
                    batch.remove(key.as_slice());
                    None
                }
                ChangeKind::Created | ChangeKind::Updated => {
                    let value = codec::encode(&change.entity).map_err(write_err)?;
                    let after = RecordHash::of(&key, &value);
                    batch.insert(key.as_slice(), value);
                    Some(after)
                }
            };
            sum.change(before, after);
            written.insert(key, after);
        }
        let seal = Seal {
            last_applied,
            membership,
            checksum: sum,
        };
        batch.insert(keys::META_SEAL, codec::encode(&seal).map_err(write_err)?);
        self.tree.apply_batch(batch).map_err(write_err)?;
        *checksum = sum;
        drop(checksum);
        self.feed.publish(changes);
        self.revision.send_replace(revision);
        self.meters.apply_seconds.observe(started.elapsed().as_secs_f64());
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        // Decoded (validated) before touching anything, then the snapshot saved first: a crash
        // part way through is finished by `open`.
        let (this, saved) = (self.clone(), meta.clone());
        let payload = off_runtime(move || {
            let payload = codec::decode::<SnapshotPayload>(&data)
                .map_err(|e| io_error(ErrorSubject::Snapshot(Some(saved.signature())), ErrorVerb::Read, e))?;
            this.save_snapshot(&saved, &data)?;
            Ok(payload)
        })
        .await?;
        self.flush_stored().await?;
        let (this, installed) = (self.clone(), meta.clone());
        off_runtime(move || this.replace_state(&installed, payload)).await?;
        tracing::info!(snapshot = %meta.snapshot_id, revision = self.applied.read().revision(), "installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let this = self.clone();
        off_runtime(move || {
            Ok(this.read_stored_snapshot()?.map(|(meta, data)| Snapshot {
                meta,
                snapshot: Box::new(Cursor::new(data.bytes().to_vec())),
            }))
        })
        .await
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SledStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let this = self.clone();
        let (meta, data) = off_runtime(move || this.make_snapshot()).await?;
        self.flush_stored().await?;
        tracing::info!(snapshot = %meta.snapshot_id, bytes = data.len(), "built snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

#[cfg(test)]
mod tests {
    use openraft::CommittedLeaderId;

    use super::*;
    use crate::command::Batch;
    use crate::command::CancelInstance;
    use crate::command::EvictInstances;
    use crate::command::EvictItem;
    use crate::command::Proposal;
    use crate::command::RegisterInstance;
    use crate::model::Instance;
    use crate::model::InstanceKey;
    use crate::model::Service;
    use crate::model::Tenant;

    fn entry(term: u64, index: u64, command: Command) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Normal(Batch::from(vec![Proposal { at_ms: 0, command }])),
        }
    }

    fn eviction(key: &InstanceKey, mod_revision: Revision, term: u64) -> Command {
        Command::EvictInstances(EvictInstances {
            items: vec![EvictItem {
                instance: key.clone(),
                expected_mod_revision: mod_revision,
            }],
            term,
        })
    }

    #[tokio::test]
    async fn an_eviction_applies_only_in_an_entry_of_the_term_that_decided_it() {
        let dir = tempfile::tempdir().unwrap();
        let (_log, mut sm) = crate::storage::open(dir.path(), 100, &StoreMeters::default()).unwrap();
        let tenant = Tenant::default();
        let instance = Instance::new(tenant.clone(), "svc", "i-1", "h");
        let key = instance.key();
        let register = Command::RegisterInstance(RegisterInstance::new(
            instance,
            Some(Service::new(tenant, "svc", "app", "svc")),
        ));
        sm.apply([entry(1, 1, register)]).await.unwrap();

        // Decided by the leader of term 1, appended (forwarded) by the leader of term 2: skipped.
        sm.apply([entry(2, 2, eviction(&key, 1, 1))]).await.unwrap();
        assert!(
            sm.applied.read().state.instance(&key).is_some(),
            "stale eviction applied"
        );

        // Decided and appended in term 2: applied.
        sm.apply([entry(2, 3, eviction(&key, 1, 2))]).await.unwrap();
        assert!(sm.applied.read().state.instance(&key).is_none(), "eviction skipped");
    }

    /// A store with two instances applied (and, if `snapshot_after_first`, a snapshot built
    /// after the first), closed; the path of its directory.
    async fn store_with_two_instances(snapshot_after_first: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let (log, mut sm) = crate::storage::open(dir.path(), 100, &StoreMeters::default()).unwrap();
        let tenant = Tenant::default();
        for (n, id) in ["i-1", "i-2"].into_iter().enumerate() {
            let register = Command::RegisterInstance(RegisterInstance::new(
                Instance::new(tenant.clone(), "svc", id, "h"),
                Some(Service::new(tenant.clone(), "svc", "app", "svc")),
            ));
            sm.apply([entry(1, n as u64 + 1, register)]).await.unwrap();
            if snapshot_after_first && n == 0 {
                sm.build_snapshot().await.unwrap();
            }
        }
        sm.db.flush().unwrap();
        drop((log, sm));
        wait_unlocked(dir.path());
        dir
    }

    /// Waits (bounded) until the closed store's background flusher let go of its lock.
    fn wait_unlocked(dir: &std::path::Path) {
        for _ in 0..200 {
            if sled::open(dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("the store in {} stayed locked", dir.display());
    }

    /// Opens the closed store in `dir`: the revision it stands at and its instances' ids.
    fn reopen(dir: &std::path::Path) -> Result<(u64, Vec<String>), String> {
        let opened = crate::storage::open(dir, 100, &StoreMeters::default())
            .map(|(_, sm)| {
                let applied = sm.applied.read();
                let mut ids: Vec<String> = applied.state.instances().map(|i| i.id.to_string()).collect();
                ids.sort();
                (applied.revision(), ids)
            })
            .map_err(|e| e.to_string());
        wait_unlocked(dir);
        opened
    }

    /// Changes the closed store in `dir` behind the state machine's back.
    fn tamper(dir: &std::path::Path, change: impl FnOnce(&sled::Tree)) {
        let db = sled::open(dir).unwrap();
        change(&db.open_tree("state").unwrap());
        db.flush().unwrap();
    }

    fn instance_key() -> Vec<u8> {
        keys::entity_key(&Entity::Instance(Arc::new(Instance::new(
            Tenant::default(),
            "svc",
            "i-2",
            "h",
        ))))
    }

    #[tokio::test]
    async fn a_store_that_lost_or_undid_a_write_is_rebuilt_from_its_snapshot_and_log() {
        let both = vec!["i-1".to_string(), "i-2".to_string()];
        let intact = store_with_two_instances(false).await;
        assert_eq!(
            reopen(intact.path()),
            Ok((2, both.clone())),
            "an intact store opens as it was"
        );
        assert_eq!(reopen(intact.path()), Ok((2, both)), "and again");

        // A record lost (what a full disk did to sled: the revision stayed, instances went),
        // no snapshot: back to the start, from where Raft applies the whole log again.
        let lost = store_with_two_instances(false).await;
        tamper(lost.path(), |tree| {
            tree.remove(instance_key()).unwrap();
        });
        assert_eq!(reopen(lost.path()), Ok((0, vec![])));

        // A record's value undone (an older value back), with a snapshot at revision 1: the
        // snapshot's state, from where Raft applies entry 2 again.
        let undone = store_with_two_instances(true).await;
        let mut older = Instance::new(Tenant::default(), "svc", "i-2", "h");
        older.host_name = "elsewhere".into();
        let value = codec::encode(&Entity::Instance(Arc::new(older))).unwrap();
        tamper(undone.path(), |tree| {
            tree.insert(instance_key(), value).unwrap();
        });
        assert_eq!(reopen(undone.path()), Ok((1, vec!["i-1".to_string()])));
        assert_eq!(
            reopen(undone.path()),
            Ok((1, vec!["i-1".to_string()])),
            "rebuilt for good"
        );
    }

    /// The checksum takes out the value each write replaces, read back from the store; a key
    /// written twice in one applied batch replaces the batch's first write, not the stored one.
    #[tokio::test]
    async fn keys_changed_twice_in_one_batch_leave_a_store_that_opens_clean() {
        let dir = tempfile::tempdir().unwrap();
        let (log, mut sm) = crate::storage::open(dir.path(), 100, &StoreMeters::default()).unwrap();
        let tenant = Tenant::default();
        let service = || Some(Service::new(tenant.clone(), "svc", "app", "svc"));
        let register = |id: &str, host: &str| {
            Command::RegisterInstance(RegisterInstance::new(
                Instance::new(tenant.clone(), "svc", id, host),
                service(),
            ))
        };
        let cancel = |id: &str| {
            Command::CancelInstance(CancelInstance {
                instance: Instance::new(tenant.clone(), "svc", id, "h").key(),
            })
        };
        let batch = |index: u64, commands: Vec<Command>| Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Batch::from(
                commands
                    .into_iter()
                    .map(|command| Proposal { at_ms: 0, command })
                    .collect::<Vec<_>>(),
            )),
        };
        sm.apply([batch(1, vec![register("i-1", "a"), register("i-3", "a")])])
            .await
            .unwrap();
        sm.apply([
            batch(
                2,
                vec![
                    register("i-1", "b"),
                    register("i-2", "a"),
                    register("i-1", "c"),
                    cancel("i-2"),
                    cancel("i-3"),
                ],
            ),
            batch(3, vec![register("i-2", "b"), register("i-4", "a"), cancel("i-4")]),
        ])
        .await
        .unwrap();
        sm.db.flush().unwrap();
        drop((log, sm));
        wait_unlocked(dir.path());
        // A checksum that went wrong makes the store rebuild from the start: revision 0.
        assert_eq!(reopen(dir.path()), Ok((3, vec!["i-1".to_string(), "i-2".to_string()])));
    }

    #[tokio::test]
    async fn a_store_that_cannot_be_rebuilt_refuses_to_open_and_says_why() {
        let lost = store_with_two_instances(false).await;
        tamper(lost.path(), |tree| {
            tree.remove(instance_key()).unwrap();
        });
        // The log says entries up to 2 were purged: nothing to rebuild from.
        let db = sled::open(lost.path()).unwrap();
        let purged = LogId::new(CommittedLeaderId::new(1, 1), 2);
        db.open_tree("raft_meta")
            .unwrap()
            .insert(b"last_purged", codec::encode(&purged).unwrap())
            .unwrap();
        db.flush().unwrap();
        drop(db);
        wait_unlocked(lost.path());
        let refused = reopen(lost.path()).unwrap_err();
        assert!(
            refused.contains("stands at revision 0 but the log was purged up to 2"),
            "{refused}"
        );
        assert!(refused.contains("--join"), "{refused}");
    }

    #[tokio::test]
    async fn a_store_written_before_the_seal_opens_as_it_was() {
        // The layout before the seal: last applied, membership and no checksum, in three values.
        let dir = store_with_two_instances(false).await;
        tamper(dir.path(), |tree| {
            let seal: Seal = codec::decode(&tree.remove(keys::META_SEAL).unwrap().unwrap()).unwrap();
            let legacy = [
                (keys::LEGACY_LAST_APPLIED, codec::encode(&seal.last_applied).unwrap()),
                (keys::LEGACY_MEMBERSHIP, codec::encode(&seal.membership).unwrap()),
            ];
            for (key, value) in legacy {
                tree.insert(key, value).unwrap();
            }
        });
        let both = vec!["i-1".to_string(), "i-2".to_string()];
        assert_eq!(reopen(dir.path()), Ok((2, both)), "no checksum yet: opens as it was");
    }

    /// A leader's snapshot of instances `i-2` (on another host than the two-instance store's)
    /// and `i-3`…`i-99`, at revision 98: its metadata and bytes.
    async fn leaders_snapshot() -> (SnapshotMeta, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let (_log, mut leader) = crate::storage::open(dir.path(), 100, &StoreMeters::default()).unwrap();
        let tenant = Tenant::default();
        for n in 2..100u64 {
            let register = Command::RegisterInstance(RegisterInstance::new(
                Instance::new(tenant.clone(), "svc", format!("i-{n}"), "leaders-host"),
                Some(Service::new(tenant.clone(), "svc", "app", "svc")),
            ));
            leader.apply([entry(1, n - 1, register)]).await.unwrap();
        }
        let built = leader.build_snapshot().await.unwrap();
        (built.meta, built.snapshot.into_inner())
    }

    fn ids_from(first: u64) -> Vec<String> {
        let mut ids: Vec<String> = (first..100).map(|n| format!("i-{n}")).collect();
        ids.sort();
        ids
    }

    /// What a lagging follower does: its records replaced by the snapshot's (written by several
    /// threads), those the snapshot lacks removed, and the store opens clean at its revision.
    #[tokio::test]
    async fn an_installed_snapshot_replaces_every_stored_record() {
        let (meta, data) = leaders_snapshot().await;
        let dir = store_with_two_instances(false).await;
        let (log, mut sm) = crate::storage::open(dir.path(), 100, &StoreMeters::default()).unwrap();
        sm.install_snapshot(&meta, Box::new(Cursor::new(data))).await.unwrap();
        let key = Instance::new(Tenant::default(), "svc", "i-2", "h").key();
        assert_eq!(
            sm.applied.read().state.instance(&key).map(|i| i.host_name.to_string()),
            Some("leaders-host".to_string())
        );
        sm.db.flush().unwrap();
        drop((log, sm));
        wait_unlocked(dir.path());
        {
            // As stored, not as a rebuild at opening would make them: they match their seal.
            let db = sled::open(dir.path()).unwrap();
            let (applied, _, mismatch) = load_applied(&db.open_tree("state").unwrap()).unwrap();
            assert!(mismatch.is_none(), "{mismatch:?}");
            let mut ids: Vec<String> = applied.state.instances().map(|i| i.id.to_string()).collect();
            ids.sort();
            assert_eq!((applied.revision(), ids), (98, ids_from(2)), "i-1 gone, i-3… written");
            let i2 = applied.state.instance(&key).unwrap();
            assert_eq!(i2.host_name, "leaders-host");
        }
        wait_unlocked(dir.path());
        assert_eq!(reopen(dir.path()), Ok((98, ids_from(2))));
    }

    /// An install cut short (the snapshot saved, some of its records written, the seal not):
    /// the records do not match the seal, and `open` rebuilds them from the saved snapshot.
    #[tokio::test]
    async fn an_install_cut_short_is_finished_when_the_store_opens() {
        let (meta, data) = leaders_snapshot().await;
        let dir = store_with_two_instances(false).await;
        {
            let (log, sm) = crate::storage::open(dir.path(), 100, &StoreMeters::default()).unwrap();
            sm.save_snapshot(&meta, &data).unwrap();
            let payload = decode_payload(&data).unwrap();
            let records = encoded_records(&payload.entities).unwrap();
            for record in &records[..records.len() / 2] {
                sm.tree.insert(record.key.as_slice(), record.value.as_slice()).unwrap();
            }
            sm.db.flush().unwrap();
            drop((log, sm));
        }
        wait_unlocked(dir.path());
        assert_eq!(reopen(dir.path()), Ok((98, ids_from(2))));
        assert_eq!(reopen(dir.path()), Ok((98, ids_from(2))), "and opens clean after");
    }
}
