//! What this node learns from its peers' answers to Raft RPCs: when each last answered (how the
//! leader tells a reachable member from a dead one, since it calls every member each heartbeat),
//! and whether one of them said this node is no longer a member (a vote refused with
//! `not_member`).
//!
//! The network client records; the node reads. Nothing here decides what to do about either.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::raft::types::NodeId;

/// When one peer last answered, and since when this node has been calling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contact {
    /// The last answer of any kind (success, conflict, refusal): the peer is up and reachable.
    pub last_answer: Option<Instant>,
    /// When this node last started calling it (a new replication stream or election): with no
    /// answer since, the peer has had that long to answer.
    pub calling_since: Instant,
}

/// Contacts with every peer, shared by the network clients and the node. Cheap to clone.
#[derive(Clone)]
pub struct MemberContacts {
    contacts: Arc<Mutex<HashMap<NodeId, Contact>>>,
    /// Why the last failed call to each peer failed (as the peer or the transport said).
    failures: Arc<Mutex<HashMap<NodeId, String>>>,
    /// The last peer that said this node is not a member, until the node takes note.
    removed_by: Arc<watch::Sender<Option<NodeId>>>,
}

impl Default for MemberContacts {
    fn default() -> Self {
        Self {
            contacts: Arc::default(),
            failures: Arc::default(),
            removed_by: Arc::new(watch::Sender::new(None)),
        }
    }
}

impl MemberContacts {
    /// This node starts calling `peer` (keeps its last answer, if any).
    pub fn calling(&self, peer: NodeId) {
        let now = Instant::now();
        self.contacts
            .lock()
            .entry(peer)
            .and_modify(|c| c.calling_since = now)
            .or_insert(Contact {
                last_answer: None,
                calling_since: now,
            });
    }

    /// `peer` answered an RPC.
    pub fn answered(&self, peer: NodeId) {
        let now = Instant::now();
        self.contacts
            .lock()
            .entry(peer)
            .and_modify(|c| c.last_answer = Some(now))
            .or_insert(Contact {
                last_answer: Some(now),
                calling_since: now,
            });
    }

    /// A call to `peer` failed, for `reason`.
    pub fn failed(&self, peer: NodeId, reason: &str) {
        self.failures.lock().insert(peer, reason.to_string());
    }

    /// Why the last failed call to `peer` failed, if one did.
    pub fn last_failure(&self, peer: NodeId) -> Option<String> {
        self.failures.lock().get(&peer).cloned()
    }

    /// The contact with `peer`, if this node ever called it.
    pub fn get(&self, peer: NodeId) -> Option<Contact> {
        self.contacts.lock().get(&peer).copied()
    }

    /// `peer` answered that this node is not in the cluster's membership any more.
    pub fn told_removed(&self, peer: NodeId) {
        self.removed_by.send_replace(Some(peer));
    }

    /// Follows which peer last said this node is not a member; [`Self::noted_removal`] resets it.
    pub fn removals(&self) -> watch::Receiver<Option<NodeId>> {
        self.removed_by.subscribe()
    }

    /// The node has acted on the last removal notice.
    pub fn noted_removal(&self) {
        self.removed_by.send_replace(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_across_new_calls_and_removal_notices_reset() {
        let contacts = MemberContacts::default();
        assert_eq!(contacts.get(2), None);
        contacts.calling(2);
        let first = contacts.get(2).unwrap();
        assert_eq!(first.last_answer, None);
        contacts.answered(2);
        let answered = contacts.get(2).unwrap().last_answer.unwrap();
        contacts.calling(2);
        assert_eq!(contacts.get(2).unwrap().last_answer, Some(answered));
        assert!(contacts.get(2).unwrap().calling_since >= first.calling_since);

        assert_eq!(contacts.last_failure(2), None);
        contacts.failed(2, "tcp connect error");
        assert_eq!(contacts.last_failure(2).as_deref(), Some("tcp connect error"));

        let mut removals = contacts.removals();
        contacts.told_removed(3);
        assert_eq!(*removals.borrow_and_update(), Some(3));
        contacts.noted_removal();
        assert_eq!(*removals.borrow_and_update(), None);
    }
}
