//! Node endpoints: health, cluster view, membership and snapshots.

use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::delete;
use axum::routing::get;
use axum::routing::post;
use axum::Json;
use axum::Router;
use registry_store::node::ClusterStatus;
use registry_store::node::RegistryNode;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::error::JsonBody;

pub fn routes() -> Router<RegistryNode> {
    Router::new()
        .route("/health", get(health))
        .route("/admin/cluster", get(cluster))
        .route("/admin/members", post(add_member))
        .route("/admin/members/{id}", delete(remove_member))
        .route("/admin/snapshot", post(snapshot))
}

/// 200 once the node knows a leader and has applied what it has; 503 with the reason otherwise.
async fn health(State(node): State<RegistryNode>) -> impl IntoResponse {
    match node.health() {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "UP", "revision": node.revision() })),
        ),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "DOWN", "reason": reason })),
        ),
    }
}

async fn cluster(State(node): State<RegistryNode>) -> Json<ClusterStatus> {
    Json(node.status())
}

#[derive(Deserialize)]
struct AddMember {
    id: u64,
    raft_addr: String,
}

/// Adds a node as learner, waits until it caught up, then promotes it to voter.
async fn add_member(
    State(node): State<RegistryNode>,
    JsonBody(body): JsonBody<AddMember>,
) -> Result<Json<ClusterStatus>, ApiError> {
    node.add_member(body.id, body.raft_addr.clone()).await?;
    Ok(Json(node.status()))
}

async fn remove_member(State(node): State<RegistryNode>, Path(id): Path<u64>) -> Result<Json<ClusterStatus>, ApiError> {
    node.remove_member(id).await?;
    Ok(Json(node.status()))
}

/// Builds a snapshot on this node and purges its log up to it.
async fn snapshot(State(node): State<RegistryNode>) -> Result<Json<serde_json::Value>, ApiError> {
    let revision = node.snapshot_and_purge().await?;
    Ok(Json(json!({ "snapshot_revision": revision })))
}
