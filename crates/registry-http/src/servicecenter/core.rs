//! What the ServiceCenter handlers share: the node, settings, body parsing, replies.

use std::hash::Hash;
use std::hash::Hasher;
use std::sync::Arc;

use axum::http::header;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use registry_store::command::Command;
use registry_store::command::CommandOutcome;
use registry_store::model::ServiceRef;
use registry_store::model::Tenant;
use registry_store::record::Dependency;
use registry_store::registry::Registry;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::dependency_queue::DependencyQueue;
use super::error::ErrorCode;
use super::error::ScError;
use super::error::JSON_UTF8;
use super::mapping::LeaseLimits;

/// Settings of the ServiceCenter API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScSettings {
    pub lease_limits: LeaseLimits,
    /// How often WebSockets (watcher, heartbeat) ping the client. Default 30 s.
    pub ping_interval: std::time::Duration,
    /// The HTTP listeners serve HTTPS: the registry's own endpoints say `?sslEnabled=true`.
    pub tls: bool,
    /// How long the dependency records finds imply wait before they are written, so that
    /// records of finds close together share one log entry. Default 10 ms.
    pub dependency_flush_delay: std::time::Duration,
}

impl Default for ScSettings {
    fn default() -> Self {
        Self {
            lease_limits: LeaseLimits::default(),
            ping_interval: std::time::Duration::from_secs(30),
            tls: false,
            dependency_flush_delay: std::time::Duration::from_millis(10),
        }
    }
}

/// State shared by every ServiceCenter handler.
pub struct Sc {
    /// The store, through the protocols' seam: views copy out, nothing holds its lock.
    pub registry: Arc<dyn Registry>,
    pub settings: ScSettings,
    /// Dependency records implied by finds, written off the read path; its task ends when the
    /// routes (and so this) are dropped.
    pub dependencies: DependencyQueue,
    /// Watch events encoded once for all the watchers that send them.
    pub event_texts: super::event_texts::EventTexts,
    /// Recent find answers, encoded once for all the finds that get them.
    pub find_bodies: super::find_bodies::FindBodies,
}

pub const TEXT_UTF8: &str = "text/plain; charset=UTF-8";

/// Header carrying the revision of a find result (compare with `rev`).
pub const REVISION_HEADER: &str = "x-resource-revision";

/// The tenant of a request (handlers take it by [`super::tenant::ScTenant`]).
pub use super::tenant::tenant;

/// Parses a JSON body; anything else is 400001.
///
/// A `null` member counts as absent, as it does for ServiceCenter, which decodes into Go structs
/// (`null` leaves a field at its zero value): java-chassis's mapper writes `null` for every unset
/// field (`serviceId`, `alias`, `instanceId` on a first registration, ...).
pub fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ScError> {
    let invalid = |e: serde_json::Error| ScError::invalid(format!("body is not valid JSON for this request: {e}"));
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(invalid)?;
    drop_null_members(&mut value);
    serde_json::from_value(value).map_err(invalid)
}

/// Removes every object member whose value is `null`, at any depth.
fn drop_null_members(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(members) => {
            members.retain(|_, v| !v.is_null());
            members.values_mut().for_each(drop_null_members);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_null_members),
        _ => {}
    }
}

/// 200 with an empty `text/plain` body: ServiceCenter's "done".
pub fn done() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, TEXT_UTF8)], "").into_response()
}

/// 200 with a JSON body.
pub fn json(value: &impl Serialize) -> Response {
    json_bytes(serde_json::to_vec(value).unwrap_or_default().into())
}

/// 200 with `bytes`, JSON encoded already.
pub fn json_bytes(bytes: axum::body::Bytes) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, JSON_UTF8)], bytes).into_response()
}

/// `{"key": items}`, or `{}` when there are none: ServiceCenter omits empty collections.
pub fn collection(key: &str, items: &impl Serialize) -> Response {
    json_bytes(collection_bytes(key, items))
}

/// [`collection`]'s body, encoded straight from `items` (a find of 10,000 instances went
/// through a `serde_json::Value` of them first). Empty is what encodes as `[]`, `{}` or `null`.
pub fn collection_bytes(key: &str, items: &impl Serialize) -> axum::body::Bytes {
    let empty = || axum::body::Bytes::from_static(b"{}");
    let mut body = b"{".to_vec();
    if serde_json::to_writer(&mut body, key).is_err() {
        return empty();
    }
    body.push(b':');
    let start = body.len();
    if serde_json::to_writer(&mut body, items).is_err() || matches!(&body[start..], b"[]" | b"{}" | b"null") {
        return empty();
    }
    body.push(b'}');
    body.into()
}

/// A 32-hex-digit id, as ServiceCenter generates for services and instances.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// An opaque revision of a result: changes whenever any record in it changes.
pub fn revision_of<T: Hash>(items: impl IntoIterator<Item = T>) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut n = 0u64;
    for item in items {
        item.hash(&mut hasher);
        n += 1;
    }
    n.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// `body()` with the revision header, or 304 (no body) when the caller already has this
/// revision (`rev`; an empty one is no revision).
pub fn revisioned(body: impl FnOnce() -> Response, revision: &str, known: Option<&str>) -> Response {
    let response = if is_known(known, revision) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body()
    };
    with_revision(response, revision)
}

/// Whether the caller's `rev` (`known`; an empty one is no revision) is `revision`.
pub fn is_known(known: Option<&str>, revision: &str) -> bool {
    known.is_some_and(|r| !r.is_empty() && r == revision)
}

/// `response` with the revision header.
pub fn with_revision(mut response: Response, revision: &str) -> Response {
    if let Ok(v) = header::HeaderValue::from_str(revision) {
        response.headers_mut().insert(REVISION_HEADER, v);
    }
    response
}

impl Sc {
    /// Proposes `command`; a refusal becomes the matching ServiceCenter error.
    pub async fn write(&self, command: Command) -> Result<CommandOutcome, ScError> {
        match self.registry.write(command).await?.outcome {
            CommandOutcome::Rejected(r) => Err(r.into()),
            outcome => Ok(outcome),
        }
    }

    /// Queues a dependency record a find implies, to be written off the read path. A full
    /// queue drops it: the consumer's next find queues it again.
    pub fn queue_dependency(&self, dependency: Dependency) {
        if let Err(e) = self.dependencies.push(dependency) {
            tracing::debug!(error = %e, "dependency record not queued");
        }
    }

    /// The service `id` of the request's `tenant`, which must exist (400012 otherwise).
    pub fn existing_service(&self, tenant: Tenant, id: String) -> Result<ServiceRef, ScError> {
        let service = ServiceRef { tenant, id: id.into() };
        if !self.registry.read(|applied| applied.state.service(&service).is_some()) {
            return Err(Self::service_missing(&service.id));
        }
        Ok(service)
    }

    pub fn service_missing(id: &str) -> ScError {
        ScError::new(ErrorCode::ServiceNotExists, format!("service {id} does not exist"))
    }

    pub fn instance_missing(id: &str) -> ScError {
        ScError::new(
            ErrorCode::InstanceNotExists,
            format!("Instance's leaseId not exist. instance {id}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servicecenter::wire::CreateServiceRequest;
    use crate::servicecenter::wire::RegisterInstanceRequest;

    /// A collection is `{"key": items}` as JSON, whatever kind of collection it is, and `{}`
    /// when it holds nothing (ServiceCenter omits empty collections).
    #[test]
    fn collections_are_keyed_or_omitted_when_empty() {
        let text = |bytes: axum::body::Bytes| String::from_utf8(bytes.to_vec()).unwrap();
        assert_eq!(text(collection_bytes("instances", &Vec::<u8>::new())), "{}");
        assert_eq!(
            text(collection_bytes(
                "tags",
                &std::collections::BTreeMap::<String, String>::new()
            )),
            "{}"
        );
        assert_eq!(text(collection_bytes("x", &None::<Vec<u8>>)), "{}");
        let tags = std::collections::BTreeMap::from([("b".to_string(), "2".to_string())]);
        assert_eq!(text(collection_bytes("tags", &tags)), r#"{"tags":{"b":"2"}}"#);
        let odd_key: serde_json::Value = serde_json::from_slice(&collection_bytes("a\"b", &[1, 2])).unwrap();
        assert_eq!(odd_key, serde_json::json!({ "a\"b": [1, 2] }));
    }

    #[test]
    fn null_members_are_absent_at_any_depth() {
        let request: CreateServiceRequest = body(
            br#"{"service":{"serviceId":null,"appId":"a","serviceName":"s","version":"1.0.0","alias":null,
                "properties":null,"framework":{"name":"java","version":null},"schemas":null},"tags":null,"instances":null}"#,
        )
        .unwrap();
        let service = request.service.unwrap();
        assert_eq!(service.service_id, "");
        assert!(service.properties.is_empty());
        assert_eq!(service.framework.unwrap().name, "java");

        let request: RegisterInstanceRequest =
            body(br#"{"instance":{"instanceId":null,"hostName":"h","healthCheck":{"mode":"push","url":null}}}"#)
                .unwrap();
        let instance = request.instance.unwrap();
        assert_eq!(instance.instance_id, "");
        assert_eq!(instance.health_check.unwrap().mode, "push");
    }

    #[test]
    fn null_inside_a_list_is_still_refused() {
        let err = body::<RegisterInstanceRequest>(br#"{"instance":{"hostName":"h","endpoints":[null]}}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParams);
        assert_eq!(
            body::<RegisterInstanceRequest>(b"").unwrap_err().code,
            ErrorCode::InvalidParams
        );
    }
}
