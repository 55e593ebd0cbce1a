//! The Nacos naming Open API v1 and v2 over HTTP (port 8848 by default): instances (register,
//! deregister, update, detail, beat and list under `/nacos/vN/ns/instance`) and services
//! (create, delete, update, detail and list under `/nacos/vN/ns/service`). The contract, with
//! the Nacos source each part comes from, is `docs/nacos.md`.
//!
//! - [`wire`], [`mapping`]: Nacos's objects and their mapping to the model, shared with the
//!   adapters from `registry_store::protocol::nacos`.
//! - [`params`]: query and form parameters as Nacos reads them; [`error`]: its error answers.
//! - [`ops`]: the operations over the [`Registry`], shared by both versions; [`handlers`]: the
//!   v1 instance endpoints; [`services`]: the v1 service endpoints; [`v2`]: the v2 endpoints
//!   (the same operations in the v2 envelope); [`endpoint`]: a request parsed once (its route,
//!   version, role, operation, refusals).
//! - [`push_udp`]: UDP pushes to the v1 subscribers (`udpPort` on a list).
//!
//! Differences from the Nacos server: a beat for an instance this registry does not hold
//! answers `code 20404` even when it carries the instance (Nacos registers it from the beat):
//! a beat never writes the log, and the client registers again; a silent ephemeral instance
//! stays healthy until its lease runs out (the ip delete timeout, 30 s by default) instead of
//! turning unhealthy after 15 s; and reads are this node's (writes are linearizable and
//! read-your-writes on the node that took them).

pub mod endpoint;
pub mod error;
pub mod grpc;
pub mod handlers;
pub mod ops;
pub mod params;
pub mod push_udp;
pub mod services;
pub mod v2;

pub use registry_store::protocol::nacos::mapping;
pub use registry_store::protocol::nacos::wire;

use std::sync::Arc;

use axum::routing::get;
use axum::routing::post;
use axum::routing::put;
use axum::Router;
use registry_store::registry::Registry;

use self::mapping::NacosSettings;
use self::ops::Nacos;

/// The Nacos routes. Serves from any [`Registry`]: the node, or a fake in tests.
pub fn routes(registry: Arc<dyn Registry>, settings: NacosSettings) -> Router {
    let shared = Arc::new(Nacos::new(registry, settings));
    Router::new()
        .route(
            "/nacos/v1/ns/instance",
            post(handlers::register)
                .delete(handlers::deregister)
                .put(handlers::update)
                .get(handlers::detail),
        )
        .route("/nacos/v1/ns/instance/beat", put(handlers::beat))
        .route("/nacos/v1/ns/instance/list", get(handlers::list))
        .route(
            "/nacos/v1/ns/service",
            post(services::create)
                .delete(services::remove)
                .put(services::update)
                .get(services::detail),
        )
        .route("/nacos/v1/ns/service/list", get(services::list))
        .route(
            "/nacos/v2/ns/instance",
            post(v2::register)
                .delete(v2::deregister)
                .put(v2::update)
                .get(v2::detail),
        )
        .route("/nacos/v2/ns/instance/beat", put(v2::beat))
        .route("/nacos/v2/ns/instance/list", get(v2::list))
        .route(
            "/nacos/v2/ns/service",
            post(v2::create_service)
                .delete(v2::delete_service)
                .put(v2::update_service)
                .get(v2::service_detail),
        )
        .route("/nacos/v2/ns/service/list", get(v2::service_list))
        .with_state(shared)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    #[test]
    fn every_route_has_an_endpoint() {
        let routes = crate::endpoint::declared_routes(include_str!("mod.rs"), &[]);
        assert_eq!(routes.len(), 22, "{routes:?}");
        for (method, pattern) in routes {
            let r = super::endpoint::parse(&method, &pattern, &HeaderMap::new())
                .unwrap_or_else(|| panic!("{pattern} is not Nacos's"));
            assert_ne!(r.endpoint, super::endpoint::Endpoint::Unknown, "{method} {pattern}");
        }
    }
}
