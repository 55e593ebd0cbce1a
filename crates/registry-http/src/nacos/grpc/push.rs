//! The worker pushing changes to subscribers (`NotifySubscriberRequest` on the connection's
//! stream, which the client acknowledges with a `NotifySubscriberResponse`): it follows the
//! registry's change feed, and after each burst of instance or service changes compares every
//! subscription's hosts with those last sent, pushing those that differ. A subscriber whose
//! stream is full misses that push, not the next one (what was sent is recorded only once
//! queued).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use registry_store::record::Entity;
use registry_store::registry::Registry;
use registry_store::worker::stopped;
use registry_store::worker::StopSignal;
use registry_store::worker::Worker;
use registry_store::worker::WorkerStatus;

use super::codec;
use super::connections::Connections;
use super::handlers::Handlers;
use super::messages::NotifySubscriberRequest;

/// How long a burst of changes is gathered before subscribers are compared.
pub const GATHER: Duration = Duration::from_millis(50);

pub struct Pusher {
    pub handlers: Arc<Handlers>,
}

impl Pusher {
    fn connections(&self) -> &Connections {
        &self.handlers.connections
    }

    /// Pushes every subscription whose hosts differ from those last sent; returns how many.
    pub fn push_changed(&self) -> usize {
        let mut pushed = 0;
        for s in self.connections().subscriptions() {
            let info = self
                .handlers
                .service_info(s.key.tenant.clone(), &s.subscription.name, &s.key.clusters, false);
            if s.subscription.last_sent.as_ref() == Some(&info.hosts) {
                continue;
            }
            let hosts = info.hosts.clone();
            let notify = NotifySubscriberRequest {
                headers: Default::default(),
                request_id: self.connections().request_id(),
                module: "naming".into(),
                namespace: s.key.namespace.clone(),
                service_name: s.subscription.name.name.clone(),
                group_name: s.subscription.name.group.clone(),
                service_info: info,
            };
            if s.push
                .try_send(codec::encode("NotifySubscriberRequest", &notify))
                .is_ok()
            {
                self.connections().sent(s.remote, &s.key, hosts);
                pushed += 1;
            }
        }
        pushed
    }

    async fn follow(&self, stop: &mut StopSignal, status: &WorkerStatus) -> Result<(), String> {
        let registry: &Arc<dyn Registry> = &self.handlers.registry;
        let mut feed = registry.subscribe(registry.revision()).map_err(|e| e.to_string())?;
        loop {
            let change = tokio::select! {
                _ = stopped(stop) => return Ok(()),
                change = feed.next() => change,
            };
            match change {
                Ok(c) if matches!(c.entity, Entity::Instance(_) | Entity::Service(_)) => {}
                Ok(_) => continue,
                // Fallen behind or reset: compare everything, and follow from now.
                Err(e) => {
                    status.error(&e);
                    self.push_changed();
                    return Ok(());
                }
            }
            tokio::select! {
                _ = stopped(stop) => return Ok(()),
                _ = tokio::time::sleep(GATHER) => {}
            }
            // The rest of the burst, without waiting (the feed's `next` is cancel-safe).
            let mut behind = None;
            while let Some(next) = feed.next().now_or_never() {
                if let Err(e) = next {
                    behind = Some(e);
                    break;
                }
            }
            self.push_changed();
            if let Some(e) = behind {
                status.error(&e);
                return Ok(());
            }
            status.activity();
        }
    }
}

impl Worker for Pusher {
    fn name(&self) -> String {
        "nacos-grpc-push".into()
    }

    fn run(self: Box<Self>, mut stop: StopSignal, status: WorkerStatus) -> BoxFuture<'static, Result<(), String>> {
        async move {
            loop {
                self.follow(&mut stop, &status).await?;
                if *stop.borrow() {
                    return Ok(());
                }
                tokio::time::sleep(GATHER).await;
            }
        }
        .boxed()
    }
}
