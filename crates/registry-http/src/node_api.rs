//! Node endpoints: health, cluster view, membership (add, promote, remove), draining this node
//! before maintenance, snapshots, and backup and restore.

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::Path;
use axum::extract::State;
use axum::http::header;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::delete;
use axum::routing::get;
use axum::routing::post;
use axum::Json;
use axum::Router;
use registry_store::backup::Backup;
use registry_store::command::CommandOutcome;
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
        .route("/admin/members/{id}/promote", post(promote_member))
        .route("/admin/drain", post(drain).delete(undrain))
        .route("/admin/snapshot", post(snapshot))
        .route("/admin/backup", get(backup))
        .route(
            "/admin/restore",
            post(restore).layer(DefaultBodyLimit::max(MAX_BACKUP_BYTES)),
        )
}

/// The largest backup `POST /admin/restore` takes (a million instances fit).
const MAX_BACKUP_BYTES: usize = 1024 * 1024 * 1024;

/// 200 once the node knows a leader and has applied what it has (and whether it is drained);
/// 503 with the reason otherwise: `REMOVED` once the cluster removed this node, `DOWN` else.
async fn health(State(node): State<RegistryNode>) -> impl IntoResponse {
    if let Some(reason) = node.removal() {
        let reason = format!("this node was removed from the cluster ({reason}); stop it");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "REMOVED", "reason": reason })),
        );
    }
    match node.health() {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "UP", "revision": node.revision(), "drained": node.is_drained() })),
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
    /// Keep it a learner (replicated to, not voting) until promoted.
    #[serde(default)]
    learner: bool,
}

/// Adds a node as learner, waits until it caught up, then promotes it to voter (unless it is
/// to stay a learner).
async fn add_member(
    State(node): State<RegistryNode>,
    JsonBody(body): JsonBody<AddMember>,
) -> Result<Json<ClusterStatus>, ApiError> {
    node.add_member(body.id, body.raft_addr.clone(), body.learner).await?;
    Ok(Json(node.status()))
}

/// Makes a learner a voter once it has caught up.
async fn promote_member(
    State(node): State<RegistryNode>,
    Path(id): Path<u64>,
) -> Result<Json<ClusterStatus>, ApiError> {
    node.promote_member(id).await?;
    Ok(Json(node.status()))
}

/// Takes this node out of elections and moves leadership away from it (before maintenance).
async fn drain(State(node): State<RegistryNode>) -> Result<Json<serde_json::Value>, ApiError> {
    let leader = node.drain().await?;
    Ok(Json(
        json!({ "node_id": node.node_id(), "drained": true, "leader_id": leader }),
    ))
}

/// Puts this node back in the running for leadership.
async fn undrain(State(node): State<RegistryNode>) -> Json<serde_json::Value> {
    node.undrain();
    Json(json!({ "node_id": node.node_id(), "drained": false, "leader_id": node.leader() }))
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

/// Every record at one revision, linearizable from any node, as one binary file.
async fn backup(State(node): State<RegistryNode>) -> Result<Response, ApiError> {
    let backup = node.backup().await?;
    let revision = backup.revision;
    let bytes = backup.encode().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"registry-{revision}.backup\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Puts a backup's records into this cluster, which must hold no services or instances yet.
async fn restore(State(node): State<RegistryNode>, body: Bytes) -> Result<Json<serde_json::Value>, ApiError> {
    let backup = Backup::decode(&body).map_err(|e| ApiError::BadRequest(format!("not a registry backup: {e}")))?;
    let (from_revision, records) = (backup.revision, backup.records.len());
    let commands = backup.restore_commands();
    // Every record checked before anything is written: a bad one refuses the whole backup.
    Backup::check(&commands).map_err(|r| ApiError::BadRequest(format!("the backup holds a bad record: {r}")))?;
    let mut revision = 0;
    for (n, command) in commands.into_iter().enumerate() {
        let written = node.write(command).await?;
        match written.outcome {
            // The first part applies only to an empty registry (another restore may have won).
            CommandOutcome::Rejected(r) if n == 0 => return Err(r.into()),
            CommandOutcome::Rejected(r) => {
                return Err(ApiError::Conflict(format!(
                    "restore stopped after {n} parts: {r} (a record written meanwhile conflicts)"
                )))
            }
            _ => revision = written.revision,
        }
    }
    Ok(Json(json!({
        "records": records,
        "backup_revision": from_revision,
        "revision": revision,
    })))
}
