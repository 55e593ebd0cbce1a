//! Export to any ServiceCenter-API server, as a ServiceCenter SDK would: create the service
//! (keeping its id when the peer has none for that key), register the instance with its id,
//! renew with `PUT .../heartbeat`, unregister with `DELETE`.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use registry_store::model::ServiceKey;
use registry_store::protocol::servicecenter::mapping;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::RemoteRef;
use super::Sink;
use super::Wanted;
use crate::client::http::RemoteHttp;
use crate::client::servicecenter::error_code;
use crate::client::servicecenter::fnv1a;
use crate::client::servicecenter::Instances;
use crate::client::servicecenter::ScClient;
use crate::client::servicecenter::INSTANCE_NOT_EXISTS;
use crate::client::servicecenter::SERVICE_NOT_EXISTS;
use crate::error::SyncError;
use crate::hops;
use crate::Context;

#[derive(Deserialize)]
struct IdReply {
    #[serde(rename = "serviceId", default)]
    service_id: String,
    #[serde(rename = "instanceId", default)]
    instance_id: String,
}

pub struct ScSink {
    client: ScClient,
    /// Our service (by key) → its id at the peer.
    service_ids: Mutex<BTreeMap<ServiceKey, String>>,
}

impl ScSink {
    pub fn new(ctx: &Context) -> Self {
        Self {
            client: ScClient {
                http: RemoteHttp::new(&ctx.peer),
                tenant: ctx.peer.remote_tenant.clone(),
            },
            service_ids: Mutex::new(BTreeMap::new()),
        }
    }

    /// `app/name/version/environment/instanceId`: the same at the peer whatever id the service got.
    fn key_of_wanted(w: &Wanted) -> String {
        let s = &w.service;
        key_of(
            &s.app,
            &s.name,
            &s.version,
            &s.environment,
            &instance_id(&w.instance.id),
        )
    }

    async fn adopt_copy(&self, us: &str) -> Result<BTreeMap<String, RemoteRef>, SyncError> {
        let services = self.client.services().await?;
        let mut found = BTreeMap::new();
        for s in services {
            let Instances::Listed { instances, .. } = self.client.instances(&s.service_id, None).await? else {
                continue;
            };
            for i in instances.into_iter().filter(|i| hops::last_hop_is(&i.properties, us)) {
                let key = key_of(&s.app_id, &s.service_name, &s.version, &s.environment, &i.instance_id);
                found.insert(
                    key,
                    RemoteRef {
                        parent: s.service_id.clone(),
                        id: i.instance_id,
                    },
                );
            }
        }
        Ok(found)
    }

    /// The service's id at the peer, creating the service there if needed.
    async fn service_id(&self, w: &Wanted) -> Result<String, SyncError> {
        let key = w.service.key();
        if let Some(id) = self.service_ids.lock().get(&key) {
            return Ok(id.clone());
        }
        let mut wire = mapping::service_to_wire(&w.service);
        wire.timestamp.clear();
        wire.mod_timestamp.clear();
        let mut answer = self
            .client
            .send(
                self.client
                    .request(Method::POST, "/microservices")
                    .json(&json!({ "service": wire })),
            )
            .await?;
        if !answer.is_success() {
            // The peer has this service under another id: let it choose.
            wire.service_id.clear();
            answer = self
                .client
                .send(
                    self.client
                        .request(Method::POST, "/microservices")
                        .json(&json!({ "service": wire })),
                )
                .await?;
        }
        let body = answer.success_body("create service")?;
        let reply: IdReply =
            serde_json::from_slice(&body).map_err(|e| SyncError::BadBody(format!("create service: {e}")))?;
        self.service_ids.lock().insert(key, reply.service_id.clone());
        Ok(reply.service_id)
    }

    async fn register_copy(&self, w: &Wanted) -> Result<RemoteRef, SyncError> {
        let service_id = self.service_id(w).await?;
        let mut wire = mapping::instance_to_wire(&w.service, &w.instance);
        wire.service_id = service_id.clone();
        wire.instance_id = instance_id(&w.instance.id);
        if wire.instance_id != w.instance.id {
            wire.properties
                .insert(ORIGINAL_ID_KEY.into(), w.instance.id.to_string());
        }
        wire.timestamp.clear();
        wire.mod_timestamp.clear();
        let path = format!("/microservices/{service_id}/instances");
        let answer = self
            .client
            .send(
                self.client
                    .request(Method::POST, &path)
                    .json(&json!({ "instance": wire })),
            )
            .await?;
        if error_code(&answer.body) == Some(SERVICE_NOT_EXISTS) {
            // Deleted at the peer since we created it: create it again next time.
            self.service_ids.lock().remove(&w.service.key());
        }
        let body = answer.success_body(&path)?;
        let reply: IdReply = serde_json::from_slice(&body).map_err(|e| SyncError::BadBody(format!("{path}: {e}")))?;
        Ok(RemoteRef {
            parent: service_id,
            id: if reply.instance_id.is_empty() {
                wire.instance_id
            } else {
                reply.instance_id
            },
        })
    }

    async fn renew_copy(&self, r: &RemoteRef) -> Result<bool, SyncError> {
        let path = format!("/microservices/{}/instances/{}/heartbeat", r.parent, r.id);
        let answer = self.client.send(self.client.request(Method::PUT, &path)).await?;
        if answer.is_success() {
            return Ok(true);
        }
        match error_code(&answer.body) {
            Some(INSTANCE_NOT_EXISTS | SERVICE_NOT_EXISTS) => Ok(false),
            _ if answer.status == 404 => Ok(false),
            _ => Err(answer.error(&path)),
        }
    }

    async fn remove_copy(&self, r: &RemoteRef) -> Result<(), SyncError> {
        let path = format!("/microservices/{}/instances/{}", r.parent, r.id);
        let answer = self.client.send(self.client.request(Method::DELETE, &path)).await?;
        if answer.is_success() || matches!(error_code(&answer.body), Some(INSTANCE_NOT_EXISTS | SERVICE_NOT_EXISTS)) {
            Ok(())
        } else {
            Err(answer.error(&path))
        }
    }
}

impl Sink for ScSink {
    fn key(&self, w: &Wanted) -> String {
        Self::key_of_wanted(w)
    }

    fn adopt<'a>(&'a self, us: &'a str) -> BoxFuture<'a, Result<BTreeMap<String, RemoteRef>, SyncError>> {
        Box::pin(self.adopt_copy(us))
    }

    fn register<'a>(&'a self, w: &'a Wanted) -> BoxFuture<'a, Result<RemoteRef, SyncError>> {
        Box::pin(self.register_copy(w))
    }

    /// ServiceCenter's heartbeat carries no state: `w` is not used.
    fn renew<'a>(&'a self, r: &'a RemoteRef, _w: Option<&'a Wanted>) -> BoxFuture<'a, Result<bool, SyncError>> {
        Box::pin(self.renew_copy(r))
    }

    fn remove<'a>(&'a self, r: &'a RemoteRef) -> BoxFuture<'a, Result<(), SyncError>> {
        Box::pin(self.remove_copy(r))
    }
}

/// Property carrying an instance's own id when ServiceCenter needed another one.
pub const ORIGINAL_ID_KEY: &str = "sync.instance-id";

/// The id an instance gets at a ServiceCenter, which allows at most 64 of letters, digits, '_',
/// '-', '.': the same id when it fits, else (Eureka's `host:app:port`) each other character
/// becomes '-', and a long id is cut and ends with a hash of the whole, so it stays unique.
pub fn instance_id(id: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if !id.is_empty() && id.len() <= 64 && id.chars().all(allowed) {
        return id.to_string();
    }
    let mapped: String = id.chars().map(|c| if allowed(c) { c } else { '-' }).collect();
    if mapped.len() <= 64 && !mapped.is_empty() {
        return mapped;
    }
    format!("{}-{:016x}", &mapped[..47], fnv1a(id.bytes()))
}

fn key_of(app: &str, name: &str, version: &str, environment: &str, instance: &str) -> String {
    format!("{app}/{name}/{version}/{environment}/{instance}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_servicecenter_refuses_are_mapped_deterministically() {
        assert_eq!(instance_id("abc-1.2_x"), "abc-1.2_x");
        assert_eq!(
            instance_id("127.0.0.1:account-server:8080"),
            "127.0.0.1-account-server-8080"
        );
        let long = "x:".repeat(40);
        let mapped = instance_id(&long);
        assert_eq!(mapped.len(), 64);
        assert_eq!(mapped, instance_id(&long));
        assert_ne!(mapped, instance_id(&"y:".repeat(40)));
    }
}
