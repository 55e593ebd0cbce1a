//! ServiceCenter calls shared by import and export: requests under the peer's tenant, the list
//! replies, and `errorCode`.

use registry_store::model::Tenant;
use registry_store::protocol::servicecenter::wire::MicroService;
use registry_store::protocol::servicecenter::wire::MicroServiceInstance;
use reqwest::Method;
use reqwest::RequestBuilder;
use serde::Deserialize;

use super::http::Answer;
use super::http::RemoteHttp;
use crate::error::SyncError;

/// ServiceCenter's revision header on instance lists.
pub const REVISION_HEADER: &str = "x-resource-revision";
/// "The service does not exist".
pub const SERVICE_NOT_EXISTS: u64 = 400012;
/// "The instance does not exist".
pub const INSTANCE_NOT_EXISTS: u64 = 400017;

#[derive(Deserialize, Default)]
struct ServicesReply {
    #[serde(default)]
    services: Vec<MicroService>,
}

#[derive(Deserialize, Default)]
struct InstancesReply {
    #[serde(default)]
    instances: Vec<MicroServiceInstance>,
}

#[derive(Deserialize)]
struct ErrorReply {
    #[serde(rename = "errorCode", default)]
    error_code: serde_json::Value,
}

/// A ServiceCenter peer under one tenant.
#[derive(Clone)]
pub struct ScClient {
    pub http: RemoteHttp,
    pub tenant: Tenant,
}

impl ScClient {
    /// A request to `/v4/{project}/registry{path}` with `X-Domain-Name`.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, &format!("/v4/{}/registry{path}", self.tenant.project))
            .header("X-Domain-Name", self.tenant.domain.as_str())
            .header("Accept", "application/json")
    }

    pub async fn send(&self, request: RequestBuilder) -> Result<Answer, SyncError> {
        self.http.send(request).await
    }

    /// Every service of the tenant.
    pub async fn services(&self) -> Result<Vec<MicroService>, SyncError> {
        let body = self
            .send(self.request(Method::GET, "/microservices"))
            .await?
            .success_body("list services")?;
        Ok(parse::<ServicesReply>(&body, "services")?.services)
    }

    /// The instances of a service, or `None` if it is gone. With `rev`, a 304 answers `Unchanged`.
    pub async fn instances(&self, service_id: &str, rev: Option<&str>) -> Result<Instances, SyncError> {
        let path = format!("/microservices/{service_id}/instances");
        let mut request = self.request(Method::GET, &path);
        if let Some(rev) = rev {
            request = request.query(&[("rev", rev)]);
        }
        let answer = self.send(request).await?;
        let rev = answer
            .headers
            .get(REVISION_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if answer.status == 304 {
            return Ok(Instances::Unchanged);
        }
        if answer.status == 404 || error_code(&answer.body) == Some(SERVICE_NOT_EXISTS) {
            return Ok(Instances::Gone);
        }
        let body = answer.success_body(&path)?;
        let instances = parse::<InstancesReply>(&body, "instances")?.instances;
        Ok(Instances::Listed { rev, instances })
    }
}

/// A service's instances, as the peer answered.
pub enum Instances {
    Unchanged,
    Gone,
    Listed {
        rev: String,
        instances: Vec<MicroServiceInstance>,
    },
}

fn parse<T: for<'de> Deserialize<'de> + Default>(body: &[u8], what: &str) -> Result<T, SyncError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| SyncError::BadBody(format!("{what}: {e}")))
}

/// The `errorCode` of a ServiceCenter error body (a number or a numeric string).
pub fn error_code(body: &[u8]) -> Option<u64> {
    let reply: ErrorReply = serde_json::from_slice(body).ok()?;
    match reply.error_code {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// 64-bit FNV-1a: a short stable digest for ids and revision fingerprints.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h: u64, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
