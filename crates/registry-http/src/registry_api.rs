//! The native JSON API on the unified model, under `/admin/registry`: register, cancel, renew
//! and list instances, take one out of service and back or replace its metadata (the
//! dashboard's actions), plus a state digest to compare nodes. Protocol APIs (Eureka,
//! ServiceCenter) sit beside it on the same store. Every change is a command through the log.

use std::hash::Hash;
use std::hash::Hasher;

use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::routing::delete;
use axum::routing::get;
use axum::routing::post;
use axum::routing::put;
use axum::Json;
use axum::Router;
use registry_store::command::CancelInstance;
use registry_store::command::Command;
use registry_store::command::CommandOutcome;
use registry_store::command::OverrideChange;
use registry_store::command::RegisterInstance;
use registry_store::command::SetInstanceStatus;
use registry_store::command::UpdateInstanceMetadata;
use registry_store::model::Instance;
use registry_store::model::InstanceKey;
use registry_store::model::InstanceStatus;
use registry_store::model::LeaseSettings;
use registry_store::model::Millis;
use registry_store::model::Properties;
use registry_store::model::Service;
use registry_store::model::Tenant;
use registry_store::node::RegistryNode;
use registry_store::node::Written;
use serde::Deserialize;
use serde::Serialize;
use serde_json::json;
use serde_json::Value;
use smol_str::SmolStr;

use crate::error::ApiError;
use crate::error::JsonBody;

pub fn routes() -> Router<RegistryNode> {
    Router::new()
        .route("/admin/registry/instances", post(register).get(list))
        .route("/admin/registry/instances/{service}/{id}", delete(cancel))
        .route("/admin/registry/instances/{service}/{id}/status", put(set_status))
        .route("/admin/registry/instances/{service}/{id}/metadata", put(set_metadata))
        .route("/admin/registry/heartbeats", put(renew))
        .route("/admin/registry/digest", get(digest))
}

fn parse_tenant(tenant: Option<&str>) -> Result<Tenant, ApiError> {
    match tenant {
        None => Ok(Tenant::default()),
        Some(t) => Tenant::parse(t).ok_or_else(|| ApiError::BadRequest(format!("tenant {t:?} is not domain/project"))),
    }
}

/// A registration in the native API: the instance and, implicitly, its service.
#[derive(Debug, Deserialize)]
struct RegisterBody {
    /// `domain/project`; default `default/default`.
    tenant: Option<String>,
    /// Service name, also used as its id. Created if missing.
    service: String,
    /// Application the service belongs to; default `default`.
    app: Option<String>,
    /// Service version; default `0.0.1`.
    version: Option<String>,
    id: String,
    host: String,
    #[serde(default)]
    endpoints: Vec<SmolStr>,
    status: Option<InstanceStatus>,
    #[serde(default)]
    metadata: Properties,
    lease: Option<LeaseSettings>,
    /// Availability zone and region (Eureka's `metadata.zone`/`region`, ServiceCenter's
    /// `dataCenterInfo`).
    #[serde(default)]
    zone: SmolStr,
    #[serde(default)]
    region: SmolStr,
}

fn written_json(w: &Written) -> Result<Json<Value>, ApiError> {
    match &w.outcome {
        CommandOutcome::Rejected(r) => Err(ApiError::Rejected(r.clone())),
        CommandOutcome::Instance { existed } => Ok(Json(json!({ "revision": w.revision, "existed": existed }))),
        _ => Ok(Json(json!({ "revision": w.revision }))),
    }
}

async fn register(
    State(node): State<RegistryNode>,
    JsonBody(body): JsonBody<RegisterBody>,
) -> Result<Json<Value>, ApiError> {
    let tenant = parse_tenant(body.tenant.as_deref())?;
    let mut service = Service::new(
        tenant.clone(),
        body.service.clone(),
        body.app.unwrap_or_else(|| "default".into()),
        body.service.clone(),
    );
    if let Some(v) = body.version {
        service.version = v;
    }
    let mut instance = Instance::new(tenant, body.service, body.id, body.host);
    instance.endpoints = body.endpoints;
    instance.status = body.status.unwrap_or_default();
    instance.metadata = body.metadata;
    instance.lease = body.lease.unwrap_or_default();
    instance.zone = body.zone;
    instance.region = body.region;
    let command = Command::RegisterInstance(RegisterInstance::new(instance, Some(service)));
    written_json(&node.write(command).await?)
}

#[derive(Debug, Deserialize)]
struct TenantQuery {
    tenant: Option<String>,
}

async fn cancel(
    State(node): State<RegistryNode>,
    Path((service, id)): Path<(String, String)>,
    Query(q): Query<TenantQuery>,
) -> Result<Json<Value>, ApiError> {
    let key = InstanceKey {
        tenant: parse_tenant(q.tenant.as_deref())?,
        service_id: service.into(),
        id: id.into(),
    };
    written_json(
        &node
            .write(Command::CancelInstance(CancelInstance { instance: key }))
            .await?,
    )
}

/// `PUT .../{service}/{id}/status`'s body.
#[derive(Debug, Deserialize)]
struct StatusBody {
    status: InstanceStatus,
}

/// `PUT .../{service}/{id}/metadata`'s body.
#[derive(Debug, Deserialize)]
struct MetadataBody {
    metadata: Properties,
    /// `true` (default): the map replaces the instance's; `false`: its keys are merged in.
    #[serde(default = "yes")]
    replace: bool,
}

fn yes() -> bool {
    true
}

/// The key of a local instance that exists now: 404 when it does not, 409 when it is mirrored
/// from a peer (its origin owns it; a change here would be undone by the next sync round).
fn local_instance(
    node: &RegistryNode,
    service: String,
    id: String,
    tenant: Option<&str>,
) -> Result<InstanceKey, ApiError> {
    let key = InstanceKey {
        tenant: parse_tenant(tenant)?,
        service_id: service.into(),
        id: id.into(),
    };
    let applied = node.read();
    let instance = applied.state.instance(&key).ok_or_else(|| {
        ApiError::NotFound(format!(
            "instance {} of service {} does not exist",
            key.id, key.service_id
        ))
    })?;
    if let Some(source) = instance.origin.source() {
        return Err(ApiError::Conflict(format!(
            "instance {} is mirrored from {source}: change it there",
            key.id
        )));
    }
    Ok(key)
}

/// Sets an instance's status as an operator: `OUT_OF_SERVICE` takes it out of service (an
/// override its client's own reports do not undo, as Eureka's `PUT .../status`); any other
/// status clears the override and becomes the status (`UP`: back in service).
async fn set_status(
    State(node): State<RegistryNode>,
    Path((service, id)): Path<(String, String)>,
    Query(q): Query<TenantQuery>,
    JsonBody(body): JsonBody<StatusBody>,
) -> Result<Json<Value>, ApiError> {
    node.read_barrier().await?;
    let instance = local_instance(&node, service, id, q.tenant.as_deref())?;
    let status_override = match body.status {
        InstanceStatus::OutOfService => OverrideChange::Set(InstanceStatus::OutOfService),
        _ => OverrideChange::Clear,
    };
    let command = SetInstanceStatus {
        instance,
        status: body.status,
        status_override,
        client_modified_ms: None,
        protocol_fields: None,
    };
    written_json(&node.write(Command::SetInstanceStatus(command)).await?)
}

/// Replaces (or merges into) an instance's metadata.
async fn set_metadata(
    State(node): State<RegistryNode>,
    Path((service, id)): Path<(String, String)>,
    Query(q): Query<TenantQuery>,
    JsonBody(body): JsonBody<MetadataBody>,
) -> Result<Json<Value>, ApiError> {
    node.read_barrier().await?;
    let instance = local_instance(&node, service, id, q.tenant.as_deref())?;
    let command = UpdateInstanceMetadata {
        instance,
        metadata: body.metadata,
        replace: body.replace,
        protocol_fields: None,
    };
    written_json(&node.write(Command::UpdateInstanceMetadata(command)).await?)
}

#[derive(Debug, Deserialize)]
struct RenewBody {
    instances: Vec<RenewItem>,
}

#[derive(Debug, Deserialize)]
struct RenewItem {
    tenant: Option<String>,
    service: String,
    id: String,
}

/// Renews leases; answers, per instance, whether it is registered.
async fn renew(State(node): State<RegistryNode>, JsonBody(body): JsonBody<RenewBody>) -> Result<Json<Value>, ApiError> {
    let keys = body
        .instances
        .into_iter()
        .map(|i| {
            Ok(InstanceKey {
                tenant: parse_tenant(i.tenant.as_deref())?,
                service_id: i.service.into(),
                id: i.id.into(),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let found = node.renew(keys).await?;
    Ok(Json(json!({ "found": found })))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    tenant: Option<String>,
    /// Only this service's instances (its id, or its name).
    service: Option<String>,
    /// Only the instance with this id.
    id: Option<String>,
    /// Only instances with this status (`UP`, `DOWN`, `STARTING`, `OUT_OF_SERVICE`, ...).
    status: Option<String>,
    /// `local`, or the name of the peer the instances are mirrored from.
    origin: Option<String>,
    /// `true`: a linearizable read (waits for everything committed before the request).
    consistent: Option<bool>,
}

impl ListQuery {
    fn admits(&self, tenant: Option<&Tenant>, i: &Instance, service_name: Option<&str>) -> bool {
        tenant.is_none_or(|t| &i.tenant == t)
            && self
                .service
                .as_deref()
                .is_none_or(|s| i.service_id == s || service_name == Some(s))
            && self.id.as_deref().is_none_or(|id| i.id == id)
            && self
                .status
                .as_deref()
                .is_none_or(|s| i.status.as_str().eq_ignore_ascii_case(s))
            && self
                .origin
                .as_deref()
                .is_none_or(|o| i.origin.source().unwrap_or("local") == o)
    }
}

#[derive(Serialize)]
struct InstanceList {
    revision: u64,
    instances: Vec<ListedInstance>,
}

/// An instance with the leader's last renewal of its lease and when it expires, when known
/// (this node's copy of the leader's lease times).
#[derive(Serialize)]
struct ListedInstance {
    #[serde(flatten)]
    instance: Instance,
    /// Its service's name (ServiceCenter service ids are UUIDs).
    #[serde(skip_serializing_if = "Option::is_none")]
    service_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_renewal_ms: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lease_expires_ms: Option<Millis>,
}

async fn list(State(node): State<RegistryNode>, Query(q): Query<ListQuery>) -> Result<Json<InstanceList>, ApiError> {
    let tenant = q.tenant.as_deref().map(|t| parse_tenant(Some(t))).transpose()?;
    if q.consistent.unwrap_or(false) {
        node.read_barrier().await?;
    }
    let applied = node.read();
    let instances = node.lease_times().with(|lease_of| {
        applied
            .state
            .instances()
            .filter_map(|i| {
                let name = applied.state.service(&i.service_ref()).map(|s| s.name.as_str());
                q.admits(tenant.as_ref(), i, name).then_some((i, name))
            })
            .map(|(i, name)| {
                let lease = lease_of(&i.key());
                ListedInstance {
                    instance: (**i).clone(),
                    service_name: name.map(str::to_string),
                    last_renewal_ms: lease.map(|l| l.renewed_ms),
                    lease_expires_ms: lease.map(|l| l.expires_ms),
                }
            })
            .collect()
    });
    Ok(Json(InstanceList {
        revision: applied.revision(),
        instances,
    }))
}

/// A fingerprint of the whole registry (every record's key and last revision), to compare nodes.
async fn digest(State(node): State<RegistryNode>) -> Json<Value> {
    let applied = node.read();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut instances = 0u64;
    for i in applied.state.instances() {
        i.key().hash(&mut hasher);
        i.mod_revision.hash(&mut hasher);
        instances += 1;
    }
    let mut services: Vec<_> = applied
        .state
        .services()
        .map(|s| (s.service_ref(), s.mod_revision))
        .collect();
    services.sort();
    services.hash(&mut hasher);
    Json(json!({
        "revision": applied.revision(),
        "instances": instances,
        "services": services.len(),
        "digest": format!("{:016x}", hasher.finish()),
    }))
}
