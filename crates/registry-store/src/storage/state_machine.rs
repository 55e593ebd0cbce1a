//! The state machine on sled: applies committed entries to the in-memory [`RegistryState`],
//! writes the records they touched through to sled in one atomic batch per applied batch
//! (with the last applied log id), publishes the changes, and builds / installs snapshots.
//!
//! A restart loads the records from sled instead of replaying the log, and checks them against
//! the checksum stored with them (a store that lost a write refuses to open and says why).

// openraft's trait signatures fix these error types; boxing them here would only add conversions.
#![allow(clippy::result_large_err)]

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

use super::checksum::ChecksumIndex;
use super::checksum::StateChecksum;
use super::codec;
use super::io_error;
use super::keys;
use crate::change::ChangeKind;
use crate::change::Entity;
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
use crate::state::RegistryState;

const SNAPSHOT_META: &[u8] = b"meta";
const SNAPSHOT_DATA: &[u8] = b"data";

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
    meters: StoreMeters,
    /// The stored records' checksum, kept up to date with every batch written.
    checksum: Arc<Mutex<ChecksumIndex>>,
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError {
    io_error(ErrorSubject::StateMachine, ErrorVerb::Read, e)
}

fn write_err(e: impl std::error::Error + 'static) -> StorageError {
    io_error(ErrorSubject::StateMachine, ErrorVerb::Write, e)
}

impl SledStateMachine {
    /// Loads the stored records (and, if a stored snapshot is newer, that snapshot).
    pub(super) fn open(db: &sled::Db, feed_history: usize, meters: StoreMeters) -> Result<Self, StorageError> {
        let tree = db.open_tree("state").map_err(read_err)?;
        let snapshots = db.open_tree("snapshot").map_err(read_err)?;
        let (applied, checksum) = load_applied(&tree)?;
        let sm = Self {
            db: db.clone(),
            tree,
            snapshots,
            feed: ChangeFeed::new(applied.revision(), feed_history),
            revision: watch::Sender::new(applied.revision()),
            applied: Arc::new(RwLock::new(applied)),
            snapshot_seq: Arc::new(AtomicU64::new(0)),
            meters,
            checksum: Arc::new(Mutex::new(checksum)),
        };
        if let Some((meta, data)) = sm.read_stored_snapshot()? {
            let loaded = sm.applied.read().last_applied;
            if meta.last_log_id > loaded {
                // A crash after saving a received snapshot but before writing its records.
                tracing::warn!(snapshot = %meta.snapshot_id, "state is older than the stored snapshot; restoring it");
                sm.replace_state(&meta, &data)?;
            }
        }
        Ok(sm)
    }

    pub fn state_handle(&self) -> StateHandle {
        self.applied.clone()
    }

    pub fn feed(&self) -> Arc<ChangeFeed> {
        self.feed.clone()
    }

    /// Follows the applied revision.
    pub fn revision_watch(&self) -> watch::Receiver<Revision> {
        self.revision.subscribe()
    }

    fn read_stored_snapshot(&self) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StorageError> {
        let meta = self.snapshots.get(SNAPSHOT_META).map_err(read_err)?;
        let data = self.snapshots.get(SNAPSHOT_DATA).map_err(read_err)?;
        match (meta, data) {
            (Some(meta), Some(data)) => Ok(Some((codec::decode(&meta).map_err(read_err)?, data.to_vec()))),
            _ => Ok(None),
        }
    }

    async fn store_snapshot(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        batch.insert(SNAPSHOT_META, codec::encode(meta).map_err(write_err)?);
        batch.insert(SNAPSHOT_DATA, data);
        self.snapshots.apply_batch(batch).map_err(write_err)?;
        self.db.flush_async().await.map_err(write_err)?;
        Ok(())
    }

    /// Replaces the whole state (memory and disk) with a snapshot's.
    fn replace_state(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<(), StorageError> {
        let payload: SnapshotPayload = codec::decode(data).map_err(read_err)?;
        let mut state = RegistryState::new();
        let mut batch = sled::Batch::default();
        for key in self.tree.iter().keys() {
            batch.remove(key.map_err(read_err)?);
        }
        let mut checksum = self.checksum.lock();
        checksum.clear();
        for entity in payload.entities {
            let (key, value) = (keys::entity_key(&entity), codec::encode(&entity).map_err(write_err)?);
            checksum.put(&key, &value);
            batch.insert(key, value);
            state.restore(entity);
        }
        batch.insert(keys::META_CHECKSUM, codec::encode(&checksum.sum()).map_err(write_err)?);
        batch.insert(
            keys::META_LAST_APPLIED,
            codec::encode(&meta.last_log_id).map_err(write_err)?,
        );
        batch.insert(
            keys::META_MEMBERSHIP,
            codec::encode(&meta.last_membership).map_err(write_err)?,
        );
        self.tree.apply_batch(batch).map_err(write_err)?;
        let revision = meta.last_log_id.map_or(0, |l| l.index);
        {
            let mut applied = self.applied.write();
            *applied = AppliedState {
                state,
                last_applied: meta.last_log_id,
                membership: meta.last_membership.clone(),
            };
        }
        self.feed.reset(revision);
        self.revision.send_replace(revision);
        Ok(())
    }
}

/// A stored state whose records do not match their checksum.
#[derive(Debug, thiserror::Error)]
#[error(
    "the stored records do not match their checksum ({found} records found, {stored} recorded at revision \
     {revision}): a write was lost or undone on disk (a full disk, say), so this state cannot be trusted. \
     Keep the directory for inspection, start this node on an empty data directory with --join, and \
     the leader, to which it is still a member, sends it its state"
)]
pub struct ChecksumMismatch {
    found: u64,
    stored: u64,
    revision: u64,
}

fn load_applied(tree: &sled::Tree) -> Result<(AppliedState, ChecksumIndex), StorageError> {
    let mut applied = AppliedState::default();
    let mut checksum = ChecksumIndex::default();
    let mut stored: Option<StateChecksum> = None;
    for item in tree.iter() {
        let (k, v) = item.map_err(read_err)?;
        match k.as_ref() {
            keys::META_LAST_APPLIED => applied.last_applied = codec::decode(&v).map_err(read_err)?,
            keys::META_MEMBERSHIP => applied.membership = codec::decode(&v).map_err(read_err)?,
            keys::META_CHECKSUM => stored = Some(codec::decode(&v).map_err(read_err)?),
            _ if keys::ENTITY_PREFIXES.contains(&k[0]) => {
                checksum.put(&k, &v);
                applied.state.restore(codec::decode(&v).map_err(read_err)?);
            }
            _ => tracing::warn!(key = ?k, "ignoring unknown state key"),
        }
    }
    match stored {
        Some(stored) if stored != checksum.sum() => {
            return Err(read_err(ChecksumMismatch {
                found: checksum.sum().records,
                stored: stored.records,
                revision: applied.revision(),
            }))
        }
        Some(_) => {}
        // Written before checksums were kept: the first batch applied stores one.
        None => tracing::info!("the stored state has no checksum yet; it gets one with the next write"),
    }
    Ok((applied, checksum))
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
        let mut evicted = 0;
        let mut batch = sled::Batch::default();
        let revision = {
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
                                evicted += made.iter().filter(|c| c.kind == ChangeKind::Deleted).count() as u64;
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
            batch.insert(
                keys::META_LAST_APPLIED,
                codec::encode(&applied.last_applied).map_err(write_err)?,
            );
            batch.insert(
                keys::META_MEMBERSHIP,
                codec::encode(&applied.membership).map_err(write_err)?,
            );
            applied.revision()
        };
        {
            let mut checksum = self.checksum.lock();
            for change in &changes {
                let key = keys::entity_key(&change.entity);
                match change.kind {
                    ChangeKind::Deleted => {
                        checksum.remove(&key);
                        batch.remove(key);
                    }
                    ChangeKind::Created | ChangeKind::Updated => {
                        let value = codec::encode(&change.entity).map_err(write_err)?;
                        checksum.put(&key, &value);
                        batch.insert(key, value);
                    }
                }
            }
            batch.insert(keys::META_CHECKSUM, codec::encode(&checksum.sum()).map_err(write_err)?);
        }
        self.tree.apply_batch(batch).map_err(write_err)?;
        self.feed.publish(changes);
        self.revision.send_replace(revision);
        self.meters.evicted_instances.inc_by(evicted);
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
        // Validate before touching anything, then save the snapshot first: a crash part way
        // through is finished by `open`.
        codec::decode::<SnapshotPayload>(&data)
            .map_err(|e| io_error(ErrorSubject::Snapshot(Some(meta.signature())), ErrorVerb::Read, e))?;
        self.store_snapshot(meta, &data).await?;
        self.replace_state(meta, &data)?;
        tracing::info!(snapshot = %meta.snapshot_id, revision = self.applied.read().revision(), "installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        Ok(self.read_stored_snapshot()?.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SledStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let (entities, last_applied, membership) = {
            let a = self.applied.read();
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
        self.store_snapshot(&meta, &data).await?;
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
        let register = Command::RegisterInstance(RegisterInstance {
            instance,
            create_service: Some(Service::new(tenant, "svc", "app", "svc")),
        });
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

    /// A store with two instances applied, closed; the path of its directory.
    async fn store_with_two_instances() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let (log, mut sm) = crate::storage::open(dir.path(), 100, &StoreMeters::default()).unwrap();
        let tenant = Tenant::default();
        for (n, id) in ["i-1", "i-2"].into_iter().enumerate() {
            let register = Command::RegisterInstance(RegisterInstance {
                instance: Instance::new(tenant.clone(), "svc", id, "h"),
                create_service: Some(Service::new(tenant.clone(), "svc", "app", "svc")),
            });
            sm.apply([entry(1, n as u64 + 1, register)]).await.unwrap();
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

    fn reopen(dir: &std::path::Path) -> Result<(), String> {
        let opened = crate::storage::open(dir, 100, &StoreMeters::default())
            .map(drop)
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

    #[tokio::test]
    async fn a_store_that_lost_or_undid_a_write_refuses_to_open_and_says_why() {
        let intact = store_with_two_instances().await;
        reopen(intact.path()).expect("an intact store opens");
        reopen(intact.path()).expect("and again");

        // A record lost (what a full disk did to sled: the revision stayed, instances went).
        let lost = store_with_two_instances().await;
        let key = keys::entity_key(&Entity::Instance(Arc::new(Instance::new(
            Tenant::default(),
            "svc",
            "i-2",
            "h",
        ))));
        tamper(lost.path(), |tree| {
            tree.remove(&key).unwrap();
        });
        let refused = reopen(lost.path()).unwrap_err();
        assert!(refused.contains("do not match their checksum"), "{refused}");
        assert!(
            refused.contains("2 records found, 3 recorded at revision 2"),
            "{refused}"
        );

        // A record's value undone (an older value back).
        let undone = store_with_two_instances().await;
        let mut older = Instance::new(Tenant::default(), "svc", "i-2", "h");
        older.host_name = "elsewhere".into();
        let value = codec::encode(&Entity::Instance(Arc::new(older))).unwrap();
        tamper(undone.path(), |tree| {
            tree.insert(&key, value).unwrap();
        });
        assert!(reopen(undone.path()).unwrap_err().contains("checksum"));
    }

    #[tokio::test]
    async fn a_store_written_before_checksums_opens_and_gets_one() {
        let dir = store_with_two_instances().await;
        tamper(dir.path(), |tree| {
            tree.remove(keys::META_CHECKSUM).unwrap();
        });
        reopen(dir.path()).expect("no checksum yet: opens");
    }
}
