//! Federation endpoints: `GET /admin/sync` (each peer's state, last success, lag, counts and
//! last error) and the gRPC `Follow` stream other clusters import from, on the HTTP port.
//!
//! Sync workers run on the leader only, so a follower answers `/admin/sync` with the leader's
//! report (`?local=true` shows its own, idle one).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Query;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::Json;
use axum::Router;
use registry_store::node::RegistryNode;
use registry_sync::Federation;
use serde::Deserialize;

#[derive(Clone)]
struct SyncState {
    node: RegistryNode,
    federation: Arc<Federation>,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct ReportQuery {
    #[serde(default)]
    local: bool,
}

/// The federation routes of one node.
pub fn routes(node: RegistryNode, federation: Arc<Federation>) -> Router {
    let follow = federation.follow_service().into_server();
    let state = SyncState {
        node,
        federation,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default(),
    };
    Router::new()
        .route("/admin/sync", get(report))
        .with_state(state)
        .route_service("/registry.federation.v1.Federation/{*method}", follow)
}

async fn report(State(s): State<SyncState>, Query(q): Query<ReportQuery>) -> Response {
    let local = s.federation.report();
    if q.local || local.leading {
        return Json(local).into_response();
    }
    let leader_url = s.node.leader().and_then(|id| {
        let applied = s.node.read();
        let addr = applied.state.node(id)?.http_addrs.first()?.clone();
        Some(format!("http://{addr}/admin/sync"))
    });
    let Some(url) = leader_url else {
        return Json(local).into_response();
    };
    let forwarded = async {
        let response = s.client.get(&url).send().await.ok()?;
        let status = StatusCode::from_u16(response.status().as_u16()).ok()?;
        let body = response.bytes().await.ok()?;
        Some((status, [("content-type", "application/json")], body).into_response())
    };
    match forwarded.await {
        Some(response) => response,
        // The leader is unreachable from here: say what this node knows.
        None => Json(local).into_response(),
    }
}
