//! Nacos naming ↔ the unified model, in one place (`docs/nacos.md` has the same table and the
//! reasons).
//!
//! | Nacos                                   | Unified model                                        |
//! |-----------------------------------------|------------------------------------------------------|
//! | namespace `public` (or empty)           | the public tenant: Eureka's tenant (`default/default` by default) |
//! | namespace `N`                           | tenant `default/N` (ServiceCenter domain `default`, project `N`) |
//! | group `DEFAULT_GROUP`                   | app = Eureka's app id (`eureka` by default), so Eureka apps are Nacos services |
//! | group `G`                               | app `G`                                              |
//! | service name `S` (`G@@S`)               | service name `S`, version `0.0.1`; id `eureka.s` in the default group (Eureka's id), `G.S` otherwise; an existing service of that app and name (any version) is used as it is |
//! | `ip`, `port`                            | `ip_addr`, `host_name` = ip, endpoint `rest://ip:port` |
//! | `clusterName` `DEFAULT`                 | no zone                                              |
//! | `clusterName` `C`                       | zone `C`                                             |
//! | `enabled=false`                         | status `OUT_OF_SERVICE`                              |
//! | `healthy=false` (enabled)               | status `DOWN`                                        |
//! | otherwise                               | status `UP`                                          |
//! | `metadata` (JSON or `k=v,k=v`)          | metadata, verbatim (the `preserved.*` keys included) |
//! | ephemeral, beat interval / ip delete timeout (`preserved.heart.beat.interval`, `preserved.ip.delete.timeout`; 5 s / 30 s) | lease: renew every interval, expire after the delete timeout |
//! | `ephemeral=false` (persistent)          | a lease that never runs out ([`PERSISTENT_LEASE_SECS`]) |
//! | `weight`, `healthy`, `enabled`, `ephemeral`, `clusterName`, `port` as registered | `protocol_fields["nacos"]` |
//! | instance id                             | `ip#port#cluster#group@@service` (Nacos's `simple` generator) |
//! | service `metadata`                      | the service's properties, verbatim                   |
//! | service `protectThreshold`, `selector`, `ephemeral` | the service's `protocol_fields["nacos"]`  |
//!
//! Instances registered through other protocols have no Nacos fields: theirs are derived (ip
//! from `ip_addr` or the first endpoint, port from the first plain `rest://`/`http://`
//! endpoint, cluster from the zone, weight 1, healthy and enabled from the status, ephemeral
//! unless the lease never runs out).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;
use smol_str::format_smolstr;
use smol_str::SmolStr;

use super::wire::Host;
use super::wire::IncomingInstance;
use super::wire::InstanceDetail;
use crate::model::Instance;
use crate::model::InstanceStatus;
use crate::model::LeaseSettings;
use crate::model::Properties;
use crate::model::ProtocolFields;
use crate::model::RawJson;
use crate::model::Service;
use crate::model::Tenant;

/// Key of Nacos's extra fields in [`Instance::protocol_fields`].
pub const PROTOCOL: &str = "nacos";
/// `Constants.DEFAULT_NAMESPACE_ID`.
pub const DEFAULT_NAMESPACE: &str = "public";
/// `Constants.DEFAULT_GROUP`.
pub const DEFAULT_GROUP: &str = "DEFAULT_GROUP";
/// `Constants.DEFAULT_CLUSTER_NAME`.
pub const DEFAULT_CLUSTER: &str = "DEFAULT";
/// `Constants.SERVICE_INFO_SPLITER`, between a group and a service name.
pub const GROUP_SEPARATOR: &str = "@@";
/// The version of the services Nacos registrations create.
pub const SERVICE_VERSION: &str = "0.0.1";
/// `PreservedMetadataKeys`: the beat interval, the time after which Nacos marks a silent
/// instance unhealthy, and the time after which it deletes it (milliseconds, as text).
pub const HEART_BEAT_INTERVAL_KEY: &str = "preserved.heart.beat.interval";
pub const HEART_BEAT_TIMEOUT_KEY: &str = "preserved.heart.beat.timeout";
pub const IP_DELETE_TIMEOUT_KEY: &str = "preserved.ip.delete.timeout";
pub const INSTANCE_ID_GENERATOR_KEY: &str = "preserved.instance.id.generator";
/// `Constants.DEFAULT_HEART_BEAT_INTERVAL` / `_TIMEOUT` / `DEFAULT_IP_DELETE_TIMEOUT` (ms).
pub const DEFAULT_BEAT_INTERVAL_MS: u64 = 5_000;
pub const DEFAULT_BEAT_TIMEOUT_MS: u64 = 15_000;
pub const DEFAULT_DELETE_TIMEOUT_MS: u64 = 30_000;
/// The lease of a persistent instance: 2³¹−1 s (68 years), so it never runs out, it counts for
/// nothing in the expiry guards, and Java's `int` lease fields (Eureka's `durationInSecs`)
/// still read it.
pub const PERSISTENT_LEASE_SECS: u32 = i32::MAX as u32;
/// `Constants.MIN_WEIGHT_VALUE`, `MAX_WEIGHT_VALUE`.
pub const MIN_WEIGHT: f64 = 0.0;
pub const MAX_WEIGHT: f64 = 10_000.0;
/// Namespace ids longer than this are refused (Nacos's own limit for namespace ids).
pub const MAX_NAMESPACE_LEN: usize = 128;

/// A request Nacos itself refuses with `400`: the message is worded as Nacos words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MappingError(pub String);

fn invalid<T>(message: impl Into<String>) -> Result<T, MappingError> {
    Err(MappingError(message.into()))
}

/// Where Nacos registrations live in the unified model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NacosSettings {
    /// The tenant of the `public` namespace: Eureka's, so the two see the same services.
    pub public_tenant: Tenant,
    /// The domain of every other namespace's tenant (the namespace id is its project).
    pub namespace_domain: SmolStr,
    /// The app of `DEFAULT_GROUP`: Eureka's app id, so Eureka apps are default-group services.
    pub default_group_app: String,
}

impl Default for NacosSettings {
    fn default() -> Self {
        Self {
            public_tenant: Tenant::default(),
            namespace_domain: "default".into(),
            default_group_app: "eureka".into(),
        }
    }
}

impl NacosSettings {
    /// The tenant of namespace `namespace` (`public` when empty).
    pub fn tenant_of(&self, namespace: &str) -> Result<Tenant, MappingError> {
        let namespace = namespace.trim();
        if namespace.is_empty() || namespace == DEFAULT_NAMESPACE {
            return Ok(self.public_tenant.clone());
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
        if namespace.len() > MAX_NAMESPACE_LEN || !namespace.chars().all(allowed) {
            return invalid(format!(
                "Param 'namespaceId' is illegal, it must be at most {MAX_NAMESPACE_LEN} characters of 0-9a-zA-Z-_.: (current: {namespace})"
            ));
        }
        Ok(Tenant::new(self.namespace_domain.clone(), namespace))
    }

    /// The namespace id of `tenant` (the inverse of [`Self::tenant_of`]).
    pub fn namespace_of(&self, tenant: &Tenant) -> String {
        if *tenant == self.public_tenant {
            DEFAULT_NAMESPACE.to_string()
        } else {
            tenant.project.to_string()
        }
    }

    /// The group of services of `app`.
    pub fn group_of(&self, app: &str) -> String {
        if app == self.default_group_app {
            DEFAULT_GROUP.to_string()
        } else {
            app.to_string()
        }
    }

    /// The app of group `group`'s services.
    pub fn app_of(&self, group: &str) -> String {
        if group == DEFAULT_GROUP {
            self.default_group_app.clone()
        } else {
            group.to_string()
        }
    }

    /// Whether `service` is the Nacos service `name`.
    pub fn is_service(&self, service: &Service, name: &ServiceName) -> bool {
        service.name == name.name && service.app == self.app_of(&name.group)
    }

    /// The service a first registration of `name` in `tenant` creates. In the default group
    /// its id is the one Eureka gives the same app (`eureka.orders`), so whichever protocol
    /// registers first, the other finds it.
    pub fn new_service(&self, tenant: Tenant, name: &ServiceName) -> Service {
        let app = self.app_of(&name.group);
        let id = if name.group == DEFAULT_GROUP {
            format!("{app}.{}", name.name.to_ascii_lowercase())
        } else {
            format!("{app}.{}", name.name)
        };
        let mut service = Service::new(tenant, id, app, name.name.clone());
        service.version = SERVICE_VERSION.to_string();
        service
    }
}

/// A service as Nacos names it: its group and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceName {
    pub group: String,
    pub name: String,
}

impl ServiceName {
    /// `serviceName` and `groupName` as Nacos's `ServiceNameFilter` and
    /// `NamingUtils.checkServiceNameFormat` read them: a name holding `@@` carries its group,
    /// otherwise the group is `groupName` (`DEFAULT_GROUP` when blank).
    pub fn parse(service_name: Option<&str>, group_name: Option<&str>) -> Result<Self, MappingError> {
        let service_name = service_name.map(str::trim).unwrap_or_default();
        if service_name.is_empty() {
            return invalid("Param 'serviceName' is required.");
        }
        let (group, name) = match service_name.split_once(GROUP_SEPARATOR) {
            Some((group, name)) => (group.to_string(), name.to_string()),
            None => {
                let group = group_name.map(str::trim).filter(|g| !g.is_empty());
                (group.unwrap_or(DEFAULT_GROUP).to_string(), service_name.to_string())
            }
        };
        if name.trim_end_matches(GROUP_SEPARATOR).is_empty() {
            return invalid("Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName'");
        }
        if group.is_empty() {
            return invalid("Param 'serviceName' is illegal, groupName can't be empty");
        }
        Ok(Self { group, name })
    }

    /// `group@@service`.
    pub fn grouped(&self) -> String {
        format!("{}{GROUP_SEPARATOR}{}", self.group, self.name)
    }
}

/// An instance as a Nacos client registers it (parameters already read and defaulted).
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub ip: String,
    pub port: u16,
    pub cluster: String,
    pub weight: f64,
    pub healthy: bool,
    pub enabled: bool,
    pub ephemeral: bool,
    pub metadata: BTreeMap<String, String>,
}

/// Why an [`IncomingInstance`] names no address Nacos would hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncomingError {
    #[error("Param '{0}' is required")]
    Missing(&'static str),
    #[error("Param 'port' is illegal: {0}")]
    IllegalPort(i64),
}

/// The cluster an incoming instance names, Nacos's `DEFAULT` when it names none.
pub fn incoming_cluster(i: &IncomingInstance) -> String {
    match i.cluster_name.as_deref().map(str::trim) {
        None | Some("") => DEFAULT_CLUSTER.to_string(),
        Some(c) => c.to_string(),
    }
}

/// The registration an incoming instance asks for: an ip and a port in 1–65535 it must have.
pub fn registration_of(i: &IncomingInstance) -> Result<Registration, IncomingError> {
    let ip = i.ip.as_deref().map(str::trim).unwrap_or_default();
    if ip.is_empty() {
        return Err(IncomingError::Missing("ip"));
    }
    let port = i.port.ok_or(IncomingError::Missing("port"))?;
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or(IncomingError::IllegalPort(port))?;
    Ok(Registration {
        ip: ip.to_string(),
        port,
        cluster: incoming_cluster(i),
        weight: i.weight,
        healthy: i.healthy,
        enabled: i.enabled,
        ephemeral: i.ephemeral,
        metadata: i.metadata.clone().unwrap_or_default(),
    })
}

/// Nacos's fields of an instance that the model has no column for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NacosFields {
    cluster_name: String,
    port: u16,
    weight: f64,
    healthy: bool,
    enabled: bool,
    ephemeral: bool,
}

/// A number from the metadata key `key` (Nacos's `^\d+$`), else `default`.
fn metadata_ms(metadata: &BTreeMap<String, String>, key: &str, default: u64) -> u64 {
    metadata
        .get(key)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `ms` in whole seconds, rounded up, at least 1 and below [`PERSISTENT_LEASE_SECS`].
fn lease_secs(ms: u64) -> u32 {
    let secs = ms.div_ceil(1000).clamp(1, u64::from(PERSISTENT_LEASE_SECS - 1));
    secs as u32
}

/// `cluster` follows `Constants.CLUSTER_NAME_PATTERN_STRING` (`^[0-9a-zA-Z-]+$`).
fn is_cluster_name(cluster: &str) -> bool {
    !cluster.is_empty() && cluster.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Nacos's status pair as the model's status: a disabled instance is out of service, an
/// unhealthy one down.
pub fn status_of(healthy: bool, enabled: bool) -> InstanceStatus {
    match (healthy, enabled) {
        (_, false) => InstanceStatus::OutOfService,
        (false, true) => InstanceStatus::Down,
        (true, true) => InstanceStatus::Up,
    }
}

impl Registration {
    /// Nacos's own checks (`HttpRequestInstanceBuilder.setWeight`,
    /// `NamingUtils.checkInstanceIsLegal`), with its messages.
    pub fn check(&self) -> Result<(), MappingError> {
        if !(MIN_WEIGHT..=MAX_WEIGHT).contains(&self.weight) {
            return invalid(format!(
                "instance format invalid: The weights range from {MIN_WEIGHT:.1} to {MAX_WEIGHT:.1}"
            ));
        }
        let interval = metadata_ms(&self.metadata, HEART_BEAT_INTERVAL_KEY, DEFAULT_BEAT_INTERVAL_MS);
        let timeout = metadata_ms(&self.metadata, HEART_BEAT_TIMEOUT_KEY, DEFAULT_BEAT_TIMEOUT_MS);
        let delete = metadata_ms(&self.metadata, IP_DELETE_TIMEOUT_KEY, DEFAULT_DELETE_TIMEOUT_MS);
        if timeout < interval || delete < interval {
            return invalid(
                "Instance 'heart beat interval' must less than 'heart beat timeout' and 'ip delete timeout'.",
            );
        }
        if !is_cluster_name(&self.cluster) {
            return invalid(format!(
                "Instance 'clusterName' should be characters with only 0-9a-zA-Z-. (current: {})",
                self.cluster
            ));
        }
        Ok(())
    }

    /// The lease: an ephemeral instance renews every beat interval and expires after the ip
    /// delete timeout without beats; a persistent one never expires.
    pub fn lease(&self) -> LeaseSettings {
        if !self.ephemeral {
            return LeaseSettings {
                renewal_interval_secs: PERSISTENT_LEASE_SECS,
                duration_secs: PERSISTENT_LEASE_SECS,
            };
        }
        let interval = metadata_ms(&self.metadata, HEART_BEAT_INTERVAL_KEY, DEFAULT_BEAT_INTERVAL_MS);
        let delete = metadata_ms(&self.metadata, IP_DELETE_TIMEOUT_KEY, DEFAULT_DELETE_TIMEOUT_MS);
        LeaseSettings {
            renewal_interval_secs: lease_secs(interval),
            duration_secs: lease_secs(delete),
        }
    }
}

/// Nacos's `simple` instance id: `ip#port#cluster#group@@service`.
pub fn instance_id(ip: &str, port: u16, cluster: &str, service: &ServiceName) -> String {
    format!("{ip}#{port}#{cluster}#{}", service.grouped())
}

/// The zone of cluster `cluster` (`DEFAULT` is no zone).
pub fn zone_of(cluster: &str) -> &str {
    if cluster == DEFAULT_CLUSTER {
        ""
    } else {
        cluster
    }
}

/// The unified instance for a (checked) registration of `name` under `service`.
pub fn to_instance(service: &Service, name: &ServiceName, r: &Registration) -> Instance {
    let id = instance_id(&r.ip, r.port, &r.cluster, name);
    let mut i = Instance::new(service.tenant.clone(), service.id.clone(), id, r.ip.as_str());
    i.ip_addr = r.ip.as_str().into();
    i.endpoints
        .push(format_smolstr!("rest://{}:{}", endpoint_host(&r.ip), r.port));
    i.status = status_of(r.healthy, r.enabled);
    i.zone = zone_of(&r.cluster).into();
    i.metadata = r
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect();
    i.lease = r.lease();
    let fields = NacosFields {
        cluster_name: r.cluster.clone(),
        port: r.port,
        weight: r.weight,
        healthy: r.healthy,
        enabled: r.enabled,
        ephemeral: r.ephemeral,
    };
    i.protocol_fields.insert(PROTOCOL.into(), RawJson::to_json(&fields));
    i
}

/// An IPv6 address in brackets, as endpoints write hosts.
fn endpoint_host(ip: &str) -> String {
    if ip.contains(':') && !ip.starts_with('[') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

fn fields_of(i: &Instance) -> Option<NacosFields> {
    i.protocol_fields.get(PROTOCOL).and_then(RawJson::parse)
}

/// `(host, port, secure)` of a `transport://host:port[?query]` endpoint.
fn parse_endpoint(e: &str) -> Option<(&str, u16, bool)> {
    let (_, rest) = e.split_once("://")?;
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (host, port) = authority.trim_end_matches('/').rsplit_once(':')?;
    let secure = query.split('&').any(|kv| kv.eq_ignore_ascii_case("sslEnabled=true"));
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host, port.parse().ok()?, secure))
}

/// The ip and port Nacos clients see for `i`.
pub fn address_of(i: &Instance) -> (String, u16) {
    let fields = fields_of(i);
    let endpoints: Vec<(&str, u16, bool)> = i
        .endpoints
        .iter()
        .filter(|e| e.starts_with("rest://") || e.starts_with("http://") || e.starts_with("https://"))
        .filter_map(|e| parse_endpoint(e))
        .collect();
    let chosen = endpoints.iter().find(|e| !e.2).or(endpoints.first());
    let ip = if !i.ip_addr.is_empty() {
        i.ip_addr.to_string()
    } else {
        chosen.map_or_else(|| i.host_name.to_string(), |e| e.0.to_string())
    };
    let port = fields.map(|f| f.port).or(chosen.map(|e| e.1)).unwrap_or(0);
    (ip, port)
}

/// The cluster Nacos clients see for `i`: as registered through Nacos, else its zone.
pub fn cluster_of(i: &Instance) -> String {
    match fields_of(i) {
        Some(f) => f.cluster_name,
        None if i.zone.is_empty() => DEFAULT_CLUSTER.to_string(),
        None => i.zone.to_string(),
    }
}

/// Whether the instance holds a lease that can run out (Nacos's `ephemeral`).
pub fn is_ephemeral(i: &Instance) -> bool {
    i.lease.duration_secs < PERSISTENT_LEASE_SECS
}

/// `healthy` and `enabled` as Nacos clients see them, from the status (which other protocols
/// and overrides change); a Nacos registration's own pair where the status cannot tell.
pub fn health_of(i: &Instance) -> (bool, bool) {
    let registered_healthy = fields_of(i).is_none_or(|f| f.healthy);
    match i.status {
        InstanceStatus::Up => (true, true),
        InstanceStatus::OutOfService | InstanceStatus::Testing => (registered_healthy, false),
        InstanceStatus::Down | InstanceStatus::Starting | InstanceStatus::Unknown => (false, true),
    }
}

fn metadata_of(i: &Instance) -> BTreeMap<String, String> {
    i.metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The host Nacos clients see for a stored instance of `service`, listed as `name`.
pub fn to_host(name: &ServiceName, i: &Instance) -> Host {
    let fields = fields_of(i);
    let (ip, port) = address_of(i);
    let (healthy, enabled) = health_of(i);
    let metadata = metadata_of(i);
    Host {
        instance_id: i.id.to_string(),
        ip,
        port,
        weight: fields.as_ref().map_or(1.0, |f| f.weight),
        healthy,
        enabled,
        ephemeral: fields.as_ref().map_or_else(|| is_ephemeral(i), |f| f.ephemeral),
        cluster_name: cluster_of(i),
        service_name: name.grouped(),
        instance_heart_beat_interval: metadata_ms(&metadata, HEART_BEAT_INTERVAL_KEY, DEFAULT_BEAT_INTERVAL_MS),
        instance_heart_beat_time_out: metadata_ms(&metadata, HEART_BEAT_TIMEOUT_KEY, DEFAULT_BEAT_TIMEOUT_MS),
        ip_delete_timeout: metadata_ms(&metadata, IP_DELETE_TIMEOUT_KEY, DEFAULT_DELETE_TIMEOUT_MS),
        instance_id_generator: metadata
            .get(INSTANCE_ID_GENERATOR_KEY)
            .cloned()
            .unwrap_or_else(|| "simple".to_string()),
        metadata,
    }
}

/// `GET /nacos/v1/ns/instance`'s answer for a stored instance listed as `name`.
pub fn to_detail(name: &ServiceName, i: &Instance) -> InstanceDetail {
    let host = to_host(name, i);
    InstanceDetail {
        service: host.service_name,
        ip: host.ip,
        port: host.port,
        cluster_name: host.cluster_name,
        weight: host.weight,
        healthy: host.healthy,
        instance_id: host.instance_id,
        metadata: host.metadata,
    }
}

/// A stored instance with a Nacos update (`PUT /nacos/v1/ns/instance`) applied: `r`'s weight,
/// `enabled`, metadata and `ephemeral`; its health, address, cluster and other protocols' fields
/// stay. The status changes only if `enabled` does. The lease follows `r` for an instance
/// registered through Nacos; others keep theirs (a Eureka client keeps renewing by its own).
pub fn updated(stored: &Instance, r: &Registration) -> Instance {
    let (healthy, enabled) = health_of(stored);
    let mut i = stored.clone();
    if enabled != r.enabled {
        i.status = status_of(healthy, r.enabled);
    }
    i.metadata = r
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect();
    if fields_of(stored).is_some() {
        i.lease = r.lease();
    }
    let fields = NacosFields {
        cluster_name: cluster_of(stored),
        port: address_of(stored).1,
        weight: r.weight,
        healthy,
        enabled: r.enabled,
        ephemeral: r.ephemeral,
    };
    i.protocol_fields.insert(PROTOCOL.into(), RawJson::to_json(&fields));
    i
}

/// The beat interval (ms) an instance's client is told to keep: its
/// `preserved.heart.beat.interval`, else Nacos's default.
pub fn beat_interval_ms(i: &Instance) -> u64 {
    i.metadata
        .get(HEART_BEAT_INTERVAL_KEY)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_BEAT_INTERVAL_MS)
}

/// The selector types Nacos's `SelectorManager` knows out of the box (`NoneSelector`,
/// `LabelSelector`).
pub const SELECTOR_TYPES: [&str; 2] = ["none", "label"];

/// A service's selector as it was given (`{"type":…,"expression":…}`): kept and shown, never
/// applied (Nacos's `listService` does not apply it either; its instance lists do, through a CMDB
/// this registry has no equivalent of).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

impl Default for Selector {
    /// `NoneSelector`: no selection.
    fn default() -> Self {
        Self {
            kind: "none".into(),
            expression: None,
        }
    }
}

impl Selector {
    /// The `selector` parameter as `ServiceController.parseSelector` reads it (once URL-decoded
    /// again, which the HTTP layer does): blank is none; otherwise JSON with a known `type`
    /// (`not match any type of selector!` otherwise).
    pub fn parse(text: Option<&str>) -> Result<Self, MappingError> {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Self::default());
        };
        let json: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| MappingError(format!("Param 'selector' is illegal, it is not JSON: {e}")))?;
        let kind = json.get("type").map(|t| match t {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let Some(kind) = kind.filter(|k| SELECTOR_TYPES.contains(&k.as_str())) else {
            return invalid("not match any type of selector!");
        };
        let expression = json.get("expression").and_then(|e| match e {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        });
        Ok(Self { kind, expression })
    }

    /// As Jackson writes Nacos's selector objects: their `type` and `contextType` (`NONE` for
    /// `NoneSelector`, `CMDB` for the label selector), with the `expression` when there is one.
    pub fn to_json(&self) -> serde_json::Value {
        let context = if self.kind == "none" { "NONE" } else { "CMDB" };
        let mut json = serde_json::json!({ "type": self.kind, "contextType": context });
        if let Some(e) = &self.expression {
            json["expression"] = serde_json::Value::String(e.clone());
        }
        json
    }
}

/// A Nacos service's own fields (`ServiceMetadata`): what a create or an update sets.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    /// `protectThreshold`, 0–1 by convention (Nacos checks no range).
    pub protect_threshold: f32,
    /// The service's metadata (`extendData`).
    pub metadata: BTreeMap<String, String>,
    pub selector: Selector,
    /// A service created through the service API is persistent (`false`); one created by an
    /// instance registration is ephemeral.
    pub ephemeral: bool,
}

impl Default for ServiceSpec {
    /// A service no Nacos client described: what Nacos shows for one created by a registration.
    fn default() -> Self {
        Self {
            protect_threshold: 0.0,
            metadata: BTreeMap::new(),
            selector: Selector::default(),
            ephemeral: true,
        }
    }
}

/// Nacos's fields of a service that the model has no column for (`protocol_fields["nacos"]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NacosServiceFields {
    protect_threshold: f32,
    selector: Selector,
    ephemeral: bool,
}

impl ServiceSpec {
    /// The service's properties (its metadata, as ServiceCenter shows service properties) and
    /// its Nacos fields, as an [`crate::command::UpdateService`] writes them.
    pub fn columns(&self) -> (Properties, ProtocolFields) {
        let properties = self
            .metadata
            .iter()
            .map(|(k, v)| (SmolStr::from(k.as_str()), SmolStr::from(v.as_str())))
            .collect();
        let fields = NacosServiceFields {
            protect_threshold: self.protect_threshold,
            selector: self.selector.clone(),
            ephemeral: self.ephemeral,
        };
        let mut protocol_fields = ProtocolFields::new();
        protocol_fields.insert(PROTOCOL.into(), RawJson::to_json(&fields));
        (properties, protocol_fields)
    }

    /// `service` with this spec's metadata and Nacos fields (other protocols' fields stay).
    pub fn apply_to(&self, mut service: Service) -> Service {
        let (properties, fields) = self.columns();
        service.properties = properties;
        for (k, v) in fields {
            service.protocol_fields.insert(k, v);
        }
        service
    }

    /// The spec of a stored service: its properties as metadata, its Nacos fields if a Nacos
    /// client set them, else the defaults.
    pub fn of(service: &Service) -> Self {
        let fields: Option<NacosServiceFields> = service.protocol_fields.get(PROTOCOL).and_then(RawJson::parse);
        let defaults = Self::default();
        Self {
            protect_threshold: fields
                .as_ref()
                .map_or(defaults.protect_threshold, |f| f.protect_threshold),
            metadata: service
                .properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            selector: fields.as_ref().map_or(defaults.selector, |f| f.selector.clone()),
            ephemeral: fields.map_or(defaults.ephemeral, |f| f.ephemeral),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incoming_instance_takes_nacos_defaults_and_needs_an_address() {
        let lenient: IncomingInstance = serde_json::from_str(r#"{"ip":" 10.0.0.1 ","port":8080}"#).unwrap();
        let r = registration_of(&lenient).unwrap();
        assert_eq!(
            (r.ip.as_str(), r.port, r.cluster.as_str()),
            ("10.0.0.1", 8080, DEFAULT_CLUSTER)
        );
        assert!(r.healthy && r.enabled && r.ephemeral && r.weight == 1.0 && r.metadata.is_empty());
        let full: IncomingInstance = serde_json::from_str(
            r#"{"instanceId":"x","ip":"10.0.0.2","port":9,"weight":2.5,"healthy":false,"enabled":false,
                "ephemeral":false,"clusterName":"zone-a","metadata":{"k":"v"}}"#,
        )
        .unwrap();
        let r = registration_of(&full).unwrap();
        assert_eq!(
            (r.cluster.as_str(), r.weight, r.healthy, r.enabled, r.ephemeral),
            ("zone-a", 2.5, false, false, false)
        );
        assert_eq!(r.metadata["k"], "v");
        let parse = |json: &str| registration_of(&serde_json::from_str::<IncomingInstance>(json).unwrap());
        assert_eq!(parse(r#"{"port":1}"#), Err(IncomingError::Missing("ip")));
        assert_eq!(parse(r#"{"ip":"  ","port":1}"#), Err(IncomingError::Missing("ip")));
        assert_eq!(parse(r#"{"ip":"a"}"#), Err(IncomingError::Missing("port")));
        assert_eq!(parse(r#"{"ip":"a","port":0}"#), Err(IncomingError::IllegalPort(0)));
        assert_eq!(
            parse(r#"{"ip":"a","port":70000}"#),
            Err(IncomingError::IllegalPort(70000))
        );
    }

    fn registration() -> Registration {
        Registration {
            ip: "10.0.0.7".into(),
            port: 8080,
            cluster: "zone-a".into(),
            weight: 2.5,
            healthy: true,
            enabled: true,
            ephemeral: true,
            metadata: [("version".to_string(), "1.0".to_string())].into_iter().collect(),
        }
    }

    fn orders() -> ServiceName {
        ServiceName::parse(Some("orders"), None).unwrap()
    }

    #[test]
    fn service_names_take_their_group_from_the_name_or_the_parameter() {
        assert_eq!(orders().grouped(), "DEFAULT_GROUP@@orders");
        let g = ServiceName::parse(Some("pay@@orders"), Some("ignored")).unwrap();
        assert_eq!((g.group.as_str(), g.name.as_str()), ("pay", "orders"));
        let g = ServiceName::parse(Some(" orders "), Some("pay")).unwrap();
        assert_eq!(g.grouped(), "pay@@orders");
        let g = ServiceName::parse(Some("orders"), Some("  ")).unwrap();
        assert_eq!(g.group, DEFAULT_GROUP);
        let err = |s: &str| ServiceName::parse(Some(s), None).unwrap_err().0;
        assert!(err("@@orders").contains("groupName can't be empty"));
        assert!(err("pay@@").contains("'groupName@@serviceName'"));
        assert!(err("@@").contains("'groupName@@serviceName'"));
        assert_eq!(
            ServiceName::parse(None, None).unwrap_err().0,
            "Param 'serviceName' is required."
        );
    }

    #[test]
    fn namespaces_are_tenants() {
        let s = NacosSettings::default();
        assert_eq!(s.tenant_of("").unwrap(), Tenant::default());
        assert_eq!(s.tenant_of("public").unwrap(), Tenant::default());
        assert_eq!(s.tenant_of("dev-1").unwrap(), Tenant::new("default", "dev-1"));
        assert!(s.tenant_of("a/b").is_err());
        assert!(s.tenant_of(&"x".repeat(MAX_NAMESPACE_LEN + 1)).is_err());
    }

    #[test]
    fn service_fields_map_to_properties_and_nacos_fields_and_back() {
        let s = NacosSettings::default();
        let name = orders();
        let plain = s.new_service(Tenant::default(), &name);
        // A service no Nacos client described: Nacos's defaults, its properties as metadata.
        assert_eq!(ServiceSpec::of(&plain), ServiceSpec::default());
        let spec = ServiceSpec {
            protect_threshold: 0.5,
            metadata: [("owner".to_string(), "pay".to_string())].into_iter().collect(),
            selector: Selector::parse(Some(
                r#"{"type":"label","expression":"CONSUMER.label.A = PROVIDER.label.A"}"#,
            ))
            .unwrap(),
            ephemeral: false,
        };
        let mut other = plain.clone();
        other
            .protocol_fields
            .insert("servicecenter".into(), RawJson::to_json(&1));
        let stored = spec.apply_to(other);
        assert_eq!(stored.properties.get("owner").map(SmolStr::as_str), Some("pay"));
        assert!(stored.protocol_fields.get("servicecenter").is_some());
        assert_eq!(ServiceSpec::of(&stored), spec);
        assert_eq!(
            spec.selector.to_json(),
            serde_json::json!({ "type": "label", "contextType": "CMDB", "expression": "CONSUMER.label.A = PROVIDER.label.A" })
        );
        assert_eq!(
            Selector::default().to_json(),
            serde_json::json!({ "type": "none", "contextType": "NONE" })
        );
    }

    #[test]
    fn selectors_need_a_known_type() {
        assert_eq!(Selector::parse(None).unwrap(), Selector::default());
        assert_eq!(Selector::parse(Some("  ")).unwrap(), Selector::default());
        assert_eq!(
            Selector::parse(Some(r#"{"type":"none"}"#)).unwrap(),
            Selector::default()
        );
        for bad in [r#"{"type":"cmdb"}"#, r#"{"expression":"x"}"#] {
            assert_eq!(
                Selector::parse(Some(bad)).unwrap_err().0,
                "not match any type of selector!"
            );
        }
        assert!(Selector::parse(Some("{not json")).unwrap_err().0.contains("'selector'"));
    }

    #[test]
    fn namespaces_come_back_from_tenants() {
        let s = NacosSettings::default();
        assert_eq!(s.namespace_of(&s.tenant_of("public").unwrap()), "public");
        assert_eq!(s.namespace_of(&s.tenant_of("dev-1").unwrap()), "dev-1");
    }

    #[test]
    fn groups_are_apps_and_the_default_group_is_eurekas() {
        let s = NacosSettings::default();
        assert_eq!(s.app_of(DEFAULT_GROUP), "eureka");
        assert_eq!(s.group_of("eureka"), DEFAULT_GROUP);
        assert_eq!(s.app_of("pay"), "pay");
        assert_eq!(s.group_of("pay"), "pay");
        let service = s.new_service(Tenant::default(), &ServiceName::parse(Some("Orders"), None).unwrap());
        assert_eq!((service.id.as_str(), service.app.as_str()), ("eureka.orders", "eureka"));
        assert_eq!(service.name, "Orders");
        let service = s.new_service(
            Tenant::default(),
            &ServiceName::parse(Some("pay@@Orders"), None).unwrap(),
        );
        assert_eq!(service.id, "pay.Orders");
    }

    #[test]
    fn a_registration_maps_and_comes_back_unchanged() {
        let s = NacosSettings::default();
        let name = orders();
        let service = s.new_service(Tenant::default(), &name);
        let r = registration();
        let i = to_instance(&service, &name, &r);
        assert_eq!(i.id, "10.0.0.7#8080#zone-a#DEFAULT_GROUP@@orders");
        assert_eq!(i.endpoints, vec![SmolStr::from("rest://10.0.0.7:8080")]);
        assert_eq!(i.zone, "zone-a");
        assert_eq!(i.status, InstanceStatus::Up);
        assert_eq!(
            i.lease,
            LeaseSettings {
                renewal_interval_secs: 5,
                duration_secs: 30
            }
        );
        let host = to_host(&name, &i);
        assert_eq!((host.ip.as_str(), host.port), ("10.0.0.7", 8080));
        assert_eq!(host.cluster_name, "zone-a");
        assert_eq!(host.weight, 2.5);
        assert!(host.healthy && host.enabled && host.ephemeral);
        assert_eq!(host.metadata, r.metadata);
        assert_eq!(host.service_name, "DEFAULT_GROUP@@orders");
        assert_eq!(host.instance_heart_beat_interval, 5000);
        assert_eq!(host.ip_delete_timeout, 30000);
    }

    #[test]
    fn the_default_cluster_is_no_zone_and_persistent_instances_never_expire() {
        let s = NacosSettings::default();
        let name = orders();
        let service = s.new_service(Tenant::default(), &name);
        let r = Registration {
            cluster: DEFAULT_CLUSTER.into(),
            ephemeral: false,
            ..registration()
        };
        let i = to_instance(&service, &name, &r);
        assert_eq!(i.zone, "");
        assert_eq!(i.lease.duration_secs, PERSISTENT_LEASE_SECS);
        assert!(!is_ephemeral(&i));
        let host = to_host(&name, &i);
        assert_eq!(host.cluster_name, DEFAULT_CLUSTER);
        assert!(!host.ephemeral);
    }

    #[test]
    fn health_and_enabled_follow_the_status() {
        assert_eq!(status_of(true, true), InstanceStatus::Up);
        assert_eq!(status_of(false, true), InstanceStatus::Down);
        assert_eq!(status_of(true, false), InstanceStatus::OutOfService);
        assert_eq!(status_of(false, false), InstanceStatus::OutOfService);
        let s = NacosSettings::default();
        let name = orders();
        let service = s.new_service(Tenant::default(), &name);
        let mut i = to_instance(
            &service,
            &name,
            &Registration {
                healthy: false,
                enabled: false,
                ..registration()
            },
        );
        assert_eq!(health_of(&i), (false, false));
        // An operator's override elsewhere (Eureka's status) shows here.
        i.status = InstanceStatus::Up;
        assert_eq!(health_of(&i), (true, true));
        i.status = InstanceStatus::Starting;
        assert_eq!(health_of(&i), (false, true));
    }

    #[test]
    fn instances_of_other_protocols_are_derived() {
        let mut i = Instance::new(Tenant::default(), "eureka.orders", "host-1:orders:8080", "host-1");
        i.endpoints = vec![
            "rest://10.0.0.9:8443?sslEnabled=true".into(),
            "rest://10.0.0.9:8080".into(),
        ];
        i.zone = "us-east-1a".into();
        i.status = InstanceStatus::OutOfService;
        let host = to_host(&orders(), &i);
        assert_eq!((host.ip.as_str(), host.port), ("10.0.0.9", 8080));
        assert_eq!(host.cluster_name, "us-east-1a");
        assert_eq!(host.instance_id, "host-1:orders:8080");
        assert_eq!(host.weight, 1.0);
        assert!(host.healthy && !host.enabled && host.ephemeral);
        i.zone = "".into();
        i.ip_addr = "10.0.0.10".into();
        let host = to_host(&orders(), &i);
        assert_eq!(
            (host.ip.as_str(), host.cluster_name.as_str()),
            ("10.0.0.10", DEFAULT_CLUSTER)
        );
    }

    #[test]
    fn an_update_changes_weight_enabled_and_metadata_and_keeps_the_rest() {
        let s = NacosSettings::default();
        let name = orders();
        let service = s.new_service(Tenant::default(), &name);
        let stored = to_instance(&service, &name, &registration());
        let update = Registration {
            weight: 7.0,
            enabled: false,
            metadata: BTreeMap::new(),
            ..registration()
        };
        let i = updated(&stored, &update);
        assert_eq!(i.id, stored.id);
        assert_eq!(i.status, InstanceStatus::OutOfService);
        assert!(i.metadata.is_empty());
        assert_eq!(to_host(&name, &i).weight, 7.0);
        // A Eureka instance keeps its lease, endpoints and Eureka fields.
        let mut eureka = Instance::new(Tenant::default(), "eureka.orders", "host-1:orders:8080", "host-1");
        eureka.endpoints = vec!["rest://10.0.0.9:8080".into()];
        eureka.lease = LeaseSettings::default();
        eureka.protocol_fields.insert("eureka".into(), RawJson::to_json(&1));
        let i = updated(
            &eureka,
            &Registration {
                ip: "10.0.0.9".into(),
                ..registration()
            },
        );
        assert_eq!(i.lease, LeaseSettings::default());
        assert_eq!(i.endpoints, eureka.endpoints);
        assert!(i.protocol_fields.get("eureka").is_some());
        assert_eq!(i.status, InstanceStatus::Up);
        assert_eq!(to_host(&name, &i).port, 8080);
    }

    #[test]
    fn nacos_checks_weights_clusters_and_beat_timings() {
        assert!(registration().check().is_ok());
        let bad = |r: Registration| r.check().unwrap_err().0;
        assert!(bad(Registration {
            weight: 10_001.0,
            ..registration()
        })
        .contains("weights range from 0.0 to 10000.0"));
        assert!(bad(Registration {
            cluster: "a_b".into(),
            ..registration()
        })
        .contains("(current: a_b)"));
        let mut metadata = BTreeMap::new();
        metadata.insert(HEART_BEAT_INTERVAL_KEY.to_string(), "20000".to_string());
        assert!(bad(Registration {
            metadata: metadata.clone(),
            ..registration()
        })
        .contains("heart beat interval"));
        metadata.insert(HEART_BEAT_TIMEOUT_KEY.to_string(), "60000".to_string());
        metadata.insert(IP_DELETE_TIMEOUT_KEY.to_string(), "90500".to_string());
        let r = Registration {
            metadata,
            ..registration()
        };
        assert!(r.check().is_ok());
        assert_eq!(
            r.lease(),
            LeaseSettings {
                renewal_interval_secs: 20,
                duration_secs: 91
            }
        );
    }
}
