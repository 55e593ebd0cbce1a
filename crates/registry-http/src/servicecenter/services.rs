//! Microservices (§3.2): idempotent create, existence, list, get, delete (single and batch),
//! properties.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::Response;
use registry_store::command::Command;
use registry_store::command::CommandOutcome;
use registry_store::command::CreateService;
use registry_store::command::DeleteService;
use registry_store::command::DeleteServices;
use registry_store::command::UpdateService;
use registry_store::model::ServiceKey;
use registry_store::model::ServiceRef;
use registry_store::model::Tenant;
use registry_store::state::RegistryState;
use serde::Deserialize;
use serde_json::json;

use super::core::body;
use super::core::collection;
use super::core::done;
use super::core::json;
use super::core::new_id;
use super::core::Sc;
use super::discovery::is_true;
use super::error::ErrorCode;
use super::error::ScError;
use super::mapping::service_from_wire;
use super::mapping::service_to_wire;
use super::registry_service;
use super::tenant::ScTenant;
use super::validate;
use super::wire::CreateServiceRequest;
use super::wire::DeleteServicesRequest;
use super::wire::MicroService;
use super::wire::PropertiesRequest;

type Shared = State<Arc<Sc>>;

fn with_defaults(mut s: MicroService) -> MicroService {
    let fill = |v: &mut String, d: &str| {
        if v.is_empty() {
            *v = d.to_string();
        }
    };
    fill(&mut s.app_id, "default");
    fill(&mut s.version, "0.0.1");
    fill(&mut s.level, "BACK");
    fill(&mut s.status, "UP");
    s
}

fn key_of(tenant: &Tenant, s: &MicroService) -> ServiceKey {
    ServiceKey {
        tenant: tenant.clone(),
        environment: s.environment.clone(),
        app: s.app_id.clone(),
        name: s.service_name.clone(),
        version: s.version.clone(),
    }
}

pub async fn create(State(sc): Shared, ScTenant(tenant): ScTenant, bytes: Bytes) -> Result<Response, ScError> {
    let request: CreateServiceRequest = body(&bytes)?;
    let service = with_defaults(
        request
            .service
            .ok_or_else(|| ScError::invalid("field 'service' is required"))?,
    );
    validate::service(&service)?;
    let existing = sc.registry.read(|applied| {
        applied
            .state
            .service_by_key(&key_of(&tenant, &service))
            .map(|s| s.id.clone())
    });
    let id = match (existing, service.service_id.is_empty()) {
        (Some(id), true) => return Ok(json(&json!({ "serviceId": id }))),
        (Some(id), false) if id == service.service_id => return Ok(json(&json!({ "serviceId": id }))),
        (Some(id), false) => {
            return Err(ScError::new(
                ErrorCode::ServiceAlreadyExists,
                format!("the same service already exists as {id}"),
            ))
        }
        (None, true) => new_id(),
        (None, false) => service.service_id.clone(),
    };
    let mut wire = service;
    wire.service_id = id.clone();
    let stored = service_from_wire(tenant, &wire);
    // One log entry: a new tenant is created implicitly, as ServiceCenter does for new domains
    // and projects, and the tags go in with the service.
    let create = CreateService {
        create_tenant: true,
        tags: request.tags.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        ..CreateService::new(stored)
    };
    let id = match sc.write(Command::CreateService(create)).await? {
        CommandOutcome::Service { id, .. } => id,
        _ => id,
    };
    Ok(json(&json!({ "serviceId": id })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExistenceQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    app_id: Option<String>,
    service_name: Option<String>,
    version: Option<String>,
    env: Option<String>,
    service_id: Option<String>,
    schema_id: Option<String>,
}

pub async fn existence(
    State(sc): Shared,
    ScTenant(tenant): ScTenant,
    Query(q): Query<ExistenceQuery>,
) -> Result<Response, ScError> {
    // The answer (its body, and a schema's summary) found under the state lock, encoded after.
    let (found, summary) = sc.registry.read(|applied| existence_of(&applied.state, tenant, q))?;
    let mut response = json(&found);
    if let Some(v) = summary.and_then(|s| HeaderValue::from_str(&s).ok()) {
        response.headers_mut().insert("x-schema-summary", v);
    }
    Ok(response)
}

/// What `existence` answers: the body and, for a schema, its summary.
fn existence_of(
    state: &RegistryState,
    tenant: Tenant,
    q: ExistenceQuery,
) -> Result<(serde_json::Value, Option<String>), ScError> {
    match q.kind.as_deref() {
        Some("microservice") => {
            let app = q.app_id.unwrap_or_else(|| "default".into());
            let name = q
                .service_name
                .ok_or_else(|| ScError::invalid("field 'serviceName' is required"))?;
            let env = q.env.unwrap_or_default();
            let version = q.version.unwrap_or_default();
            if registry_service::is_named(&app, &name) && env == registry_service::ENVIRONMENT {
                let own = registry_service::service();
                return match own.version == version {
                    true => Ok((json!({ "serviceId": own.service_id }), None)),
                    false => Err(ScError::new(
                        ErrorCode::ServiceVersionNotExists,
                        format!("version {version} of {name} does not exist"),
                    )),
                };
            }
            let candidates: Vec<_> = state
                .services()
                .filter(|s| {
                    s.tenant == tenant && s.app == app && s.environment == env && (s.name == name || s.alias == name)
                })
                .collect();
            if candidates.is_empty() {
                return Err(ScError::new(
                    ErrorCode::ServiceNotExists,
                    format!("service {app}/{name} does not exist"),
                ));
            }
            match candidates.iter().find(|s| s.version == version) {
                Some(s) => Ok((json!({ "serviceId": s.id }), None)),
                None => Err(ScError::new(
                    ErrorCode::ServiceVersionNotExists,
                    format!("version {version} of {name} does not exist"),
                )),
            }
        }
        Some("schema") => {
            let id = q.service_id.unwrap_or_default();
            let service = ServiceRef {
                tenant,
                id: id.as_str().into(),
            };
            state.service(&service).ok_or_else(|| Sc::service_missing(&id))?;
            let schema_id = q.schema_id.unwrap_or_default();
            let schema = state.schema(&service, &schema_id).ok_or_else(|| {
                ScError::new(ErrorCode::SchemaNotExists, format!("schema {schema_id} does not exist"))
            })?;
            Ok((
                json!({ "serviceId": id, "schemaId": schema_id }),
                Some(schema.summary.clone()),
            ))
        }
        other => Err(ScError::invalid(format!(
            "unknown existence type {:?}",
            other.unwrap_or("")
        ))),
    }
}

/// The tenant's services, sorted by id; with the shared `SERVICECENTER` when asked
/// (`withShared=true`, as ServiceCenter's `ListService` hides shared services otherwise).
pub fn services_of(sc: &Sc, tenant: &Tenant, with_shared: bool) -> Vec<MicroService> {
    let mut services: Vec<MicroService> = sc.registry.read(|applied| {
        applied
            .state
            .services()
            .filter(|s| &s.tenant == tenant)
            .map(|s| service_to_wire(s))
            .collect()
    });
    if with_shared && registry_service::visible_to(tenant, false) {
        services.push(registry_service::service());
    }
    services.sort_by(|a, b| a.service_id.cmp(&b.service_id));
    services
}

pub async fn list(
    State(sc): Shared,
    ScTenant(tenant): ScTenant,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, ScError> {
    let services = services_of(&sc, &tenant, is_true(q.get("withShared").map(String::as_str)));
    Ok(collection("services", &services))
}

pub async fn get(
    State(sc): Shared,
    Path((_, id)): Path<(String, String)>,
    ScTenant(tenant): ScTenant,
) -> Result<Response, ScError> {
    let service = ServiceRef { tenant, id: id.into() };
    match sc.registry.read(|applied| applied.state.service(&service).cloned()) {
        Some(found) => Ok(json(&json!({ "service": service_to_wire(&found) }))),
        None if service.id == registry_service::SERVICE_ID => {
            Ok(json(&json!({ "service": registry_service::service() })))
        }
        None => Err(Sc::service_missing(&service.id)),
    }
}

/// `force` as ServiceCenter reads it (`service_resource.go` `trueOrFalse`): absent or empty is
/// false; `true`/`1` and `false`/`0` (exactly); anything else is 400001.
fn force_flag(value: Option<&str>) -> Result<bool, ScError> {
    match value.unwrap_or("") {
        "" | "false" | "0" => Ok(false),
        "true" | "1" => Ok(true),
        _ => Err(ScError::invalid("parameter force must be false or true")),
    }
}

async fn delete_one(sc: &Sc, service: ServiceRef, force: bool) -> Result<(), ScError> {
    sc.write(Command::DeleteService(DeleteService { service, force }))
        .await
        .map(|_| ())
}

pub async fn delete(
    State(sc): Shared,
    Path((_, id)): Path<(String, String)>,
    ScTenant(tenant): ScTenant,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, ScError> {
    let force = force_flag(q.get("force").map(String::as_str))?;
    if id == registry_service::SERVICE_ID {
        // ServiceCenter refuses to delete itself (`etcd/ms.go` `UnregisterService`).
        return Err(ScError::invalid("not allow to delete service center"));
    }
    let service = sc.existing_service(tenant, id)?;
    delete_one(&sc, service, force).await?;
    Ok(done())
}

pub async fn delete_many(State(sc): Shared, ScTenant(tenant): ScTenant, bytes: Bytes) -> Result<Response, ScError> {
    let request: DeleteServicesRequest = body(&bytes)?;
    if request.service_ids.is_empty() {
        return Err(ScError::invalid("field 'serviceIds' must not be empty"));
    }
    // One log entry for the batch; each service is deleted or refused on its own.
    let services: Vec<ServiceRef> = request
        .service_ids
        .iter()
        .map(|id| ServiceRef {
            tenant: tenant.clone(),
            id: id.as_str().into(),
        })
        .collect();
    let outcome = sc
        .write(Command::DeleteServices(DeleteServices {
            services,
            force: request.force,
        }))
        .await?;
    let CommandOutcome::Items(items) = outcome else {
        return Err(ScError::new(
            ErrorCode::Internal,
            format!("unexpected outcome {outcome:?}"),
        ));
    };
    let results: Vec<_> = request
        .service_ids
        .iter()
        .zip(items)
        // `errMessage` only for a refused one (cari's `DelServicesRspInfo`, `omitempty`).
        .map(|(id, refused)| match refused {
            Some(r) => json!({ "serviceId": id, "errMessage": ScError::from(r).to_string() }),
            None => json!({ "serviceId": id }),
        })
        .collect();
    Ok(json(&json!({ "services": results })))
}

pub async fn put_properties(
    State(sc): Shared,
    Path((_, id)): Path<(String, String)>,
    ScTenant(tenant): ScTenant,
    bytes: Bytes,
) -> Result<Response, ScError> {
    let service = ServiceRef { tenant, id: id.into() };
    let request: PropertiesRequest = body(&bytes)?;
    let properties = Some(
        request
            .properties
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
    );
    sc.write(Command::UpdateService(UpdateService {
        service,
        description: None,
        properties,
        protocol_fields: None,
    }))
    .await?;
    Ok(done())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_is_read_exactly_as_servicecenter_does() {
        assert_eq!(force_flag(None), Ok(false));
        assert_eq!(force_flag(Some("")), Ok(false));
        assert_eq!(force_flag(Some("0")), Ok(false));
        assert_eq!(force_flag(Some("false")), Ok(false));
        assert_eq!(force_flag(Some("1")), Ok(true));
        assert_eq!(force_flag(Some("true")), Ok(true));
        for bad in ["TRUE", "yes", "2", "tru"] {
            assert_eq!(
                force_flag(Some(bad)).unwrap_err().code,
                ErrorCode::InvalidParams,
                "{bad}"
            );
        }
    }
}
