//! The Nacos endpoints: each reads its parameters as `InstanceController` (v1) does, calls
//! [`Nacos`], and answers `ok`, JSON, or Nacos's error text.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use registry_store::model::Tenant;

use super::error::NacosError;
use super::error::TEXT_UTF8;
use super::mapping::Registration;
use super::mapping::ServiceName;
use super::mapping::DEFAULT_CLUSTER;
use super::mapping::DEFAULT_NAMESPACE;
use super::ops::Address;
use super::ops::Nacos;
use super::params::boolean;
use super::params::Params;
use super::push_udp::PushContext;
use super::wire::BeatAnswer;
use super::wire::RsInfo;

type Shared = State<Arc<Nacos>>;

/// `ok`, as Nacos answers a write.
pub(super) fn ok() -> Response {
    ([(header::CONTENT_TYPE, TEXT_UTF8)], "ok").into_response()
}

/// The tenant of `namespaceId` and the service of `serviceName` / `groupName`.
pub(super) fn target(nacos: &Nacos, p: &Params) -> Result<(Tenant, ServiceName), NacosError> {
    let tenant = nacos
        .settings()
        .tenant_of(p.optional("namespaceId").unwrap_or(DEFAULT_NAMESPACE))?;
    let name = ServiceName::parse(p.get("serviceName"), p.get("groupName"))?;
    Ok((tenant, name))
}

/// An integer as Java's `Integer.parseInt` takes it; its `NumberFormatException` message
/// otherwise (an `IllegalArgumentException`: 400).
pub(super) fn integer(text: &str) -> Result<i64, NacosError> {
    text.parse::<i32>()
        .map(i64::from)
        .map_err(|_| NacosError::BadRequest(format!("For input string: \"{text}\"")))
}

/// A port: an integer from 0 to 65535 (`Instance.validate`).
pub(super) fn port(text: &str) -> Result<u16, NacosError> {
    u16::try_from(integer(text)?)
        .map_err(|_| NacosError::BadRequest("Required parameter 'port' type int is require 0 ~ 65535".into()))
}

pub(super) fn required<'a>(p: &'a Params, name: &str) -> Result<&'a str, NacosError> {
    p.required(name).map_err(NacosError::BadRequest)
}

/// `metadata` as `UtilsAndCommons.parseMetadata` reads it: a JSON object, else `k=v,k=v`.
pub(super) fn metadata(text: Option<&str>) -> Result<BTreeMap<String, String>, NacosError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(BTreeMap::new());
    };
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) {
        let entry = |(k, v): (String, serde_json::Value)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Null => None,
            other => Some((k, other.to_string())),
        };
        return Ok(map.into_iter().filter_map(entry).collect());
    }
    text.split(',')
        .map(|pair| match pair.split('=').collect::<Vec<_>>()[..] {
            [k, v] => Ok((k.to_string(), v.to_string())),
            _ => Err(NacosError::BadRequest(format!("metadata format incorrect:{text}"))),
        })
        .collect()
}

/// The instance a register or deregister names (`HttpRequestInstanceBuilder`).
pub(super) fn registration(p: &Params) -> Result<Registration, NacosError> {
    let ip = required(p, "ip")?.to_string();
    let port = port(required(p, "port")?)?;
    let weight = match p.optional("weight") {
        None => 1.0,
        Some(w) => w
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|w| w.is_finite())
            .ok_or_else(|| NacosError::BadRequest(format!("For input string: \"{w}\"")))?,
    };
    let cluster = p
        .optional("clusterName")
        .or_else(|| p.optional("cluster"))
        .unwrap_or(DEFAULT_CLUSTER)
        .to_string();
    let enabled = match p.optional("enabled") {
        Some(e) => boolean(Some(e), true),
        None => boolean(p.optional("enable"), true),
    };
    Ok(Registration {
        ip,
        port,
        cluster,
        weight,
        healthy: boolean(p.optional("healthy"), true),
        enabled,
        ephemeral: boolean(p.optional("ephemeral"), true),
        metadata: metadata(p.optional("metadata"))?,
    })
}

/// `POST /nacos/v1/ns/instance`
pub async fn register(State(nacos): Shared, p: Params) -> Result<Response, NacosError> {
    let (tenant, name) = target(&nacos, &p)?;
    let r = registration(&p)?;
    nacos.register(tenant, &name, &r).await?;
    Ok(ok())
}

/// `DELETE /nacos/v1/ns/instance`
pub async fn deregister(State(nacos): Shared, p: Params) -> Result<Response, NacosError> {
    let r = registration(&p)?;
    let (tenant, name) = target(&nacos, &p)?;
    let address = Address {
        ip: r.ip,
        port: r.port,
        cluster: r.cluster,
    };
    nacos.deregister(tenant, &name, &address).await?;
    Ok(ok())
}

/// `PUT /nacos/v1/ns/instance`: weight, enabled and metadata of a registered instance.
pub async fn update(State(nacos): Shared, p: Params) -> Result<Response, NacosError> {
    let (tenant, name) = target(&nacos, &p)?;
    let r = registration(&p)?;
    nacos.update(tenant, &name, &r).await?;
    Ok(ok())
}

/// `GET /nacos/v1/ns/instance`
pub async fn detail(State(nacos): Shared, p: Params) -> Result<Response, NacosError> {
    let (tenant, name) = target(&nacos, &p)?;
    let cluster = p.optional("clusterName").unwrap_or(DEFAULT_CLUSTER).to_string();
    let ip = required(&p, "ip")?.to_string();
    let port = port(required(&p, "port")?)?;
    let address = Address { ip, port, cluster };
    Ok(Json(nacos.detail(tenant, &name, &address)?).into_response())
}

/// `PUT /nacos/v1/ns/instance/beat`
pub async fn beat(State(nacos): Shared, p: Params) -> Result<Response, NacosError> {
    Ok(Json(beat_answer(&nacos, &p).await?).into_response())
}

/// A beat (v1 and v2 alike): the instance from the `beat` JSON if given, else from `ip`,
/// `port` and `clusterName`.
pub(super) async fn beat_answer(nacos: &Nacos, p: &Params) -> Result<BeatAnswer, NacosError> {
    let beat =
        match p.optional("beat") {
            None => None,
            Some(text) => Some(serde_json::from_str::<RsInfo>(text).map_err(|e| {
                NacosError::BadRequest(format!("Param 'beat' is illegal, it is not a beat's JSON: {e}"))
            })?),
        };
    let mut cluster = p.optional("clusterName").unwrap_or(DEFAULT_CLUSTER).to_string();
    let mut ip = p.optional("ip").unwrap_or_default().to_string();
    let mut port_number = integer(p.optional("port").unwrap_or("0"))?;
    if let Some(beat) = beat {
        if !beat.cluster.trim().is_empty() {
            cluster = beat.cluster;
        }
        ip = beat.ip;
        port_number = beat.port;
    }
    let (tenant, name) = target(nacos, p)?;
    match u16::try_from(port_number) {
        Ok(port) => nacos.beat(tenant, &name, &Address { ip, port, cluster }).await,
        // No instance has such a port: the client is told to register again.
        Err(_) => Ok(nacos.beat_unknown()),
    }
}

/// `GET /nacos/v1/ns/instance/list`; with a `udpPort`, also a subscription to UDP pushes
/// (`push_udp`).
pub async fn list(State(nacos): Shared, push: PushContext, p: Params) -> Result<Response, NacosError> {
    let (tenant, name) = target(&nacos, &p)?;
    let clusters = p.optional("clusters").unwrap_or_default();
    // `Integer.parseInt(WebUtils.optional(request, "udpPort", "0"))`.
    let udp_port = integer(p.optional("udpPort").unwrap_or("0"))?;
    push.subscribe(&tenant, &name, clusters, udp_port);
    // `Boolean.parseBoolean`: only `true`, in any case.
    let healthy_only = p
        .optional("healthyOnly")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    Ok(Json(nacos.list(tenant, &name, clusters, healthy_only)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_json_or_pairs() {
        let m = metadata(Some(r#"{"a":"1","b":2,"c":null}"#)).unwrap();
        assert_eq!(m.get("a").map(String::as_str), Some("1"));
        assert_eq!(m.get("b").map(String::as_str), Some("2"));
        assert!(!m.contains_key("c"));
        let m = metadata(Some("a=1,b=2")).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            metadata(Some("a=1,b")).unwrap_err(),
            NacosError::BadRequest("metadata format incorrect:a=1,b".into())
        );
        assert!(metadata(None).unwrap().is_empty());
    }

    #[test]
    fn numbers_are_read_as_java_reads_them() {
        assert_eq!(port("8080").unwrap(), 8080);
        assert_eq!(
            port("x").unwrap_err(),
            NacosError::BadRequest("For input string: \"x\"".into())
        );
        assert!(port("70000").unwrap_err().to_string().contains("0 ~ 65535"));
        assert!(port("-1").is_err());
    }
}
