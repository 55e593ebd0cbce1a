//! The JSON bodies of the requests and responses served, with Nacos's field names
//! (`api/.../naming/remote/request|response/*`, `api/.../remote/request|response/*`). Requests
//! are read leniently (unknown fields ignored, missing ones defaulted: the handlers refuse what
//! they need and lack); responses carry [`ResponseBase`].

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

use super::codec::ResponseBase;

/// `InstanceRequest.type` / `BatchInstanceRequest.type` (`NamingRemoteConstants`).
pub const REGISTER_INSTANCE: &str = "registerInstance";
pub const DE_REGISTER_INSTANCE: &str = "deregisterInstance";
pub const BATCH_REGISTER_INSTANCE: &str = "batchRegisterInstance";

/// The naming requests' common fields (`AbstractNamingRequest`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NamingTarget {
    pub request_id: Option<String>,
    pub namespace: Option<String>,
    pub service_name: Option<String>,
    pub group_name: Option<String>,
}

/// An instance as a 2.x client sends it (`api/naming/pojo/Instance.java`).
/// A 2.x `Instance` as clients send it (shared with the adapters' reading of other servers).
pub use registry_store::protocol::nacos::wire::IncomingInstance as WireInstance;

/// `InstanceRequest` (and `PersistentInstanceRequest`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InstanceRequest {
    #[serde(flatten)]
    pub target: NamingTarget,
    pub r#type: Option<String>,
    pub instance: Option<WireInstance>,
}

/// `BatchInstanceRequest`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchInstanceRequest {
    #[serde(flatten)]
    pub target: NamingTarget,
    pub r#type: Option<String>,
    pub instances: Option<Vec<WireInstance>>,
}

/// `ServiceQueryRequest`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceQueryRequest {
    #[serde(flatten)]
    pub target: NamingTarget,
    pub cluster: Option<String>,
    pub healthy_only: Option<bool>,
}

/// `SubscribeServiceRequest`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscribeServiceRequest {
    #[serde(flatten)]
    pub target: NamingTarget,
    pub subscribe: Option<bool>,
    pub clusters: Option<String>,
}

/// `ServiceListRequest`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceListRequest {
    #[serde(flatten)]
    pub target: NamingTarget,
    pub page_no: Option<i64>,
    pub page_size: Option<i64>,
}

/// `ConnectionSetupRequest`, the first payload of a connection's stream.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConnectionSetupRequest {
    pub client_version: Option<String>,
    pub tenant: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// A service's instances as 2.x clients read them: `name` is the plain service name beside
/// `groupName`, and `clusters` the subscriber's own.
pub use registry_store::protocol::nacos::wire::ServiceInfo;

/// A response with nothing but the common fields (`InstanceResponse`, `HealthCheckResponse`, ...).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plain {
    #[serde(flatten)]
    pub base: ResponseBase,
}

/// `InstanceResponse` / `BatchInstanceResponse`: the common fields and the request's type.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceResponse {
    #[serde(flatten)]
    pub base: ResponseBase,
    pub r#type: String,
}

/// `ServerCheckResponse`: the id the server gave the connection.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerCheckResponse {
    #[serde(flatten)]
    pub base: ResponseBase,
    pub connection_id: String,
    pub support_ability_negotiation: bool,
}

/// `QueryServiceResponse` / `SubscribeServiceResponse`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfoResponse {
    #[serde(flatten)]
    pub base: ResponseBase,
    pub service_info: ServiceInfo,
}

/// `ServiceListResponse`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceListResponse {
    #[serde(flatten)]
    pub base: ResponseBase,
    pub count: usize,
    pub service_names: Vec<String>,
}

/// `NotifySubscriberRequest`: the server's push of a subscribed service's instances.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifySubscriberRequest {
    pub headers: BTreeMap<String, String>,
    pub request_id: String,
    pub module: String,
    pub namespace: String,
    pub service_name: String,
    pub group_name: String,
    pub service_info: ServiceInfo,
}

/// `ClientDetectionRequest`: asks an idle connection's client to answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientDetectionRequest {
    pub headers: BTreeMap<String, String>,
    pub request_id: String,
    pub module: String,
}
