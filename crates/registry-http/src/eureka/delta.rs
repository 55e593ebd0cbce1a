//! `/apps/delta`: the instances changed in the last three minutes, taken from the store's change
//! feed (D2), each shown with its current record (or its last one, `DELETED`, with the time it
//! went as `evictionTimestamp` and `lastUpdatedTimestamp`, as Netflix's `Lease.cancel()` and
//! `internalCancel` stamp them).

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use registry_store::change::ChangeKind;
use registry_store::model::Instance;
use registry_store::model::InstanceKey;
use registry_store::model::Millis;
use registry_store::node::wall_clock_ms;
use registry_store::registry::Registry;
use registry_store::worker::Worker;
use tokio::time::Instant;

use super::mapping::to_instance_info;
use super::view::View;
use super::wire::ActionType;
use super::wire::Application;
use crate::instance_feed::FeedFollower;

/// Changes leave the window on a grid of this step, not continuously, so the window's content
/// (and the payload cached for it) changes at most this often while nothing new arrives. Eureka's
/// own queue is trimmed by a timer every 30 s (`deltaRetentionTimerIntervalInMs`).
const TRIM_STEP: Duration = Duration::from_secs(1);

/// Eureka's `retentionTimeInMSInDeltaQueue`.
pub const DELTA_RETENTION: Duration = Duration::from_secs(180);

/// One change: the record as it was then (shared with the store while it is current), when it
/// entered the window, and, for a removal, when this node saw it go (wall clock). Three words:
/// right after a storm the window holds an entry per instance (a million at a million).
struct Entry {
    instance: Arc<Instance>,
    /// Milliseconds after the window's creation.
    at_ms: u64,
    deleted_at_ms: Option<NonZeroU64>,
}

/// Instance changes of the last [`DELTA_RETENTION`], fed by its [`DeltaWindow::follower`].
pub struct DeltaWindow {
    entries: Mutex<Entries>,
    retention: Duration,
    /// The origin of the trimming grid.
    created: Instant,
}

#[derive(Default)]
struct Entries {
    list: VecDeque<Entry>,
    /// Entries ever pushed and ever dropped (for the payload cache's validator).
    pushed: u64,
    dropped: u64,
}

impl DeltaWindow {
    /// An empty window; it fills once its [`DeltaWindow::follower`] runs.
    pub fn new(retention: Duration) -> Arc<Self> {
        Arc::new(Self {
            entries: Mutex::new(Entries::default()),
            retention,
            created: Instant::now(),
        })
    }

    /// The worker (`eureka-delta`) that feeds this window from `node`'s change feed, from the
    /// revision it starts at, until it is stopped or the window dropped.
    pub fn follower(self: &Arc<Self>, node: Arc<dyn Registry>) -> impl Worker {
        FeedFollower::new(
            "eureka-delta",
            node,
            Arc::downgrade(self),
            |window: &Self, instance, kind| {
                window.push(Entry {
                    instance: instance.clone(),
                    at_ms: window.now_ms(),
                    // The epoch itself, which no clock that runs a registry shows, as 1 ms.
                    deleted_at_ms: (kind == ChangeKind::Deleted)
                        .then(|| NonZeroU64::new(wall_clock_ms()).unwrap_or(NonZeroU64::MIN)),
                })
            },
        )
    }

    fn push(&self, entry: Entry) {
        let mut entries = self.entries.lock();
        entries.list.push_back(entry);
        entries.pushed += 1;
        let horizon = self.horizon_ms();
        while entries
            .list
            .front()
            .is_some_and(|e| horizon.is_some_and(|h| e.at_ms < h))
        {
            entries.list.pop_front();
            entries.dropped += 1;
        }
    }

    /// Milliseconds since the window was created.
    fn now_ms(&self) -> u64 {
        self.created.elapsed().as_millis() as u64
    }

    /// Changes that entered before this (in [`Self::now_ms`]'s terms) have left the window:
    /// now less the retention, rounded down to the trimming grid (`None` while nothing is old
    /// enough).
    fn horizon_ms(&self) -> Option<u64> {
        let age = Instant::now()
            .checked_sub(self.retention)?
            .checked_duration_since(self.created)?;
        let step = TRIM_STEP.as_millis() as u64;
        Some(age.as_millis() as u64 / step * step)
    }

    /// Changes whenever the delta's content may: (entries pushed, entries past the retention).
    /// New entries change what it shows; entries leaving only shorten it.
    pub fn generation(&self) -> (u64, u64) {
        let entries = self.entries.lock();
        let horizon = self.horizon_ms();
        let expired = entries
            .list
            .iter()
            .take_while(|e| horizon.is_some_and(|h| e.at_ms < h))
            .count() as u64;
        (entries.pushed, entries.dropped + expired)
    }

    /// The changed instances, grouped by app, as of `view`.
    pub fn applications(&self, view: &View<'_>) -> Vec<Application> {
        let horizon = self.horizon_ms();
        let mut latest: BTreeMap<InstanceKey, Option<(Arc<Instance>, Millis)>> = BTreeMap::new();
        for e in self
            .entries
            .lock()
            .list
            .iter()
            .filter(|e| horizon.is_none_or(|h| e.at_ms >= h))
        {
            let deleted = e.deleted_at_ms.map(|at| (e.instance.clone(), at.get()));
            latest.insert(e.instance.key(), deleted);
        }
        let mut apps: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for (key, deleted) in latest {
            if key.tenant != view.settings.tenant {
                continue;
            }
            let info = match (view.state.instance(&key), deleted) {
                (Some(current), _) => view
                    .state
                    .service(&current.service_ref())
                    .map(|s| to_instance_info(s, current)),
                (None, Some((last, at))) => view.state.service(&last.service_ref()).map(|s| {
                    let mut info = to_instance_info(s, &last);
                    info.action_type = Some(ActionType::Deleted);
                    info.last_updated_timestamp = at as i64;
                    if let Some(lease) = info.lease_info.as_mut() {
                        lease.eviction_timestamp = at as i64;
                    }
                    info
                }),
                (None, None) => None,
            };
            if let Some(info) = info {
                apps.entry(info.app.clone()).or_default().push(info);
            }
        }
        apps.into_iter()
            .map(|(name, instances)| Application { name, instances })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry_store::model::Tenant;

    /// Right after a storm the window holds an entry per instance.
    #[test]
    fn an_entry_is_three_words() {
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }

    #[tokio::test(start_paused = true)]
    async fn changes_leave_the_window_on_the_trimming_grid() {
        let window = DeltaWindow::new(Duration::from_secs(2));
        tokio::time::advance(Duration::from_millis(300)).await;
        let instance = Arc::new(Instance::new(Tenant::default_tenant(), "svc", "a", "host"));
        window.push(Entry {
            instance,
            at_ms: window.now_ms(),
            deleted_at_ms: None,
        });
        let pushed = window.generation();
        assert_eq!(pushed, (1, 0));
        // Past the retention (2.2 s old), but the grid's horizon is still at its origin.
        tokio::time::advance(Duration::from_millis(2_200)).await;
        assert_eq!(window.generation(), pushed);
        // The horizon steps to 1 s past the origin: the change (at 0.3 s) has left.
        tokio::time::advance(Duration::from_millis(1_000)).await;
        assert_eq!(window.generation(), (1, 1));
    }
}
