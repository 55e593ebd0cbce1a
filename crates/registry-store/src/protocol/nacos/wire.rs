//! Nacos's naming objects as its v1 HTTP API sends and reads them (field names as Jackson
//! writes `com.alibaba.nacos.api.naming.pojo.ServiceInfo` and `Instance`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

/// `NamingResponseCode.OK`: the beat renewed a registered instance.
pub const BEAT_OK: u32 = 10200;
/// `NamingResponseCode.RESOURCE_NOT_FOUND`: the beat names no registered instance; the client
/// registers again.
pub const BEAT_NOT_FOUND: u32 = 20404;

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

/// The answer of `GET /nacos/v1/ns/instance/list` (`api/naming/pojo/ServiceInfo.java`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfo {
    /// `group@@service` (the v1 controller answers the grouped name, for 1.x SDKs).
    pub name: String,
    pub group_name: String,
    /// The `clusters` asked for, as given.
    pub clusters: String,
    pub cache_millis: u64,
    pub hosts: Vec<Host>,
    pub last_ref_time: u64,
    pub checksum: String,
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
