//! The leader-bound lease worker: renews leases in memory and proposes evictions through the log.
//!
//! While leading, the lease table follows the registry through the change feed, so a round
//! costs what changed since the last one; only a fresh term, or a feed that lost our place
//! (a snapshot installed, a long stall), walks every instance.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;

use super::table::LeasePolicy;
use super::table::LeaseStats;
use super::table::LeaseTable;
use super::times::LeaseTime;
use crate::clock::wall_clock_ms;
use crate::command::Command;
use crate::command::EvictInstances;
use crate::feed::ChangeFeed;
use crate::feed::Subscription;
use crate::model::Instance;
use crate::model::InstanceKey;
use crate::storage::AppliedState;
use crate::storage::StateHandle;

/// Most changes one round takes from the feed; the rest wait for the next round.
const CHANGES_PER_ROUND: usize = 1_000_000;

/// The lease table of a leading node and its place in the change feed.
struct Leading {
    /// The term this node leads in: its evictions are valid in this term only.
    term: u64,
    table: LeaseTable,
    /// `None` after the feed lost our place: the next round walks every instance.
    changes: Option<Subscription>,
}

/// Holds lease deadlines while this node leads. Renewals on a non-leader are refused by the
/// caller (they are forwarded to the leader instead).
pub struct LeaseKeeper {
    policy: Mutex<LeasePolicy>,
    state: StateHandle,
    feed: Arc<ChangeFeed>,
    /// `Some` while this node is the leader.
    table: Mutex<Option<Leading>>,
    epoch: Instant,
}

impl LeaseKeeper {
    pub fn new(policy: LeasePolicy, state: StateHandle, feed: Arc<ChangeFeed>) -> Arc<Self> {
        Arc::new(Self {
            policy: Mutex::new(policy),
            state,
            feed,
            table: Mutex::new(None),
            epoch: Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub fn policy(&self) -> LeasePolicy {
        self.policy.lock().clone()
    }

    /// Turns self-preservation on or off at run time.
    pub fn set_self_preservation(&self, enabled: bool) {
        self.policy.lock().self_preservation = enabled;
    }

    /// Called when this node becomes leader in a term (fresh full TTL for everyone) or stops
    /// leading (`None`).
    pub fn set_leader(&self, leading_term: Option<u64>) {
        let Some(term) = leading_term else {
            *self.table.lock() = None;
            return;
        };
        if self.table.lock().as_ref().is_some_and(|l| l.term == term) {
            return;
        }
        // The table is built from the instances as of one revision, outside the locks: building
        // it for 100,000 instances takes a while, and holding the state lock meanwhile would stop
        // the new leader from applying its first writes. What changes after that revision comes
        // through the subscription at the next round.
        let (instances, changes) = {
            let state = self.state.read();
            let instances: Vec<Arc<Instance>> = state.state.instances().cloned().collect();
            (instances, self.follow_from(&state))
        };
        let table = LeaseTable::new_term(self.now_ms(), instances.iter());
        tracing::info!(leases = instances.len(), "leading: every lease gets a fresh TTL");
        *self.table.lock() = Some(Leading { term, table, changes });
    }

    /// [`Self::set_leader`] on the blocking pool: a new leader's table of a million leases
    /// takes most of a second to build, which a runtime worker must not spend.
    pub async fn set_leader_off_runtime(self: &Arc<Self>, leading_term: Option<u64>) {
        let keeper = self.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || keeper.set_leader(leading_term)).await {
            tracing::error!(error = %e, "setting up the lease table failed");
        }
    }

    /// A subscription to every change after the state read as `state` (held by the caller, so
    /// nothing applies in between; a change re-delivered after that is harmless).
    fn follow_from(&self, state: &AppliedState) -> Option<Subscription> {
        match self.feed.subscribe(state.revision()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "lease table cannot follow the change feed; rounds walk every instance");
                None
            }
        }
    }

    /// Brings the table up to date: the changes since the last round, or every instance when
    /// the feed lost our place.
    fn catch_up(&self, state: &AppliedState, leading: &mut Leading, now_ms: u64) {
        if let Some(changes) = leading.changes.as_mut() {
            let mut taken = 0;
            let lost = loop {
                if taken == CHANGES_PER_ROUND {
                    return;
                }
                match changes.next().now_or_never() {
                    None => return,
                    Some(Ok(change)) => leading.table.observe(now_ms, &change),
                    Some(Err(e)) => break e,
                }
                taken += 1;
            };
            tracing::info!(error = %lost, "lease table lost its place in the change feed; reconciling");
        }
        leading.table.reconcile(now_ms, state.state.instances());
        leading.changes = self.follow_from(state);
    }

    pub fn is_leading(&self) -> bool {
        self.table.lock().is_some()
    }

    /// Renews each instance's lease; `None` if this node does not lead. `Some(found)` says, per
    /// instance, whether it is registered (not found: the client must register again). One
    /// whose eviction this node already proposed counts as not found: acknowledging the
    /// renewal would not stop the eviction.
    pub fn renew(&self, keys: &[InstanceKey]) -> Option<Vec<bool>> {
        let now = self.now_ms();
        let state = self.state.read();
        let mut table = self.table.lock();
        let table = &mut table.as_mut()?.table;
        Some(
            keys.iter()
                .map(|k| state.state.instance(k).is_some_and(|i| table.renew_registered(now, i)))
                .collect(),
        )
    }

    /// The leases renewed at or after `since_ms` (this keeper's clock; 0 for all), with their
    /// last renewal and deadline in wall-clock ms, and the cursor for the next call; `None`
    /// when this node does not lead.
    pub fn renewed_since(&self, since_ms: u64) -> Option<(Vec<(InstanceKey, LeaseTime)>, u64)> {
        let table = self.table.lock();
        let leading = table.as_ref()?;
        let now = self.now_ms();
        let wall_now = wall_clock_ms();
        let to_wall = |ms: u64| (wall_now + ms).saturating_sub(now);
        let times = leading
            .table
            .renewed_since(since_ms)
            .into_iter()
            .map(|r| {
                let time = LeaseTime {
                    renewed_ms: to_wall(r.renewed_ms),
                    expires_ms: to_wall(r.deadline_ms),
                };
                (r.instance, time)
            })
            .collect();
        Some((times, now))
    }

    /// Lease statistics while leading.
    pub fn stats(&self) -> Option<LeaseStats> {
        let policy = self.policy();
        let mut table = self.table.lock();
        table.as_mut().map(|t| t.table.stats(self.now_ms(), &policy))
    }

    /// One round: sync with the registry and return the eviction to propose, if any.
    pub fn round(&self) -> Option<Command> {
        let policy = self.policy();
        let now = self.now_ms();
        let state = self.state.read();
        let mut table = self.table.lock();
        let leading = table.as_mut()?;
        self.catch_up(&state, leading, now);
        // The scan needs the table alone. Held through it, the state's read lock kept the next
        // apply waiting, and every reader queued behind that writer (at a million leases, the
        // scan takes tens of ms each second).
        drop(state);
        let (items, stats) = leading.table.evictable(now, &policy);
        if items.is_empty() {
            return None;
        }
        tracing::info!(
            count = items.len(),
            renewals = stats.renewals_last_window,
            threshold = stats.threshold,
            "evicting expired leases"
        );
        Some(Command::EvictInstances(EvictInstances {
            items,
            term: leading.term,
        }))
    }

    /// Runs rounds every `tick` while leading, handing evictions to `propose`, until `stop`.
    pub async fn run<F, Fut>(
        self: Arc<Self>,
        tick: Duration,
        mut leading: watch::Receiver<Option<u64>>,
        propose: F,
        mut stop: watch::Receiver<bool>,
    ) where
        F: Fn(Command) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                changed = leading.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let now_leading = *leading.borrow_and_update();
                    self.set_leader_off_runtime(now_leading).await;
                }
                _ = interval.tick() => {
                    if let Some(command) = self.round() {
                        propose(command).await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use parking_lot::RwLock;

    use super::*;
    use crate::command::CancelInstance;
    use crate::command::Proposal;
    use crate::command::RegisterInstance;
    use crate::model::Instance;
    use crate::model::LeaseSettings;
    use crate::model::Service;
    use crate::model::Tenant;
    use crate::storage::AppliedState;

    /// A registry that applies commands and publishes their changes, like the state machine.
    struct Registry {
        state: StateHandle,
        feed: Arc<ChangeFeed>,
        revision: u64,
    }

    impl Registry {
        fn new() -> Self {
            Self {
                state: Arc::new(RwLock::new(AppliedState::default())),
                feed: ChangeFeed::new(0, 1024),
                revision: 0,
            }
        }

        fn apply(&mut self, command: Command) {
            self.revision += 1;
            let (_, changes) = self
                .state
                .write()
                .state
                .apply(self.revision, &Proposal { at_ms: 0, command });
            self.feed.publish(changes);
        }

        /// Registers `id` leased for 30 s (renew every 10 s).
        fn register(&mut self, id: &str) -> InstanceKey {
            let mut instance = Instance::new(Tenant::default(), "svc", id, "h");
            instance.lease = LeaseSettings {
                renewal_interval_secs: 10,
                duration_secs: 30,
            };
            let key = instance.key();
            let create_service = Some(Service::new(Tenant::default(), "svc", "app", "svc"));
            self.apply(Command::RegisterInstance(RegisterInstance::new(
                instance,
                create_service,
            )));
            key
        }

        fn keeper(&self, policy: LeasePolicy) -> Arc<LeaseKeeper> {
            LeaseKeeper::new(policy, self.state.clone(), self.feed.clone())
        }
    }

    /// A state with `n` instances leased for 30 s (renew every 10 s), and a leading keeper.
    fn leading_keeper(n: usize, policy: LeasePolicy) -> (Arc<LeaseKeeper>, Vec<InstanceKey>) {
        let mut registry = Registry::new();
        let keys = (0..n).map(|i| registry.register(&format!("i{i}"))).collect();
        let keeper = registry.keeper(policy);
        keeper.set_leader(Some(1));
        (keeper, keys)
    }

    #[tokio::test(start_paused = true)]
    async fn evictions_name_the_term_the_keeper_leads_in_and_a_new_term_starts_afresh() {
        let mut registry = Registry::new();
        registry.register("a");
        let keeper = registry.keeper(LeasePolicy {
            self_preservation: false,
            ..LeasePolicy::default()
        });
        keeper.set_leader(Some(7));
        tokio::time::advance(Duration::from_secs(31)).await;
        match keeper.round() {
            Some(Command::EvictInstances(e)) => assert_eq!(e.term, 7),
            other => panic!("expected an eviction, got {other:?}"),
        }
        // Leading again in a later term (the step-down in between unseen): a fresh TTL.
        keeper.set_leader(Some(9));
        assert!(keeper.round().is_none(), "a new term gives every lease a fresh TTL");
    }

    #[tokio::test(start_paused = true)]
    async fn leases_follow_registrations_and_cancels_made_while_leading() {
        let mut registry = Registry::new();
        registry.register("before");
        let keeper = registry.keeper(LeasePolicy {
            self_preservation: false,
            ..LeasePolicy::default()
        });
        keeper.set_leader(Some(1));
        assert!(keeper.round().is_none());
        tokio::time::advance(Duration::from_secs(10)).await;
        registry.register("after");
        let gone = registry.register("gone");
        registry.apply(Command::CancelInstance(CancelInstance { instance: gone }));
        assert!(keeper.round().is_none());
        assert_eq!(keeper.stats().unwrap().leases, 2, "before and after hold leases");
        // "before" expires 30 s into the term, "after" 30 s after it was registered.
        tokio::time::advance(Duration::from_secs(21)).await;
        let eviction = keeper.round();
        assert_eq!(evicted(eviction.clone()), vec!["before"]);
        registry.apply(eviction.unwrap());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(evicted(keeper.round()), vec!["after"]);
    }

    fn evicted(command: Option<Command>) -> Vec<String> {
        match command {
            Some(Command::EvictInstances(e)) => e.items.into_iter().map(|i| i.instance.id.to_string()).collect(),
            None => Vec::new(),
            Some(other) => panic!("unexpected {other:?}"),
        }
    }

    /// Renews `keys` every 10 s for `secs` seconds of paused time.
    async fn renew_for(keeper: &LeaseKeeper, keys: &[InstanceKey], secs: u64) {
        for _ in 0..secs / 10 {
            tokio::time::advance(Duration::from_secs(10)).await;
            assert!(keeper.renew(keys).unwrap().iter().all(|f| *f));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_expires_at_its_configured_duration() {
        let policy = LeasePolicy {
            self_preservation: false,
            ..LeasePolicy::default()
        };
        let (keeper, _) = leading_keeper(1, policy);
        tokio::time::advance(Duration::from_millis(29_900)).await;
        assert!(evicted(keeper.round()).is_empty(), "not before 30 s");
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(evicted(keeper.round()), vec!["i0"]);
    }

    #[tokio::test(start_paused = true)]
    async fn self_preservation_holds_evictions_below_the_threshold_until_turned_off() {
        let eureka = LeasePolicy {
            rule: super::super::table::GuardRule::Eureka,
            ..LeasePolicy::default()
        };
        let (keeper, keys) = leading_keeper(10, eureka);
        // A minute of renewals from everyone: 60 renewals, expected 60, threshold 51.
        renew_for(&keeper, &keys, 60).await;
        // Then half go silent (a partition, say): renewals fall to 30 per minute.
        renew_for(&keeper, &keys[..5], 60).await;
        let stats = keeper.stats().unwrap();
        assert_eq!(stats.threshold, 51);
        assert!(!stats.expiry_enabled, "{stats:?}");
        assert!(
            evicted(keeper.round()).is_empty(),
            "self-preservation holds the expired half"
        );
        keeper.set_self_preservation(false);
        let first = evicted(keeper.round());
        assert_eq!(first.len(), 1, "at most 15 % of 10 per round");
        let mut all = first;
        for _ in 0..10 {
            all.extend(evicted(keeper.round()));
        }
        // The state is not changed by `round` (the log does that), so it keeps proposing the
        // most overdue ones; every silent instance is among what it proposes.
        assert!(
            all.iter()
                .all(|id| ["i5", "i6", "i7", "i8", "i9"].contains(&id.as_str())),
            "{all:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_leader_gives_every_lease_a_fresh_ttl() {
        let policy = LeasePolicy {
            self_preservation: false,
            ..LeasePolicy::default()
        };
        let (keeper, _) = leading_keeper(3, policy);
        tokio::time::advance(Duration::from_secs(25)).await;
        keeper.set_leader(None);
        assert!(keeper.renew(&[]).is_none(), "a follower holds no leases");
        keeper.set_leader(Some(1));
        tokio::time::advance(Duration::from_secs(25)).await;
        assert!(
            evicted(keeper.round()).is_empty(),
            "50 s since registration, 25 s since the new term"
        );
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(evicted(keeper.round()).len(), 1);
    }
}
