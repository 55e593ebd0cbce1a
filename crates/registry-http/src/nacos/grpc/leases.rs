//! The worker keeping the leases of connection-bound instances: every [`RENEW_EVERY`] it
//! renews, in one batch and never through the log, the leases every live connection of this
//! node holds, and drops the connections silent too long (asking idle ones first, as Nacos's
//! `NacosRuntimeConnectionEjector` does). A lease no connection holds any more is not renewed
//! and runs out by the lease rules ([`super::handlers::CONNECTION_LEASE`]); a lease is released
//! when its instance is gone from the registry (deregistered, expired, removed elsewhere).

use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::FutureExt;
use registry_store::registry::Registry;
use registry_store::worker::stopped;
use registry_store::worker::StopSignal;
use registry_store::worker::Worker;
use registry_store::worker::WorkerStatus;

use super::codec;
use super::connections::Connections;
use super::messages::ClientDetectionRequest;

/// How often the held leases are renewed: the lease's renewal interval.
pub const RENEW_EVERY: Duration = Duration::from_secs(super::handlers::CONNECTION_LEASE.renewal_interval_secs as u64);

pub struct LeaseHolder {
    pub registry: Arc<dyn Registry>,
    pub connections: Arc<Connections>,
}

impl LeaseHolder {
    /// One round: sweep, then renew; the leases the registry no longer holds are released.
    pub async fn round(&self) -> Result<usize, String> {
        for push in self.connections.sweep(Instant::now()) {
            let ask = ClientDetectionRequest {
                headers: Default::default(),
                request_id: self.connections.request_id(),
                module: "internal".into(),
            };
            let _ = push.try_send(codec::encode("ClientDetectionRequest", &ask));
        }
        let keys = self.connections.held();
        if keys.is_empty() {
            return Ok(0);
        }
        let found = self.registry.renew(keys.clone()).await.map_err(|e| e.to_string())?;
        let refused: Vec<_> = keys
            .iter()
            .zip(&found)
            .filter(|(_, f)| !**f)
            .map(|(k, _)| k.clone())
            .collect();
        // A renewal is also refused by a leader whose lease table is not built yet (just
        // elected): only the keys gone from the registry are released; the others are renewed
        // again next round.
        let gone: Vec<_> = self.registry.read(|applied| {
            refused
                .into_iter()
                .filter(|k| applied.state.instance(k).is_none())
                .collect()
        });
        self.connections.release(&gone);
        Ok(keys.len() - gone.len())
    }
}

impl Worker for LeaseHolder {
    fn name(&self) -> String {
        "nacos-grpc-leases".into()
    }

    fn run(self: Box<Self>, mut stop: StopSignal, status: WorkerStatus) -> BoxFuture<'static, Result<(), String>> {
        async move {
            let mut tick = tokio::time::interval(RENEW_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stopped(&mut stop) => return Ok(()),
                    _ = tick.tick() => match self.round().await {
                        Ok(_) => status.activity(),
                        // No leader for a moment: the next round renews.
                        Err(e) => status.error(e),
                    },
                }
            }
        }
        .boxed()
    }
}
