//! Federation endpoints: `GET /admin/sync` (each peer's state, last success, lag, counts and
//! last error) and the gRPC `Follow` stream other clusters import from, on the HTTP port.
//!
//! Sync workers run on the leader only, so a follower answers `/admin/sync` with the leader's
//! report (`?local=true` shows its own, idle one).

use std::sync::Arc;

use axum::extract::Query;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::Json;
use axum::Router;
use registry_sync::Federation;
use serde::Deserialize;

use crate::member_http::MemberHttp;

#[derive(Clone)]
struct SyncState {
    federation: Arc<Federation>,
    members: MemberHttp,
}

#[derive(Deserialize)]
struct ReportQuery {
    #[serde(default)]
    local: bool,
}

/// The federation routes of one node.
pub fn routes(federation: Arc<Federation>, members: MemberHttp) -> Router {
    let follow = federation.follow_service().into_server();
    let state = SyncState { federation, members };
    Router::new()
        .route("/admin/sync", get(report))
        .with_state(state)
        .route_service("/registry.federation.v1.Federation/{*method}", follow)
}

async fn report(State(s): State<SyncState>, Query(q): Query<ReportQuery>) -> Response {
    if q.local {
        return Json(s.federation.report()).into_response();
    }
    Json(cluster_report(&s.federation, &s.members).await).into_response()
}

/// The report of the node running the sync workers: this node's while it leads, else the
/// leader's; this node's own (idle) one when the leader cannot be reached.
pub async fn cluster_report(federation: &Federation, members: &MemberHttp) -> serde_json::Value {
    let local = federation.report();
    if !local.leading {
        if let Some(report) = members.leader_json::<serde_json::Value>("/admin/sync?local=true").await {
            return report;
        }
    }
    serde_json::to_value(local).unwrap_or_default()
}
