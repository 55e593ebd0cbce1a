//! Import from any Eureka-API server: a full `/apps`, then `/apps/delta` each round, applied to
//! a local copy whose `apps__hashcode` must match the server's; on mismatch, or every
//! `full_sync`, a full fetch again (as Eureka's own clients do).

use std::collections::BTreeMap;
use std::time::Duration;
use std::time::Instant;

use futures::future::BoxFuture;
use registry_store::model::MirroredFrom;
use registry_store::model::Origin;
use registry_store::node::wall_clock_ms;
use registry_store::protocol::eureka::hashcode::apps_hashcode;
use registry_store::protocol::eureka::mapping;
use registry_store::protocol::eureka::mapping::EurekaSettings;
use registry_store::protocol::eureka::wire::ActionType;
use registry_store::protocol::eureka::wire::InstanceInfo;
use smol_str::format_smolstr;
use smol_str::SmolStr;
use smol_str::ToSmolStr;

use crate::client::eureka::fetch_apps;
use crate::client::http::RemoteHttp;
use crate::error::SyncError;
use crate::import::Source;
use crate::plan::Listing;
use crate::Context;

/// The import state of one Eureka peer.
pub struct EurekaSource {
    http: RemoteHttp,
    source: SmolStr,
    settings: EurekaSettings,
    interval: Duration,
    full_every: Duration,
    /// The peer's registry as last fetched, by (APP, instance id).
    view: Option<BTreeMap<(String, String), InstanceInfo>>,
    last_full: Instant,
    first: bool,
}

impl EurekaSource {
    pub fn new(ctx: &Context) -> Self {
        Self {
            http: RemoteHttp::new(&ctx.peer),
            source: ctx.peer.name.as_str().into(),
            settings: EurekaSettings {
                tenant: ctx.peer.tenant.clone(),
                app_id: ctx.eureka_app_id.clone(),
            },
            interval: ctx.peer.interval,
            full_every: ctx.peer.full_sync,
            view: None,
            last_full: Instant::now(),
            first: true,
        }
    }

    async fn next_listing(&mut self) -> Result<Listing, SyncError> {
        if !std::mem::take(&mut self.first) {
            tokio::time::sleep(self.interval).await;
        }
        if self.view.is_none() || self.last_full.elapsed() >= self.full_every {
            return self.full().await;
        }
        self.delta().await
    }

    async fn full(&mut self) -> Result<Listing, SyncError> {
        let apps = fetch_apps(&self.http, "/apps").await?;
        let view: BTreeMap<(String, String), InstanceInfo> = apps
            .applications
            .into_iter()
            .flat_map(|app| app.instances)
            .map(|i| (key(&i), i))
            .collect();
        let mut listing = self.listing(view.values(), checkpoint(&apps.versions_delta, &apps.apps_hashcode));
        listing.complete = true;
        self.view = Some(view);
        self.last_full = Instant::now();
        Ok(listing)
    }

    async fn delta(&mut self) -> Result<Listing, SyncError> {
        let delta = fetch_apps(&self.http, "/apps/delta").await?;
        let view = self.view.as_mut().expect("a full fetch came first");
        let mut changed = Vec::new();
        let mut removed = Vec::new();
        for info in delta.applications.into_iter().flat_map(|app| app.instances) {
            let k = key(&info);
            if info.action_type == Some(ActionType::Deleted) {
                view.remove(&k);
                removed.push(remote_id(&k).to_string());
            } else {
                changed.push(k.clone());
                view.insert(k, info);
            }
        }
        let ours = apps_hashcode(view.values().map(|i| i.status));
        if ours != delta.apps_hashcode {
            tracing::debug!(peer = %self.source, ours, theirs = %delta.apps_hashcode, "hashcode mismatch; full fetch");
            return self.full().await;
        }
        let view = self.view.as_ref().expect("still there");
        let mut listing = self.listing(
            changed.iter().filter_map(|k| view.get(k)),
            checkpoint(&delta.versions_delta, &delta.apps_hashcode),
        );
        listing.removed = removed;
        Ok(listing)
    }

    /// The model records of `infos`, mirrored from this peer.
    fn listing<'a>(&self, infos: impl Iterator<Item = &'a InstanceInfo>, checkpoint: String) -> Listing {
        let observed_at_ms = wall_clock_ms();
        let mut listing = Listing {
            checkpoint,
            ..Listing::default()
        };
        for info in infos {
            let version = mapping::version_of(info);
            let mut service = self.settings.service_for_app(&info.app, version);
            if listing.services.iter().any(|s| s.id == service.id) {
                service.origin = Origin::Local;
            } else {
                service.origin = Origin::Mirrored(Box::new(MirroredFrom {
                    source: self.source.clone(),
                    remote_id: info.app.as_str().into(),
                    remote_revision: None,
                    observed_at_ms,
                }));
                listing.services.push(service);
            }
            let mut instance = mapping::to_instance(&self.settings, info);
            instance.origin = Origin::Mirrored(Box::new(MirroredFrom {
                source: self.source.clone(),
                remote_id: remote_id(&key(info)),
                remote_revision: Some(info.last_dirty_timestamp.to_smolstr()),
                observed_at_ms,
            }));
            listing.instances.push(instance);
        }
        listing
    }
}

fn key(info: &InstanceInfo) -> (String, String) {
    (info.app.to_ascii_uppercase(), info.effective_id().to_string())
}

/// The id a mirrored Eureka instance carries in its origin: `APP/instanceId`.
fn remote_id((app, id): &(String, String)) -> SmolStr {
    format_smolstr!("{app}/{id}")
}

fn checkpoint(versions_delta: &str, hashcode: &str) -> String {
    format!("{versions_delta}:{hashcode}")
}

impl Source for EurekaSource {
    fn next<'a>(&'a mut self, _checkpoint: Option<&'a str>) -> BoxFuture<'a, Result<Listing, SyncError>> {
        Box::pin(self.next_listing())
    }

    fn reset(&mut self) {
        self.view = None;
    }
}
