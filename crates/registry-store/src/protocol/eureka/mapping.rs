//! Eureka's `InstanceInfo` ↔ the unified model, in one place.
//!
//! | Eureka                               | Unified model                                        |
//! |--------------------------------------|------------------------------------------------------|
//! | app `ORDERS`                         | service `orders` (lower-cased) in app `eureka`, in the configured tenant; version `metadata.version` if valid, else `0.0.1`; id `eureka.orders` (`eureka.orders.1.2.0` for other versions) |
//! | instance id (`instanceId`, else AWS `instance-id`, else `hostName`) | instance id |
//! | `hostName`, `ipAddr`                 | `host_name`, `ip_addr`                               |
//! | `port` / `securePort` (enabled)      | endpoints `rest://ip:port`, `rest://ip:securePort?sslEnabled=true` |
//! | `status`                             | status (`TESTING` shows as `OUT_OF_SERVICE`)         |
//! | `overriddenStatus` (not `UNKNOWN`)   | `status_override`                                    |
//! | `lastDirtyTimestamp`                 | `client_modified_ms`                                 |
//! | `leaseInfo` interval / duration      | lease settings (defaults 30 s / 90 s)                |
//! | `metadata`; zone from `metadata.zone` or AWS `availability-zone`; region from `metadata.region` or the AWS zone's region (`us-east-1a` → `us-east-1`) | metadata; zone; region |
//! | everything else (`vipAddress`, URLs, `dataCenterInfo`, `sid`, port numbers and flags, ...) | `protocol_fields["eureka"]`, verbatim |
//!
//! Instances registered through other protocols have no Eureka fields: their `InstanceInfo` is
//! derived from the neutral ones (ports from the first `rest://` endpoints, VIP = service name).

use crate::model::Instance;
use crate::model::InstanceStatus;
use crate::model::LeaseSettings;
use crate::model::Millis;
use crate::model::Service;
use crate::model::Tenant;
use smol_str::format_smolstr;
use smol_str::SmolStr;

use super::stored::stored_app;
use super::stored::EurekaFields;
use super::wire::ActionType;
use super::wire::DataCenterInfo;
use super::wire::InstanceInfo;
use super::wire::LeaseInfo;
use super::wire::Port;
use super::wire::Status;

/// Key of Eureka's extra fields in [`Instance::protocol_fields`].
pub const PROTOCOL: &str = "eureka";

/// Where Eureka registrations live in the unified model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EurekaSettings {
    /// Tenant of every Eureka app. Default `default/default`.
    pub tenant: Tenant,
    /// ServiceCenter `appId` of every Eureka app. Default `eureka` (as ServiceComb's syncer).
    pub app_id: String,
}

impl Default for EurekaSettings {
    fn default() -> Self {
        Self {
            tenant: Tenant::default(),
            app_id: "eureka".into(),
        }
    }
}

/// The service version of Eureka apps whose instances do not say otherwise.
pub const DEFAULT_VERSION: &str = "0.0.1";

/// A ServiceCenter-style version: 1 to 4 dot-separated numbers, each at most 32767.
fn is_version(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() <= 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
        && parts.iter().all(|p| p.parse::<u32>().is_ok_and(|n| n <= 32767))
}

/// The version an instance's service has: its `metadata.version` if that is a valid version.
pub fn version_of(info: &InstanceInfo) -> &str {
    info.metadata
        .get("version")
        .map(String::as_str)
        .filter(|v| is_version(v))
        .unwrap_or(DEFAULT_VERSION)
}

impl EurekaSettings {
    /// The service id an app's instances of `version` are registered under.
    pub fn service_id(&self, app: &str, version: &str) -> String {
        let name = app.to_ascii_lowercase();
        if version == DEFAULT_VERSION {
            format!("{}.{name}", self.app_id)
        } else {
            format!("{}.{name}.{version}", self.app_id)
        }
    }

    /// The service an app's first registration (of that version) creates.
    pub fn service_for_app(&self, app: &str, version: &str) -> Service {
        let name = app.to_ascii_lowercase();
        let mut service = Service::new(
            self.tenant.clone(),
            self.service_id(app, version),
            self.app_id.clone(),
            name,
        );
        service.version = version.to_string();
        service
    }
}

pub fn status_to_store(s: Status) -> InstanceStatus {
    match s {
        Status::Up => InstanceStatus::Up,
        Status::Down => InstanceStatus::Down,
        Status::Starting => InstanceStatus::Starting,
        Status::OutOfService => InstanceStatus::OutOfService,
        Status::Unknown => InstanceStatus::Unknown,
    }
}

pub fn status_from_store(s: InstanceStatus) -> Status {
    match s {
        InstanceStatus::Up => Status::Up,
        InstanceStatus::Down => Status::Down,
        InstanceStatus::Starting => Status::Starting,
        InstanceStatus::OutOfService | InstanceStatus::Testing => Status::OutOfService,
        InstanceStatus::Unknown => Status::Unknown,
    }
}

fn non_negative(ms: i64) -> Millis {
    ms.max(0) as Millis
}

/// The unified instance for a registration of `info` (already validated by the caller).
pub fn to_instance(settings: &EurekaSettings, info: &InstanceInfo) -> Instance {
    let mut i = Instance::new(
        settings.tenant.clone(),
        settings.service_id(&info.app, version_of(info)),
        info.effective_id(),
        &info.host_name,
    );
    i.ip_addr = info.ip_addr.as_str().into();
    let host = if info.ip_addr.is_empty() {
        &info.host_name
    } else {
        &info.ip_addr
    };
    if info.port.enabled {
        i.endpoints.push(format_smolstr!("rest://{host}:{}", info.port.number));
    }
    if info.secure_port.enabled {
        i.endpoints.push(format_smolstr!(
            "rest://{host}:{}?sslEnabled=true",
            info.secure_port.number
        ));
    }
    i.status = status_to_store(info.status);
    i.status_override = match info.overridden_status {
        Status::Unknown => None,
        s => Some(status_to_store(s)),
    };
    i.client_modified_ms = non_negative(info.last_dirty_timestamp);
    let aws_zone = info.data_center_info.metadata.get("availability-zone");
    i.zone = info
        .metadata
        .get("zone")
        .or(aws_zone)
        .map(SmolStr::from)
        .unwrap_or_default();
    i.region = info
        .metadata
        .get("region")
        .map(SmolStr::from)
        .or_else(|| aws_zone.and_then(|z| aws_region_of(z)).map(SmolStr::from))
        .unwrap_or_default();
    i.metadata = info
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect();
    let lease = info.lease_info.unwrap_or_default();
    let defaults = LeaseSettings::default();
    i.lease = LeaseSettings {
        renewal_interval_secs: if lease.renewal_interval_in_secs > 0 {
            lease.renewal_interval_in_secs
        } else {
            defaults.renewal_interval_secs
        },
        duration_secs: if lease.duration_in_secs > 0 {
            lease.duration_in_secs
        } else {
            defaults.duration_secs
        },
    };
    let fields = EurekaFields {
        instance_id_given: info.instance_id.as_deref().is_some_and(|s| !s.is_empty()),
        app: info.app.clone(),
        sid: info.sid.clone(),
        port: info.port.number,
        port_enabled: info.port.enabled,
        secure_port: info.secure_port.number,
        secure_port_enabled: info.secure_port.enabled,
        country_id: info.country_id,
        data_center_name: info.data_center_info.name.clone(),
        data_center_class: info.data_center_info.class.clone(),
        data_center_metadata: info.data_center_info.metadata.clone(),
        has_lease_info: info.lease_info.is_some(),
        service_up_timestamp: info.lease_info.map_or(0, |l| l.service_up_timestamp),
        app_group_name: info.app_group_name.clone(),
        home_page_url: info.home_page_url.clone(),
        status_page_url: info.status_page_url.clone(),
        health_check_url: info.health_check_url.clone(),
        secure_health_check_url: info.secure_health_check_url.clone(),
        vip_address: info.vip_address.clone(),
        secure_vip_address: info.secure_vip_address.clone(),
        is_coordinating_discovery_server: info.is_coordinating_discovery_server,
        asg_name: info.asg_name.clone(),
    };
    i.protocol_fields.insert(PROTOCOL.into(), fields.store(&info.host_name));
    i
}

/// A parsed `transport://host:port[?query]` endpoint.
struct Endpoint<'a> {
    host: &'a str,
    port: u16,
    secure: bool,
}

fn parse_endpoint(e: &str) -> Option<Endpoint<'_>> {
    let (_, rest) = e.split_once("://")?;
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority.trim_end_matches('/');
    let (host, port) = authority.rsplit_once(':')?;
    let secure = query.split('&').any(|kv| kv.eq_ignore_ascii_case("sslEnabled=true"));
    Some(Endpoint {
        host: host.trim_start_matches('[').trim_end_matches(']'),
        port: port.parse().ok()?,
        secure,
    })
}

/// Ports and address derived from neutral endpoints (instances registered by other protocols).
fn derived_ports(instance: &Instance) -> (String, Port, Port) {
    let endpoints: Vec<Endpoint<'_>> = instance
        .endpoints
        .iter()
        .filter(|e| e.starts_with("rest://") || e.starts_with("http://") || e.starts_with("https://"))
        .filter_map(|e| parse_endpoint(e))
        .collect();
    let plain = endpoints.iter().find(|e| !e.secure);
    let secure = endpoints.iter().find(|e| e.secure);
    let ip = if !instance.ip_addr.is_empty() {
        instance.ip_addr.to_string()
    } else {
        plain
            .or(secure)
            .map_or_else(|| instance.host_name.to_string(), |e| e.host.to_string())
    };
    let port = plain.map_or(
        Port {
            number: 0,
            enabled: false,
        },
        |e| Port {
            number: e.port,
            enabled: true,
        },
    );
    let secure_port = secure.map_or(
        Port {
            number: 0,
            enabled: false,
        },
        |e| Port {
            number: e.port,
            enabled: true,
        },
    );
    (ip, port, secure_port)
}

/// The app an instance of `service` is listed under: [`to_instance_info`]'s `app`, read without
/// converting the instance (only the stored app name is parsed).
pub fn app_of(service: &Service, instance: &Instance) -> String {
    let given = instance.protocol_fields.get(PROTOCOL).and_then(stored_app);
    match given {
        Some(app) if !app.is_empty() => app.into_owned(),
        _ => service.name.to_ascii_uppercase(),
    }
}

/// The `InstanceInfo` Eureka clients see for a stored instance of `service`.
pub fn to_instance_info(service: &Service, instance: &Instance) -> InstanceInfo {
    let fields = instance
        .protocol_fields
        .get(PROTOCOL)
        .and_then(|raw| EurekaFields::load(raw, &instance.host_name));
    let registered = instance.registered_at_ms as i64;
    let updated = instance.updated_at_ms as i64;
    let status = status_from_store(instance.status);
    let mut info = InstanceInfo::new(&service.name, &instance.host_name);
    info.instance_id = Some(instance.id.to_string());
    info.status = status;
    info.overridden_status = instance.status_override.map_or(Status::Unknown, status_from_store);
    info.metadata = instance
        .metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    info.last_updated_timestamp = updated;
    info.last_dirty_timestamp = if instance.client_modified_ms > 0 {
        instance.client_modified_ms as i64
    } else {
        registered
    };
    info.action_type = Some(if registered == updated {
        ActionType::Added
    } else {
        ActionType::Modified
    });
    let mut lease = LeaseInfo {
        renewal_interval_in_secs: instance.lease.renewal_interval_secs,
        duration_in_secs: instance.lease.duration_secs,
        registration_timestamp: registered,
        last_renewal_timestamp: updated,
        eviction_timestamp: 0,
        service_up_timestamp: if status == Status::Up { registered } else { 0 },
    };
    match fields {
        Some(f) => {
            if !f.instance_id_given {
                info.instance_id = None;
            }
            if !f.app.is_empty() {
                info.app = f.app;
            }
            info.ip_addr = instance.ip_addr.to_string();
            info.sid = f.sid;
            info.port = Port {
                number: f.port,
                enabled: f.port_enabled,
            };
            info.secure_port = Port {
                number: f.secure_port,
                enabled: f.secure_port_enabled,
            };
            info.country_id = f.country_id;
            info.data_center_info = DataCenterInfo {
                name: f.data_center_name,
                class: f.data_center_class,
                metadata: f.data_center_metadata,
            };
            if f.service_up_timestamp > 0 {
                lease.service_up_timestamp = f.service_up_timestamp;
            }
            info.app_group_name = f.app_group_name;
            info.home_page_url = f.home_page_url;
            info.status_page_url = f.status_page_url;
            info.health_check_url = f.health_check_url;
            info.secure_health_check_url = f.secure_health_check_url;
            info.vip_address = f.vip_address;
            info.secure_vip_address = f.secure_vip_address;
            info.is_coordinating_discovery_server = f.is_coordinating_discovery_server;
            info.asg_name = f.asg_name;
        }
        None => {
            let (ip, port, secure_port) = derived_ports(instance);
            info.ip_addr = ip;
            info.port = port;
            info.secure_port = secure_port;
            info.vip_address = Some(service.name.clone());
            info.secure_vip_address = Some(service.name.clone());
            for (key, value) in [("zone", &instance.zone), ("region", &instance.region)] {
                if !value.is_empty() && !info.metadata.contains_key(key) {
                    info.metadata.insert(key.into(), value.to_string());
                }
            }
            if let Some(source) = instance.origin.source() {
                info.metadata
                    .entry("registry.origin".into())
                    .or_insert_with(|| source.to_string());
            }
        }
    }
    info.lease_info = Some(lease);
    info
}

/// The region of an AWS availability zone: the zone without its trailing letter
/// (`us-east-1a` → `us-east-1`); `None` for anything else.
fn aws_region_of(zone: &str) -> Option<&str> {
    let region = zone.strip_suffix(|c: char| c.is_ascii_lowercase())?;
    region.ends_with(|c: char| c.is_ascii_digit()).then_some(region)
}

#[cfg(test)]
mod tests {
    use crate::model::RawJson;
    use std::collections::BTreeMap;

    use super::super::wire::AMAZON_DATA_CENTER_CLASS;
    use super::*;

    fn sample() -> InstanceInfo {
        let mut i = InstanceInfo::new("ORDERS", "host-1.example");
        i.instance_id = Some("10.0.0.11:orders:8080".into());
        i.ip_addr = "10.0.0.11".into();
        i.port = Port {
            number: 8080,
            enabled: true,
        };
        i.secure_port = Port {
            number: 8443,
            enabled: true,
        };
        i.overridden_status = Status::OutOfService;
        i.status = Status::OutOfService;
        i.metadata.insert("zone".into(), "zone-a".into());
        i.home_page_url = Some("http://10.0.0.11:8080/".into());
        i.vip_address = Some("orders".into());
        i.secure_vip_address = Some("orders-secure".into());
        i.sid = Some("sid-1".into());
        i.asg_name = Some("asg".into());
        i.last_dirty_timestamp = 1_700_000_000_000;
        i.lease_info = Some(LeaseInfo {
            renewal_interval_in_secs: 5,
            duration_in_secs: 15,
            ..LeaseInfo::default()
        });
        i
    }

    #[test]
    fn eureka_registrations_round_trip_through_the_unified_model() {
        let settings = EurekaSettings::default();
        let info = sample();
        let mut stored = to_instance(&settings, &info);
        assert_eq!(stored.service_id, "eureka.orders");
        assert_eq!(
            stored.endpoints,
            vec!["rest://10.0.0.11:8080", "rest://10.0.0.11:8443?sslEnabled=true"]
        );
        assert_eq!(stored.zone, "zone-a");
        assert_eq!(stored.status_override, Some(InstanceStatus::OutOfService));
        assert_eq!(
            stored.lease,
            LeaseSettings {
                renewal_interval_secs: 5,
                duration_secs: 15
            }
        );
        stored.registered_at_ms = 1_700_000_001_000;
        stored.updated_at_ms = 1_700_000_001_000;
        let service = settings.service_for_app("ORDERS", DEFAULT_VERSION);
        let back = to_instance_info(&service, &stored);
        let mut expected = info.clone();
        expected.action_type = Some(ActionType::Added);
        expected.last_updated_timestamp = 1_700_000_001_000;
        expected.lease_info = Some(LeaseInfo {
            renewal_interval_in_secs: 5,
            duration_in_secs: 15,
            registration_timestamp: 1_700_000_001_000,
            last_renewal_timestamp: 1_700_000_001_000,
            eviction_timestamp: 0,
            service_up_timestamp: 0,
        });
        assert_eq!(back, expected);
    }

    #[test]
    fn the_app_read_alone_is_the_app_of_the_converted_instance() {
        let settings = EurekaSettings::default();
        let mut cases = Vec::new();
        for app in ["ORDERS", "orders", "Mixed-Case.app", "QUOTE\"D\\APP", "ÜNICODE"] {
            let mut info = sample();
            info.app = app.into();
            let service = settings.service_for_app(app, DEFAULT_VERSION);
            cases.push((service, to_instance(&settings, &info)));
        }
        // Without Eureka's fields (registered through another protocol), and with fields in
        // the older stored form (camelCase keys).
        let mut foreign = to_instance(&settings, &sample());
        foreign.protocol_fields.remove(PROTOCOL);
        cases.push((settings.service_for_app("lower-case", DEFAULT_VERSION), foreign));
        let mut older = to_instance(&settings, &sample());
        older.protocol_fields.insert(
            PROTOCOL.into(),
            RawJson::to_json(&serde_json::json!({"app": "OLD-FORM"})),
        );
        cases.push((settings.service_for_app("ORDERS", DEFAULT_VERSION), older));
        for (service, instance) in &cases {
            assert_eq!(app_of(service, instance), to_instance_info(service, instance).app);
        }
        assert_eq!(app_of(&cases[5].0, &cases[5].1), "LOWER-CASE");
        assert_eq!(app_of(&cases[6].0, &cases[6].1), "OLD-FORM");
    }

    #[test]
    fn stored_fields_leave_defaults_out_and_read_every_value_back() {
        let settings = EurekaSettings::default();
        let service = settings.service_for_app("ORDERS", DEFAULT_VERSION);
        let stored_text = |info: &InstanceInfo| {
            to_instance(&settings, info)
                .protocol_fields
                .get(PROTOCOL)
                .unwrap()
                .as_str()
                .to_string()
        };

        let text = stored_text(&sample());
        // Data center, app group, service-up time and country are defaults: left out.
        for left_out in [r#""dn""#, r#""dc""#, r#""g""#, r#""u""#, r#""c""#] {
            assert!(!text.contains(left_out), "{left_out} in {text}");
        }
        assert!(text.contains(r#""s":"sid-1""#), "{text}");

        // Values other than the defaults, including blank ones, come back as they were.
        let mut amazon = sample();
        amazon.data_center_info = DataCenterInfo {
            name: "Amazon".into(),
            class: AMAZON_DATA_CENTER_CLASS.into(),
            metadata: [("availability-zone".to_string(), "us-east-1a".to_string())].into(),
        };
        amazon.is_coordinating_discovery_server = true;
        amazon.app_group_name = Some("GROUP".into());
        let mut blank = sample();
        blank.data_center_info = DataCenterInfo {
            name: String::new(),
            class: String::new(),
            metadata: BTreeMap::new(),
        };
        blank.port.enabled = false;
        for info in [amazon, blank] {
            let back = to_instance_info(&service, &to_instance(&settings, &info));
            assert_eq!(back.data_center_info, info.data_center_info);
            assert_eq!(
                back.is_coordinating_discovery_server,
                info.is_coordinating_discovery_server
            );
            assert_eq!(back.app_group_name, info.app_group_name);
            assert_eq!(back.port, info.port);
        }
    }

    #[test]
    fn an_instance_without_an_id_keeps_it_absent_on_output() {
        let mut info = sample();
        info.instance_id = None;
        let stored = to_instance(&EurekaSettings::default(), &info);
        assert_eq!(stored.id, "host-1.example");
        let back = to_instance_info(
            &EurekaSettings::default().service_for_app("ORDERS", DEFAULT_VERSION),
            &stored,
        );
        assert_eq!(back.instance_id, None);
        assert_eq!(back.effective_id(), "host-1.example");
    }

    #[test]
    fn instances_of_other_protocols_get_derived_eureka_fields() {
        let service = Service::new(Tenant::default(), "sc-1", "default", "hello-server");
        let mut i = Instance::new(Tenant::default(), "sc-1", "abc", "node-7");
        i.endpoints = vec![
            "highway://10.1.1.1:7070".into(),
            "rest://10.1.1.1:8080".into(),
            "rest://10.1.1.1:8443?sslEnabled=true".into(),
        ];
        i.status = InstanceStatus::Testing;
        i.zone = "az1".into();
        let info = to_instance_info(&service, &i);
        assert_eq!(info.app, "HELLO-SERVER");
        assert_eq!(info.ip_addr, "10.1.1.1");
        assert_eq!(
            info.port,
            Port {
                number: 8080,
                enabled: true
            }
        );
        assert_eq!(
            info.secure_port,
            Port {
                number: 8443,
                enabled: true
            }
        );
        assert_eq!(info.status, Status::OutOfService);
        assert_eq!(info.vip_address.as_deref(), Some("hello-server"));
        assert_eq!(info.metadata.get("zone").map(String::as_str), Some("az1"));
        assert_eq!(info.instance_id.as_deref(), Some("abc"));
    }

    #[test]
    fn statuses_map_both_ways() {
        for s in Status::ALL {
            assert_eq!(status_from_store(status_to_store(s)), s);
        }
    }

    #[test]
    fn regions_come_from_metadata_or_the_aws_zone() {
        assert_eq!(aws_region_of("us-east-1a"), Some("us-east-1"));
        assert_eq!(aws_region_of("eu-west-3c"), Some("eu-west-3"));
        assert_eq!(aws_region_of("zone-a"), None);
        assert_eq!(aws_region_of("us-east-1"), None);
    }
}
