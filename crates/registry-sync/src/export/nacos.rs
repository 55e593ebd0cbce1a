//! Export to any Nacos server, as a Nacos 1.x HTTP client would: each copy is an **ephemeral**
//! instance (`POST /nacos/v1/ns/instance`, `ephemeral=true`) kept alive by a beat every 5 s
//! (`PUT .../instance/beat`, with the full beat so a server that lost it registers it again)
//! and removed with `DELETE`. If this cluster goes away entirely, nobody beats and the Nacos
//! server drops the copies after its own instance timeout (30 s by default): no ghosts, unlike
//! persistent copies, which would stay until someone deletes them by hand.
//!
//! What a copy looks like comes from the shared Nacos mapping (`to_host`): address, cluster,
//! weight, enabled, metadata, with `sync.origin` and `sync.hops` among the metadata, so an import
//! from the same server recognises the copy and the next leader adopts it.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use registry_store::protocol::nacos::mapping;
use registry_store::protocol::nacos::mapping::NacosSettings;
use registry_store::protocol::nacos::mapping::Registration;
use registry_store::protocol::nacos::mapping::ServiceName;

use super::RemoteRef;
use super::Sink;
use super::Wanted;
use crate::client::http::RemoteHttp;
use crate::client::nacos::Address;
use crate::client::nacos::NacosClient;
use crate::error::SyncError;
use crate::hops;
use crate::import::nacos::settings_for;
use crate::Context;

/// How often a copy is beaten: Nacos's client default, a third of its health timeout.
const BEAT_EVERY: Duration = Duration::from_millis(mapping::DEFAULT_BEAT_INTERVAL_MS);

pub struct NacosSink {
    client: NacosClient,
    settings: NacosSettings,
    groups: Vec<String>,
}

impl NacosSink {
    pub fn new(ctx: &Context) -> Self {
        Self {
            client: NacosClient {
                http: RemoteHttp::new(&ctx.peer),
                namespace: ctx.peer.namespace.clone(),
            },
            settings: settings_for(ctx),
            groups: ctx.peer.groups.clone(),
        }
    }

    /// The Nacos service `w` is listed under: its app's group, its name.
    fn name_of(&self, w: &Wanted) -> ServiceName {
        ServiceName {
            group: self.settings.group_of(&w.service.app),
            name: w.service.name.clone(),
        }
    }

    /// `w` as a Nacos client would register it.
    fn registration(&self, w: &Wanted) -> Registration {
        let host = mapping::to_host(&self.name_of(w), &w.instance);
        Registration {
            ip: host.ip,
            port: host.port,
            cluster: host.cluster_name,
            weight: host.weight,
            healthy: host.healthy,
            enabled: host.enabled,
            ephemeral: true,
            metadata: host.metadata,
        }
    }

    fn key_of(name: &ServiceName, address: &Address) -> String {
        format!("{}/{}", name.grouped(), address.encode())
    }

    fn address_of(r: &Registration) -> Address {
        Address {
            ip: r.ip.clone(),
            port: r.port,
            cluster: r.cluster.clone(),
        }
    }

    fn remote_of(r: &RemoteRef) -> Result<(ServiceName, Address), SyncError> {
        let name = ServiceName::parse(Some(&r.parent), None).map_err(|e| SyncError::BadBody(e.0))?;
        let address = Address::decode(&r.id).ok_or_else(|| SyncError::BadBody(format!("copy address {:?}", r.id)))?;
        Ok((name, address))
    }

    async fn adopt_copy(&self, us: &str) -> Result<BTreeMap<String, RemoteRef>, SyncError> {
        let mut found = BTreeMap::new();
        for group in &self.groups {
            for service in self.client.services(group).await? {
                let name = ServiceName {
                    group: group.clone(),
                    name: service,
                };
                for host in self.client.instances(&name).await? {
                    let ours = host.metadata.as_ref().is_some_and(|m| hops::last_hop_is(m, us));
                    let Some(r) = mapping::registration_of(&host).ok().filter(|_| ours) else {
                        continue;
                    };
                    let address = Self::address_of(&r);
                    let remote = RemoteRef {
                        parent: name.grouped(),
                        id: address.encode(),
                    };
                    found.insert(Self::key_of(&name, &address), remote);
                }
            }
        }
        Ok(found)
    }

    async fn register_copy(&self, w: &Wanted) -> Result<RemoteRef, SyncError> {
        let name = self.name_of(w);
        let r = self.registration(w);
        self.client.register(&name, &r).await?;
        Ok(RemoteRef {
            parent: name.grouped(),
            id: Self::address_of(&r).encode(),
        })
    }

    async fn renew_copy(&self, r: &RemoteRef, w: Option<&Wanted>) -> Result<bool, SyncError> {
        let (name, address) = Self::remote_of(r)?;
        let (weight, metadata) = match w {
            Some(w) => {
                let r = self.registration(w);
                (r.weight, r.metadata)
            }
            None => (1.0, BTreeMap::new()),
        };
        self.client.beat(&name, &address, weight, &metadata).await
    }

    async fn remove_copy(&self, r: &RemoteRef) -> Result<(), SyncError> {
        let (name, address) = Self::remote_of(r)?;
        self.client.deregister(&name, &address).await
    }
}

impl Sink for NacosSink {
    fn key(&self, w: &Wanted) -> String {
        let r = self.registration(w);
        Self::key_of(&self.name_of(w), &Self::address_of(&r))
    }

    /// Only the configured groups, and only instances with an address Nacos can hold.
    fn wants(&self, w: &Wanted) -> bool {
        let (ip, port) = mapping::address_of(&w.instance);
        self.groups.contains(&self.settings.group_of(&w.service.app)) && !ip.is_empty() && port != 0
    }

    fn beat_every(&self, _w: &Wanted) -> Duration {
        BEAT_EVERY
    }

    fn adopt<'a>(&'a self, us: &'a str) -> BoxFuture<'a, Result<BTreeMap<String, RemoteRef>, SyncError>> {
        Box::pin(self.adopt_copy(us))
    }

    fn register<'a>(&'a self, w: &'a Wanted) -> BoxFuture<'a, Result<RemoteRef, SyncError>> {
        Box::pin(self.register_copy(w))
    }

    fn renew<'a>(&'a self, r: &'a RemoteRef, w: Option<&'a Wanted>) -> BoxFuture<'a, Result<bool, SyncError>> {
        Box::pin(self.renew_copy(r, w))
    }

    fn remove<'a>(&'a self, r: &'a RemoteRef) -> BoxFuture<'a, Result<(), SyncError>> {
        Box::pin(self.remove_copy(r))
    }
}
