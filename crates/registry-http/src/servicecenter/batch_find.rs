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

/// Results of one kind of item, in ServiceCenter's shape (empty parts omitted).
#[derive(Default)]
struct Results {
    updated: Vec<Value>,
    not_modified: Vec<usize>,
    failed: BTreeMap<(u32, String), Vec<usize>>,
}

impl Results {
    fn record(&mut self, index: usize, known_rev: &str, outcome: Result<(Vec<Value>, String), ScError>) {
        match outcome {
            Ok((_, rev)) if !known_rev.is_empty() && known_rev == rev => self.not_modified.push(index),
            Ok((instances, rev)) => {
                let mut item = json!({ "index": index, "rev": rev });
                if !instances.is_empty() {
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

fn one_instance(state: &RegistryState, key: &InstanceKey) -> Result<(Vec<Value>, String), ScError> {
    let service = state
        .service(&ServiceRef {
            tenant: key.tenant.clone(),
            id: key.service_id.clone(),
        })
        .ok_or_else(|| Sc::service_missing(&key.service_id))?;
    let instance = state.instance(key).ok_or_else(|| Sc::instance_missing(&key.id))?;
    let wire = serde_json::to_value(instance_to_wire(service, instance)).unwrap_or(Value::Null);
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
    let mut services = Results::default();
    let mut instances = Results::default();
    let mut new_dependencies = Vec::new();
    {
        let applied = sc.node.read();
        let state = &applied.state;
        let consumer = consumer_of(state, &tenant, consumer_id)?;
        for (index, item) in request.services.iter().enumerate() {
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
            let outcome = select_providers(state, &query).map(|providers| {
                let (list, rev) = instances_of(state, &providers);
                (
                    list.into_iter()
                        .map(|i| serde_json::to_value(i).unwrap_or(Value::Null))
                        .collect(),
                    rev,
                )
            });
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
            services.record(index, &item.rev, outcome);
        }
        for (index, item) in request.instances.iter().enumerate() {
            let key = InstanceKey {
                tenant: tenant.clone(),
                service_id: item.instance.service_id.as_str().into(),
                id: item.instance.instance_id.as_str().into(),
            };
            instances.record(index, &item.rev, one_instance(state, &key));
        }
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
