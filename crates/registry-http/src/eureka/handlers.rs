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
use registry_store::model::Millis;
use serde::Deserialize;

use super::error::EurekaError;
use super::format::Format;
use super::full_fetch::Payload;
use super::ops::Eureka;
use super::ops::Renewal;
use super::ops::Renewer;
use super::wire::Applications;
use super::wire::InstanceInfo;
use super::wire::Status;
use crate::request_metrics::LongPoll;

/// Header carrying the registry revision a read reflects (for `waitRevision` long polls).
pub const REVISION_HEADER: &str = "x-registry-revision";
/// Longest a `waitRevision` long poll waits.
const MAX_WAIT: Duration = Duration::from_secs(60);

type Shared = State<Arc<Eureka>>;

/// A 200 in `format`, with the revision it reflects.
pub fn respond(format: Format, revision: u64, body: impl Into<axum::body::Body>) -> Response {
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

pub async fn register(
    State(e): Shared,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, EurekaError> {
    let format = Format::of_request(&headers).ok_or(EurekaError::UnsupportedMediaType)?;
    let info = format
        .decode_instance(&body)
        .map_err(|err| EurekaError::from_decode(format, err))?;
    e.register(&app, info).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn cancel(State(e): Shared, Path((app, id)): Path<(String, String)>) -> Result<StatusCode, EurekaError> {
    e.cancel(&app, &id).await?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub struct RenewQuery {
    #[serde(rename = "lastDirtyTimestamp")]
    pub(crate) last_dirty_timestamp: Option<String>,
    pub(crate) overriddenstatus: Option<String>,
}

fn stamp(text: Option<&str>) -> Option<Millis> {
    text.and_then(|t| t.trim().parse().ok())
}

/// The header Netflix peers mark their writes with (`PeerEurekaNode.HEADER_REPLICATION`).
pub const REPLICATION_HEADER: &str = "x-netflix-discovery-replication";

fn is_replication(headers: &HeaderMap) -> bool {
    headers.get(REPLICATION_HEADER).is_some_and(|v| v.as_bytes() == b"true")
}

/// Renewal: 200, or 404 so the client registers again; a peer whose record is older than ours
/// gets 409 with ours (in the format it accepts).
pub async fn renew(
    State(e): Shared,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
    Query(q): Query<RenewQuery>,
) -> Result<Response, EurekaError> {
    renew_answer(&e, &app, &id, &headers, &q).await
}

/// The renewal of `app`'s instance `id`, answered: [`renew`] without its extractors, shared with
/// the lean path ([`super::lean`]).
pub async fn renew_answer(
    e: &Eureka,
    app: &str,
    id: &str,
    headers: &HeaderMap,
    q: &RenewQuery,
) -> Result<Response, EurekaError> {
    let from = Renewer {
        replicated: is_replication(headers),
        overridden_status: q.overriddenstatus.as_deref(),
    };
    match e.renew(app, id, stamp(q.last_dirty_timestamp.as_deref()), from).await? {
        Renewal::Renewed => Ok(StatusCode::OK.into_response()),
        Renewal::NotFound => Err(EurekaError::NotFound),
        Renewal::Conflict(info) => {
            let format = Format::of_response(headers);
            let body = format.encode_instance(&info);
            Ok((
                StatusCode::CONFLICT,
                [(header::CONTENT_TYPE, format.content_type())],
                body,
            )
                .into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    value: Option<String>,
    #[serde(rename = "lastDirtyTimestamp")]
    last_dirty_timestamp: Option<String>,
}

/// `PUT .../status?value=S`: an operator override (404 before 500 for a bad value).
pub async fn set_status(
    State(e): Shared,
    Path((app, id)): Path<(String, String)>,
    Query(q): Query<StatusQuery>,
) -> Result<StatusCode, EurekaError> {
    e.set_override(&app, &id, q.value.as_deref(), stamp(q.last_dirty_timestamp.as_deref()))
        .await?;
    Ok(StatusCode::OK)
}

/// `DELETE .../status[?value=S]`: removes the override; the status becomes `value` or UNKNOWN.
pub async fn clear_status(
    State(e): Shared,
    Path((app, id)): Path<(String, String)>,
    Query(q): Query<StatusQuery>,
) -> Result<StatusCode, EurekaError> {
    e.clear_override(&app, &id, q.value.as_deref(), stamp(q.last_dirty_timestamp.as_deref()))
        .await?;
    Ok(StatusCode::OK)
}

/// `PUT .../metadata?k=v`: merges the parameters (the first value of each) into the instance's
/// metadata and registers it again.
pub async fn update_metadata(
    State(e): Shared,
    Path((app, id)): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<StatusCode, EurekaError> {
    e.update_metadata(&app, &id, params).await?;
    Ok(StatusCode::OK)
}

/// `GET /apps`: the full registry, built per revision off the runtime threads from pieces kept
/// between revisions (see [`super::full_fetch`]), gzip'd for clients that accept it.
pub async fn all_apps(State(e): Shared, headers: HeaderMap) -> Response {
    let format = Format::of_response(&headers);
    let detail = Format::detail(&headers);
    let payload = e.full_fetch.get(&e.registry, &e.settings, format, detail).await;
    payload.respond(format, &headers)
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
    let long_poll = q.wait_revision.is_some();
    if let Some(after) = q.wait_revision {
        let wait = Duration::from_secs(q.wait_seconds.unwrap_or(30)).min(MAX_WAIT);
        // A timeout answers with the (unchanged) delta: the client simply asks again.
        let _ = e.registry.wait_for_revision(after.saturating_add(1), wait).await;
    }
    let format = Format::of_response(&headers);
    let detail = Format::detail(&headers);
    let revision = e.registry.revision();
    // The window (and the state) may move on between reading the validator and building: the
    // payload then shows slightly more than its validator says, which a delta client applies
    // harmlessly, and the revision header says what it shows.
    let (pushed, dropped) = e.delta.generation();
    let freshness = (e.registry.lease_times().epoch(), dropped);
    // Right after a storm the window holds every instance registered in it: built off the
    // runtime threads, once for all who ask meanwhile, and served while changes only left the
    // window (see `DeltaFreshness`).
    let building = e.clone();
    let payload = e
        .cache
        .delta
        .get((format, detail), (revision, pushed), freshness, move || {
            let e = building;
            // The changed instances copied out under the state lock; encoded after it is released.
            let (shows, apps) = e.registry.read(|applied| {
                let revision = applied.revision();
                let view = e.view(&applied.state);
                let apps = Applications {
                    versions_delta: revision.to_string(),
                    apps_hashcode: view.hashcode(),
                    applications: e.delta.applications(&view),
                };
                (revision, apps)
            });
            let payload = Payload::whole(shows, format.encode_applications(&apps, detail));
            ((revision, pushed), payload)
        })
        .await;
    let mut response = payload.respond(format, &headers);
    if long_poll {
        // Its wait is on purpose: timed apart from the ordinary requests.
        response.extensions_mut().insert(LongPoll);
    }
    response
}

pub async fn get_app(State(e): Shared, headers: HeaderMap, Path(app): Path<String>) -> Result<Response, EurekaError> {
    app_answer(&e, &headers, &app)
}

/// One app in the format `headers` ask for, from the payload cache: [`get_app`] without its
/// extractors, shared with the lean path ([`super::lean`]).
pub fn app_answer(e: &Eureka, headers: &HeaderMap, app: &str) -> Result<Response, EurekaError> {
    let format = Format::of_response(headers);
    let detail = Format::detail(headers);
    let key = (format, detail, app.to_ascii_uppercase());
    // Nothing changed since this payload was last validated: served as it is.
    let now = (
        e.registry.read(|applied| applied.revision()),
        e.registry.lease_times().epoch(),
    );
    if let Some(bytes) = e.cache.app.seen_at(&key, now) {
        return Ok(respond(format, now.0, bytes));
    }
    let (mut revision, validator) = e
        .registry
        .read(|applied| (applied.revision(), e.view(&applied.state).app_validator(app)));
    if validator.1 == 0 {
        return Err(EurekaError::NotFound);
    }
    let epoch = e.registry.lease_times().epoch();
    let validator = (validator.0, validator.1, epoch);
    let seen = Some((revision, epoch));
    let bytes = e.cache.app.get_or_build_seen(key, validator, seen, || {
        // Copied out under the state lock; encoded after it is released.
        let found = e.registry.read(|applied| {
            revision = applied.revision();
            e.view(&applied.state).app(app)
        });
        found
            .map(|found| format.encode_application(&found, detail))
            .unwrap_or_default()
    });
    Ok(respond(format, revision, bytes))
}

pub async fn get_instance(
    State(e): Shared,
    headers: HeaderMap,
    Path((app, id)): Path<(String, String)>,
) -> Result<Response, EurekaError> {
    let format = Format::of_response(&headers);
    let (revision, info) = e
        .registry
        .read(|applied| (applied.revision(), e.view(&applied.state).instance(&app, &id)));
    let info = info.ok_or(EurekaError::NotFound)?;
    Ok(respond(format, revision, format.encode_instance(&info)))
}

pub async fn instance_by_id(
    State(e): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, EurekaError> {
    let format = Format::of_response(&headers);
    let (revision, info) = e
        .registry
        .read(|applied| (applied.revision(), e.view(&applied.state).instance_by_id(&id)));
    let info = info.ok_or(EurekaError::NotFound)?;
    Ok(respond(format, revision, format.encode_instance(&info)))
}

fn vip_response(e: &Eureka, headers: &HeaderMap, vip: &str, secure: bool) -> Response {
    let format = Format::of_response(headers);
    let listed = |i: &InstanceInfo| {
        let field = if secure { &i.secure_vip_address } else { &i.vip_address };
        field
            .as_deref()
            .is_some_and(|v| v.split(',').any(|part| part.trim() == vip))
    };
    let (revision, applications) = e
        .registry
        .read(|applied| (applied.revision(), e.view(&applied.state).applications(listed)));
    // `ResponseCacheImpl.getApplicationsForVip` never sets the version: `new Applications()`'s -1.
    let versions_delta = "-1".to_string();
    let apps_hashcode =
        super::hashcode::apps_hashcode(applications.iter().flat_map(|a| a.instances.iter().map(|i| i.status)));
    let apps = Applications {
        versions_delta,
        apps_hashcode,
        applications,
    };
    let detail = Format::detail(headers);
    respond(format, revision, format.encode_applications(&apps, detail))
}

pub async fn vip(State(e): Shared, headers: HeaderMap, Path(vip): Path<String>) -> Response {
    vip_response(&e, &headers, &vip, false)
}

pub async fn svip(State(e): Shared, headers: HeaderMap, Path(vip): Path<String>) -> Response {
    vip_response(&e, &headers, &vip, true)
}

/// `GET /serverinfo/statusoverrides`: instance id → overridden status, as JSON.
pub async fn status_overrides(State(e): Shared) -> Response {
    let (revision, overrides) = e.registry.read(|applied| {
        let overrides: BTreeMap<String, String> = e
            .view(&applied.state)
            .instances()
            .filter(|i| i.overridden_status != Status::Unknown)
            .map(|i| (i.effective_id().to_string(), i.overridden_status.as_str().to_string()))
            .collect();
        (applied.revision(), overrides)
    });
    let body = serde_json::to_vec(&overrides).unwrap_or_default();
    respond(Format::Json, revision, body)
}
