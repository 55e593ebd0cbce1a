//! The last registrations and cancellations this node applied since it started, newest first,
//! like Eureka's `/lastn` ("Last 1000 newly registered leases", "Last 1000 cancelled leases").
//! A cancellation counts every removal: a client's cancel, an eviction, a mirror's deletion.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use registry_store::change::ChangeKind;
use registry_store::model::Instance;
use registry_store::model::Millis;
use registry_store::node::wall_clock_ms;
use registry_store::node::RegistryNode;
use registry_store::worker::Worker;

use crate::instance_feed::FeedFollower;

/// How many of each kind are kept (Eureka keeps 1000).
pub const KEPT: usize = 1000;

/// One registration or cancellation.
#[derive(Debug, Clone)]
pub struct Activity {
    /// When it was registered (the proposer's clock) or when this node saw it removed.
    pub at_ms: Millis,
    pub instance: Arc<Instance>,
}

#[derive(Default)]
struct Lists {
    registered: VecDeque<Activity>,
    cancelled: VecDeque<Activity>,
}

/// Registrations and cancellations, fed by its [`RecentActivity::follower`].
#[derive(Default)]
pub struct RecentActivity {
    lists: Mutex<Lists>,
}

impl RecentActivity {
    /// The worker (`dashboard-recent`) that records `node`'s instance changes from the revision
    /// it starts at, until it is stopped or this record dropped.
    pub fn follower(self: &Arc<Self>, node: RegistryNode) -> impl Worker {
        FeedFollower::new(
            "dashboard-recent",
            Arc::new(node),
            Arc::downgrade(self),
            |recent: &Self, instance, kind| recent.record(instance, kind, wall_clock_ms()),
        )
    }

    /// Notes a change: a new instance is a registration, a removed one a cancellation.
    pub fn record(&self, instance: &Arc<Instance>, kind: ChangeKind, now_ms: Millis) {
        let mut lists = self.lists.lock();
        let (list, at_ms) = match kind {
            ChangeKind::Created => (&mut lists.registered, instance.registered_at_ms),
            ChangeKind::Deleted => (&mut lists.cancelled, now_ms),
            ChangeKind::Updated => return,
        };
        if list.len() == KEPT {
            list.pop_back();
        }
        list.push_front(Activity {
            at_ms,
            instance: instance.clone(),
        });
    }

    /// The newest `limit` registrations and cancellations, newest first.
    pub fn latest(&self, limit: usize) -> (Vec<Activity>, Vec<Activity>) {
        let lists = self.lists.lock();
        (
            lists.registered.iter().take(limit).cloned().collect(),
            lists.cancelled.iter().take(limit).cloned().collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use registry_store::model::Tenant;

    use super::*;

    fn instance(id: &str) -> Arc<Instance> {
        let mut instance = Instance::new(Tenant::default_tenant(), "svc", id, "host");
        instance.registered_at_ms = 7;
        Arc::new(instance)
    }

    #[test]
    fn keeps_the_newest_registrations_and_cancellations_first() {
        let recent = RecentActivity::default();
        for i in 0..KEPT + 5 {
            recent.record(&instance(&format!("i{i}")), ChangeKind::Created, 100);
        }
        recent.record(&instance("i3"), ChangeKind::Updated, 100);
        recent.record(&instance("i4"), ChangeKind::Deleted, 100);
        let (registered, cancelled) = recent.latest(KEPT * 2);
        assert_eq!(registered.len(), KEPT);
        assert_eq!(registered[0].instance.id, format!("i{}", KEPT + 4));
        assert_eq!(registered[0].at_ms, 7);
        assert_eq!(registered[KEPT - 1].instance.id, "i5");
        assert_eq!(cancelled.len(), 1);
        assert_eq!((cancelled[0].instance.id.as_str(), cancelled[0].at_ms), ("i4", 100));
        assert_eq!(recent.latest(2).0.len(), 2);
    }
}
