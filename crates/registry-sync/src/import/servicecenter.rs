//! Import from any ServiceCenter-API server: each round lists the services of the remote tenant,
//! then each service's instances with the `rev` it last saw (a 304 means unchanged, and the
//! cached list is used). Every round is a complete listing.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use registry_store::model::MirroredFrom;
use registry_store::model::Origin;
use registry_store::model::Tenant;
use registry_store::node::wall_clock_ms;
use registry_store::protocol::servicecenter::mapping;
use registry_store::protocol::servicecenter::mapping::LeaseLimits;
use registry_store::protocol::servicecenter::wire::MicroService;
use registry_store::protocol::servicecenter::wire::MicroServiceInstance;
use smol_str::format_smolstr;
use smol_str::SmolStr;

use crate::client::http::RemoteHttp;
use crate::client::servicecenter::fnv1a;
use crate::client::servicecenter::Instances;
use crate::client::servicecenter::ScClient;
use crate::error::SyncError;
use crate::import::Source;
use crate::plan::Listing;
use crate::Context;

/// One service's instances as last fetched, with the revision the peer gave them.
struct Cached {
    rev: String,
    instances: Vec<MicroServiceInstance>,
}

/// The import state of one ServiceCenter peer.
pub struct ScSource {
    client: ScClient,
    source: SmolStr,
    tenant: Tenant,
    interval: Duration,
    cache: BTreeMap<String, Cached>,
    first: bool,
}

impl ScSource {
    pub fn new(ctx: &Context) -> Self {
        Self {
            client: ScClient {
                http: RemoteHttp::new(&ctx.peer),
                tenant: ctx.peer.remote_tenant.clone(),
            },
            source: ctx.peer.name.as_str().into(),
            tenant: ctx.peer.tenant.clone(),
            interval: ctx.peer.interval,
            cache: BTreeMap::new(),
            first: true,
        }
    }

    async fn next_listing(&mut self) -> Result<Listing, SyncError> {
        if !std::mem::take(&mut self.first) {
            tokio::time::sleep(self.interval).await;
        }
        let services = self.client.services().await?;
        let mut cache = BTreeMap::new();
        for s in &services {
            let known = self.cache.remove(&s.service_id);
            let cached = match self
                .client
                .instances(&s.service_id, known.as_ref().map(|k| k.rev.as_str()))
                .await?
            {
                Instances::Unchanged => match known {
                    Some(k) => k,
                    None => continue,
                },
                // Deleted between the two calls: simply not listed this round.
                Instances::Gone => continue,
                Instances::Listed { rev, instances } => Cached { rev, instances },
            };
            cache.insert(s.service_id.clone(), cached);
        }
        self.cache = cache;
        Ok(self.listing(&services))
    }

    fn listing(&self, services: &[MicroService]) -> Listing {
        let observed_at_ms = wall_clock_ms();
        let mut listing = Listing {
            complete: true,
            ..Listing::default()
        };
        let mut revisions = Vec::new();
        for wire in services {
            let Some(cached) = self.cache.get(&wire.service_id) else {
                continue;
            };
            revisions.push(cached.rev.as_str());
            let mut service = mapping::service_from_wire(self.tenant.clone(), wire);
            service.origin = Origin::Mirrored(Box::new(MirroredFrom {
                source: self.source.clone(),
                remote_id: wire.service_id.as_str().into(),
                remote_revision: None,
                observed_at_ms,
            }));
            for i in &cached.instances {
                let mut instance = mapping::instance_from_wire(&service, i, LeaseLimits::default());
                instance.origin = Origin::Mirrored(Box::new(MirroredFrom {
                    source: self.source.clone(),
                    remote_id: format_smolstr!("{}/{}", wire.service_id, i.instance_id),
                    remote_revision: None,
                    observed_at_ms,
                }));
                listing.instances.push(instance);
            }
            listing.services.push(service);
        }
        listing.checkpoint = format!("services={} revs={}", services.len(), fingerprint(&revisions));
        listing
    }
}

/// A short stable digest of the per-service revisions, so the checkpoint moves when any does.
fn fingerprint(revisions: &[&str]) -> String {
    let bytes = revisions.iter().flat_map(|r| r.bytes().chain(std::iter::once(b'|')));
    format!("{:016x}", fnv1a(bytes))
}

impl Source for ScSource {
    fn next<'a>(&'a mut self, _checkpoint: Option<&'a str>) -> BoxFuture<'a, Result<Listing, SyncError>> {
        Box::pin(self.next_listing())
    }

    fn reset(&mut self) {
        self.cache.clear();
    }
}
