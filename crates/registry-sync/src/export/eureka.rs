//! Export to any Eureka-API server, as a Eureka client would: register with `POST /apps/{APP}`,
//! renew with `PUT /apps/{APP}/{id}`, cancel with `DELETE`.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use registry_store::protocol::eureka::json;
use registry_store::protocol::eureka::mapping;
use registry_store::protocol::eureka::wire::InstanceInfo;
use reqwest::Method;

use super::RemoteRef;
use super::Sink;
use super::Wanted;
use crate::client::eureka::fetch_apps;
use crate::client::http::RemoteHttp;
use crate::error::SyncError;
use crate::hops;
use crate::Context;

pub struct EurekaSink {
    http: RemoteHttp,
}

impl EurekaSink {
    pub fn new(ctx: &Context) -> Self {
        Self {
            http: RemoteHttp::new(&ctx.peer),
        }
    }

    fn info(w: &Wanted) -> InstanceInfo {
        mapping::to_instance_info(&w.service, &w.instance)
    }

    /// `APP/instanceId`, as the peer lists it.
    fn key_of(w: &Wanted) -> String {
        let info = Self::info(w);
        format!("{}/{}", info.app.to_ascii_uppercase(), info.effective_id())
    }

    async fn adopt_copy(&self, us: &str) -> Result<BTreeMap<String, RemoteRef>, SyncError> {
        let apps = fetch_apps(&self.http, "/apps").await?;
        Ok(apps
            .applications
            .into_iter()
            .flat_map(|a| a.instances)
            .filter(|i| hops::last_hop_is(&i.metadata, us))
            .map(|i| {
                let app = i.app.to_ascii_uppercase();
                let id = i.effective_id().to_string();
                (format!("{app}/{id}"), RemoteRef { parent: app, id })
            })
            .collect())
    }

    async fn register_copy(&self, w: &Wanted) -> Result<RemoteRef, SyncError> {
        let info = Self::info(w);
        let app = info.app.to_ascii_uppercase();
        let path = format!("/apps/{app}");
        let request = self
            .http
            .request(Method::POST, &path)
            .header("Content-Type", "application/json")
            .body(json::encode_instance(&info));
        self.http.send(request).await?.success_body(&path)?;
        Ok(RemoteRef {
            parent: app,
            id: info.effective_id().to_string(),
        })
    }

    async fn renew_copy(&self, r: &RemoteRef, w: Option<&Wanted>) -> Result<bool, SyncError> {
        let path = format!("/apps/{}/{}", r.parent, r.id);
        let mut request = self.http.request(Method::PUT, &path);
        if let Some(w) = w {
            let info = Self::info(w);
            request = request.query(&[
                ("status", info.status.as_str().to_string()),
                ("lastDirtyTimestamp", info.last_dirty_timestamp.to_string()),
            ]);
        }
        let answer = self.http.send(request).await?;
        match answer.status {
            404 => Ok(false),
            _ if answer.is_success() => Ok(true),
            _ => Err(answer.error(&path)),
        }
    }

    async fn remove_copy(&self, r: &RemoteRef) -> Result<(), SyncError> {
        let path = format!("/apps/{}/{}", r.parent, r.id);
        let answer = self.http.send(self.http.request(Method::DELETE, &path)).await?;
        if answer.is_success() || answer.status == 404 {
            Ok(())
        } else {
            Err(answer.error(&path))
        }
    }
}

impl Sink for EurekaSink {
    fn key(&self, w: &Wanted) -> String {
        Self::key_of(w)
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
