//! A request to the node's own routes, parsed once: `/health`, `/metrics`, the dashboard, the
//! node operations under `/admin/...`, the native registry API (`/admin/registry/...`) and the
//! federation's gRPC stream. They span every tenant: reads (and following the federation
//! stream) need `read`, the native API's writes `write`, other node operations and
//! `/admin/backup` (every record) `admin`; `/health` needs nothing. Refusals are the node's
//! `{"error","retryable"}`. Its parser claims every path (the last one tried).

use std::any::Any;

use axum::http::HeaderMap;
use axum::http::Method;
use axum::response::Response;

use crate::auth::policy::read_or;
use crate::auth::policy::Requirement;
use crate::auth::policy::Tenancy;
use crate::auth::users::Role;
use crate::endpoint::RequestEndpoint;
use crate::endpoint::Segments;
use crate::refusal::Refusal;

/// The federation's gRPC service, served on the HTTP port.
const FEDERATION_PREFIX: &str = "/registry.federation.v1.Federation/";

/// The node's endpoints, by what they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /health`: no credential.
    Health,
    /// `GET /metrics`
    Metrics,
    /// `/`, `/dashboard/...`, `/admin/dashboard...`
    Dashboard,
    /// The federation's `Follow` stream (a gRPC POST that only reads).
    Follow,
    /// `GET /admin/backup`: every record, so `admin`.
    Backup,
    /// `POST /admin/registry/instances`
    NativeRegister,
    /// `PUT /admin/registry/heartbeats`
    NativeRenew,
    /// `DELETE /admin/registry/instances/{service}/{id}`
    NativeCancel,
    /// `PUT /admin/registry/instances/{service}/{id}/status`
    NativeStatus,
    /// `PUT /admin/registry/instances/{service}/{id}/metadata`
    NativeMetadata,
    /// Any other `/admin/registry/...` request (reads need `read`, the rest `write`).
    Native,
    /// Any other request: the node operations (reads need `read`, the rest `admin`).
    Admin,
}

impl Endpoint {
    /// The operation label (`registry_operations_total{protocol="node"}`).
    pub fn operation(self) -> &'static str {
        match self {
            Endpoint::Health => "health",
            Endpoint::Metrics => "metrics",
            Endpoint::Dashboard => "dashboard",
            Endpoint::Follow => "follow",
            Endpoint::Backup => "backup",
            Endpoint::NativeRegister => "register",
            Endpoint::NativeRenew => "renew",
            Endpoint::NativeCancel => "cancel",
            Endpoint::NativeStatus => "status",
            Endpoint::NativeMetadata => "metadata",
            Endpoint::Native => "native",
            Endpoint::Admin => "admin",
        }
    }
}

/// A request to the node's own routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRequest {
    pub endpoint: Endpoint,
    /// `None`: no credential needed.
    pub role: Option<Role>,
}

/// The node request `method path` is: every path is one.
pub fn parse(method: &Method, path: &str, _headers: &HeaderMap) -> NodeRequest {
    let (endpoint, role) = if path == "/health" {
        (Endpoint::Health, None)
    } else if path == "/admin/backup" {
        (Endpoint::Backup, Some(Role::Admin))
    } else if path.starts_with(FEDERATION_PREFIX) {
        (Endpoint::Follow, Some(Role::Read))
    } else if let Some(native) = path.strip_prefix("/admin/registry/") {
        let segments = Segments::of(native);
        let endpoint = match (method.clone(), segments.all().unwrap_or_default()) {
            (Method::POST, ["instances"]) => Endpoint::NativeRegister,
            (Method::PUT, ["heartbeats"]) => Endpoint::NativeRenew,
            (Method::DELETE, ["instances", _, _]) => Endpoint::NativeCancel,
            (Method::PUT, ["instances", _, _, "status"]) => Endpoint::NativeStatus,
            (Method::PUT, ["instances", _, _, "metadata"]) => Endpoint::NativeMetadata,
            _ => Endpoint::Native,
        };
        (endpoint, Some(read_or(method, Role::Write)))
    } else {
        let endpoint = if path == "/metrics" {
            Endpoint::Metrics
        } else if path == "/" || path.starts_with("/dashboard/") || path.starts_with("/admin/dashboard") {
            Endpoint::Dashboard
        } else {
            Endpoint::Admin
        };
        (endpoint, Some(read_or(method, Role::Admin)))
    };
    NodeRequest { endpoint, role }
}

/// [`parse`] as the router's last parser.
pub fn parser() -> crate::endpoint::Parser {
    Box::new(|method, path, headers| Some(RequestEndpoint::new(parse(method, path, headers))))
}

impl crate::endpoint::Endpoint for NodeRequest {
    fn protocol(&self) -> &'static str {
        "node"
    }

    fn requirement(&self) -> Option<Requirement> {
        self.role.map(|role| Requirement::new(role, Tenancy::All))
    }

    fn is_renewal(&self) -> bool {
        self.endpoint == Endpoint::NativeRenew
    }

    fn operation(&self) -> &'static str {
        self.endpoint.operation()
    }

    /// Probes and load balancers must learn how the node is, whatever the traffic from their
    /// address.
    fn rate_limited(&self) -> bool {
        self.endpoint != Endpoint::Health
    }

    fn refuse(&self, refusal: &Refusal) -> Response {
        crate::refusal::node_refusal(refusal)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Endpoint as _;
    use Endpoint::*;

    /// Every route the node's own routers serve (`node_api`, `registry_api`, `lease_api`,
    /// `dashboard`, `sync_api`, `metrics`, `worker_api`), with the endpoint, role and renewal it is.
    #[test]
    fn every_route_is_its_endpoint() {
        use Role::Admin as A;
        use Role::Read as R;
        use Role::Write as W;
        let table: [(Method, &str, Endpoint, Option<Role>, bool); 29] = [
            (Method::GET, "/health", Health, None, false),
            (Method::GET, "/admin/cluster", Admin, Some(R), false),
            (Method::POST, "/admin/members", Admin, Some(A), false),
            (Method::DELETE, "/admin/members/2", Admin, Some(A), false),
            (Method::POST, "/admin/members/2/promote", Admin, Some(A), false),
            (Method::POST, "/admin/drain", Admin, Some(A), false),
            (Method::DELETE, "/admin/drain", Admin, Some(A), false),
            (Method::POST, "/admin/snapshot", Admin, Some(A), false),
            (Method::GET, "/admin/backup", Backup, Some(A), false),
            (Method::POST, "/admin/restore", Admin, Some(A), false),
            (
                Method::POST,
                "/admin/registry/instances",
                NativeRegister,
                Some(W),
                false,
            ),
            (Method::GET, "/admin/registry/instances", Native, Some(R), false),
            (
                Method::DELETE,
                "/admin/registry/instances/s/i",
                NativeCancel,
                Some(W),
                false,
            ),
            (
                Method::PUT,
                "/admin/registry/instances/s/i/status",
                NativeStatus,
                Some(W),
                false,
            ),
            (
                Method::PUT,
                "/admin/registry/instances/s/i/metadata",
                NativeMetadata,
                Some(W),
                false,
            ),
            (Method::PUT, "/admin/registry/heartbeats", NativeRenew, Some(W), true),
            (Method::GET, "/admin/registry/digest", Native, Some(R), false),
            (Method::GET, "/admin/leases", Admin, Some(R), false),
            (Method::GET, "/", Dashboard, Some(R), false),
            (Method::GET, "/dashboard/app.js", Dashboard, Some(R), false),
            (Method::GET, "/dashboard/app.css", Dashboard, Some(R), false),
            (Method::GET, "/admin/dashboard", Dashboard, Some(R), false),
            (Method::GET, "/admin/dashboard/events", Dashboard, Some(R), false),
            (Method::GET, "/admin/sync", Admin, Some(R), false),
            (Method::GET, "/admin/workers", Admin, Some(R), false),
            (
                Method::POST,
                "/registry.federation.v1.Federation/Follow",
                Follow,
                Some(R),
                false,
            ),
            (Method::GET, "/metrics", Metrics, Some(R), false),
            (Method::GET, "/nowhere", Admin, Some(R), false),
            (Method::POST, "/nowhere", Admin, Some(A), false),
        ];
        for (method, path, endpoint, role, renewal) in table {
            let r = parse(&method, path, &HeaderMap::new());
            assert_eq!(r.endpoint, endpoint, "{method} {path}");
            assert_eq!(
                r.requirement(),
                role.map(|role| Requirement::new(role, Tenancy::All)),
                "{method} {path}"
            );
            assert_eq!(r.is_renewal(), renewal, "{method} {path}");
            assert_eq!(r.protocol(), "node");
            assert_eq!(r.rate_limited(), endpoint != Health, "{method} {path}");
        }
    }

    /// Every route the node's routers declare (read from their sources) is served with a role
    /// on every tenant, or (`/health` alone) without a credential.
    #[test]
    fn every_declared_route_is_a_node_endpoint() {
        let sources = [
            include_str!("node_api.rs"),
            include_str!("registry_api.rs"),
            include_str!("lease_api.rs"),
            include_str!("dashboard/mod.rs"),
            include_str!("sync_api.rs"),
            include_str!("metrics.rs"),
            include_str!("worker_api.rs"),
        ];
        let routes: Vec<_> = sources
            .iter()
            .flat_map(|s| crate::endpoint::declared_routes(s, &[]))
            .collect();
        assert!(routes.len() >= 22, "{routes:?}");
        for (method, pattern) in routes {
            let r = parse(&method, &crate::endpoint::sample_path(&pattern), &HeaderMap::new());
            match r.requirement() {
                None => assert_eq!(pattern, "/health"),
                Some(need) => assert_eq!(need.tenancy, Tenancy::All, "{method} {pattern}"),
            }
        }
    }
}
