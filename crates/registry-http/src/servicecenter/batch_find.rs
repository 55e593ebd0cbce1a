//! Batch find (§3.4): `POST /instances/action?type=query` answers many finds (by service key,
//! or single instances) at once, each with its own `rev`: updated, not modified, or failed.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use registry_store::model::InstanceKey;
use registry_store::model::ServiceRef;
use registry_store::record::Dependency;
use registry_store::state::RegistryState;
use serde::Deserialize;
use serde_json::json;
use serde_json::Map;
use serde_json::Value;

use super::core::body;
use super::core::json;
use super::core::revision_of;
use super::core::Sc;
use super::discovery::consumer_of;
use super::discovery::instances_of;
use super::discovery::select_providers;
use super::discovery::ProviderQuery;
use super::error::ErrorCode;
use super::error::ScError;
use super::mapping::instance_to_wire;
use super::tenant::ScTenant;
use super::wire::MicroServiceInstance;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ServiceKeyQuery {
    environment: String,
    app_id: String,
    service_name: String,
    version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServiceItem {
    service: ServiceKeyQuery,
    rev: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct InstanceRef {
    service_id: String,
    instance_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InstanceItem {
    instance: InstanceRef,
    rev: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BatchRequest {
    services: Vec<ServiceItem>,
    instances: Vec<InstanceItem>,
}

/// One item's answer, copied out of the state: its instances and their revision, or why not.
type Found = Result<(Vec<MicroServiceInstance>, String), ScError>;

/// Results of one kind of item, in ServiceCenter's shape (empty parts omitted).
#[derive(Default)]
struct Results {
    updated: Vec<Value>,
    not_modified: Vec<usize>,
    failed: BTreeMap<(u32, String), Vec<usize>>,
}

impl Results {
    fn record(&mut self, index: usize, known_rev: &str, outcome: Found) {
        match outcome {
            Ok((_, rev)) if !known_rev.is_empty() && known_rev == rev => self.not_modified.push(index),
            Ok((instances, rev)) => {
                let mut item = json!({ "index": index, "rev": rev });
                if !instances.is_empty() {
                    let instances: Vec<Value> = instances
                        .into_iter()
                        .map(|i| serde_json::to_value(i).unwrap_or(Value::Null))
                        .collect();
                    item["instances"] = json!(instances);
                }
                self.updated.push(item);
            }
            Err(e) => self.failed.entry((e.code.code(), e.detail)).or_default().push(index),
        }
    }

    fn into_json(self) -> Value {
        let mut out = Map::new();
        if !self.updated.is_empty() {
            out.insert("updated".into(), json!(self.updated));
        }
        if !self.not_modified.is_empty() {
            out.insert("notModified".into(), json!(self.not_modified));
        }
        if !self.failed.is_empty() {
            let failed: Vec<Value> = self
                .failed
                .into_iter()
                .map(|((code, detail), indexes)| {
                    let error = ScError::new(code_of(code), detail);
                    json!({ "indexes": indexes, "error": { "errorCode": code.to_string(), "errorMessage": error.code.message(), "detail": error.detail } })
                })
                .collect();
            out.insert("failed".into(), json!(failed));
        }
        Value::Object(out)
    }
}

fn code_of(code: u32) -> ErrorCode {
    match code {
        400012 => ErrorCode::ServiceNotExists,
        400017 => ErrorCode::InstanceNotExists,
        _ => ErrorCode::InvalidParams,
    }
}

fn one_instance(state: &RegistryState, key: &InstanceKey) -> Found {
    let service = state
        .service(&ServiceRef {
            tenant: key.tenant.clone(),
            id: key.service_id.clone(),
        })
        .ok_or_else(|| Sc::service_missing(&key.service_id))?;
    let instance = state.instance(key).ok_or_else(|| Sc::instance_missing(&key.id))?;
    let wire = instance_to_wire(service, instance);
    Ok((vec![wire], revision_of([(instance.id.clone(), instance.mod_revision)])))
}

pub async fn batch_find(
    State(sc): State<Arc<Sc>>,
    tenant: Result<ScTenant, ScError>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    bytes: Bytes,
) -> Result<Response, ScError> {
    if q.get("type").map(String::as_str) != Some("query") {
        return Err(ScError::invalid("only type=query is supported"));
    }
    let ScTenant(tenant) = tenant?;
    let request: BatchRequest = body(&bytes)?;
    let consumer_id = headers
        .get("x-consumerid")
        .and_then(|v| v.to_str().ok())
        .filter(|c| !c.is_empty());
    // Every item's instances copied out under the state lock; converted and encoded after.
    let (found_services, found_instances, new_dependencies) = sc.registry.read(|applied| {
        let state = &applied.state;
        let consumer = consumer_of(state, &tenant, consumer_id)?;
        let mut services = Vec::with_capacity(request.services.len());
        let mut instances = Vec::with_capacity(request.instances.len());
        let mut new_dependencies = Vec::new();
        for item in &request.services {
            let key = &item.service;
            let app = if key.app_id.is_empty() {
                "default"
            } else {
                key.app_id.as_str()
            };
            let env = consumer.map_or(key.environment.as_str(), |c| c.environment.as_str());
            let query = ProviderQuery {
                tenant: &tenant,
                env,
                app,
                name: &key.service_name,
                version: key.version.as_deref(),
                tags: &[],
            };
            let outcome = select_providers(state, &query).map(|providers| instances_of(state, &providers));
            if let (Ok(_), Some(c)) = (&outcome, consumer) {
                let d = Dependency {
                    consumer: c.service_ref(),
                    provider_environment: env.to_string(),
                    provider_app: app.to_string(),
                    provider_name: key.service_name.clone(),
                };
                if !state.dependencies_of(&d.consumer).any(|known| **known == d) && !new_dependencies.contains(&d) {
                    new_dependencies.push(d);
                }
            }
            services.push(outcome);
        }
        for item in &request.instances {
            let key = InstanceKey {
                tenant: tenant.clone(),
                service_id: item.instance.service_id.as_str().into(),
                id: item.instance.instance_id.as_str().into(),
            };
            instances.push(one_instance(state, &key));
        }
        Ok::<_, ScError>((services, instances, new_dependencies))
    })?;
    let mut services = Results::default();
    for (index, (item, outcome)) in request.services.iter().zip(found_services).enumerate() {
        services.record(index, &item.rev, outcome);
    }
    let mut instances = Results::default();
    for (index, (item, outcome)) in request.instances.iter().zip(found_instances).enumerate() {
        instances.record(index, &item.rev, outcome);
    }
    // Written off this path, in batches (a find never writes).
    for dependency in new_dependencies {
        sc.queue_dependency(dependency);
    }
    let mut out = Map::new();
    if !request.services.is_empty() {
        out.insert("services".into(), services.into_json());
    }
    if !request.instances.is_empty() {
        out.insert("instances".into(), instances.into_json());
    }
    Ok(json(&Value::Object(out)))
}
