//! Instances (§3.3): idempotent register with client-given ids, get, list, unregister,
//! heartbeats (single and batch, never through the log), status and properties.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::response::Response;
use registry_store::command::CancelInstance;
use registry_store::command::Command;
use registry_store::command::OverrideChange;
use registry_store::command::RegisterInstance;
use registry_store::command::SetInstanceStatus;
use registry_store::command::UpdateInstanceMetadata;
use registry_store::model::InstanceKey;
use registry_store::model::ServiceRef;
use serde_json::json;

use super::core::body;
use super::core::done;
use super::core::json;
use super::core::new_id;
use super::core::revision_of;
use super::core::revisioned;
use super::core::Sc;
use super::error::ScError;
use super::mapping::instance_from_wire;
use super::mapping::instance_to_wire;
use super::mapping::status_to_store;
use super::tenant::ScTenant;
use super::validate;
use super::wire::HeartbeatItem;
use super::wire::HeartbeatSet;
use super::wire::PropertiesRequest;
use super::wire::RegisterInstanceRequest;

type Shared = State<Arc<Sc>>;

fn key(service: &ServiceRef, id: String) -> InstanceKey {
    InstanceKey {
        tenant: service.tenant.clone(),
        service_id: service.id.clone(),
        id: id.into(),
    }
}

pub async fn register(
    State(sc): Shared,
    Path((_, service_id)): Path<(String, String)>,
    ScTenant(tenant): ScTenant,
    bytes: Bytes,
) -> Result<Response, ScError> {
    let service_ref = ServiceRef {
        tenant,
        id: service_id.into(),
    };
    let request: RegisterInstanceRequest = body(&bytes)?;
    let mut wire = request
        .instance
        .ok_or_else(|| ScError::invalid("field 'instance' is required"))?;
    wire.service_id = service_ref.id.to_string();
    if wire.status.is_empty() {
        wire.status = "UP".into();
    }
    validate::instance(&wire)?;
    let service = sc
        .registry
        .read(|applied| applied.state.service(&service_ref).cloned())
        .ok_or_else(|| Sc::service_missing(&service_ref.id))?;
    if wire.instance_id.is_empty() {
        wire.instance_id = new_id();
    } else {
        // Registering a known id again is a heartbeat (SDKs and syncers rely on it).
        let k = key(&service_ref, wire.instance_id.clone());
        let known = sc.registry.read(|applied| applied.state.instance(&k).is_some());
        if known && sc.registry.renew(vec![k]).await?.first() == Some(&true) {
            return Ok(json(&json!({ "instanceId": wire.instance_id })));
        }
    }
    let instance = instance_from_wire(&service, &wire, sc.settings.lease_limits);
    sc.write(Command::RegisterInstance(RegisterInstance::new(instance, None)))
        .await?;
    Ok(json(&json!({ "instanceId": wire.instance_id })))
}

/// One instance, with its revision (`X-Resource-Revision`) and 304 for a known `rev`, as
/// ServiceCenter's `GetInstance` answers.
pub async fn get(
    State(sc): Shared,
    Path((_, service_id, id)): Path<(String, String, String)>,
    ScTenant(tenant): ScTenant,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, ScError> {
    let service_ref = sc.existing_service(tenant, service_id)?;
    let (service, instance) = sc.registry.read(|applied| {
        let service = applied
            .state
            .service(&service_ref)
            .ok_or_else(|| Sc::service_missing(&service_ref.id))?;
        let instance = applied
            .state
            .instance(&key(&service_ref, id.clone()))
            .ok_or_else(|| Sc::instance_missing(&id))?;
        Ok::<_, ScError>((service.clone(), instance.clone()))
    })?;
    let revision = revision_of([(&instance.id, instance.mod_revision)]);
    let body = || json(&json!({ "instance": instance_to_wire(&service, &instance) }));
    Ok(revisioned(body, &revision, q.get("rev").map(String::as_str)))
}

pub async fn unregister(
    State(sc): Shared,
    Path((_, service_id, id)): Path<(String, String, String)>,
    ScTenant(tenant): ScTenant,
) -> Result<Response, ScError> {
    let service_ref = ServiceRef {
        tenant,
        id: service_id.into(),
    };
    let instance = key(&service_ref, id);
    if !sc.registry.instance_exists(&instance).await? {
        return Err(Sc::instance_missing(&instance.id));
    }
    sc.write(Command::CancelInstance(CancelInstance { instance })).await?;
    Ok(done())
}

pub async fn heartbeat(
    State(sc): Shared,
    Path((_, service_id, id)): Path<(String, String, String)>,
    ScTenant(tenant): ScTenant,
) -> Result<Response, ScError> {
    // An unknown service is 400017 too: ServiceCenter looks the lease up by service and
    // instance (`datasource/etcd/util/heartbeat_util.go`), and sc-client re-registers on 400017.
    let service_ref = ServiceRef {
        tenant,
        id: service_id.into(),
    };
    let found = sc.registry.renew(vec![key(&service_ref, id.clone())]).await?;
    if found.first() == Some(&true) {
        Ok(done())
    } else {
        Err(Sc::instance_missing(&id))
    }
}

pub async fn heartbeats(State(sc): Shared, ScTenant(tenant): ScTenant, bytes: Bytes) -> Result<Response, ScError> {
    let request: HeartbeatSet = body(&bytes)?;
    if request.instances.is_empty() {
        return Err(ScError::invalid("field 'instances' must not be empty"));
    }
    let mut items: Vec<HeartbeatItem> = Vec::new();
    for item in request.instances {
        let item = HeartbeatItem {
            err_message: String::new(),
            ..item
        };
        if !items.contains(&item) {
            items.push(item);
        }
    }
    let keys = items
        .iter()
        .map(|i| InstanceKey {
            tenant: tenant.clone(),
            service_id: i.service_id.as_str().into(),
            id: i.instance_id.as_str().into(),
        })
        .collect();
    let found = sc.registry.renew(keys).await?;
    for (item, found) in items.iter_mut().zip(found) {
        if !found {
            item.err_message = Sc::instance_missing(&item.instance_id).to_string();
        }
    }
    Ok(json(&HeartbeatSet { instances: items }))
}

pub async fn set_status(
    State(sc): Shared,
    Path((_, service_id, id)): Path<(String, String, String)>,
    ScTenant(tenant): ScTenant,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, ScError> {
    let service_ref = ServiceRef {
        tenant,
        id: service_id.into(),
    };
    let value = q.get("value").map(String::as_str).unwrap_or("");
    validate::instance_status(value)?;
    let command = SetInstanceStatus {
        instance: key(&service_ref, id),
        status: status_to_store(value),
        status_override: OverrideChange::Keep,
        client_modified_ms: None,
        protocol_fields: None,
    };
    sc.write(Command::SetInstanceStatus(command)).await?;
    Ok(done())
}

pub async fn put_properties(
    State(sc): Shared,
    Path((_, service_id, id)): Path<(String, String, String)>,
    ScTenant(tenant): ScTenant,
    bytes: Bytes,
) -> Result<Response, ScError> {
    let service_ref = sc.existing_service(tenant, service_id)?;
    let request: PropertiesRequest = body(&bytes)?;
    let command = UpdateInstanceMetadata {
        instance: key(&service_ref, id),
        metadata: request
            .properties
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
        replace: true,
        protocol_fields: None,
    };
    sc.write(Command::UpdateInstanceMetadata(command)).await?;
    Ok(done())
}
