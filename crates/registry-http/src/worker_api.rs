//! `GET /admin/workers`: the node's background workers (the lease keeper, the announcer, the
//! federation and its sync workers, the change-feed followers) with their state, last error and
//! last activity, as the supervisor the binary started them under reports them.

use axum::extract::State;
use axum::routing::get;
use axum::Json;
use axum::Router;
use registry_store::worker::WorkerReport;
use registry_store::worker::Workers;
use serde::Serialize;

/// What `GET /admin/workers` answers.
#[derive(Debug, Serialize)]
pub struct WorkersReport {
    /// In the order they started.
    pub workers: Vec<WorkerReport>,
}

/// `/admin/workers` (the auth policy's rule for `/admin` reads applies: role `read`).
pub fn routes(workers: Workers) -> Router {
    Router::new().route("/admin/workers", get(list)).with_state(workers)
}

async fn list(State(workers): State<Workers>) -> Json<WorkersReport> {
    Json(WorkersReport {
        workers: workers.reports(),
    })
}
