//! Discovery (§3.4): `find` by app and name with version rules, tags and `rev` / 304, and the
//! instances of one service.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use registry_store::command::Command;
use registry_store::command::PutDependencies;
use registry_store::model::Service;
use registry_store::model::ServiceKey;
use registry_store::model::ServiceRef;
use registry_store::model::Tenant;
use registry_store::record::Dependency;
use registry_store::state::RegistryState;
use serde::Deserialize;

use super::core::body;
use super::core::collection;
use super::core::collection_bytes;
use super::core::done;
use super::core::is_known;
use super::core::json_bytes;
use super::core::revision_of;
use super::core::with_revision;
use super::core::Sc;
use super::error::ErrorCode;
use super::error::ScError;
use super::mapping::instance_to_wire;
use super::mapping::service_to_wire;
use super::registry_service;
use super::tenant::ScTenant;
use super::version::VersionRule;
use super::wire::DependenciesRequest;
use super::wire::MicroService;
use super::wire::MicroServiceInstance;

type Shared = State<Arc<Sc>>;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FindQuery {
    app_id: Option<String>,
    service_name: Option<String>,
    version: Option<String>,
    env: Option<String>,
    tags: Option<String>,
    rev: Option<String>,
    global: Option<String>,
}

/// ServiceCenter's `util.StringTRUE`: `true` (any case) or `1`.
pub fn is_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// The answer with the registry's own instances (`SERVICECENTER`), to a caller that has
/// revision `known`.
fn registry_answer(sc: &Sc, known: Option<&str>) -> Response {
    let instances = registry_service::instances(&*sc.registry, sc.settings.tls);
    let revision = revision_of(instances.iter().map(|i| serde_json::to_string(i).unwrap_or_default()));
    let found = if is_known(known, &revision) {
        Found::Known
    } else {
        Found::Fresh {
            providers: None,
            instances,
        }
    };
    answer(sc, found, &revision)
}

/// The instances of `services` and a revision that changes whenever any of them changes.
pub fn instances_of(state: &RegistryState, services: &[&Service]) -> (Vec<MicroServiceInstance>, String) {
    (wire_instances(state, services), revision_for(state, services))
}

/// The instances of `services`, as ServiceCenter shows them.
fn wire_instances(state: &RegistryState, services: &[&Service]) -> Vec<MicroServiceInstance> {
    services
        .iter()
        .flat_map(|service| {
            state
                .instances_of(&service.service_ref())
                .map(|instance| instance_to_wire(service, instance))
        })
        .collect()
}

/// The revision of the instances of `services`: it changes whenever a service or one of their
/// instances does.
pub fn revision_for(state: &RegistryState, services: &[&Service]) -> String {
    let marks = services.iter().flat_map(|service| {
        std::iter::once((&service.id, service.mod_revision)).chain(
            state
                .instances_of(&service.service_ref())
                .map(|instance| (&instance.id, instance.mod_revision)),
        )
    });
    revision_of(marks)
}

/// What a find answers, worked out under the state lock (the body is encoded after it).
enum Found {
    /// The caller has this revision already: 304.
    Known,
    /// The body of an earlier find of the same providers at this revision.
    Kept(Bytes),
    /// The instances, to encode; the body is kept for later finds of `providers`, if any.
    Fresh {
        providers: Option<Vec<ServiceRef>>,
        instances: Vec<MicroServiceInstance>,
    },
}

/// What a find of `providers` answers a caller that has revision `known`, and the revision.
fn found(sc: &Sc, state: &RegistryState, providers: &[&Service], known: Option<&str>) -> (Found, String) {
    let revision = revision_for(state, providers);
    if is_known(known, &revision) {
        return (Found::Known, revision);
    }
    let refs: Vec<ServiceRef> = providers.iter().map(|s| s.service_ref()).collect();
    if let Some(body) = sc.find_bodies.get(&refs, &revision) {
        return (Found::Kept(body), revision);
    }
    let fresh = Found::Fresh {
        providers: Some(refs),
        instances: wire_instances(state, providers),
    };
    (fresh, revision)
}

/// 200 with the instances (or `{}`), or 304 when the caller already has this revision.
fn answer(sc: &Sc, found: Found, revision: &str) -> Response {
    let bytes = match found {
        Found::Known => return with_revision(StatusCode::NOT_MODIFIED.into_response(), revision),
        Found::Kept(bytes) => bytes,
        Found::Fresh { providers, instances } => {
            let bytes = collection_bytes("instances", &instances);
            if let Some(providers) = providers {
                sc.find_bodies.put(providers, revision, &bytes);
            }
            bytes
        }
    };
    with_revision(json_bytes(bytes), revision)
}

fn has_tags(state: &RegistryState, service: &Service, wanted: &[&str]) -> bool {
    let tags = state.tags_of(&service.service_ref());
    wanted.iter().all(|k| tags.is_some_and(|t| t.tags.contains_key(*k)))
}

pub fn tag_list(tags: &Option<String>) -> Vec<&str> {
    tags.as_deref()
        .map(|t| t.split(',').map(str::trim).filter(|t| !t.is_empty()).collect())
        .unwrap_or_default()
}

/// The consumer named by `X-ConsumerId`, which must exist (400012 otherwise).
pub fn consumer_of<'s>(
    state: &'s RegistryState,
    tenant: &Tenant,
    id: Option<&str>,
) -> Result<Option<&'s Service>, ScError> {
    let Some(id) = id else { return Ok(None) };
    let service = state
        .service(&ServiceRef {
            tenant: tenant.clone(),
            id: id.into(),
        })
        .ok_or_else(|| ScError::new(ErrorCode::ServiceNotExists, format!("Consumer[{id}] does not exist")))?;
    Ok(Some(&**service))
}

/// What a find asks for.
pub struct ProviderQuery<'a> {
    pub tenant: &'a Tenant,
    pub env: &'a str,
    pub app: &'a str,
    pub name: &'a str,
    pub version: Option<&'a str>,
    pub tags: &'a [&'a str],
}

/// The provider services a find selects: by app, name (or alias) and environment, then tags,
/// then the version rule. No service of that name at all is 400012.
pub fn select_providers<'s>(state: &'s RegistryState, q: &ProviderQuery<'_>) -> Result<Vec<&'s Service>, ScError> {
    let mut providers: Vec<&Service> = state
        .services_named(q.tenant, q.name)
        .filter(|s| s.app == q.app && s.environment == q.env && (s.name == q.name || s.alias == q.name))
        .map(|s| &**s)
        .collect();
    if providers.is_empty() {
        return Err(ScError::new(
            ErrorCode::ServiceNotExists,
            format!("provider {}/{} does not exist", q.app, q.name),
        ));
    }
    providers.sort_by(|a, b| a.id.cmp(&b.id));
    providers.retain(|s| has_tags(state, s, q.tags));
    Ok(VersionRule::parse(q.version.unwrap_or("")).select(providers, |s| s.version.as_str()))
}

pub async fn find(
    State(sc): Shared,
    ScTenant(tenant): ScTenant,
    headers: HeaderMap,
    Query(q): Query<FindQuery>,
) -> Result<Response, ScError> {
    let name = q
        .service_name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ScError::invalid("field 'serviceName' is required"))?;
    let app = q
        .app_id
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "default".into());
    if registry_service::is_named(&app, &name) && registry_service::visible_to(&tenant, is_true(q.global.as_deref())) {
        return Ok(registry_answer(&sc, q.rev.as_deref()));
    }
    let consumer = headers
        .get("x-consumerid")
        .and_then(|v| v.to_str().ok())
        .filter(|c| !c.is_empty());
    // Copied out under the state lock; the reply is encoded after it is released.
    let (found, revision, new_dependency) = sc.registry.read(|applied| {
        let state = &applied.state;
        let consumer = consumer_of(state, &tenant, consumer)?;
        // The consumer's environment replaces `env`.
        let env = consumer.map_or_else(|| q.env.clone().unwrap_or_default(), |c| c.environment.clone());
        let providers = select_providers(
            state,
            &ProviderQuery {
                tenant: &tenant,
                env: &env,
                app: &app,
                name: &name,
                version: q.version.as_deref(),
                tags: &tag_list(&q.tags),
            },
        )?;
        let (found, revision) = found(&sc, state, &providers, q.rev.as_deref());
        let dependency = consumer.map(|c| Dependency {
            consumer: c.service_ref(),
            provider_environment: env.clone(),
            provider_app: app.clone(),
            provider_name: name.clone(),
        });
        let new_dependency = dependency.filter(|d| !state.dependencies_of(&d.consumer).any(|known| **known == *d));
        Ok::<_, ScError>((found, revision, new_dependency))
    })?;
    let response = answer(&sc, found, &revision);
    // The first find by a consumer records the dependency that routes watch events to it,
    // written off this path (a find never writes).
    if let Some(dependency) = new_dependency {
        sc.queue_dependency(dependency);
    }
    Ok(response)
}

/// `GET MS/providers`: the services the consumer depends on.
pub async fn providers(
    State(sc): Shared,
    Path((_, id)): Path<(String, String)>,
    ScTenant(tenant): ScTenant,
) -> Result<Response, ScError> {
    let consumer = ServiceRef { tenant, id: id.into() };
    let providers = sc.registry.read(|applied| {
        let state = &applied.state;
        state
            .service(&consumer)
            .ok_or_else(|| Sc::service_missing(&consumer.id))?;
        Ok::<_, ScError>(providers_of(state, &consumer))
    })?;
    Ok(collection("providers", &providers))
}

/// `GET MS/consumers`: the services that depend on this provider.
pub async fn consumers(
    State(sc): Shared,
    Path((_, id)): Path<(String, String)>,
    ScTenant(tenant): ScTenant,
) -> Result<Response, ScError> {
    let provider = ServiceRef { tenant, id: id.into() };
    let consumers = sc.registry.read(|applied| {
        let state = &applied.state;
        let service = state
            .service(&provider)
            .ok_or_else(|| Sc::service_missing(&provider.id))?;
        Ok::<_, ScError>(consumers_of(state, service))
    })?;
    Ok(collection("consumers", &consumers))
}

/// The services `consumer` depends on.
pub fn providers_of(state: &RegistryState, consumer: &ServiceRef) -> Vec<MicroService> {
    let deps: Vec<_> = state.dependencies_of(consumer).collect();
    state
        .services()
        .filter(|s| deps.iter().any(|d| d.matches(s)))
        .map(|s| service_to_wire(s))
        .collect()
}

/// The services that depend on `provider`.
pub fn consumers_of(state: &RegistryState, provider: &Service) -> Vec<MicroService> {
    state
        .consumers_of(provider)
        .filter_map(|d| state.service(&d.consumer))
        .map(|s| service_to_wire(s))
        .collect()
}

pub async fn service_instances(
    State(sc): Shared,
    Path((_, service_id)): Path<(String, String)>,
    ScTenant(tenant): ScTenant,
    Query(q): Query<FindQuery>,
) -> Result<Response, ScError> {
    let service_ref = ServiceRef {
        tenant,
        id: service_id.into(),
    };
    let found = sc.registry.read(|applied| {
        let state = &applied.state;
        let service = state.service(&service_ref)?;
        let providers: Vec<&Service> = [&**service]
            .into_iter()
            .filter(|s| has_tags(state, s, &tag_list(&q.tags)))
            .collect();
        Some(found(&sc, state, &providers, q.rev.as_deref()))
    });
    match found {
        Some((found, revision)) => Ok(answer(&sc, found, &revision)),
        None if service_ref.id == registry_service::SERVICE_ID => Ok(registry_answer(&sc, q.rev.as_deref())),
        None => Err(Sc::service_missing(&service_ref.id)),
    }
}

/// `POST` (add) and `PUT` (replace) `/v4/{project}/registry/dependencies`: deprecated in
/// ServiceCenter (finds record dependencies) but still routed
/// (`server/rest/controller/v4/dependency_controller.go`); one log entry for the whole request.
async fn put_dependencies(sc: &Sc, tenant: Tenant, bytes: &[u8], replace: bool) -> Result<Response, ScError> {
    let request: DependenciesRequest = body(bytes)?;
    if request.dependencies.is_empty() || request.dependencies.len() > 100 {
        return Err(ScError::invalid("field 'dependencies' must hold 1 to 100 items"));
    }
    let dependencies = sc.registry.read(|applied| {
        let mut dependencies = Vec::new();
        for item in &request.dependencies {
            let consumer = item
                .consumer
                .as_ref()
                .ok_or_else(|| ScError::invalid("field 'Dependencies.Consumer' is required"))?;
            if !replace && item.providers.is_empty() {
                return Err(ScError::invalid("field 'Dependencies.Providers' must not be empty"));
            }
            let key = ServiceKey {
                tenant: tenant.clone(),
                environment: consumer.environment.clone(),
                app: consumer.app_id.clone(),
                name: consumer.service_name.clone(),
                version: consumer.version.clone(),
            };
            let found = applied.state.service_by_key(&key).ok_or_else(|| {
                let flag = [&key.environment, &key.app, &key.name, &key.version]
                    .map(|s| s.as_str())
                    .join("/");
                ScError::new(ErrorCode::ServiceNotExists, format!("Consumer {flag} does not exist."))
            })?;
            for provider in &item.providers {
                if provider.service_name.is_empty() {
                    return Err(ScError::invalid(
                        "field 'Dependencies.Providers.ServiceName' is required",
                    ));
                }
                dependencies.push(Dependency {
                    consumer: found.service_ref(),
                    provider_environment: found.environment.clone(),
                    provider_app: if provider.app_id.is_empty() {
                        found.app.clone()
                    } else {
                        provider.app_id.clone()
                    },
                    provider_name: provider.service_name.clone(),
                });
            }
        }
        Ok::<_, ScError>(dependencies)
    })?;
    sc.write(Command::PutDependencies(PutDependencies {
        dependencies,
        replace,
        skip_missing_consumers: false,
    }))
    .await?;
    let mut response = done();
    response
        .headers_mut()
        .insert("deprecation", HeaderValue::from_static("version=\"v4\""));
    Ok(response)
}

pub async fn add_dependencies(
    State(sc): Shared,
    ScTenant(tenant): ScTenant,
    bytes: Bytes,
) -> Result<Response, ScError> {
    put_dependencies(&sc, tenant, &bytes, false).await
}

pub async fn replace_dependencies(
    State(sc): Shared,
    ScTenant(tenant): ScTenant,
    bytes: Bytes,
) -> Result<Response, ScError> {
    put_dependencies(&sc, tenant, &bytes, true).await
}
