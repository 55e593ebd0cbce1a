//! Keeps this node's copy of the leader's lease times ([`LeaseTimes`]) about once a second:
//! from its own lease table while it leads, else from the leader over gRPC (what changed since
//! the last copy). Views (Eureka's `lastRenewalTimestamp`, the dashboard, `registryctl`) read it.

use std::sync::Weak;
use std::time::Duration;

use tokio::sync::watch;

use super::call_peer;
use super::heartbeat::key_from_pb;
use super::upgrade;
use super::Inner;
use super::NodeError;
use super::RegistryNode;
use crate::lease::LeaseTime;
use crate::lease::LeaseTimes;
use crate::transport::pb;

/// How often the copy is refreshed.
pub const COPY_EVERY: Duration = Duration::from_secs(1);
/// Every so many rounds, instances that are gone are forgotten.
const PRUNE_EVERY_ROUNDS: u32 = 60;

impl RegistryNode {
    /// This node's copy of the leader's lease times.
    pub fn lease_times(&self) -> &LeaseTimes {
        &self.inner.lease_times
    }

    async fn copy_lease_times(&self) -> Result<(), NodeError> {
        let times = &self.inner.lease_times;
        let me = self.node_id();
        if let Some((renewed, cursor)) = self.inner.leases.renewed_since(times.cursor_for(me)) {
            times.merge(me, cursor, renewed);
            return Ok(());
        }
        let (leader, mut client) = self.leader_client()?;
        if leader == me {
            return Ok(());
        }
        let since_ms = times.cursor_for(leader);
        let call = client.lease_times(pb::LeaseTimesRequest { since_ms });
        let resp = call_peer(leader, Duration::from_secs(5), call).await?;
        if resp.not_leader.is_some() {
            return Ok(());
        }
        let renewed = resp
            .times
            .into_iter()
            .filter_map(|t| {
                let time = LeaseTime {
                    renewed_ms: t.renewed_ms,
                    expires_ms: t.expires_ms,
                };
                Some((key_from_pb(t.instance?), time))
            })
            .collect();
        times.merge(leader, resp.cursor, renewed);
        Ok(())
    }
}

/// Refreshes the copy every [`COPY_EVERY`] until `stop`.
pub(super) async fn copy_loop(weak: Weak<Inner>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(COPY_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut round: u32 = 0;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        let Some(node) = upgrade(&weak) else { return };
        if let Err(e) = node.copy_lease_times().await {
            tracing::debug!(error = %e, "lease times not copied this round");
        }
        round = round.wrapping_add(1);
        if round.is_multiple_of(PRUNE_EVERY_ROUNDS) {
            let applied = node.read();
            node.inner.lease_times.retain(|k| applied.state.instance(k).is_some());
        }
    }
}
