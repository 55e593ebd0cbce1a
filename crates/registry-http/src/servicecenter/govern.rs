//! The governance views (§3.9) that sc-client's `GetAllResources` and the ServiceCenter UI read:
//! `GET /v4/{project}/govern/microservices[?options=…]` and `…/microservices/{serviceId}`, in
//! the shapes of ServiceCenter's `server/service/govern/view.go` (`ListServiceDetail`,
//! `GetServiceDetail`) and cari's `ServiceDetail`.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::response::Response;
use registry_store::model::Service;
use registry_store::model::ServiceRef;
use registry_store::model::Tenant;
use registry_store::state::RegistryState;
use serde_json::json;

use super::core::json;
use super::core::Sc;
use super::discovery::consumers_of;
use super::discovery::is_true;
use super::discovery::providers_of;
use super::error::ScError;
use super::mapping::instance_to_wire;
use super::mapping::service_to_wire;
use super::registry_service;
use super::tenant::ScTenant;
use super::wire::Counts;
use super::wire::MicroService;
use super::wire::Schema;
use super::wire::ServiceDetail;
use super::wire::Statistics;

type Shared = State<Arc<Sc>>;

/// What one listed service carries (`options=`). `all` means every part and the statistics;
/// unknown names are ignored, as ServiceCenter logs and skips them.
#[derive(Debug, Default, Clone, Copy)]
struct Parts {
    tags: bool,
    instances: bool,
    schemas: bool,
    dependencies: bool,
    statistics: bool,
    count_only: bool,
}

impl Parts {
    fn parse(options: &str, count_only: bool) -> Self {
        let mut parts = Parts {
            count_only,
            ..Parts::default()
        };
        for option in options.split(',') {
            match option {
                "all" => {
                    parts = Parts {
                        tags: true,
                        instances: true,
                        schemas: true,
                        dependencies: true,
                        statistics: true,
                        count_only,
                    }
                }
                "tags" => parts.tags = true,
                "instances" => parts.instances = true,
                "schemas" => parts.schemas = true,
                "dependencies" => parts.dependencies = true,
                "statistics" => parts.statistics = true,
                _ => {}
            }
        }
        parts
    }

    fn only_statistics(&self) -> bool {
        self.statistics && !(self.tags || self.instances || self.schemas || self.dependencies)
    }
}

/// The listing's filters.
struct Filter {
    app: String,
    name: String,
    env: String,
    properties: Vec<(String, String)>,
}

impl Filter {
    fn keeps(&self, s: &MicroService) -> bool {
        (self.app.is_empty() || self.app == s.app_id)
            && (self.name.is_empty() || self.name == s.service_name)
            && (self.env.is_empty() || self.env == s.environment)
            && self
                .properties
                .iter()
                .all(|(k, v)| s.properties.get(k).is_some_and(|have| have == v))
    }
}

fn schemas_of(state: &RegistryState, service: &ServiceRef) -> Vec<Schema> {
    state
        .schemas_of(service)
        .map(|s| Schema {
            schema_id: s.schema_id.clone(),
            summary: s.summary.clone(),
            schema: s.content.clone(),
        })
        .collect()
}

fn tags_of(state: &RegistryState, service: &ServiceRef) -> std::collections::BTreeMap<String, String> {
    state
        .tags_of(service)
        .map(|t| t.tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        .unwrap_or_default()
}

/// One stored service as the listing shows it (`getServiceDetailUtil` + `NewServiceOverview`).
fn overview(state: &RegistryState, service: &Service, parts: Parts) -> ServiceDetail {
    let service_ref = service.service_ref();
    let mut detail = ServiceDetail::default();
    if parts.tags {
        detail.tags = tags_of(state, &service_ref);
    }
    if parts.instances {
        let instances = state.instances_of(&service_ref);
        if parts.count_only {
            detail.statics = Some(Statistics {
                instances: Some(Counts {
                    count: instances.count() as u64,
                    ..Counts::default()
                }),
                ..Statistics::default()
            });
        } else {
            // The overview keeps only the configured inner properties of each instance, and
            // none are configured here: ServiceCenter's `removeCustomProperties` returns nil.
            detail.instances = instances
                .map(|i| {
                    let mut wire = instance_to_wire(service, i);
                    wire.properties.clear();
                    wire
                })
                .collect();
        }
    }
    if parts.schemas {
        detail.schema_infos = schemas_of(state, &service_ref);
    }
    if parts.dependencies {
        detail.providers = providers_of(state, &service_ref)
            .into_iter()
            .filter(|p| p.service_id != service_ref.id.as_str())
            .collect();
        detail.consumers = consumers_of(state, service)
            .into_iter()
            .filter(|c| c.service_id != service_ref.id.as_str())
            .collect();
    }
    let mut wire = service_to_wire(service);
    wire.schemas.clear();
    detail.micro_service = Some(wire);
    detail
}

/// The registry's own service as the listing shows it (`withShared=true`).
fn own_overview(sc: &Sc, parts: Parts) -> ServiceDetail {
    let instances = registry_service::instances(&*sc.registry, sc.settings.tls);
    let mut detail = ServiceDetail {
        micro_service: Some(registry_service::service()),
        ..ServiceDetail::default()
    };
    if parts.instances && parts.count_only {
        detail.statics = Some(Statistics {
            instances: Some(Counts {
                count: instances.len() as u64,
                ..Counts::default()
            }),
            ..Statistics::default()
        });
    } else if parts.instances {
        detail.instances = instances;
    }
    detail
}

/// ServiceCenter's `statistics`: services counted once per name (all versions together), those
/// with an instance online, the tenant's instances and the whole domain's, and the apps.
fn statistics(state: &RegistryState, tenant: &Tenant) -> Statistics {
    let mut names = BTreeSet::new();
    let mut online = BTreeSet::new();
    let mut apps = BTreeSet::new();
    let mut instances = 0u64;
    for service in state.services().filter(|s| &s.tenant == tenant) {
        let name = (service.environment.clone(), service.app.clone(), service.name.clone());
        let count = state.instances_of(&service.service_ref()).count() as u64;
        if count > 0 {
            online.insert(name.clone());
        }
        instances += count;
        names.insert(name);
        apps.insert(service.app.clone());
    }
    let by_domain = state
        .services()
        .filter(|s| s.tenant.domain == tenant.domain)
        .map(|s| state.instances_of(&s.service_ref()).count() as u64)
        .sum();
    Statistics {
        services: Some(Counts {
            count: names.len() as u64,
            online_count: online.len() as u64,
            ..Counts::default()
        }),
        instances: Some(Counts {
            count: instances,
            count_by_domain: by_domain,
            ..Counts::default()
        }),
        apps: Some(Counts {
            count: apps.len() as u64,
            ..Counts::default()
        }),
    }
}

/// `GET /v4/{project}/govern/microservices`: every service with the parts `options` names.
pub async fn list(
    State(sc): Shared,
    ScTenant(tenant): ScTenant,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ScError> {
    let get = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let count_only = match get("countOnly").trim() {
        "" | "0" => false,
        "1" => true,
        _ => return Err(ScError::invalid("parameter countOnly must be 1 or 0")),
    };
    let parts = Parts::parse(get("options"), count_only);
    let with_shared = is_true(Some(get("withShared")));
    let filter = Filter {
        app: get("appId").to_string(),
        name: get("serviceName").to_string(),
        env: get("env").to_string(),
        properties: query
            .iter()
            .filter(|(k, _)| k == "property")
            .map(|(_, kv)| match kv.split_once(':') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.clone(), String::new()),
            })
            .collect(),
    };
    let own =
        (with_shared && registry_service::visible_to(&tenant, false) && filter.keeps(&registry_service::service()))
            .then(|| own_overview(&sc, parts));
    // The views copied out under the state lock; sorted and encoded after.
    let (statistics, details) = sc.registry.read(|applied| {
        let state = &applied.state;
        let statistics = parts.statistics.then(|| statistics(state, &tenant));
        if parts.only_statistics() {
            return (statistics, None);
        }
        let details: Vec<ServiceDetail> = state
            .services()
            .filter(|s| s.tenant == tenant)
            .map(|s| overview(state, s, parts))
            .filter(|d| d.micro_service.as_ref().is_some_and(|s| filter.keeps(s)))
            .collect();
        (statistics, Some(details))
    });
    let Some(mut details) = details else {
        return Ok(json(&json!({ "statistics": statistics })));
    };
    details.extend(own);
    details.sort_by(|a, b| {
        let id = |d: &ServiceDetail| d.micro_service.as_ref().map(|s| s.service_id.clone());
        id(a).cmp(&id(b))
    });
    let mut body = serde_json::Map::new();
    if !details.is_empty() {
        body.insert("allServicesDetail".into(), json!(details));
    }
    if let Some(statistics) = statistics {
        body.insert("statistics".into(), json!(statistics));
    }
    Ok(json(&body))
}

/// `GET /v4/{project}/govern/microservices/{serviceId}`: one service with everything about it.
pub async fn get(
    State(sc): Shared,
    Path((_, id)): Path<(String, String)>,
    ScTenant(tenant): ScTenant,
) -> Result<Response, ScError> {
    let service_ref = ServiceRef {
        tenant,
        id: id.as_str().into(),
    };
    if id.is_empty() {
        return Err(ScError::invalid("Invalid request for getting service detail."));
    }
    let detail = sc.registry.read(|applied| detail_of(&applied.state, &service_ref));
    let Some(detail) = detail else {
        if id == registry_service::SERVICE_ID {
            let detail = ServiceDetail {
                micro_service_versions: vec![registry_service::service().version],
                ..own_overview(
                    &sc,
                    Parts {
                        instances: true,
                        ..Parts::default()
                    },
                )
            };
            return Ok(json(&json!({ "service": detail })));
        }
        return Err(Sc::service_missing(&id));
    };
    Ok(json(&json!({ "service": detail })))
}

/// Everything about one service, copied out of `state`; `None` if there is no such service.
fn detail_of(state: &RegistryState, service_ref: &ServiceRef) -> Option<ServiceDetail> {
    let service = state.service(service_ref)?;
    let versions = state
        .services()
        .filter(|s| {
            s.tenant == service.tenant
                && s.environment == service.environment
                && s.app == service.app
                && s.name == service.name
        })
        .map(|s| s.version.clone())
        .collect();
    let detail = ServiceDetail {
        micro_service: Some(service_to_wire(service)),
        micro_service_versions: versions,
        tags: tags_of(state, service_ref),
        schema_infos: schemas_of(state, service_ref),
        providers: providers_of(state, service_ref),
        consumers: consumers_of(state, service),
        instances: state
            .instances_of(service_ref)
            .map(|i| instance_to_wire(service, i))
            .collect(),
        statics: None,
    };
    Some(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_read_as_servicecenter_reads_them() {
        let all = Parts::parse("all", false);
        assert!(all.tags && all.instances && all.schemas && all.dependencies && all.statistics);
        let some = Parts::parse("tags,,instances,unknown", false);
        assert!(some.tags && some.instances && !some.schemas && !some.statistics);
        assert!(Parts::parse("statistics", false).only_statistics());
        assert!(!Parts::parse("statistics,tags", false).only_statistics());
    }
}
