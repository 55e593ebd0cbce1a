//! The Nacos naming Open API v1 over HTTP (port 8848 by default), for instances: register,
//! deregister, update, detail, beat and list under `/nacos/v1/ns/instance`. The contract, with the
//! Nacos source each part comes from, is `docs/nacos.md`.
//!
//! - [`wire`], [`mapping`]: Nacos's objects and their mapping to the model, shared with the
//!   adapters from `registry_store::protocol::nacos`.
//! - [`params`]: query and form parameters as Nacos reads them; [`error`]: its error answers.
//! - [`ops`]: the operations over the [`Registry`]; [`handlers`]: the endpoints;
//!   [`endpoint`]: a request parsed once (its route, role, operation, refusals).
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
        .with_state(shared)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    #[test]
    fn every_route_has_an_endpoint() {
        let routes = crate::endpoint::declared_routes(include_str!("mod.rs"), &[]);
        assert_eq!(routes.len(), 6, "{routes:?}");
        for (method, pattern) in routes {
            let r = super::endpoint::parse(&method, &pattern, &HeaderMap::new())
                .unwrap_or_else(|| panic!("{pattern} is not Nacos's"));
            assert_ne!(r.endpoint, super::endpoint::Endpoint::Unknown, "{method} {pattern}");
        }
    }
}
