//! Nacos's naming objects as its v1 and v2 HTTP APIs send and read them (field names as Jackson
//! writes `com.alibaba.nacos.api.naming.pojo.ServiceInfo` and `Instance`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

/// `NamingResponseCode.OK`: the beat renewed a registered instance.
pub const BEAT_OK: u32 = 10200;
/// `NamingResponseCode.RESOURCE_NOT_FOUND`: the beat names no registered instance; the client
/// registers again.
pub const BEAT_NOT_FOUND: u32 = 20404;

/// An instance as it arrives from elsewhere: the `Instance` of a 2.x client's gRPC request, or a
/// host of another server's instance list. Every field may be missing (servers differ in what
/// they write: r-nacos leaves out the preserved-metadata getters); Nacos's defaults fill in the
/// flags. [`super::mapping::registration_of`] checks the address.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingInstance {
    #[serde(default)]
    pub instance_id: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub port: Option<i64>,
    #[serde(default = "weight_one")]
    pub weight: f64,
    #[serde(default = "yes")]
    pub healthy: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "yes")]
    pub ephemeral: bool,
    #[serde(default)]
    pub cluster_name: Option<String>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
}

fn weight_one() -> f64 {
    1.0
}

fn yes() -> bool {
    true
}

/// One instance in a `ServiceInfo`'s `hosts` (`api/naming/pojo/Instance.java`; the last four
/// fields are its getters over the preserved metadata keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    pub instance_id: String,
    pub ip: String,
    pub port: u16,
    pub weight: f64,
    pub healthy: bool,
    pub enabled: bool,
    pub ephemeral: bool,
    pub cluster_name: String,
    /// `group@@service`.
    pub service_name: String,
    pub metadata: BTreeMap<String, String>,
    pub instance_heart_beat_interval: u64,
    pub instance_heart_beat_time_out: u64,
    pub ip_delete_timeout: u64,
    pub instance_id_generator: String,
}

/// A service's instances (`api/naming/pojo/ServiceInfo.java`): the answer of
/// `GET /nacos/v1/ns/instance/list`, and what 2.x clients are answered and pushed over gRPC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfo {
    /// `group@@service` over HTTP v1 (the controller answers the grouped name, for 1.x SDKs);
    /// the plain name beside `groupName` over gRPC.
    pub name: String,
    pub group_name: String,
    /// The `clusters` asked for, as given.
    pub clusters: String,
    pub cache_millis: u64,
    pub hosts: Vec<Host>,
    pub last_ref_time: u64,
    pub checksum: String,
    /// Jackson names it after `isAllIPs()`: `allIPs`.
    #[serde(rename = "allIPs", alias = "allIps")]
    pub all_ips: bool,
    pub reach_protection_threshold: bool,
    pub valid: bool,
}

/// The answer of `GET /nacos/v1/ns/instance` (built field by field in `InstanceController.detail`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceDetail {
    /// `group@@service`.
    pub service: String,
    pub ip: String,
    pub port: u16,
    pub cluster_name: String,
    pub weight: f64,
    pub healthy: bool,
    pub instance_id: String,
    pub metadata: BTreeMap<String, String>,
}

/// The answer of `PUT /nacos/v1/ns/instance/beat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BeatAnswer {
    /// Milliseconds until the client's next beat.
    pub client_beat_interval: u64,
    /// [`BEAT_OK`] or [`BEAT_NOT_FOUND`].
    pub code: u32,
    /// Whether the client may leave the `beat` body out of its next beats.
    pub light_beat_enabled: bool,
}

/// The `beat` parameter of a heartbeat (`naming/healthcheck/RsInfo.java`), read leniently:
/// unknown fields are ignored, missing ones take their defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RsInfo {
    pub service_name: String,
    pub ip: String,
    pub port: i64,
    pub cluster: String,
    pub weight: f64,
    pub ephemeral: bool,
    /// As sent; the beat does not change an instance's metadata.
    pub metadata: serde_json::Value,
}

/// A cluster of `GET /nacos/v1/ns/service`'s answer (`ServiceOperatorV2Impl.newClusterNode`):
/// its name, its health checker (Nacos's default `{"type":"TCP"}`) and its metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNode {
    pub name: String,
    pub health_checker: serde_json::Value,
    pub metadata: BTreeMap<String, String>,
}

/// The answer of `GET /nacos/v1/ns/service` (`ServiceOperatorV2Impl.queryService`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDetail {
    pub namespace_id: String,
    pub group_name: String,
    /// The name without its group.
    pub name: String,
    pub protect_threshold: f32,
    pub metadata: BTreeMap<String, String>,
    /// The selector as Jackson writes it (`{"type":"none","contextType":"NONE"}`, ...).
    pub selector: serde_json::Value,
    pub clusters: Vec<ClusterNode>,
}

/// An instance in a v2 cluster (`naming/pojo/IpAddressInfo.java`; `valid` is `healthy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpAddressInfo {
    pub valid: bool,
    pub metadata: BTreeMap<String, String>,
    pub port: u16,
    pub ip: String,
    pub weight: f64,
    pub enabled: bool,
}

/// A cluster of the v2 service detail (`naming/pojo/ClusterInfo.java`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    pub cluster_name: String,
    pub health_checker: serde_json::Value,
    pub metadata: BTreeMap<String, String>,
    pub hosts: Vec<IpAddressInfo>,
}

/// The `data` of `GET /nacos/v2/ns/service` (`naming/pojo/ServiceDetailInfo.java`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDetailInfo {
    pub namespace: String,
    pub service_name: String,
    pub group_name: String,
    pub cluster_map: BTreeMap<String, ClusterInfo>,
    pub metadata: BTreeMap<String, String>,
    pub protect_threshold: f32,
    pub selector: serde_json::Value,
    pub ephemeral: bool,
}

/// The answer of `GET /nacos/v1/ns/service/list`: how many services the group has, and the
/// page's names (without their group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceList {
    pub count: usize,
    pub doms: Vec<String>,
}

/// The `data` of `GET /nacos/v2/ns/service/list` (`naming/pojo/ServiceNameView.java`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceNameView {
    pub count: usize,
    pub services: Vec<String>,
}

/// The `data` of `GET /nacos/v2/ns/instance` (`naming/model/vo/InstanceDetailInfoVo.java`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceDetailInfo {
    /// `group@@service`.
    pub service_name: String,
    pub ip: String,
    pub port: u16,
    pub cluster_name: String,
    pub weight: f64,
    pub healthy: bool,
    pub instance_id: String,
    pub metadata: BTreeMap<String, String>,
}

impl From<InstanceDetail> for InstanceDetailInfo {
    fn from(d: InstanceDetail) -> Self {
        Self {
            service_name: d.service,
            ip: d.ip,
            port: d.port,
            cluster_name: d.cluster_name,
            weight: d.weight,
            healthy: d.healthy,
            instance_id: d.instance_id,
            metadata: d.metadata,
        }
    }
}
