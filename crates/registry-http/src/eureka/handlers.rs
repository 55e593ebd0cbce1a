//! The Eureka endpoints of `../shared/specs/eureka.md` §2: writes go through the store (forwarded
//! to the leader), reads come from this node's applied state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::header;
use axum::http::HeaderMap;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use registry_store::command::CancelInstance;
use registry_store::command::Command;
use registry_store::command::CommandOutcome;
use registry_store::command::OverrideChange;
use registry_store::command::RegisterInstance;
use registry_store::command::SetInstanceStatus;
use registry_store::command::UpdateInstanceMetadata;
use registry_store::model::InstanceKey;
use registry_store::model::Millis;
use registry_store::node::RegistryNode;
use serde::Deserialize;

use super::delta::DeltaWindow;
use super::error::EurekaError;
use super::format::Format;
use super::mapping::status_to_store;
use super::mapping::to_instance;
use super::mapping::EurekaSettings;
use super::view::AppsCache;
use super::view::View;
use super::wire::Applications;
use super::wire::InstanceInfo;
use super::wire::Status;

/// Header carrying the registry revision a read reflects (for `waitRevision` long polls).
pub const REVISION_HEADER: &str = "x-registry-revision";
/// Longest a `waitRevision` long poll waits.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// What the Eureka handlers share.
pub struct Eureka {
    pub node: RegistryNode,
    pub settings: EurekaSettings,
    pub delta: Arc<DeltaWindow>,
    pub cache: AppsCache,
}

type Shared = State<Arc<Eureka>>;

fn ok(format: Format, revision: u64, body: impl Into<axum::body::Body>) -> Response {
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        body.into(),
    )
        .into_response();
    response
        .headers_mut()
        .insert(REVISION_HEADER, HeaderValue::from(revision));
    response
}

impl Eureka {
    /// The stored key of an app's instance: Eureka registrations live under the app's service;
    /// instances registered through other protocols are found by name.
    fn key_of(&self, app: &str, id: &str) -> InstanceKey {
        let direct = InstanceKey {
            tenant: self.settings.tenant.clone(),
            service_id: self.settings.service_id(app),
            id: id.into(),
        };
        let applied = self.node.read();
        if applied.state.instance(&direct).is_some() {
            return direct;
        }
        let view = View {
            state: &applied.state,
            settings: &self.settings,
        };
        view.stored(app, id).map_or(direct, |i| i.key())
    }

    async fn write(&self, command: Command) -> Result<CommandOutcome, EurekaError> {
        let written = self.node.write(command).await?;
        match written.outcome {
            CommandOutcome::Rejected(r) => Err(r.into()),
            outcome => Ok(outcome),
        }
    }
}

/// Eureka's registration checks, in the Netflix server's order.
fn validate_registration(path_app: &str, info: &InstanceInfo) -> Result<(), EurekaError> {
    let invalid = |m: String| Err(EurekaError::Invalid(m));
    if info.effective_id().is_empty() {
        return invalid("Missing instanceId".into());
    }
    if info.host_name.trim().is_empty() {
        return invalid("Missing hostname".into());
    }
    if info.ip_addr.trim().is_empty() {
        return invalid("Missing ip address".into());
    }
    if info.app.trim().is_empty() {
        return invalid("Missing appName".into());
    }
    let expected = path_app.to_ascii_uppercase();
    if !info.app.eq_ignore_ascii_case(&expected) {
        return invalid(format!("Mismatched appName, expecting {expected} but was {}", info.app));
    }
    if info.data_center_info.class.is_empty() && info.data_center_info.name.is_empty() {
        return invalid("Missing dataCenterInfo".into());
    }
    if info.data_center_info.name.is_empty() {
        return invalid("Missing dataCenterInfo Name".into());
    }
    Ok(())
}

fn wall_clock_ms() -> Millis {
    registry_store::node::wall_clock_ms()
}

pub async fn register(
    State(e): Shared,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, EurekaError> {
    let format = Format::of_request(&headers);
    let mut info = format
        .decode_instance(&body)
        .map_err(|_| EurekaError::Unparseable(format))?;
    validate_registration(&app, &info)?;
    info.app = info.app.to_ascii_uppercase();
    if info.last_dirty_timestamp <= 0 {
        info.last_dirty_timestamp = wall_clock_ms() as i64;
    }
    let instance = to_instance(&e.settings, &info);
    let key = instance.key();
    let create_service = Some(e.settings.service_for_app(&info.app));
    let outcome = e
        .write(Command::RegisterInstance(RegisterInstance {
            instance,
            create_service,
        }))
        .await?;
    if outcome == CommandOutcome::Unchanged {
        // A stale registration keeps the stored record but still renews the lease.
        e.node.renew(vec![key]).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn cancel(State(e): Shared, Path((app, id)): Path<(String, String)>) -> Result<StatusCode, EurekaError> {
    let key = e.key_of(&app, &id);
    e.write(Command::CancelInstance(CancelInstance { instance: key }))
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub struct RenewQuery {
    #[serde(rename = "lastDirtyTimestamp")]
    last_dirty_timestamp: Option<String>,
}

/// Renewal: 200, or 404 so the client registers again. Never touches the log (D3).
pub async fn renew(
    State(e): Shared,
    Path((app, id)): Path<(String, String)>,
    Query(q): Query<RenewQuery>,
) -> Result<StatusCode, EurekaError> {
    let key = e.key_of(&app, &id);
    let found = e.node.renew(vec![key.clone()]).await?;
    if found.first() != Some(&true) {
        return Err(EurekaError::NotFound);
    }
    let stored = e
        .node
        .read()
        .state
        .instance(&key)
        .map(|i| (i.status, i.client_modified_ms));
    if let Some((status, stored_dirty)) = stored {
        if status == registry_store::model::InstanceStatus::Unknown {
            return Err(EurekaError::NotFound);
        }
        let incoming = q
            .last_dirty_timestamp
            .as_deref()
            .and_then(|t| t.trim().parse::<u64>().ok());
        if incoming.is_some_and(|t| t > stored_dirty) {
            return Err(EurekaError::NotFound);
        }
    }
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    value: Option<String>,
    #[serde(rename = "lastDirtyTimestamp")]
    last_dirty_timestamp: Option<String>,
}

fn exact_status(value: Option<&str>) -> Option<Status> {
    Status::ALL.into_iter().find(|s| Some(s.as_str()) == value)
}

fn dirty_stamp(q: &StatusQuery) -> Option<Millis> {
    q.last_dirty_timestamp.as_deref().and_then(|t| t.trim().parse().ok())
}

/// `PUT .../status?value=S`: an operator override.
pub async fn set_status(
    State(e): Shared,
    Path((app, id)): Path<(String, String)>,
    Query(q): Query<StatusQuery>,
) -> Result<StatusCode, EurekaError> {
    let status = exact_status(q.value.as_deref()).ok_or_else(|| {
        EurekaError::BadStatusValue(format!("invalid status value {:?}", q.value.as_deref().unwrap_or("")))
    })?;
    let key = e.key_of(&app, &id);
    let status = status_to_store(status);
    let command = SetInstanceStatus {
        instance: key.clone(),
        status,
        status_override: OverrideChange::Set(status),
        client_modified_ms: dirty_stamp(&q),
        protocol_fields: None,
    };
    e.write(Command::SetInstanceStatus(command)).await?;
    e.node.renew(vec![key]).await?;
    Ok(StatusCode::OK)
}

/// `DELETE .../status[?value=S]`: removes the override; the status becomes `value` or UNKNOWN.
pub async fn clear_status(
    State(e): Shared,
    Path((app, id)): Path<(String, String)>,
    Query(q): Query<StatusQuery>,
) -> Result<StatusCode, EurekaError> {
    let key = e.key_of(&app, &id);
    let status = q.value.as_deref().map_or(Status::Unknown, Status::parse);
    let command = SetInstanceStatus {
        instance: key.clone(),
        status: status_to_store(status),
        status_override: OverrideChange::Clear,
        client_modified_ms: dirty_stamp(&q),
        protocol_fields: None,
    };
    e.write(Command::SetInstanceStatus(command)).await?;
    e.node.renew(vec![key]).await?;
    Ok(StatusCode::OK)
}

/// `PUT .../metadata?k=v`: merges the parameters into the instance's metadata.
pub async fn update_metadata(
    State(e): Shared,
    Path((app, id)): Path<(String, String)>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<StatusCode, EurekaError> {
    let key = e.key_of(&app, &id);
    let command = UpdateInstanceMetadata {
        instance: key,
        metadata: params,
        replace: false,
        protocol_fields: None,
    };
    e.write(Command::UpdateInstanceMetadata(command)).await?;
    Ok(StatusCode::OK)
}

pub async fn all_apps(State(e): Shared, headers: HeaderMap) -> Response {
    let format = Format::of_response(&headers);
    let applied = e.node.read();
    let revision = applied.revision();
    let view = View {
        state: &applied.state,
        settings: &e.settings,
    };
    let bytes = e
        .cache
        .get_or_build(format, revision, || format.encode_applications(&view.all()));
    ok(format, revision, bytes.to_vec())
}

#[derive(Debug, Deserialize)]
pub struct DeltaQuery {
    /// Long-poll extension: answer once the registry has passed this revision.
    #[serde(rename = "waitRevision")]
    wait_revision: Option<u64>,
    /// How long to wait at most, in seconds (default 30, at most 60).
    #[serde(rename = "waitSeconds")]
    wait_seconds: Option<u64>,
}

pub async fn delta(State(e): Shared, headers: HeaderMap, Query(q): Query<DeltaQuery>) -> Response {
    if let Some(after) = q.wait_revision {
        let wait = Duration::from_secs(q.wait_seconds.unwrap_or(30)).min(MAX_WAIT);
        // A timeout answers with the (unchanged) delta: the client simply asks again.
        let _ = e.node.wait_for_revision(after.saturating_add(1), wait).await;
    }
    let format = Format::of_response(&headers);
    let applied = e.node.read();
    let revision = applied.revision();
    let view = View {
        state: &applied.state,
        settings: &e.settings,
    };
    let apps = Applications {
        versions_delta: revision.to_string(),
        apps_hashcode: view.hashcode(),
        applications: e.delta.applications(&view),
    };
    ok(format, revision, format.encode_applications(&apps))
}

pub async fn get_app(State(e): Shared, headers: HeaderMap, Path(app): Path<String>) -> Result<Response, EurekaError> {
    let format = Format::of_response(&headers);
    let applied = e.node.read();
    let view = View {
        state: &applied.state,
        settings: &e.settings,
    };
    let found = view.app(&app).ok_or(EurekaError::NotFound)?;
    Ok(ok(format, applied.revision(), format.encode_application(&found)))
}

pub async fn get_instance(
    State(e): Shared,
    headers: HeaderMap,
    Path((app, id)): Path<(String, String)>,
) -> Result<Response, EurekaError> {
    let format = Format::of_response(&headers);
    let applied = e.node.read();
    let view = View {
        state: &applied.state,
        settings: &e.settings,
    };
    let info = view.instance(&app, &id).ok_or(EurekaError::NotFound)?;
    Ok(ok(format, applied.revision(), format.encode_instance(&info)))
}

pub async fn instance_by_id(
    State(e): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, EurekaError> {
    let format = Format::of_response(&headers);
    let applied = e.node.read();
    let view = View {
        state: &applied.state,
        settings: &e.settings,
    };
    let info = view.instance_by_id(&id).ok_or(EurekaError::NotFound)?;
    Ok(ok(format, applied.revision(), format.encode_instance(&info)))
}

fn vip_response(e: &Eureka, headers: &HeaderMap, vip: &str, secure: bool) -> Response {
    let format = Format::of_response(headers);
    let applied = e.node.read();
    let view = View {
        state: &applied.state,
        settings: &e.settings,
    };
    let listed = |i: &InstanceInfo| {
        let field = if secure { &i.secure_vip_address } else { &i.vip_address };
        field
            .as_deref()
            .is_some_and(|v| v.split(',').any(|part| part.trim() == vip))
    };
    let applications = view.applications(listed);
    let versions_delta = if applications.is_empty() { "-1" } else { "1" }.to_string();
    let apps_hashcode =
        super::hashcode::apps_hashcode(applications.iter().flat_map(|a| a.instances.iter().map(|i| i.status)));
    let apps = Applications {
        versions_delta,
        apps_hashcode,
        applications,
    };
    ok(format, applied.revision(), format.encode_applications(&apps))
}

pub async fn vip(State(e): Shared, headers: HeaderMap, Path(vip): Path<String>) -> Response {
    vip_response(&e, &headers, &vip, false)
}

pub async fn svip(State(e): Shared, headers: HeaderMap, Path(vip): Path<String>) -> Response {
    vip_response(&e, &headers, &vip, true)
}

/// `GET /serverinfo/statusoverrides`: instance id → overridden status, as JSON.
pub async fn status_overrides(State(e): Shared) -> Response {
    let applied = e.node.read();
    let view = View {
        state: &applied.state,
        settings: &e.settings,
    };
    let overrides: BTreeMap<String, String> = view
        .instances()
        .filter(|i| i.overridden_status != Status::Unknown)
        .map(|i| (i.effective_id().to_string(), i.overridden_status.as_str().to_string()))
        .collect();
    let body = serde_json::to_vec(&overrides).unwrap_or_default();
    ok(Format::Json, applied.revision(), body)
}
