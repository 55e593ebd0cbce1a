//! The v1 service endpoints (`ServiceController`): create, delete, update, detail and list under
//! `/nacos/v1/ns/service`, answering `ok`, JSON or Nacos's error text; and the readers and
//! renderings of a service's fields that the v2 API ([`super::v2`]) shares.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use percent_encoding::percent_decode_str;
use serde_json::json;

use super::error::ErrorCode;
use super::error::NacosError;
use super::handlers::metadata;
use super::handlers::ok;
use super::handlers::required;
use super::handlers::target;
use super::mapping::Selector;
use super::mapping::ServiceSpec;
use super::mapping::DEFAULT_GROUP;
use super::mapping::DEFAULT_NAMESPACE;
use super::ops::page;
use super::ops::Nacos;
use super::ops::ServiceView;
use super::params::Params;
use super::wire::ClusterInfo;
use super::wire::ClusterNode;
use super::wire::IpAddressInfo;
use super::wire::ServiceDetail;
use super::wire::ServiceDetailInfo;
use super::wire::ServiceList;

type Shared = State<Arc<Nacos>>;

/// `protectThreshold` as `Float.parseFloat` reads it (`For input string` otherwise); a number
/// that is not finite is refused too (no JSON can carry it).
pub(super) fn threshold(text: &str) -> Result<f32, NacosError> {
    text.trim()
        .parse::<f32>()
        .ok()
        .filter(|t| t.is_finite())
        .ok_or_else(|| NacosError::BadRequest(format!("For input string: \"{text}\"")))
}

/// The service fields of a create or an update: `metadata` (a JSON object or `k=v,k=v`) and
/// `selector` (URL-decoded once more, as `parseSelector` does; `SELECTOR_ERROR` when it names
/// no known type). Persistent, as a service created through this API is.
pub(super) fn spec(p: &Params, protect_threshold: f32) -> Result<ServiceSpec, NacosError> {
    let selector = p.optional("selector").map(|s| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    });
    let selector =
        Selector::parse(selector.as_deref()).map_err(|e| NacosError::invalid(ErrorCode::SelectorError, e.0))?;
    Ok(ServiceSpec {
        protect_threshold,
        metadata: metadata(p.optional("metadata"))?,
        selector,
        ephemeral: false,
    })
}

/// Nacos's default health checker of a cluster (`ClusterMetadata`): TCP.
fn health_checker() -> serde_json::Value {
    json!({ "type": "TCP" })
}

/// The v1 detail (`ServiceOperatorV2Impl.queryService`): clusters as a list.
pub(super) fn v1_detail(view: ServiceView) -> ServiceDetail {
    ServiceDetail {
        namespace_id: view.namespace,
        group_name: view.name.group,
        name: view.name.name,
        protect_threshold: view.spec.protect_threshold,
        metadata: view.spec.metadata,
        selector: view.spec.selector.to_json(),
        clusters: view
            .clusters
            .into_keys()
            .map(|name| ClusterNode {
                name,
                health_checker: health_checker(),
                metadata: Default::default(),
            })
            .collect(),
    }
}

/// The v2 detail (`ServiceDetailInfo`): clusters by name, each with its instances.
pub(super) fn v2_detail(view: ServiceView) -> ServiceDetailInfo {
    ServiceDetailInfo {
        namespace: view.namespace,
        service_name: view.name.name,
        group_name: view.name.group,
        cluster_map: view
            .clusters
            .into_iter()
            .map(|(name, hosts)| {
                let hosts = hosts
                    .into_iter()
                    .map(|h| IpAddressInfo {
                        valid: h.healthy,
                        metadata: h.metadata,
                        port: h.port,
                        ip: h.ip,
                        weight: h.weight,
                        enabled: h.enabled,
                    })
                    .collect();
                let cluster = ClusterInfo {
                    cluster_name: name.clone(),
                    health_checker: health_checker(),
                    metadata: Default::default(),
                    hosts,
                };
                (name, cluster)
            })
            .collect(),
        metadata: view.spec.metadata,
        protect_threshold: view.spec.protect_threshold,
        selector: view.spec.selector.to_json(),
        ephemeral: view.spec.ephemeral,
    }
}

/// `POST /nacos/v1/ns/service`: a persistent service with `protectThreshold` (default 0),
/// `metadata` and `selector`.
pub async fn create(State(nacos): Shared, p: Params) -> Result<Response, NacosError> {
    let (tenant, name) = target(&nacos, &p)?;
    let protect_threshold = p.optional("protectThreshold").map_or(Ok(0.0), threshold)?;
    let spec = spec(&p, protect_threshold)?;
    nacos.create_service(tenant, &name, &spec).await?;
    Ok(ok())
}

/// `DELETE /nacos/v1/ns/service`: refused while the service has instances.
pub async fn remove(State(nacos): Shared, p: Params) -> Result<Response, NacosError> {
    let (tenant, name) = target(&nacos, &p)?;
    nacos.delete_service(tenant, &name).await?;
    Ok(ok())
}

/// `PUT /nacos/v1/ns/service`: `protectThreshold` is required (`NumberUtils.toFloat`: not a
/// number reads as 0); `metadata` and `selector` replace the old ones.
pub async fn update(State(nacos): Shared, p: Params) -> Result<Response, NacosError> {
    let (tenant, name) = target(&nacos, &p)?;
    let protect_threshold = threshold(required(&p, "protectThreshold")?).unwrap_or(0.0);
    let spec = spec(&p, protect_threshold)?;
    nacos.update_service(tenant, &name, &spec).await?;
    Ok(ok())
}

/// `GET /nacos/v1/ns/service`
pub async fn detail(State(nacos): Shared, p: Params) -> Result<Response, NacosError> {
    let (tenant, name) = target(&nacos, &p)?;
    Ok(Json(v1_detail(nacos.service_detail(tenant, &name)?)).into_response())
}

/// `NumberUtils.toInt`: not a number reads as 0.
fn lenient_int(text: &str) -> i64 {
    text.trim().parse::<i32>().map_or(0, i64::from)
}

/// `GET /nacos/v1/ns/service/list`: `pageNo` and `pageSize` required; the services of
/// `groupName` (default `DEFAULT_GROUP`) in `namespaceId`.
pub async fn list(State(nacos): Shared, p: Params) -> Result<Response, NacosError> {
    let page_no = lenient_int(required(&p, "pageNo")?);
    let page_size = lenient_int(required(&p, "pageSize")?);
    let tenant = nacos
        .settings()
        .tenant_of(p.optional("namespaceId").unwrap_or(DEFAULT_NAMESPACE))?;
    let group = p.optional("groupName").unwrap_or(DEFAULT_GROUP);
    let names = nacos.service_names(&tenant, group);
    let answer = ServiceList {
        count: names.len(),
        doms: page(&names, page_no, page_size),
    };
    Ok(Json(answer).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_finite_floats() {
        assert_eq!(threshold("0.5").unwrap(), 0.5);
        assert_eq!(threshold(" 1 ").unwrap(), 1.0);
        assert_eq!(
            threshold("x").unwrap_err(),
            NacosError::BadRequest("For input string: \"x\"".into())
        );
        assert!(threshold("NaN").is_err());
        assert_eq!(lenient_int("x"), 0);
        assert_eq!(lenient_int("3"), 3);
    }

    #[test]
    fn selectors_are_decoded_once_more_and_checked() {
        let p = Params::new(
            Some("selector=%257B%2522type%2522%253A%2522label%2522%257D&metadata=a%3D1"),
            None,
            b"",
        );
        let spec = spec(&p, 0.25).unwrap();
        assert_eq!(spec.selector.kind, "label");
        assert_eq!(spec.metadata.get("a").map(String::as_str), Some("1"));
        assert!(!spec.ephemeral);
        let p = Params::new(Some("selector=%7B%22type%22%3A%22x%22%7D"), None, b"");
        assert_eq!(spec_error(&p), ErrorCode::SelectorError);
    }

    fn spec_error(p: &Params) -> ErrorCode {
        spec(p, 0.0).unwrap_err().code()
    }

    #[test]
    fn pages_cut_as_nacos_cuts_them() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        assert_eq!(page(&names, 1, 2), ["a", "b"]);
        assert_eq!(page(&names, 2, 2), ["c"]);
        assert!(page(&names, 3, 2).is_empty());
        assert_eq!(page(&names, 0, 2), ["a", "b"]);
        assert!(page(&names, 1, 0).is_empty());
        assert!(page(&names, 1, -1).is_empty());
    }
}
