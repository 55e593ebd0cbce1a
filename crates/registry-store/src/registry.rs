//! The seam between the protocols and the store: what a protocol front may ask of the registry,
//! and nothing more. [`crate::node::RegistryNode`] implements it on a cluster member;
//! [`crate::testing::FakeRegistry`] in process, for router tests.
//!
//! Reads go through [`Registry::view`] (or its typed form, `<dyn Registry>::read`): a closure
//! runs over the applied state under the state lock and returns what it copied out (record
//! `Arc`s are cheap to clone), so the lock is released before anything is converted or encoded
//! and no guard escapes to the protocol code.

use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::watch;

use crate::command::Command;
use crate::feed::FeedError;
use crate::feed::Subscription;
use crate::lease::LeaseTimes;
use crate::model::InstanceKey;
use crate::model::Revision;
use crate::node::ClusterStatus;
use crate::node::NodeError;
use crate::node::Written;
use crate::raft::types::NodeId;
use crate::record::NodeRecord;
use crate::storage::AppliedState;

/// The registry as the protocol fronts see it. Object-safe: the fronts hold an
/// `Arc<dyn Registry>`.
pub trait Registry: Send + Sync + 'static {
    /// Runs `f` once over this node's applied state, under the state lock. Copy out what is
    /// needed and return; encode afterwards. Prefer the typed `<dyn Registry>::read`.
    fn view(&self, f: &mut dyn FnMut(&AppliedState));

    /// Proposes `command` and waits until it is applied here (read-your-writes).
    fn write(&self, command: Command) -> BoxFuture<'_, Result<Written, NodeError>>;

    /// Renews the leases of `keys` (never through the log). Per key: `true` if registered,
    /// `false` if the client must register again.
    fn renew(&self, keys: Vec<InstanceKey>) -> BoxFuture<'_, Result<Vec<bool>, NodeError>>;

    /// Waits until everything committed before the call is applied here, so the next view is
    /// linearizable. Returns the revision it waited for.
    fn read_barrier(&self) -> BoxFuture<'_, Result<Revision, NodeError>>;

    /// Waits until this node has applied `revision` (or `timeout` passes).
    fn wait_for_revision(&self, revision: Revision, timeout: Duration) -> BoxFuture<'_, Result<(), NodeError>>;

    /// Whether `key` is registered, asking again after a read barrier when this node does not
    /// see it (registered through another node a moment ago).
    fn instance_exists<'a>(&'a self, key: &'a InstanceKey) -> BoxFuture<'a, Result<bool, NodeError>> {
        Box::pin(async move {
            let seen = |r: &Self| {
                let mut found = false;
                r.view(&mut |applied| found = applied.state.instance(key).is_some());
                found
            };
            if seen(self) {
                return Ok(true);
            }
            self.read_barrier().await?;
            Ok(seen(self))
        })
    }

    /// The revision applied here (the last applied log index).
    fn revision(&self) -> Revision;

    /// The applied revision, changing as entries apply.
    fn revisions(&self) -> watch::Receiver<Revision>;

    /// Every change after revision `after`, in order.
    fn subscribe(&self, after: Revision) -> Result<Subscription, FeedError>;

    /// This node's copy of the leader's lease times (Eureka's renewal timestamps).
    fn lease_times(&self) -> &LeaseTimes;

    /// The cluster as this node sees it (Eureka `/status`, ServiceCenter's own service).
    fn status(&self) -> ClusterStatus;

    /// `Ok` when this node may serve; otherwise why not.
    fn health(&self) -> Result<(), String>;

    /// This node's own address record, as its announcement writes it (known before the
    /// announcement is applied).
    fn own_record(&self) -> NodeRecord;

    /// While leading: the members trailing far behind (Eureka `/status`'s unavailable replicas).
    fn lagging_followers(&self) -> Vec<NodeId>;
}

impl dyn Registry {
    /// Runs `f` over the applied state under the lock and returns what it copied out; the lock
    /// is released when this returns.
    pub fn read<R>(&self, f: impl FnOnce(&AppliedState) -> R) -> R {
        let mut f = Some(f);
        let mut out = None;
        self.view(&mut |applied| {
            if let Some(f) = f.take() {
                out = Some(f(applied));
            }
        });
        out.expect("a registry view runs its closure once")
    }
}

impl Registry for crate::node::RegistryNode {
    fn view(&self, f: &mut dyn FnMut(&AppliedState)) {
        f(&self.read())
    }

    fn write(&self, command: Command) -> BoxFuture<'_, Result<Written, NodeError>> {
        Box::pin(crate::node::RegistryNode::write(self, command))
    }

    fn renew(&self, keys: Vec<InstanceKey>) -> BoxFuture<'_, Result<Vec<bool>, NodeError>> {
        Box::pin(crate::node::RegistryNode::renew(self, keys))
    }

    fn read_barrier(&self) -> BoxFuture<'_, Result<Revision, NodeError>> {
        Box::pin(crate::node::RegistryNode::read_barrier(self))
    }

    fn wait_for_revision(&self, revision: Revision, timeout: Duration) -> BoxFuture<'_, Result<(), NodeError>> {
        Box::pin(crate::node::RegistryNode::wait_for_revision(self, revision, timeout))
    }

    fn instance_exists<'a>(&'a self, key: &'a InstanceKey) -> BoxFuture<'a, Result<bool, NodeError>> {
        Box::pin(crate::node::RegistryNode::instance_exists(self, key))
    }

    fn revision(&self) -> Revision {
        crate::node::RegistryNode::revision(self)
    }

    fn revisions(&self) -> watch::Receiver<Revision> {
        crate::node::RegistryNode::revisions(self)
    }

    fn subscribe(&self, after: Revision) -> Result<Subscription, FeedError> {
        crate::node::RegistryNode::subscribe(self, after)
    }

    fn lease_times(&self) -> &LeaseTimes {
        crate::node::RegistryNode::lease_times(self)
    }

    fn status(&self) -> ClusterStatus {
        crate::node::RegistryNode::status(self)
    }

    fn health(&self) -> Result<(), String> {
        crate::node::RegistryNode::health(self)
    }

    fn own_record(&self) -> NodeRecord {
        crate::node::RegistryNode::own_record(self)
    }

    fn lagging_followers(&self) -> Vec<NodeId> {
        crate::node::RegistryNode::lagging_followers(self)
    }
}
