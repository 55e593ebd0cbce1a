//! An in-memory [`Registry`] for tests of the protocol fronts: one node that leads, no Raft, no
//! disk. Commands apply through the same deterministic [`crate::state::RegistryState::apply`]
//! the state machine runs, one revision per write, and their changes go out on a real
//! [`ChangeFeed`]. Renewals touch only the lease times. It counts writes and renewals, so tests
//! can check what a request did (or did not) propose.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use parking_lot::RwLock;
use tokio::sync::watch;

use crate::command::Command;
use crate::command::Proposal;
use crate::feed::ChangeFeed;
use crate::feed::FeedError;
use crate::feed::Subscription;
use crate::lease::LeaseTime;
use crate::lease::LeaseTimes;
use crate::model::InstanceKey;
use crate::model::Revision;
use crate::node::wall_clock_ms;
use crate::node::ClusterStatus;
use crate::node::MemberStatus;
use crate::node::NodeError;
use crate::node::Written;
use crate::raft::types::LogId;
use crate::raft::types::NodeId;
use crate::record::NodeRecord;
use crate::registry::Registry;
use crate::storage::AppliedState;
use crate::validate::validate_command;

/// The fake's node id, term and Raft address.
const NODE_ID: NodeId = 1;
const TERM: u64 = 1;
const RAFT_ADDR: &str = "127.0.0.1:1";

/// A registry in process memory. Cheap to share (`Arc<FakeRegistry>`).
pub struct FakeRegistry {
    applied: RwLock<AppliedState>,
    feed: Arc<ChangeFeed>,
    revision: watch::Sender<Revision>,
    lease_times: LeaseTimes,
    /// Serialises writes: apply, publish and the revision move together, in order.
    writing: Mutex<()>,
    writes: AtomicU64,
    renewals: AtomicU64,
    /// Every command written, in order.
    log: Mutex<Vec<Command>>,
}

impl FakeRegistry {
    /// The one HTTP address the fake node says it serves on.
    pub const HTTP_ADDR: &'static str = "127.0.0.1:30100";
}

impl Default for FakeRegistry {
    fn default() -> Self {
        Self {
            applied: RwLock::new(AppliedState::default()),
            feed: ChangeFeed::new(0, crate::feed::DEFAULT_HISTORY),
            revision: watch::Sender::new(0),
            lease_times: LeaseTimes::with_epoch_every(Duration::ZERO),
            writing: Mutex::new(()),
            writes: AtomicU64::new(0),
            renewals: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
        }
    }
}

impl FakeRegistry {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// How many times [`Registry::write`] was called (rejected and invalid commands included).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// How many times [`Registry::renew`] was called.
    pub fn renewals(&self) -> u64 {
        self.renewals.load(Ordering::SeqCst)
    }

    /// The commands that reached the log, in order.
    pub fn commands(&self) -> Vec<Command> {
        self.log.lock().clone()
    }

    /// Applies `command` as one log entry at the next revision.
    fn apply(&self, command: Command) -> Written {
        let _writing = self.writing.lock();
        let proposal = Proposal {
            at_ms: wall_clock_ms(),
            command,
        };
        let (revision, outcome, changes) = {
            let mut applied = self.applied.write();
            let revision = applied.revision() + 1;
            applied.last_applied = Some(LogId::new(openraft::CommittedLeaderId::new(TERM, NODE_ID), revision));
            let (outcome, changes) = applied.state.apply(revision, &proposal);
            (revision, outcome, changes)
        };
        self.log.lock().push(proposal.command);
        self.feed.publish(changes);
        self.revision.send_replace(revision);
        Written { outcome, revision }
    }
}

impl Registry for FakeRegistry {
    fn view(&self, f: &mut dyn FnMut(&AppliedState)) {
        f(&self.applied.read())
    }

    fn write(&self, command: Command) -> BoxFuture<'_, Result<Written, NodeError>> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        let result = validate_command(&command)
            .map_err(NodeError::from)
            .map(|()| self.apply(command));
        Box::pin(async move { result })
    }

    fn renew(&self, keys: Vec<InstanceKey>) -> BoxFuture<'_, Result<Vec<bool>, NodeError>> {
        self.renewals.fetch_add(1, Ordering::SeqCst);
        let now = wall_clock_ms();
        let mut renewed = Vec::new();
        let found = {
            let applied = self.applied.read();
            keys.into_iter()
                .map(|key| match applied.state.instance(&key) {
                    Some(instance) => {
                        let expires_ms = now + u64::from(instance.lease.duration_secs) * 1_000;
                        renewed.push((
                            key,
                            LeaseTime {
                                renewed_ms: now,
                                expires_ms,
                            },
                        ));
                        true
                    }
                    None => false,
                })
                .collect()
        };
        self.lease_times.merge(NODE_ID, now, renewed);
        Box::pin(async move { Ok(found) })
    }

    fn read_barrier(&self) -> BoxFuture<'_, Result<Revision, NodeError>> {
        // One node: everything committed is applied.
        let revision = self.revision();
        Box::pin(async move { Ok(revision) })
    }

    fn wait_for_revision(&self, revision: Revision, timeout: Duration) -> BoxFuture<'_, Result<(), NodeError>> {
        let mut rx = self.revision.subscribe();
        Box::pin(async move {
            match tokio::time::timeout(timeout, rx.wait_for(|r| *r >= revision)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(_)) => Err(NodeError::Stopped("fake registry dropped".into())),
                Err(_) => Err(NodeError::Unavailable(format!(
                    "revision {revision} not applied in time"
                ))),
            }
        })
    }

    fn revision(&self) -> Revision {
        *self.revision.borrow()
    }

    fn revisions(&self) -> watch::Receiver<Revision> {
        self.revision.subscribe()
    }

    fn subscribe(&self, after: Revision) -> Result<Subscription, FeedError> {
        self.feed.subscribe(after)
    }

    fn lease_times(&self) -> &LeaseTimes {
        &self.lease_times
    }

    fn status(&self) -> ClusterStatus {
        let revision = self.revision();
        ClusterStatus {
            node_id: NODE_ID,
            leader_id: Some(NODE_ID),
            term: TERM,
            role: "leader",
            last_applied: revision,
            last_log_index: revision,
            snapshot_index: 0,
            purged_index: 0,
            drained: false,
            removed: None,
            members: vec![MemberStatus {
                id: NODE_ID,
                raft_addr: RAFT_ADDR.into(),
                http_addr: None,
                role: "leader",
                reachable: Some(true),
                last_answer_ms: Some(0),
                matched_index: Some(revision),
                lag: Some(0),
            }],
        }
    }

    fn health(&self) -> Result<(), String> {
        Ok(())
    }

    fn own_record(&self) -> NodeRecord {
        NodeRecord {
            node_id: NODE_ID,
            raft_addr: RAFT_ADDR.into(),
            http_addrs: vec![Self::HTTP_ADDR.into()],
        }
    }

    fn lagging_followers(&self) -> Vec<NodeId> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::CancelInstance;
    use crate::command::CommandOutcome;
    use crate::command::RegisterInstance;
    use crate::model::Instance;
    use crate::model::Service;
    use crate::model::Tenant;

    fn instance(id: &str) -> Instance {
        Instance::new(Tenant::default(), "svc", id, "host")
    }

    #[tokio::test]
    async fn writes_apply_in_order_and_reach_the_feed() {
        let fake = FakeRegistry::new();
        let registry: Arc<dyn Registry> = fake.clone();
        let mut changes = registry.subscribe(0).unwrap();
        let register = RegisterInstance {
            create_tenant: true,
            ..RegisterInstance::new(
                instance("a"),
                Some(Service::new(Tenant::default(), "svc", "app", "svc")),
            )
        };
        let written = registry.write(Command::RegisterInstance(register)).await.unwrap();
        assert!(!matches!(written.outcome, CommandOutcome::Rejected(_)), "{written:?}");
        assert_eq!(written.revision, 1);
        assert_eq!(registry.revision(), 1);
        let key = instance("a").key();
        assert!(registry.read(|a| a.state.instance(&key).is_some()));
        assert_eq!(changes.next().await.unwrap().revision, 1);

        assert_eq!(registry.renew(vec![key.clone()]).await.unwrap(), vec![true]);
        assert!(registry.lease_times().get(&key).is_some());

        registry
            .write(Command::CancelInstance(CancelInstance { instance: key.clone() }))
            .await
            .unwrap();
        assert!(!registry.instance_exists(&key).await.unwrap());
        assert_eq!(registry.renew(vec![key]).await.unwrap(), vec![false]);
        assert_eq!((fake.writes(), fake.renewals()), (2, 2));
        assert_eq!(fake.commands().len(), 2);
        registry.wait_for_revision(2, Duration::from_secs(1)).await.unwrap();
    }
}
