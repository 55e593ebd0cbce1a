//! ServiceCenter's input rules (§2). A violation is a 400001 whose detail names the field.

use super::error::ScError;
use super::version::Version;
use super::wire::MicroService;
use super::wire::MicroServiceInstance;

type Result = std::result::Result<(), ScError>;

fn invalid(field: &str, rule: &str) -> ScError {
    ScError::invalid(format!("field '{field}' invalid: {rule}"))
}

/// `^[a-zA-Z0-9]*$|^[a-zA-Z0-9][a-zA-Z0-9_\-.]*[a-zA-Z0-9]$`
fn is_name(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    if s.chars().all(alnum) {
        return true;
    }
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    alnum(first) && alnum(last) && s.chars().all(|c| alnum(c) || matches!(c, '_' | '-' | '.'))
}

fn name(field: &str, value: &str, max: usize) -> Result {
    if value.is_empty() || value.len() > max || !is_name(value) {
        return Err(invalid(
            field,
            &format!("1 to {max} of letters, digits, '_', '-', '.', starting and ending alphanumeric"),
        ));
    }
    Ok(())
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(invalid(field, &format!("must be one of {allowed:?}")))
    }
}

fn charset(field: &str, value: &str, max: usize, extra: &[char], rule: &str) -> Result {
    if value.len() > max || !value.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(&c)) {
        return Err(invalid(field, rule));
    }
    Ok(())
}

pub const ENVIRONMENTS: [&str; 5] = ["", "development", "testing", "acceptance", "production"];
pub const INSTANCE_STATUSES: [&str; 5] = ["UP", "DOWN", "STARTING", "TESTING", "OUTOFSERVICE"];

pub fn environment(value: &str) -> Result {
    one_of("MicroService.Environment", value, &ENVIRONMENTS)
}

pub fn version(value: &str) -> Result {
    Version::parse(value)
        .map(|_| ())
        .ok_or_else(|| invalid("MicroService.Version", "1 to 4 numbers 0-32767 separated by '.'"))
}

pub fn service_id(value: &str) -> Result {
    if value.len() > 64 || value.chars().any(char::is_whitespace) {
        return Err(invalid(
            "MicroService.ServiceId",
            "at most 64 characters, no whitespace",
        ));
    }
    Ok(())
}

/// A service to create (defaults already filled in by the caller).
pub fn service(s: &MicroService) -> Result {
    name("MicroService.ServiceName", &s.service_name, 128)?;
    name("MicroService.AppId", &s.app_id, 160)?;
    version(&s.version)?;
    environment(&s.environment)?;
    one_of("MicroService.Level", &s.level, &["FRONT", "MIDDLE", "BACK"])?;
    one_of("MicroService.Status", &s.status, &["UP", "DOWN"])?;
    one_of(
        "MicroService.RegisterBy",
        &s.register_by,
        &["", "SDK", "SIDECAR", "PLATFORM"],
    )?;
    charset(
        "MicroService.Alias",
        &s.alias,
        128,
        &['_', '-', '.', ':'],
        "at most 128 of letters, digits, '_', '-', '.', ':'",
    )?;
    service_id(&s.service_id)?;
    if s.description.len() > 256 {
        return Err(invalid("MicroService.Description", "at most 256 characters"));
    }
    s.schemas.iter().try_for_each(|id| schema_id(id))
}

pub fn instance_id(value: &str) -> Result {
    charset(
        "MicroServiceInstance.InstanceId",
        value,
        64,
        &['_', '-', '.'],
        "at most 64 of letters, digits, '_', '-', '.'",
    )
}

pub fn instance_status(value: &str) -> Result {
    one_of("MicroServiceInstance.Status", value, &INSTANCE_STATUSES)
}

/// An instance to register (defaults already filled in by the caller).
pub fn instance(i: &MicroServiceInstance) -> Result {
    if i.host_name.trim().is_empty() || i.host_name.len() > 64 {
        return Err(invalid(
            "MicroServiceInstance.HostName",
            "1 to 64 characters, not blank",
        ));
    }
    if i.endpoints.iter().any(|e| e.trim().is_empty()) {
        return Err(invalid("MicroServiceInstance.Endpoints", "endpoints must not be blank"));
    }
    instance_id(&i.instance_id)?;
    instance_status(&i.status)?;
    if let Some(hc) = &i.health_check {
        one_of("MicroServiceInstance.HealthCheck.Mode", &hc.mode, &["push", "pull"])?;
        if hc.interval < 1 {
            return Err(invalid(
                "MicroServiceInstance.HealthCheck.Interval",
                "at least 1 second",
            ));
        }
    }
    if let Some(dc) = &i.data_center_info {
        for (field, value) in [
            ("Name", &dc.name),
            ("Region", &dc.region),
            ("AvailableZone", &dc.available_zone),
        ] {
            if value.is_empty() {
                return Err(invalid(
                    &format!("MicroServiceInstance.DataCenterInfo.{field}"),
                    "1 to 128 characters",
                ));
            }
            charset(
                &format!("MicroServiceInstance.DataCenterInfo.{field}"),
                value,
                128,
                &['_', '.', '-'],
                "1 to 128 of letters, digits, '_', '.', '-'",
            )?;
        }
    }
    Ok(())
}

pub fn schema_id(value: &str) -> Result {
    if value.is_empty() {
        return Err(invalid("SchemaId", "must not be empty"));
    }
    charset(
        "SchemaId",
        value,
        160,
        &['_', '-', '.'],
        "at most 160 of letters, digits, '_', '-', '.'",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servicecenter::wire::HealthCheck;

    /// A way to break a valid input, and the field the error must name.
    type Case<T> = (fn(&mut T), &'static str);

    fn good_service() -> MicroService {
        MicroService {
            app_id: "default".into(),
            service_name: "hello-server".into(),
            version: "1.0.0".into(),
            level: "BACK".into(),
            status: "UP".into(),
            ..MicroService::default()
        }
    }

    #[test]
    fn names_follow_servicecenters_pattern() {
        for ok in ["a", "abc", "a-b", "a.b_c9", "A1"] {
            assert!(is_name(ok), "{ok}");
        }
        for bad in ["-a", "a-", "a b", "a/b", "_", "é"] {
            assert!(!is_name(bad), "{bad}");
        }
    }

    #[test]
    fn each_service_rule_is_a_400001_naming_the_field() {
        assert_eq!(service(&good_service()), Ok(()));
        let cases: Vec<Case<MicroService>> = vec![
            (|s| s.service_name = String::new(), "MicroService.ServiceName"),
            (|s| s.service_name = "x".repeat(129), "MicroService.ServiceName"),
            (|s| s.app_id = "-bad".into(), "MicroService.AppId"),
            (|s| s.version = "1.0.0.0.0".into(), "MicroService.Version"),
            (|s| s.version = "40000".into(), "MicroService.Version"),
            (|s| s.environment = "staging".into(), "MicroService.Environment"),
            (|s| s.level = "TOP".into(), "MicroService.Level"),
            (|s| s.status = "OUTOFSERVICE".into(), "MicroService.Status"),
            (|s| s.register_by = "HUMAN".into(), "MicroService.RegisterBy"),
            (|s| s.alias = "a b".into(), "MicroService.Alias"),
            (|s| s.service_id = "has space".into(), "MicroService.ServiceId"),
            (|s| s.description = "d".repeat(257), "MicroService.Description"),
        ];
        for (breaks, field) in cases {
            let mut s = good_service();
            breaks(&mut s);
            let err = service(&s).unwrap_err();
            assert_eq!(err.code.code(), 400001);
            assert!(err.detail.contains(field), "{} should name {field}", err.detail);
        }
    }

    #[test]
    fn each_instance_rule_is_a_400001_naming_the_field() {
        let good = MicroServiceInstance {
            host_name: "h".into(),
            status: "UP".into(),
            endpoints: vec!["rest://1.2.3.4:80".into()],
            ..MicroServiceInstance::default()
        };
        assert_eq!(instance(&good), Ok(()));
        let cases: Vec<Case<MicroServiceInstance>> = vec![
            (|i| i.host_name = " ".into(), "HostName"),
            (|i| i.endpoints = vec![" ".into()], "Endpoints"),
            (|i| i.instance_id = "a/b".into(), "InstanceId"),
            (|i| i.status = "SLEEPING".into(), "Status"),
            (
                |i| {
                    i.health_check = Some(HealthCheck {
                        mode: "poke".into(),
                        interval: 5,
                        ..HealthCheck::default()
                    })
                },
                "HealthCheck.Mode",
            ),
            (
                |i| {
                    i.health_check = Some(HealthCheck {
                        mode: "push".into(),
                        interval: 0,
                        ..HealthCheck::default()
                    })
                },
                "HealthCheck.Interval",
            ),
            (
                |i| {
                    i.data_center_info = Some(crate::servicecenter::wire::DataCenterInfo {
                        name: "dc 1".into(),
                        region: "r".into(),
                        available_zone: "z".into(),
                    })
                },
                "DataCenterInfo.Name",
            ),
        ];
        for (breaks, field) in cases {
            let mut i = good.clone();
            breaks(&mut i);
            let err = instance(&i).unwrap_err();
            assert!(err.detail.contains(field), "{} should name {field}", err.detail);
        }
        assert!(schema_id("ok_schema-1.0").is_ok());
        assert!(schema_id("").is_err() && schema_id("a b").is_err());
    }
}
