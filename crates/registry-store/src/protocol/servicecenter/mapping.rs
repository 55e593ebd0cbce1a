//! ServiceCenter objects ↔ the unified model, in one place.
//!
//! | ServiceCenter                         | Unified model                                      |
//! |---------------------------------------|----------------------------------------------------|
//! | `X-Domain-Name` / `{project}`         | tenant `domain/project`                            |
//! | `serviceId`, `appId`, `serviceName`, `version`, `environment`, `alias`, `description`, `properties`, `schemas` | the same `Service` fields |
//! | `level`, `status`, `paths`, `LBStrategy`, `registerBy`, `framework` | `protocol_fields["servicecenter"]` |
//! | `timestamp` / `modTimestamp` (unix seconds as strings) | created / updated times (ms) |
//! | `instanceId`, `endpoints`, `hostName`, `properties` | instance id, endpoints, host name, metadata |
//! | `status` `UP/DOWN/STARTING/TESTING/OUTOFSERVICE` | status (`UNKNOWN` from Eureka shows as `DOWN`) |
//! | `healthCheck` `interval`, `times`     | lease: renew every `interval` s, expire after `interval × (times + 1)` s |
//! | `dataCenterInfo` `region`, `availableZone` (`name` kept) | region, zone (`protocol_fields`) |
//!
//! Records registered through Eureka have no ServiceCenter fields; theirs are derived: level
//! `BACK`, status `UP`, `healthCheck` from the lease, `dataCenterInfo` from zone and region.

use crate::model::Instance;
use crate::model::InstanceStatus;
use crate::model::LeaseSettings;
use crate::model::Millis;
use crate::model::RawJson;
use crate::model::Service;
use crate::model::Tenant;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

use super::wire::DataCenterInfo;
use super::wire::Framework;
use super::wire::HealthCheck;
use super::wire::MicroService;
use super::wire::MicroServiceInstance;

/// Key of ServiceCenter's extra fields in `protocol_fields`.
pub const PROTOCOL: &str = "servicecenter";

/// Lease limits applied to registrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseLimits {
    /// Push-mode heartbeat intervals are raised to at least this (SC's `minInterval`). Default 5 s.
    pub min_interval_secs: u32,
    /// Push-mode `times` is raised to at least this. Default 3.
    pub min_times: u32,
}

impl Default for LeaseLimits {
    fn default() -> Self {
        Self {
            min_interval_secs: 5,
            min_times: 3,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ServiceFields {
    level: String,
    status: String,
    paths: Vec<Value>,
    lb_strategy: Option<Value>,
    register_by: String,
    framework: Option<Framework>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct InstanceFields {
    health_check: Option<HealthCheck>,
    data_center_name: String,
}

fn seconds(ms: Millis) -> String {
    (ms / 1000).to_string()
}

fn or<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.is_empty() {
        default
    } else {
        value
    }
}

/// The unified service for a (validated, defaulted) microservice.
pub fn service_from_wire(tenant: Tenant, s: &MicroService) -> Service {
    let mut service = Service::new(tenant, &s.service_id, &s.app_id, &s.service_name);
    service.version = s.version.clone();
    service.environment = s.environment.clone();
    service.description = s.description.clone();
    service.alias = s.alias.clone();
    service.properties = s
        .properties
        .iter()
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect();
    service.schemas = s.schemas.clone();
    let fields = ServiceFields {
        level: s.level.clone(),
        status: s.status.clone(),
        paths: s.paths.clone(),
        lb_strategy: s.lb_strategy.clone(),
        register_by: s.register_by.clone(),
        framework: s.framework.clone(),
    };
    service
        .protocol_fields
        .insert(PROTOCOL.into(), RawJson::to_json(&fields));
    service
}

/// The microservice ServiceCenter clients see for a stored service.
pub fn service_to_wire(s: &Service) -> MicroService {
    let fields: ServiceFields = s
        .protocol_fields
        .get(PROTOCOL)
        .and_then(RawJson::parse)
        .unwrap_or_default();
    MicroService {
        service_id: s.id.to_string(),
        app_id: s.app.clone(),
        service_name: s.name.clone(),
        version: s.version.clone(),
        description: s.description.clone(),
        level: or(&fields.level, "BACK").to_string(),
        schemas: s.schemas.clone(),
        paths: fields.paths,
        status: or(&fields.status, "UP").to_string(),
        properties: s
            .properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        timestamp: seconds(s.created_at_ms),
        alias: s.alias.clone(),
        lb_strategy: fields.lb_strategy,
        mod_timestamp: seconds(s.updated_at_ms),
        environment: s.environment.clone(),
        register_by: fields.register_by,
        framework: fields.framework,
    }
}

pub fn status_to_store(status: &str) -> InstanceStatus {
    match status {
        "DOWN" => InstanceStatus::Down,
        "STARTING" => InstanceStatus::Starting,
        "TESTING" => InstanceStatus::Testing,
        "OUTOFSERVICE" => InstanceStatus::OutOfService,
        _ => InstanceStatus::Up,
    }
}

pub fn status_from_store(status: InstanceStatus) -> &'static str {
    match status {
        InstanceStatus::Up => "UP",
        InstanceStatus::Down | InstanceStatus::Unknown => "DOWN",
        InstanceStatus::Starting => "STARTING",
        InstanceStatus::Testing => "TESTING",
        InstanceStatus::OutOfService => "OUTOFSERVICE",
    }
}

/// The health check as stored (defaults and limits applied) and the lease it implies.
pub fn lease_of(check: Option<&HealthCheck>, limits: LeaseLimits) -> (HealthCheck, LeaseSettings) {
    let mut hc = check.cloned().unwrap_or_else(|| HealthCheck {
        mode: "push".into(),
        interval: 30,
        times: 3,
        ..HealthCheck::default()
    });
    if hc.mode == "pull" {
        hc.interval = 30;
        hc.times = 3;
    } else {
        hc.mode = "push".into();
        hc.interval = hc.interval.max(limits.min_interval_secs).max(1);
        hc.times = hc.times.max(limits.min_times);
    }
    let lease = LeaseSettings {
        renewal_interval_secs: hc.interval,
        duration_secs: hc.interval.saturating_mul(hc.times + 1),
    };
    (hc, lease)
}

/// The unified instance for a (validated, defaulted) registration under `service`.
pub fn instance_from_wire(service: &Service, i: &MicroServiceInstance, limits: LeaseLimits) -> Instance {
    let mut instance = Instance::new(service.tenant.clone(), service.id.clone(), &i.instance_id, &i.host_name);
    instance.endpoints = i.endpoints.iter().map(|e| e.as_str().into()).collect();
    instance.status = status_to_store(&i.status);
    instance.metadata = i
        .properties
        .iter()
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect();
    let (health_check, lease) = lease_of(i.health_check.as_ref(), limits);
    instance.lease = lease;
    let mut fields = InstanceFields {
        health_check: Some(health_check),
        ..InstanceFields::default()
    };
    if let Some(dc) = &i.data_center_info {
        instance.region = dc.region.as_str().into();
        instance.zone = dc.available_zone.as_str().into();
        fields.data_center_name = dc.name.clone();
    }
    instance
        .protocol_fields
        .insert(PROTOCOL.into(), RawJson::to_json(&fields));
    instance
}

/// The instance ServiceCenter clients see for a stored instance of `service`.
pub fn instance_to_wire(service: &Service, i: &Instance) -> MicroServiceInstance {
    let fields: InstanceFields = i
        .protocol_fields
        .get(PROTOCOL)
        .and_then(RawJson::parse)
        .unwrap_or_default();
    let health_check = fields.health_check.unwrap_or_else(|| {
        let interval = i.lease.renewal_interval_secs.max(1);
        HealthCheck {
            mode: "push".into(),
            interval,
            times: (i.lease.duration_secs / interval).saturating_sub(1),
            ..HealthCheck::default()
        }
    });
    // ServiceCenter requires all three once the object is there; a Eureka instance may have a
    // zone and no region.
    let data_center_info = (!i.zone.is_empty() || !i.region.is_empty()).then(|| DataCenterInfo {
        name: or(&fields.data_center_name, "default").to_string(),
        region: or(&i.region, "default").to_string(),
        available_zone: or(&i.zone, "default").to_string(),
    });
    MicroServiceInstance {
        instance_id: i.id.to_string(),
        service_id: i.service_id.to_string(),
        endpoints: i.endpoints.iter().map(|e| e.to_string()).collect(),
        host_name: i.host_name.to_string(),
        status: status_from_store(i.status).to_string(),
        properties: i.metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        health_check: Some(health_check),
        timestamp: seconds(i.registered_at_ms),
        data_center_info,
        mod_timestamp: seconds(i.updated_at_ms),
        version: service.version.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_round_trip() {
        let wire = MicroService {
            service_id: "s1".into(),
            app_id: "default".into(),
            service_name: "hello".into(),
            version: "1.0.0".into(),
            level: "FRONT".into(),
            status: "UP".into(),
            alias: "greeter".into(),
            register_by: "SDK".into(),
            framework: Some(Framework {
                name: "java-chassis".into(),
                version: "2.8".into(),
            }),
            lb_strategy: Some(serde_json::json!({"name": "RoundRobin"})),
            ..MicroService::default()
        };
        let mut stored = service_from_wire(Tenant::default(), &wire);
        stored.created_at_ms = 1_649_833_445_123;
        stored.updated_at_ms = 1_649_833_446_999;
        let back = service_to_wire(&stored);
        let expected = MicroService {
            timestamp: "1649833445".into(),
            mod_timestamp: "1649833446".into(),
            ..wire
        };
        assert_eq!(back, expected);
    }

    #[test]
    fn leases_follow_interval_times_and_limits() {
        let limits = LeaseLimits::default();
        assert_eq!(
            lease_of(None, limits).1,
            LeaseSettings {
                renewal_interval_secs: 30,
                duration_secs: 120
            }
        );
        let fast = HealthCheck {
            mode: "push".into(),
            interval: 1,
            times: 0,
            ..HealthCheck::default()
        };
        assert_eq!(
            lease_of(Some(&fast), limits).1,
            LeaseSettings {
                renewal_interval_secs: 5,
                duration_secs: 20
            }
        );
        let pull = HealthCheck {
            mode: "pull".into(),
            interval: 7,
            times: 9,
            ..HealthCheck::default()
        };
        assert_eq!(
            lease_of(Some(&pull), limits).1,
            LeaseSettings {
                renewal_interval_secs: 30,
                duration_secs: 120
            }
        );
        let loose = LeaseLimits {
            min_interval_secs: 1,
            min_times: 0,
        };
        assert_eq!(
            lease_of(Some(&fast), loose).1,
            LeaseSettings {
                renewal_interval_secs: 1,
                duration_secs: 1
            }
        );
    }

    #[test]
    fn instances_round_trip_and_eureka_ones_get_derived_fields() {
        let service = service_from_wire(
            Tenant::default(),
            &MicroService {
                service_id: "s1".into(),
                app_id: "a".into(),
                service_name: "n".into(),
                version: "2.0.0".into(),
                ..MicroService::default()
            },
        );
        let wire = MicroServiceInstance {
            instance_id: "i1".into(),
            service_id: "s1".into(),
            endpoints: vec!["rest://10.0.0.1:8080".into()],
            host_name: "host".into(),
            status: "TESTING".into(),
            properties: [("k".to_string(), "v".to_string())].into(),
            health_check: Some(HealthCheck {
                mode: "push".into(),
                interval: 10,
                times: 4,
                ..HealthCheck::default()
            }),
            data_center_info: Some(DataCenterInfo {
                name: "dc".into(),
                region: "r1".into(),
                available_zone: "az1".into(),
            }),
            ..MicroServiceInstance::default()
        };
        let mut stored = instance_from_wire(&service, &wire, LeaseLimits::default());
        assert_eq!(
            stored.lease,
            LeaseSettings {
                renewal_interval_secs: 10,
                duration_secs: 50
            }
        );
        stored.registered_at_ms = 5_000;
        stored.updated_at_ms = 6_000;
        let back = instance_to_wire(&service, &stored);
        let expected = MicroServiceInstance {
            timestamp: "5".into(),
            mod_timestamp: "6".into(),
            version: "2.0.0".into(),
            health_check: Some(HealthCheck {
                mode: "push".into(),
                interval: 10,
                times: 4,
                ..HealthCheck::default()
            }),
            ..wire
        };
        assert_eq!(back, expected);

        let mut eureka = Instance::new(Tenant::default(), "s1", "e1", "h");
        eureka.lease = LeaseSettings {
            renewal_interval_secs: 30,
            duration_secs: 90,
        };
        eureka.status = InstanceStatus::Unknown;
        let seen = instance_to_wire(&service, &eureka);
        assert_eq!(seen.health_check.unwrap().times, 2);
        assert_eq!(seen.status, "DOWN");
        assert_eq!(seen.data_center_info, None);
        // A zone without a region still gives ServiceCenter a complete object.
        eureka.zone = "zone-1".into();
        let dc = instance_to_wire(&service, &eureka).data_center_info.unwrap();
        assert_eq!(
            (dc.name.as_str(), dc.region.as_str(), dc.available_zone.as_str()),
            ("default", "default", "zone-1")
        );
    }
}
