//! The Eureka REST API (v1 wire format), served under `/eureka`, `/eureka/v1` and `/eureka/v2`
//! (Netflix mounts every resource at `/{version}/…`).
//!
//! - [`wire`], [`json`], [`xml`], [`hashcode`], [`mapping`]: the wire format and its mapping to
//!   the model, shared with the adapters from `registry_store::protocol::eureka`.
//! - [`format`]: content negotiation; [`error`]: Eureka's status codes and texts.
//! - [`view`]: the registry as Eureka apps; [`cache`]: payloads kept per revision;
//!   [`full_fetch`]: `/apps`, built per revision (and gzip'd) off the runtime threads from
//!   [`pieces`] encoded once and kept while they are unchanged, and kept current by the
//!   [`keeper`] when builds are expensive.
//! - [`delta`]: `/apps/delta` from the store's change feed (three-minute window).
//! - [`peer`]: the peer replication batch Netflix servers send; [`server_status`]: `/status`.
//! - [`ops`]: the write operations with Eureka's rules; [`handlers`]: the endpoints;
//!   [`endpoint`]: a request parsed once (its route, role, tenant, operation, refusals);
//!   [`lean`]: heartbeats and one-app reads answered before the router's layers.
//!
//! Differences from the Netflix server, all compatible on the wire: reads are fresh (no 30 s
//! response cache), but for the full registry of a large registry, which may show the registry
//! of up to 30 s ago while the current one is built ([`keeper`]); a lease expires at its duration, not twice it; evictions are decided by the
//! leader and replicated through the log, so every node agrees; a client's own re-registration
//! with `OUT_OF_SERVICE` is believed (Netflix keeps an existing UP, #1398) while an operator
//! override still wins; and `GET /apps/delta?waitRevision=R[&waitSeconds=S]` long-polls until the
//! registry passes revision R (the `X-Registry-Revision` header of every read says where it is).

pub mod cache;
pub mod delta;
pub mod endpoint;
pub mod error;
pub mod format;
pub mod full_fetch;
pub mod handlers;
pub mod keeper;
pub mod lean;
pub mod off_runtime_body;
pub mod ops;
pub mod peer;
pub mod pieces;
pub mod server_status;
pub mod view;

pub use registry_store::protocol::eureka::hashcode;
pub use registry_store::protocol::eureka::json;
pub use registry_store::protocol::eureka::mapping;
pub use registry_store::protocol::eureka::wire;
pub use registry_store::protocol::eureka::xml;
pub use registry_store::protocol::eureka::DecodeError;

use std::sync::Arc;

use axum::routing::get;
use axum::routing::post;
use axum::routing::put;
use axum::Router;
use registry_store::registry::Registry;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;

use self::mapping::EurekaSettings;
use self::ops::Eureka;

/// The Eureka routes under `/eureka`, `/eureka/v1` and `/eureka/v2`, with gzip both ways.
/// `/apps/delta` answers from `delta`, fed by its follower (which the caller starts). Serves
/// from any [`Registry`]: the node, or a fake in tests.
pub fn routes(registry: Arc<dyn Registry>, settings: EurekaSettings, delta: Arc<delta::DeltaWindow>) -> Router {
    routes_of(shared(registry, settings, delta))
}

/// What the Eureka endpoints share, for [`routes_of`] and the lean path ([`lean`]).
pub fn shared(registry: Arc<dyn Registry>, settings: EurekaSettings, delta: Arc<delta::DeltaWindow>) -> Arc<Eureka> {
    Arc::new(Eureka {
        delta,
        registry,
        settings,
        cache: cache::EurekaPayloads::default(),
        full_fetch: full_fetch::FullFetch::default(),
        started: std::time::Instant::now(),
    })
}

/// [`routes`] on an existing [`shared`].
pub fn routes_of(shared: Arc<Eureka>) -> Router {
    let api = Router::new()
        .route("/apps", get(handlers::all_apps))
        .route("/apps/delta", get(handlers::delta))
        .route("/apps/{app}", get(handlers::get_app).post(handlers::register))
        .route(
            "/apps/{app}/{id}",
            get(handlers::get_instance)
                .put(handlers::renew)
                .delete(handlers::cancel),
        )
        .route(
            "/apps/{app}/{id}/status",
            put(handlers::set_status).delete(handlers::clear_status),
        )
        .route("/apps/{app}/{id}/metadata", put(handlers::update_metadata))
        .route("/instances/{id}", get(handlers::instance_by_id))
        .route("/vips/{vip}", get(handlers::vip))
        .route("/svips/{vip}", get(handlers::svip))
        .route("/status", get(server_status::status))
        .route("/asg/{asg}/status", put(server_status::asg_status))
        .route("/peerreplication/batch", post(peer::batch))
        .with_state(shared.clone());
    Router::new()
        .nest("/eureka", api.clone())
        .nest("/eureka/v1", api.clone())
        .nest("/eureka/v2", api)
        .route(
            "/eureka/serverinfo/statusoverrides",
            get(handlers::status_overrides).with_state(shared),
        )
        .layer(CompressionLayer::new().gzip(true))
        .layer(RequestDecompressionLayer::new().gzip(true))
}
