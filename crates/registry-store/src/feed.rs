//! The change feed: subscribe from revision R and receive every change after it, in order (D2).
//!
//! Recent changes are kept in a bounded in-memory history; live ones are broadcast. A subscriber
//! asking for a revision older than the history (or one that falls too far behind, or that sees a
//! snapshot installed underneath it) gets [`FeedError::Compacted`] and must re-list, exactly like
//! an etcd watch on a compacted revision.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::change::Change;
use crate::model::Revision;

/// Default number of changes kept for late subscribers.
pub const DEFAULT_HISTORY: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    #[error("revision {requested} is compacted; the oldest available is {oldest}: list again")]
    Compacted { requested: Revision, oldest: Revision },
    #[error("the change feed is closed")]
    Closed,
}

#[derive(Debug, Clone)]
enum Item {
    Change {
        seq: u64,
        change: Arc<Change>,
    },
    /// History before this revision is gone (snapshot installed): subscribers must re-list.
    Reset {
        revision: Revision,
    },
}

struct History {
    /// (sequence number, change), oldest first.
    items: VecDeque<(u64, Arc<Change>)>,
    capacity: usize,
    /// Every change with a revision above this is in `items`.
    floor: Revision,
    next_seq: u64,
}

/// Publishes applied changes to any number of subscribers.
pub struct ChangeFeed {
    history: Mutex<History>,
    live: broadcast::Sender<Item>,
}

impl ChangeFeed {
    /// A feed whose history starts after `floor` (the revision loaded from disk).
    pub fn new(floor: Revision, capacity: usize) -> Arc<Self> {
        let (live, _) = broadcast::channel(4096);
        Arc::new(Self {
            history: Mutex::new(History {
                items: VecDeque::new(),
                capacity: capacity.max(1),
                floor,
                next_seq: 0,
            }),
            live,
        })
    }

    /// Publishes the changes one applied batch made, in order.
    pub fn publish(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let mut h = self.history.lock();
        for change in changes {
            let change = Arc::new(change);
            let seq = h.next_seq;
            h.next_seq += 1;
            h.items.push_back((seq, change.clone()));
            if h.items.len() > h.capacity {
                if let Some((_, old)) = h.items.pop_front() {
                    h.floor = h.floor.max(old.revision);
                }
            }
            let _ = self.live.send(Item::Change { seq, change });
        }
    }

    /// Drops the history: state jumped to `revision` without individual changes.
    pub fn reset(&self, revision: Revision) {
        let mut h = self.history.lock();
        h.items.clear();
        h.floor = revision;
        let _ = self.live.send(Item::Reset { revision });
    }

    /// Live subscriptions: watchers, plus the node's own followers of the feed.
    pub fn subscribers(&self) -> usize {
        self.live.receiver_count()
    }

    /// The oldest revision a subscriber may start after.
    pub fn floor(&self) -> Revision {
        self.history.lock().floor
    }

    /// Subscribes to every change with a revision greater than `after`.
    pub fn subscribe(self: &Arc<Self>, after: Revision) -> Result<Subscription, FeedError> {
        let h = self.history.lock();
        if after < h.floor {
            return Err(FeedError::Compacted {
                requested: after,
                oldest: h.floor,
            });
        }
        // Subscribing under the lock: nothing published in between is missed or duplicated.
        let rx = self.live.subscribe();
        let backlog: VecDeque<(u64, Arc<Change>)> =
            h.items.iter().filter(|(_, c)| c.revision > after).cloned().collect();
        let last_seq = backlog.back().map(|(s, _)| *s).or(h.next_seq.checked_sub(1));
        Ok(Subscription {
            feed: self.clone(),
            backlog,
            rx,
            last_seq,
            after,
        })
    }
}

/// A position in the feed. Yields changes in order.
pub struct Subscription {
    feed: Arc<ChangeFeed>,
    backlog: VecDeque<(u64, Arc<Change>)>,
    rx: broadcast::Receiver<Item>,
    /// Sequence number of the last change delivered (or skipped as already known).
    last_seq: Option<u64>,
    /// Revision of the last change delivered (or where the subscription started).
    after: Revision,
}

impl Subscription {
    /// The next change; `Compacted` if this subscriber can no longer be served without a re-list.
    pub async fn next(&mut self) -> Result<Arc<Change>, FeedError> {
        loop {
            if let Some((seq, change)) = self.backlog.pop_front() {
                return Ok(self.deliver(seq, change));
            }
            match self.rx.recv().await {
                Ok(Item::Change { seq, change }) => {
                    if self.last_seq.is_some_and(|last| seq <= last) {
                        continue;
                    }
                    return Ok(self.deliver(seq, change));
                }
                Ok(Item::Reset { revision }) => {
                    return Err(FeedError::Compacted {
                        requested: self.after,
                        oldest: revision,
                    });
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.refill()?,
                Err(broadcast::error::RecvError::Closed) => return Err(FeedError::Closed),
            }
        }
    }

    fn deliver(&mut self, seq: u64, change: Arc<Change>) -> Arc<Change> {
        self.last_seq = Some(seq);
        self.after = change.revision;
        change
    }

    /// After falling behind the live channel, catch up from the history if it still has our place.
    fn refill(&mut self) -> Result<(), FeedError> {
        let h = self.feed.history.lock();
        let next_wanted = self.last_seq.map_or(0, |s| s + 1);
        let oldest_kept = h.items.front().map_or(h.next_seq, |(s, _)| *s);
        if oldest_kept > next_wanted {
            return Err(FeedError::Compacted {
                requested: self.after,
                oldest: h.floor,
            });
        }
        // Re-subscribing under the lock: the backlog plus the new receiver miss nothing, and
        // `deliver` advancing `last_seq` makes the receiver skip what the backlog already gave.
        self.rx = self.feed.live.subscribe();
        self.backlog = h.items.iter().filter(|(s, _)| *s >= next_wanted).cloned().collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::ChangeKind;
    use crate::model::Tenant;
    use crate::record::Entity;

    fn change(revision: Revision, name: &str) -> Change {
        Change {
            revision,
            kind: ChangeKind::Created,
            entity: Entity::Tenant(Box::new(Tenant::new(name, "p"))),
        }
    }

    fn name_of(c: &Change) -> String {
        match &c.entity {
            Entity::Tenant(t) => t.domain.to_string(),
            _ => unreachable!(),
        }
    }

    #[tokio::test]
    async fn delivers_backlog_then_live_in_order() {
        let feed = ChangeFeed::new(0, 100);
        feed.publish(vec![change(1, "a"), change(1, "b")]);
        feed.publish(vec![change(2, "c")]);
        let mut sub = feed.subscribe(1).unwrap();
        feed.publish(vec![change(3, "d")]);
        assert_eq!(name_of(&sub.next().await.unwrap()), "c");
        assert_eq!(name_of(&sub.next().await.unwrap()), "d");
        let mut all = feed.subscribe(0).unwrap();
        for want in ["a", "b", "c", "d"] {
            assert_eq!(name_of(&all.next().await.unwrap()), want);
        }
    }

    #[tokio::test]
    async fn compacted_history_is_reported() {
        let feed = ChangeFeed::new(0, 2);
        feed.publish(vec![change(1, "a"), change(2, "b"), change(3, "c")]);
        assert_eq!(
            feed.subscribe(0).err(),
            Some(FeedError::Compacted {
                requested: 0,
                oldest: 1
            })
        );
        let mut sub = feed.subscribe(1).unwrap();
        assert_eq!(name_of(&sub.next().await.unwrap()), "b");
        feed.reset(10);
        assert_eq!(name_of(&sub.next().await.unwrap()), "c");
        assert!(matches!(sub.next().await, Err(FeedError::Compacted { oldest: 10, .. })));
    }

    #[tokio::test]
    async fn a_lagging_subscriber_catches_up_from_history() {
        let feed = ChangeFeed::new(0, 100_000);
        let mut sub = feed.subscribe(0).unwrap();
        for r in 1..=5000 {
            feed.publish(vec![change(r, &r.to_string())]);
        }
        for r in 1..=5000u64 {
            let c = sub.next().await.unwrap();
            assert_eq!(c.revision, r);
        }
    }
}
