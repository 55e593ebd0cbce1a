//! The dashboard at `/`: one page served from the binary (HTML, script and style embedded, no
//! external resources) that shows the cluster, the leases and self-preservation state, the
//! federation's peers, the registry (tenants → services → instances, searchable and filtered)
//! and the recent registrations and cancellations, updating live.
//!
//! - `GET /admin/dashboard`: everything the page shows, as JSON, narrowed by [`Filter`].
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
use registry_sync::Federation;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

use self::overview::Filter;
use self::overview::Records;
use self::overview::RegistryView;
use self::recent::RecentActivity;
use crate::lease_api::LeaseReport;
use crate::peer_http::reachable;
use crate::peer_http::PeerHttp;

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
    peers: PeerHttp,
    recent: Arc<RecentActivity>,
    started: Instant,
}

/// The dashboard's routes; `recent` is fed by its follower, which the caller starts.
pub fn routes(node: RegistryNode, federation: Arc<Federation>, peers: PeerHttp, recent: Arc<RecentActivity>) -> Router {
    let state = Dashboard {
        peers,
        recent,
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
    /// The leader's leases, or why they could not be read.
    leases: Option<LeaseReport>,
    leases_error: Option<String>,
    /// The federation report of the node running the sync workers (the leader).
    sync: Value,
    #[serde(flatten)]
    registry: RegistryView,
}

async fn overview(State(d): State<Dashboard>, Query(filter): Query<Filter>) -> Json<Overview> {
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
    let (members, leases, sync) = tokio::join!(
        members(&d, &status),
        LeaseReport::from_cluster(&d.node, &d.peers),
        crate::sync_api::cluster_report(&d.federation, &d.peers),
    );
    let (leases, leases_error) = match leases {
        Ok(report) => (Some(report), None),
        Err(why) => (None, Some(why)),
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
        leases,
        leases_error,
        sync,
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
        }
    });
    futures::future::join_all(asked).await
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
