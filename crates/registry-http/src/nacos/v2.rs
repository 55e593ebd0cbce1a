//! The Open API v2 (`/nacos/v2/ns`, `InstanceControllerV2` and `ServiceControllerV2`): the same
//! operations as v1 ([`super::ops`]), read from the v2 forms (`InstanceForm`, `ServiceForm`) and
//! `@RequestParam`s, answered in the `{"code":0,"message":"success","data":…}` envelope
//! (`api/model/v2/Result.java`), errors with their v2 codes ([`super::error::ErrorCode`]). The
//! beat answers the bare v1 object, as `InstanceControllerV2.beat` does.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use registry_store::model::Tenant;
use serde::Serialize;

use super::error::ErrorCode;
use super::error::NacosError;
use super::handlers::beat_answer;
use super::handlers::integer;
use super::handlers::port;
use super::handlers::registration;
use super::handlers::target;
use super::mapping::MappingError;
use super::mapping::Registration;
use super::mapping::ServiceName;
use super::mapping::ServiceSpec;
use super::mapping::DEFAULT_CLUSTER;
use super::mapping::DEFAULT_GROUP;
use super::mapping::DEFAULT_NAMESPACE;
use super::mapping::MAX_WEIGHT;
use super::mapping::MIN_WEIGHT;
use super::ops::page;
use super::ops::Address;
use super::ops::Nacos;
use super::params::boolean;
use super::params::Params;
use super::services::spec;
use super::services::threshold;
use super::services::v2_detail;
use super::wire::InstanceDetailInfo;
use super::wire::ServiceDetailInfo;
use super::wire::ServiceInfo;
use super::wire::ServiceNameView;

type Shared = State<Arc<Nacos>>;

/// `ServiceControllerV2.list` answers at most this many names a page.
pub const MAX_PAGE_SIZE: i64 = 500;

/// A v2 success: `{"code":0,"message":"success","data":…}`.
#[derive(Debug, Serialize)]
pub struct Success<T> {
    code: u32,
    message: &'static str,
    data: T,
}

/// A v2 failure: the status and the envelope with the error's code.
#[derive(Debug)]
pub struct V2Error(NacosError);

impl From<NacosError> for V2Error {
    fn from(e: NacosError) -> Self {
        V2Error(e)
    }
}

impl From<MappingError> for V2Error {
    fn from(e: MappingError) -> Self {
        V2Error(e.into())
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        self.0.into_v2_response()
    }
}

type V2<T> = Result<Json<Success<T>>, V2Error>;

fn success<T>(data: T) -> V2<T> {
    Ok(Json(Success {
        code: 0,
        message: "success",
        data,
    }))
}

/// A field of a v2 form (`InstanceForm.validate`, `ServiceForm.validate`): blank is missing.
fn form_required<'a>(p: &'a Params, name: &str, java_type: &str) -> Result<&'a str, NacosError> {
    p.optional(name).ok_or_else(|| {
        NacosError::invalid(
            ErrorCode::ParameterMissing,
            format!("Required parameter '{name}' type {java_type} is not present"),
        )
    })
}

/// A required `@RequestParam`: absent is missing (Spring's
/// `MissingServletRequestParameterException`).
fn request_param<'a>(p: &'a Params, name: &str, java_type: &str) -> Result<&'a str, NacosError> {
    p.get(name).ok_or_else(|| {
        NacosError::invalid(
            ErrorCode::ParameterMissing,
            format!("Required request parameter '{name}' for method parameter type {java_type} is not present"),
        )
    })
}

/// An `InstanceForm`: `serviceName`, `ip` and `port` present, the weight in range
/// (`WEIGHT_ERROR`), then the instance as v1 reads it.
fn instance_form(nacos: &Nacos, p: &Params) -> Result<(Tenant, ServiceName, Registration), NacosError> {
    form_required(p, "serviceName", "String")?;
    form_required(p, "ip", "String")?;
    form_required(p, "port", "Integer")?;
    let r = registration(p)?;
    if !(MIN_WEIGHT..=MAX_WEIGHT).contains(&r.weight) {
        return Err(NacosError::invalid(
            ErrorCode::WeightError,
            format!("instance format invalid: The weights range from {MIN_WEIGHT:.1} to {MAX_WEIGHT:.1}"),
        ));
    }
    let (tenant, name) = target(nacos, p)?;
    Ok((tenant, name, r))
}

/// `POST /nacos/v2/ns/instance`
pub async fn register(State(nacos): Shared, p: Params) -> V2<&'static str> {
    let (tenant, name, r) = instance_form(&nacos, &p)?;
    nacos.register(tenant, &name, &r).await?;
    success("ok")
}

/// `DELETE /nacos/v2/ns/instance`
pub async fn deregister(State(nacos): Shared, p: Params) -> V2<&'static str> {
    let (tenant, name, r) = instance_form(&nacos, &p)?;
    let address = Address {
        ip: r.ip,
        port: r.port,
        cluster: r.cluster,
    };
    nacos.deregister(tenant, &name, &address).await?;
    success("ok")
}

/// `PUT /nacos/v2/ns/instance`
pub async fn update(State(nacos): Shared, p: Params) -> V2<&'static str> {
    let (tenant, name, r) = instance_form(&nacos, &p)?;
    nacos.update(tenant, &name, &r).await?;
    success("ok")
}

/// `GET /nacos/v2/ns/instance`: `serviceName`, `ip`, `port` required; `clusterName` default
/// `DEFAULT`.
pub async fn detail(State(nacos): Shared, p: Params) -> V2<InstanceDetailInfo> {
    request_param(&p, "serviceName", "String")?;
    let ip = request_param(&p, "ip", "String")?.to_string();
    let port = port(request_param(&p, "port", "Integer")?)?;
    let (tenant, name) = target(&nacos, &p)?;
    let cluster = p.optional("clusterName").unwrap_or(DEFAULT_CLUSTER).to_string();
    let detail = nacos.detail(tenant, &name, &Address { ip, port, cluster })?;
    success(detail.into())
}

/// `GET /nacos/v2/ns/instance/list`: `serviceName` required; `clusterName` (comma-separated,
/// default all) and `healthyOnly`.
pub async fn list(State(nacos): Shared, p: Params) -> V2<ServiceInfo> {
    request_param(&p, "serviceName", "String")?;
    let (tenant, name) = target(&nacos, &p)?;
    let clusters = p.optional("clusterName").unwrap_or_default();
    let healthy_only = boolean(p.optional("healthyOnly"), false);
    success(nacos.list(tenant, &name, clusters, healthy_only))
}

/// `PUT /nacos/v2/ns/instance/beat`: the v1 beat's answer, bare; errors in the envelope.
pub async fn beat(State(nacos): Shared, p: Params) -> Result<Response, V2Error> {
    request_param(&p, "serviceName", "String")?;
    Ok(Json(beat_answer(&nacos, &p).await?).into_response())
}

/// A `ServiceForm`: `serviceName` present, `protectThreshold` a float (default 0), metadata and
/// selector as v1 reads them.
fn service_form(nacos: &Nacos, p: &Params) -> Result<(Tenant, ServiceName, ServiceSpec), NacosError> {
    form_required(p, "serviceName", "String")?;
    let protect_threshold = p.optional("protectThreshold").map_or(Ok(0.0), threshold)?;
    let spec = spec(p, protect_threshold)?;
    let (tenant, name) = target(nacos, p)?;
    Ok((tenant, name, spec))
}

/// `POST /nacos/v2/ns/service`: `ephemeral` default false.
pub async fn create_service(State(nacos): Shared, p: Params) -> V2<&'static str> {
    let (tenant, name, spec) = service_form(&nacos, &p)?;
    let spec = ServiceSpec {
        ephemeral: boolean(p.optional("ephemeral"), false),
        ..spec
    };
    nacos.create_service(tenant, &name, &spec).await?;
    success("ok")
}

/// `PUT /nacos/v2/ns/service`
pub async fn update_service(State(nacos): Shared, p: Params) -> V2<&'static str> {
    let (tenant, name, spec) = service_form(&nacos, &p)?;
    nacos.update_service(tenant, &name, &spec).await?;
    success("ok")
}

/// `DELETE /nacos/v2/ns/service`: refused while the service has instances.
pub async fn delete_service(State(nacos): Shared, p: Params) -> V2<&'static str> {
    request_param(&p, "serviceName", "String")?;
    let (tenant, name) = target(&nacos, &p)?;
    nacos.delete_service(tenant, &name).await?;
    success("ok")
}

/// `GET /nacos/v2/ns/service`
pub async fn service_detail(State(nacos): Shared, p: Params) -> V2<ServiceDetailInfo> {
    request_param(&p, "serviceName", "String")?;
    let (tenant, name) = target(&nacos, &p)?;
    success(v2_detail(nacos.service_detail(tenant, &name)?))
}

/// `GET /nacos/v2/ns/service/list`: `pageNo` default 1, `pageSize` default 20 (at most 500).
pub async fn service_list(State(nacos): Shared, p: Params) -> V2<ServiceNameView> {
    let page_no = p.optional("pageNo").map_or(Ok(1), integer)?;
    let page_size = p.optional("pageSize").map_or(Ok(20), integer)?.min(MAX_PAGE_SIZE);
    let tenant = nacos
        .settings()
        .tenant_of(p.optional("namespaceId").unwrap_or(DEFAULT_NAMESPACE))?;
    let group = p.optional("groupName").unwrap_or(DEFAULT_GROUP);
    let names = nacos.service_names(&tenant, group);
    success(ServiceNameView {
        count: names.len(),
        services: page(&names, page_no, page_size),
    })
}
