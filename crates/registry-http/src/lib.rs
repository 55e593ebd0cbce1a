//! The registry's HTTP front and the `registryd` binary.
//!
//! - [`node_api`]: node endpoints every listener serves: `/health`, `/admin/cluster`,
//!   `/admin/members`, `/admin/snapshot`.
//! - [`registry_api`]: the native JSON API on the unified model (`/admin/registry/...`), for
//!   operators, tools and tests; the Eureka and ServiceCenter APIs come next, on the same store.
//! - [`error`]: one error type mapped to HTTP in one place.
//! - [`config`]: flags, environment and TOML file merged into validated settings (binary only).

pub mod config;
pub mod error;
pub mod eureka;
pub mod node_api;
pub mod registry_api;

use std::future::Future;

use axum::Router;
use registry_store::node::RegistryNode;
use tokio::net::TcpListener;

/// Every route a node serves, on every HTTP listener.
pub fn router(node: RegistryNode) -> Router {
    Router::new()
        .merge(node_api::routes())
        .merge(registry_api::routes())
        .with_state(node)
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}
