//! The dashboard at `/`: one page served from the binary (HTML, script and style embedded, no
//! external resources) that shows the cluster (each member's health, and its reachability and
//! replication lag as the leader sees them), the leases and self-preservation state, the
//! federation's peers, the registry (tenants → services → instances with their last heartbeat
//! and lease expiry, searchable, filtered and sortable) and the recent registrations and
//! cancellations, updating live.
//!
//! The page's actions (out of service and back, metadata, deregister) are requests to the native
//! API (`/admin/registry/...`, [`crate::registry_api`]): writes through the log, refused by the
//! usual authorisation to a user without the `write` role. The overview names the user the
//! request came from so the page can say who is signed in.
//!
//! - `GET /admin/dashboard`: everything the page shows, as JSON, narrowed by [`Filter`],
//!   with this node's background workers as its supervisor reports them.
//! - `GET /admin/dashboard/events`: server-sent `revision` events as this node applies
//!   changes; the page refetches the overview on each (and every few seconds for health).
//!
//! [`overview`] reads the registry; [`recent`] keeps the activity; the cluster part (members'
//! health, the leader's leases and sync report) is gathered here over HTTP.

pub mod overview;
pub mod recent;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use axum::extract::Extension;
use axum::extract::Query;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::Event;
use axum::response::sse::KeepAlive;
use axum::response::sse::Sse;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Json;
use axum::Router;
use futures::Stream;
use futures::StreamExt;
use registry_store::node::wall_clock_ms;
use registry_store::node::ClusterStatus;
use registry_store::node::RegistryNode;
use registry_store::worker::WorkerReport;
use registry_store::worker::Workers;
use registry_sync::Federation;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

use self::overview::Filter;
use self::overview::Records;
use self::overview::RegistryView;
use self::recent::RecentActivity;
use crate::auth::users::Principal;
use crate::lease_api::LeaseReport;
use crate::member_http::reachable;
use crate::member_http::MemberHttp;

/// Recent registrations and cancellations listed in one overview.
const RECENT_SHOWN: usize = 50;
/// Changes applied within this long of each other go out as one event.
const EVENT_COALESCE: Duration = Duration::from_millis(200);

const INDEX_HTML: &str = include_str!("../../assets/dashboard/index.html");
const APP_JS: &str = include_str!("../../assets/dashboard/app.js");
const APP_CSS: &str = include_str!("../../assets/dashboard/app.css");

#[derive(Clone)]
struct Dashboard {
    node: RegistryNode,
    federation: Arc<Federation>,
    peers: MemberHttp,
    recent: Arc<RecentActivity>,
    workers: Workers,
    started: Instant,
}

/// The dashboard's routes; `recent` is fed by its follower, which the caller starts.
pub fn routes(
    node: RegistryNode,
    federation: Arc<Federation>,
    peers: MemberHttp,
    recent: Arc<RecentActivity>,
    workers: Workers,
) -> Router {
    let state = Dashboard {
        peers,
        recent,
        workers,
        node,
        federation,
        started: Instant::now(),
    };
    Router::new()
        .route("/", get(|| asset("text/html; charset=utf-8", INDEX_HTML)))
        .route(
            "/dashboard/app.js",
            get(|| asset("text/javascript; charset=utf-8", APP_JS)),
        )
        .route("/dashboard/app.css", get(|| asset("text/css; charset=utf-8", APP_CSS)))
        .route("/admin/dashboard", get(overview))
        .route("/admin/dashboard/events", get(events))
        .with_state(state)
}

async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// This node as the page's header shows it.
#[derive(Debug, Serialize)]
struct NodeView {
    id: u64,
    cluster_name: String,
    role: &'static str,
    term: u64,
    leader_id: Option<u64>,
    last_log_index: u64,
    version: &'static str,
    uptime_secs: u64,
    now_ms: u64,
}

/// A member and its health as it reports it.
#[derive(Debug, Serialize)]
struct MemberView {
    id: u64,
    role: &'static str,
    raft_addr: String,
    /// Where the member's own dashboard is, once it announced its HTTP address.
    http_url: Option<String>,
    this_node: bool,
    /// `UP`, `DOWN` (it answers, unhealthy) or `UNREACHABLE`.
    health: String,
    reason: Option<String>,
    /// Its applied revision, when it answered.
    revision: Option<u64>,
    /// As the leader sees it (`null` when the leader's view is unknown or too young): whether it
    /// answers the leader, since when it last did, and how many log entries it trails.
    reachable: Option<bool>,
    last_answer_ms: Option<u64>,
    lag: Option<u64>,
}

/// The part of the leader's `GET /admin/cluster` the dashboard shows.
#[derive(Debug, Default, Deserialize)]
struct LeaderView {
    node_id: u64,
    members: Vec<LeaderSees>,
}

/// One member as the leader sees it.
#[derive(Debug, Deserialize)]
struct LeaderSees {
    id: u64,
    reachable: Option<bool>,
    last_answer_ms: Option<u64>,
    lag: Option<u64>,
}

/// Who the page's requests come from, with authentication on.
#[derive(Debug, Serialize)]
struct Viewer {
    name: String,
    role: &'static str,
}

/// `GET /health`'s body.
#[derive(Debug, Deserialize)]
struct Health {
    status: String,
    revision: Option<u64>,
    reason: Option<String>,
}

#[derive(Debug, Serialize)]
struct Overview {
    node: NodeView,
    members: Vec<MemberView>,
    /// The leader whose view of the members' reachability and lag is shown, or why none is.
    replication_seen_by: Option<u64>,
    replication_error: Option<String>,
    /// The signed-in user (`null` without authentication).
    viewer: Option<Viewer>,
    /// The leader's leases, or why they could not be read.
    leases: Option<LeaseReport>,
    leases_error: Option<String>,
    /// The federation report of the node running the sync workers (the leader).
    sync: Value,
    /// This node's background workers (the sync workers run on the leader only).
    workers: Vec<WorkerReport>,
    #[serde(flatten)]
    registry: RegistryView,
}

async fn overview(
    State(d): State<Dashboard>,
    principal: Option<Extension<Principal>>,
    Query(filter): Query<Filter>,
) -> Json<Overview> {
    let records = {
        let applied = d.node.read();
        Records::take(&applied.state, applied.revision())
    };
    let registry = overview::registry_view(
        records,
        &filter,
        d.recent.latest(RECENT_SHOWN),
        Some(d.node.lease_times()),
    );
    let status = d.node.status();
    let (members, leader_view, leases, sync) = tokio::join!(
        members(&d, &status),
        leader_view(&d, &status),
        LeaseReport::from_cluster(&d.node, &d.peers),
        crate::sync_api::cluster_report(&d.federation, &d.peers),
    );
    let (leases, leases_error) = match leases {
        Ok(report) => (Some(report), None),
        Err(why) => (None, Some(why)),
    };
    let (members, replication_seen_by, replication_error) = match leader_view {
        Ok(view) => (with_leader_view(members, &view), Some(view.node_id), None),
        Err(why) => (members, None, Some(why)),
    };
    Json(Overview {
        node: NodeView {
            id: status.node_id,
            cluster_name: sync["cluster_name"].as_str().unwrap_or_default().to_string(),
            role: status.role,
            term: status.term,
            leader_id: status.leader_id,
            last_log_index: status.last_log_index,
            version: env!("CARGO_PKG_VERSION"),
            uptime_secs: d.started.elapsed().as_secs(),
            now_ms: wall_clock_ms(),
        },
        members,
        replication_seen_by,
        replication_error,
        viewer: principal.map(|Extension(p)| Viewer {
            name: p.name,
            role: p.role.as_str(),
        }),
        leases,
        leases_error,
        sync,
        workers: d.workers.reports(),
        registry,
    })
}

/// Every member with its health: this node's own, the others' asked over HTTP at once.
async fn members(d: &Dashboard, status: &ClusterStatus) -> Vec<MemberView> {
    let asked = status.members.iter().map(|m| async move {
        let http_url = m
            .http_addr
            .as_deref()
            .map(|a| format!("http://{}/", reachable(a, Some(&m.raft_addr))));
        let this_node = m.id == status.node_id;
        let (health, reason, revision) = if this_node {
            match d.node.health() {
                Ok(()) => ("UP".to_string(), None, Some(d.node.revision())),
                Err(why) => ("DOWN".to_string(), Some(why), Some(d.node.revision())),
            }
        } else {
            match d.peers.member_json::<Health>(m.id, "/health").await {
                Ok(h) => (h.status, h.reason, h.revision),
                Err(why) => ("UNREACHABLE".to_string(), Some(why), None),
            }
        };
        MemberView {
            id: m.id,
            role: m.role,
            raft_addr: m.raft_addr.clone(),
            http_url,
            this_node,
            health,
            reason,
            revision,
            reachable: None,
            last_answer_ms: None,
            lag: None,
        }
    });
    futures::future::join_all(asked).await
}

/// The leader's view of the members: this node's own status while it leads, else the leader's
/// `/admin/cluster`; why not when no leader is known or it does not answer.
async fn leader_view(d: &Dashboard, status: &ClusterStatus) -> Result<LeaderView, String> {
    let leader = status.leader_id.ok_or("no leader is known")?;
    if leader == status.node_id {
        return Ok(LeaderView {
            node_id: leader,
            members: status
                .members
                .iter()
                .map(|m| LeaderSees {
                    id: m.id,
                    reachable: m.reachable,
                    last_answer_ms: m.last_answer_ms,
                    lag: m.lag,
                })
                .collect(),
        });
    }
    let view: LeaderView = d
        .peers
        .member_json(leader, "/admin/cluster")
        .await
        .map_err(|why| format!("the leader (node {leader}) {why}"))?;
    if view.node_id != leader {
        return Err(format!("node {leader} no longer leads"));
    }
    Ok(view)
}

/// `members` with what `view` (the leader's) says of each.
fn with_leader_view(mut members: Vec<MemberView>, view: &LeaderView) -> Vec<MemberView> {
    for m in &mut members {
        if let Some(seen) = view.members.iter().find(|s| s.id == m.id) {
            m.reachable = seen.reachable;
            m.last_answer_ms = seen.last_answer_ms;
            m.lag = seen.lag;
        }
    }
    members
}

/// A `revision` event now and whenever this node applies changes (coalesced), until it stops.
async fn events(State(d): State<Dashboard>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let revisions = d.node.revisions();
    let mut stopping = d.node.stopping();
    let first = futures::stream::once(std::future::ready(d.node.revision()));
    let changes = futures::stream::unfold(revisions, |mut rx| async move {
        rx.changed().await.ok()?;
        tokio::time::sleep(EVENT_COALESCE).await;
        let revision = *rx.borrow_and_update();
        Some((revision, rx))
    });
    let stopped = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    let stream = first
        .chain(changes)
        .take_until(stopped)
        .map(|revision| Ok(Event::default().event("revision").data(revision.to_string())));
    Sse::new(stream).keep_alive(KeepAlive::default())
}
