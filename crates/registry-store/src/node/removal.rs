//! A node the cluster removed notices, and stops standing for election.
//!
//! openraft 0.9 stops replicating to a removed voter as soon as the leader appends the membership
//! without it, so the removed node usually never sees that membership: it still counts itself a
//! voter and campaigns forever, its term climbing. It learns it was removed in one of two ways:
//! - a member refuses its vote saying it is no longer in the committed membership
//!   (`not_member`, see `transport::raft_service`), noted in the peer contacts;
//! - or the membership it receives no longer lists it, after one that did.
//!
//! Either way it stops campaigning, says so once in its log, and reports itself `REMOVED` in
//! `/health`. It takes part again only if a later membership lists it (it was added back).

use openraft::LogId;
use tokio::sync::watch;

use super::upgrade;
use super::Inner;
use super::RegistryNode;
use crate::raft::types::NodeId;

/// Why this node considers itself removed, and the membership it held when it noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Removal {
    pub(super) reason: String,
    /// The log id of the membership this node held then: a different one that lists this node
    /// means it was added back.
    membership_at: Option<LogId<NodeId>>,
}

impl RegistryNode {
    /// Why this node was removed from the cluster, if it was.
    pub fn removal(&self) -> Option<String> {
        self.inner.removed.borrow().as_ref().map(|r| r.reason.clone())
    }

    /// Whether this node may stand for election: neither drained nor removed.
    pub(super) fn may_campaign(&self) -> bool {
        !self.is_drained() && self.inner.removed.borrow().is_none()
    }

    fn note_removed(&self, reason: String, membership_at: Option<LogId<NodeId>>) {
        self.inner.removed.send_replace(Some(Removal {
            reason: reason.clone(),
            membership_at,
        }));
        self.inner.raft.runtime_config().elect(false);
        tracing::warn!(
            reason = %reason,
            "this node was removed from the cluster: it no longer stands for election. Stop it; to add it back, \
             start it on an empty data directory with --join and add it"
        );
    }

    fn note_added_back(&self) {
        self.inner.removed.send_replace(None);
        self.inner.raft.runtime_config().elect(self.may_campaign());
        tracing::info!("this node is a member again: it stands for election again");
    }
}

/// Watches the membership this node holds and the peers' removal notices (see the module doc).
pub(super) async fn watch_loop(weak: std::sync::Weak<Inner>, mut stop: watch::Receiver<bool>) {
    let Some(node) = upgrade(&weak) else { return };
    let mut metrics = node.inner.raft.metrics();
    let mut removals = node.inner.contacts.removals();
    drop(node);
    // Whether this node has held a membership that lists it: a later one without it, then, means
    // it was removed (a joining node's first entries hold memberships from before it was added).
    let mut listed_before = false;
    loop {
        let Some(node) = upgrade(&weak) else { return };
        let stored = metrics.borrow_and_update().membership_config.clone();
        let listed = stored.membership().nodes().any(|(id, _)| *id == node.node_id());
        let held = stored.membership().nodes().next().is_some();
        let membership_at = *stored.log_id();
        let told_by = *removals.borrow_and_update();
        let removed = node.inner.removed.borrow().clone();
        match removed {
            None => {
                if let Some(peer) = told_by {
                    node.inner.contacts.noted_removal();
                    node.note_removed(
                        format!("node {peer} answered that the cluster's committed membership no longer includes it"),
                        membership_at,
                    );
                } else if listed_before && held && !listed {
                    node.note_removed("the cluster's membership no longer includes it".into(), membership_at);
                }
            }
            Some(r) => {
                if told_by.is_some() {
                    node.inner.contacts.noted_removal();
                }
                if listed && membership_at != r.membership_at {
                    node.note_added_back();
                }
            }
        }
        listed_before |= listed;
        drop(node);
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            changed = metrics.changed() => if changed.is_err() { return },
            changed = removals.changed() => if changed.is_err() { return },
        }
    }
}
