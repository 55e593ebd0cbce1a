//! The leader-bound lease worker: renews leases in memory and proposes evictions through the log.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;

use super::table::LeasePolicy;
use super::table::LeaseStats;
use super::table::LeaseTable;
use crate::command::Command;
use crate::command::EvictInstances;
use crate::model::InstanceKey;
use crate::storage::StateHandle;

/// Holds lease deadlines while this node leads. Renewals on a non-leader are refused by the
/// caller (they are forwarded to the leader instead).
pub struct LeaseKeeper {
    policy: Mutex<LeasePolicy>,
    state: StateHandle,
    /// `Some` while this node is the leader.
    table: Mutex<Option<LeaseTable>>,
    epoch: Instant,
}

impl LeaseKeeper {
    pub fn new(policy: LeasePolicy, state: StateHandle) -> Arc<Self> {
        Arc::new(Self {
            policy: Mutex::new(policy),
            state,
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

    /// Called when this node becomes leader (fresh full TTL for everyone) or stops leading.
    pub fn set_leader(&self, leading: bool) {
        let mut table = self.table.lock();
        match (leading, table.is_some()) {
            (true, false) => {
                let state = self.state.read();
                *table = Some(LeaseTable::new_term(
                    self.now_ms(),
                    state.state.instances().map(|i| &**i),
                ));
                tracing::info!(
                    leases = state.state.instance_count(),
                    "leading: every lease gets a fresh TTL"
                );
            }
            (false, true) => *table = None,
            _ => {}
        }
    }

    pub fn is_leading(&self) -> bool {
        self.table.lock().is_some()
    }

    /// Renews each instance's lease; `None` if this node does not lead. `Some(found)` says, per
    /// instance, whether it is registered (not found: the client must register again).
    pub fn renew(&self, keys: &[InstanceKey]) -> Option<Vec<bool>> {
        let now = self.now_ms();
        let state = self.state.read();
        let mut table = self.table.lock();
        let table = table.as_mut()?;
        Some(
            keys.iter()
                .map(|k| match state.state.instance(k) {
                    Some(i) => {
                        table.renew(now, i);
                        true
                    }
                    None => false,
                })
                .collect(),
        )
    }

    /// Lease statistics while leading.
    pub fn stats(&self) -> Option<LeaseStats> {
        let policy = self.policy();
        let mut table = self.table.lock();
        table.as_mut().map(|t| t.stats(self.now_ms(), &policy))
    }

    /// One round: sync with the registry and return the eviction to propose, if any.
    pub fn round(&self) -> Option<Command> {
        let policy = self.policy();
        let now = self.now_ms();
        let state = self.state.read();
        let mut table = self.table.lock();
        let table = table.as_mut()?;
        table.reconcile(now, state.state.instances().map(|i| &**i));
        let (items, stats) = table.evictable(now, &policy);
        if items.is_empty() {
            return None;
        }
        tracing::info!(
            count = items.len(),
            renewals = stats.renewals_last_window,
            threshold = stats.threshold,
            "evicting expired leases"
        );
        Some(Command::EvictInstances(EvictInstances { items }))
    }

    /// Runs rounds every `tick` while leading, handing evictions to `propose`, until `stop`.
    pub async fn run<F, Fut>(
        self: Arc<Self>,
        tick: Duration,
        mut leading: watch::Receiver<bool>,
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
                    self.set_leader(now_leading);
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
    use crate::command::Proposal;
    use crate::command::RegisterInstance;
    use crate::model::Instance;
    use crate::model::LeaseSettings;
    use crate::model::Service;
    use crate::model::Tenant;
    use crate::storage::AppliedState;

    /// A state with `n` instances leased for 30 s (renew every 10 s), and a leading keeper.
    fn leading_keeper(n: usize, policy: LeasePolicy) -> (Arc<LeaseKeeper>, Vec<InstanceKey>) {
        let state: StateHandle = Arc::new(RwLock::new(AppliedState::default()));
        let mut keys = Vec::new();
        {
            let mut applied = state.write();
            for i in 0..n {
                let mut instance = Instance::new(Tenant::default(), "svc", format!("i{i}"), "h");
                instance.lease = LeaseSettings {
                    renewal_interval_secs: 10,
                    duration_secs: 30,
                };
                keys.push(instance.key());
                let create_service = Some(Service::new(Tenant::default(), "svc", "app", "svc"));
                let command = Command::RegisterInstance(RegisterInstance {
                    instance,
                    create_service,
                });
                applied.state.apply(i as u64 + 1, &Proposal { at_ms: 0, command });
            }
        }
        let keeper = LeaseKeeper::new(policy, state);
        keeper.set_leader(true);
        (keeper, keys)
    }

    fn evicted(command: Option<Command>) -> Vec<String> {
        match command {
            Some(Command::EvictInstances(e)) => e.items.into_iter().map(|i| i.instance.id).collect(),
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
        let (keeper, keys) = leading_keeper(10, LeasePolicy::default());
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
        keeper.set_leader(false);
        assert!(keeper.renew(&[]).is_none(), "a follower holds no leases");
        keeper.set_leader(true);
        tokio::time::advance(Duration::from_secs(25)).await;
        assert!(
            evicted(keeper.round()).is_empty(),
            "50 s since registration, 25 s since the new term"
        );
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(evicted(keeper.round()).len(), 1);
    }
}
