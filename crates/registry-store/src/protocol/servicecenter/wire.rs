//! ServiceCenter's JSON objects (`../shared/specs/servicecenter.md` §2) with their exact field
//! names. Empty fields are omitted on output (Go's `omitempty`); unknown input fields are ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A microservice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MicroService {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub app_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub level: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub timestamp: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub alias: String,
    #[serde(rename = "LBStrategy", skip_serializing_if = "Option::is_none")]
    pub lb_strategy: Option<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mod_timestamp: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub environment: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub register_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub framework: Option<Framework>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Framework {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
}

/// An instance of a microservice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MicroServiceInstance {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub instance_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_center_info: Option<DataCenterInfo>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mod_timestamp: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
}

/// How the instance is kept alive: `push` (client heartbeats) or `pull` (platform checks).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthCheck {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mode: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub port: u32,
    /// Seconds between heartbeats.
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: u32,
    /// Missed heartbeats tolerated before expiry.
    #[serde(skip_serializing_if = "is_zero")]
    pub times: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataCenterInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub region: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub available_zone: String,
}

/// `POST /microservices` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CreateServiceRequest {
    pub service: Option<MicroService>,
    pub tags: BTreeMap<String, String>,
    pub instances: Vec<MicroServiceInstance>,
}

/// `POST MS/instances` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RegisterInstanceRequest {
    pub instance: Option<MicroServiceInstance>,
}

/// `PUT .../properties` body (only `properties` is read; sc-client sends whole objects).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PropertiesRequest {
    pub properties: Option<BTreeMap<String, String>>,
}

/// `PUT /heartbeats` body and its answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HeartbeatSet {
    pub instances: Vec<HeartbeatItem>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeartbeatItem {
    pub service_id: String,
    pub instance_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub err_message: String,
}

/// `DELETE /microservices` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeleteServicesRequest {
    pub service_ids: Vec<String>,
    pub force: bool,
}

/// `PUT MS/schemas/{id}` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SchemaRequest {
    pub schema: String,
    pub summary: String,
}

/// One schema in `POST MS/schemas` and `GET MS/schemas`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Schema {
    pub schema_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub summary: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub schema: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SchemasRequest {
    pub schemas: Vec<Schema>,
}

/// `POST MS/tags` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TagsRequest {
    pub tags: BTreeMap<String, String>,
}

/// One service with what the governance API was asked to include (cari `ServiceDetail`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub micro_service: Option<MicroService>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<MicroServiceInstance>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schema_infos: Vec<Schema>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<MicroService>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<MicroService>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub micro_service_versions: Vec<String>,
    /// Counts instead of lists (`countOnly=1`); ServiceCenter spells it `statics`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statics: Option<Statistics>,
}

/// Counts of services, instances and apps (cari `Statistics`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Statistics {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Counts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<Counts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apps: Option<Counts>,
}

/// One line of [`Statistics`]; zero counts are omitted, as Go's `omitempty` does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Counts {
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub count: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub online_count: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub count_by_domain: u64,
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

/// A service named by its key (cari `MicroServiceKey`), as dependency requests name them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MicroServiceKey {
    /// `domain/project`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tenant: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub environment: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub app_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub alias: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
}

/// One event of the watcher WebSocket (cari `WatchInstanceResponse`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WatchEvent {
    /// `CREATE`, `UPDATE` or `DELETE`.
    pub action: String,
    pub key: MicroServiceKey,
    pub instance: MicroServiceInstance,
}

/// One consumer and the providers it depends on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ConsumerDependency {
    pub consumer: Option<MicroServiceKey>,
    pub providers: Vec<MicroServiceKey>,
}

/// `POST`/`PUT /dependencies` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DependenciesRequest {
    pub dependencies: Vec<ConsumerDependency>,
}
