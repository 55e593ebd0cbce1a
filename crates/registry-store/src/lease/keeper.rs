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
