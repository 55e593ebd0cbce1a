//! Import from any Nacos server over its naming Open API v1: each round lists the services of
//! every configured group (`/service/list`, paged), then each service's instances
//! (`/instance/list`, healthy or not), and maps them with the shared Nacos mapping
//! ([`registry_store::protocol::nacos::mapping`]), so a copy looks exactly as if its client had
//! registered here. Every round is a complete listing.

use std::time::Duration;

use futures::future::BoxFuture;
use registry_store::model::MirroredFrom;
use registry_store::model::Origin;
use registry_store::model::Service;
use registry_store::model::Tenant;
use registry_store::node::wall_clock_ms;
use registry_store::node::RegistryNode;
use registry_store::protocol::nacos::mapping;
use registry_store::protocol::nacos::mapping::NacosSettings;
use registry_store::protocol::nacos::mapping::ServiceName;
use smol_str::format_smolstr;
use smol_str::SmolStr;

use crate::client::http::RemoteHttp;
use crate::client::nacos::NacosClient;
use crate::client::nacos::RemoteHost;
use crate::client::servicecenter::fnv1a;
use crate::error::SyncError;
use crate::import::Source;
use crate::plan::Listing;
use crate::Context;

/// The import state of one Nacos peer.
pub struct NacosSource {
    client: NacosClient,
    node: RegistryNode,
    source: SmolStr,
    tenant: Tenant,
    settings: NacosSettings,
    groups: Vec<String>,
    interval: Duration,
    first: bool,
}

/// The settings the shared mapping needs for a remote: its namespace lands in the table's
/// `tenant`, its `DEFAULT_GROUP` is Eureka's app (as for Nacos clients of this cluster).
pub fn settings_for(ctx: &Context) -> NacosSettings {
    NacosSettings {
        public_tenant: ctx.peer.tenant.clone(),
        default_group_app: ctx.eureka_app_id.clone(),
        ..NacosSettings::default()
    }
}

impl NacosSource {
    pub fn new(ctx: &Context) -> Self {
        Self {
            client: NacosClient {
                http: RemoteHttp::new(&ctx.peer),
                namespace: ctx.peer.namespace.clone(),
            },
            node: ctx.node.clone(),
            source: ctx.peer.name.as_str().into(),
            tenant: ctx.peer.tenant.clone(),
            settings: settings_for(ctx),
            groups: ctx.peer.groups.clone(),
            interval: ctx.peer.interval,
            first: true,
        }
    }

    async fn next_listing(&mut self) -> Result<Listing, SyncError> {
        if !std::mem::take(&mut self.first) {
            tokio::time::sleep(self.interval).await;
        }
        let mut listed: Vec<(ServiceName, Vec<RemoteHost>)> = Vec::new();
        for group in &self.groups {
            for service in self.client.services(group).await? {
                let name = ServiceName {
                    group: group.clone(),
                    name: service,
                };
                let hosts = self.client.instances(&name).await?;
                listed.push((name, hosts));
            }
        }
        Ok(self.listing(&listed))
    }

    /// The local service `name` maps to: one that exists already (any version, Nacos's
    /// first, as the Nacos API finds it), else the one a first registration would create.
    fn service_for(&self, name: &ServiceName) -> (Service, bool) {
        let applied = self.node.read();
        let mut existing: Vec<&std::sync::Arc<Service>> = applied
            .state
            .services_named(&self.tenant, &name.name)
            .filter(|s| self.settings.is_service(s, name))
            .collect();
        existing.sort_by_key(|s| s.version != mapping::SERVICE_VERSION);
        match existing.first() {
            Some(s) => ((***s).clone(), true),
            None => (self.settings.new_service(self.tenant.clone(), name), false),
        }
    }

    fn listing(&self, listed: &[(ServiceName, Vec<RemoteHost>)]) -> Listing {
        let observed_at_ms = wall_clock_ms();
        let mut listing = Listing {
            complete: true,
            ..Listing::default()
        };
        let mirrored = |remote_id: SmolStr| {
            Origin::Mirrored(Box::new(MirroredFrom {
                source: self.source.clone(),
                remote_id,
                remote_revision: None,
                observed_at_ms,
            }))
        };
        let mut digest = Vec::new();
        for (name, hosts) in listed {
            let (mut service, exists) = self.service_for(name);
            if !exists {
                service.origin = mirrored(name.grouped().into());
                listing.services.push(service.clone());
            }
            for host in hosts {
                let registration = match mapping::registration_of(host) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(peer = %self.source, ip = ?host.ip, port = ?host.port, error = %e, "host without a usable address skipped");
                        continue;
                    }
                };
                let mut instance = mapping::to_instance(&service, name, &registration);
                let address = format_smolstr!("{}#{}#{}", registration.ip, registration.port, registration.cluster);
                instance.origin = mirrored(format_smolstr!("{}/{address}", name.grouped()));
                digest.extend(instance.id.bytes());
                digest.push(u8::from(host.healthy) << 1 | u8::from(host.enabled));
                listing.instances.push(instance);
            }
        }
        listing.checkpoint = format!(
            "services={} instances={} digest={:016x}",
            listed.len(),
            listing.instances.len(),
            fnv1a(digest)
        );
        listing
    }
}

impl Source for NacosSource {
    fn next<'a>(&'a mut self, _checkpoint: Option<&'a str>) -> BoxFuture<'a, Result<Listing, SyncError>> {
        Box::pin(self.next_listing())
    }

    fn reset(&mut self) {}
}
