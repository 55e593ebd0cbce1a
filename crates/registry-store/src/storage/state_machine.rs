//! The state machine on sled: applies committed entries to the in-memory [`RegistryState`],
//! writes the records they touched through to sled in one atomic batch per applied batch
//! (with the last applied log id), publishes the changes, and builds / installs snapshots.
//!
//! A restart loads the records from sled instead of replaying the log.

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
use parking_lot::RwLock;
use serde::Deserialize;
use serde::Serialize;
use tokio::sync::watch;

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
        let applied = load_applied(&tree)?;
        let sm = Self {
            db: db.clone(),
            tree,
            snapshots,
            feed: ChangeFeed::new(applied.revision(), feed_history),
            revision: watch::Sender::new(applied.revision()),
            applied: Arc::new(RwLock::new(applied)),
            snapshot_seq: Arc::new(AtomicU64::new(0)),
            meters,
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
        for entity in payload.entities {
            batch.insert(keys::entity_key(&entity), codec::encode(&entity).map_err(write_err)?);
            state.restore(entity);
        }
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

fn load_applied(tree: &sled::Tree) -> Result<AppliedState, StorageError> {
    let mut applied = AppliedState::default();
    for item in tree.iter() {
        let (k, v) = item.map_err(read_err)?;
        match k.as_ref() {
            keys::META_LAST_APPLIED => applied.last_applied = codec::decode(&v).map_err(read_err)?,
            keys::META_MEMBERSHIP => applied.membership = codec::decode(&v).map_err(read_err)?,
            _ if keys::ENTITY_PREFIXES.contains(&k[0]) => {
                applied.state.restore(codec::decode(&v).map_err(read_err)?);
            }
            _ => tracing::warn!(key = ?k, "ignoring unknown state key"),
        }
    }
    Ok(applied)
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
        for change in &changes {
            let key = keys::entity_key(&change.entity);
            match change.kind {
                ChangeKind::Deleted => batch.remove(key),
                ChangeKind::Created | ChangeKind::Updated => {
                    batch.insert(key, codec::encode(&change.entity).map_err(write_err)?)
                }
            }
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
}
