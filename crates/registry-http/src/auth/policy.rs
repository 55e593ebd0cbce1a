//! What a request needs: no credential (health, asking for a token), or a role and a tenant
//! scope, read from its method and path; and which protocol's error format answers a refusal.
//!
//! - Eureka (`/eureka/...`): reads need `read`, the rest `write`, on the Eureka tenant.
//! - ServiceCenter (`/v4/{project}/...`): reads (and batch find, a POST) need `read`, the rest
//!   `write` (the heartbeat WebSocket, a GET, too), on the tenant of `X-Domain-Name` and `{project}`; `/v4/{project}/admin/...` needs
//!   `admin` on every tenant.
//! - Everything else (`/admin/...`, `/metrics`, the dashboard, the federation stream) spans every
//!   tenant: reads (and following the federation stream) need `read`, the native API's writes
//!   `write`, other node operations and `/admin/backup` (every record) `admin`.

use axum::http::HeaderMap;
use axum::http::Method;
use registry_store::model::Tenant;

use super::users::Role;

/// The protocol whose error format answers a refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Eureka,
    ServiceCenter,
    /// The node's own endpoints, the dashboard, metrics.
    Node,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Eureka => "eureka",
            Protocol::ServiceCenter => "servicecenter",
            Protocol::Node => "node",
        }
    }
}

/// The protocol a path belongs to.
pub fn protocol_of(path: &str) -> Protocol {
    if path == "/eureka" || path.starts_with("/eureka/") {
        Protocol::Eureka
    } else if path.starts_with("/v4/") {
        Protocol::ServiceCenter
    } else {
        Protocol::Node
    }
}

/// Whether `method path` renews leases (a heartbeat): a write that changes no record, so the
/// audit trail leaves it out. Eureka `PUT /eureka[/v1|/v2]/apps/{app}/{id}`, ServiceCenter
/// `PUT .../instances/{id}/heartbeat` and `PUT .../registry/heartbeats`, the native
/// `PUT /admin/registry/heartbeats`.
pub fn is_renewal(method: &Method, path: &str) -> bool {
    if *method != Method::PUT {
        return false;
    }
    if let Some(rest) = path
        .strip_prefix("/eureka/v2/apps/")
        .or_else(|| path.strip_prefix("/eureka/v1/apps/"))
        .or_else(|| path.strip_prefix("/eureka/apps/"))
    {
        return rest.split('/').count() == 2;
    }
    path.ends_with("/heartbeat") || path.ends_with("/registry/heartbeats") || path == "/admin/registry/heartbeats"
}

/// The tenants a request touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenancy {
    One(Tenant),
    /// Every tenant: only a principal scoped to all of them may.
    All,
}

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub protocol: Protocol,
    /// `None`: no credential needed.
    pub role: Option<Role>,
    pub tenancy: Tenancy,
}

/// The federation's gRPC service, served on the HTTP port.
const FEDERATION_PREFIX: &str = "/registry.federation.v1.Federation/";

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// What `method path` (with `headers`) needs; Eureka apps live in `eureka_tenant`.
pub fn requirement(method: &Method, path: &str, headers: &HeaderMap, eureka_tenant: &Tenant) -> Requirement {
    let read_or = |write: Role| if is_read(method) { Role::Read } else { write };
    let protocol = protocol_of(path);
    if path == "/health" || (path == "/v4/token" && *method == Method::POST) {
        return Requirement {
            protocol,
            role: None,
            tenancy: Tenancy::All,
        };
    }
    if protocol == Protocol::Eureka {
        return Requirement {
            protocol,
            role: Some(read_or(Role::Write)),
            tenancy: Tenancy::One(eureka_tenant.clone()),
        };
    }
    if let Some(rest) = path.strip_prefix("/v4/") {
        let mut segments = rest.split('/');
        let project = segments.next().unwrap_or_default();
        let area = segments.next().unwrap_or_default();
        let (role, tenancy) = match area {
            "admin" => (Role::Admin, Tenancy::All),
            "registry" | "govern" => {
                let batch_find = path.ends_with("/registry/instances/action");
                // The heartbeat WebSocket (a GET upgrade) renews leases with every pong.
                let heartbeat = path.ends_with("/heartbeat");
                let role = if batch_find {
                    Role::Read
                } else if heartbeat {
                    Role::Write
                } else {
                    read_or(Role::Write)
                };
                // A tenant the handler will refuse as invalid needs a principal of every tenant.
                let tenancy = crate::servicecenter::core::tenant(headers, project).map_or(Tenancy::All, Tenancy::One);
                (role, tenancy)
            }
            _ => (read_or(Role::Admin), Tenancy::All),
        };
        return Requirement {
            protocol: Protocol::ServiceCenter,
            role: Some(role),
            tenancy,
        };
    }
    let role = if path == "/admin/backup" {
        Role::Admin
    } else if path.starts_with(FEDERATION_PREFIX) {
        // Another cluster following this one's changes (a gRPC POST that only reads).
        Role::Read
    } else if path.starts_with("/admin/registry/") {
        read_or(Role::Write)
    } else {
        read_or(Role::Admin)
    };
    Requirement {
        protocol: Protocol::Node,
        role: Some(role),
        tenancy: Tenancy::All,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(method: Method, path: &str, domain: Option<&str>) -> (Protocol, Option<Role>, Tenancy) {
        let mut headers = HeaderMap::new();
        if let Some(d) = domain {
            headers.insert("x-domain-name", d.parse().unwrap());
        }
        let r = requirement(&method, path, &headers, &Tenant::default_tenant());
        (r.protocol, r.role, r.tenancy)
    }

    #[test]
    fn heartbeats_are_told_from_other_writes() {
        for path in [
            "/eureka/apps/ORDERS/i-1",
            "/eureka/v2/apps/ORDERS/i-1",
            "/eureka/v1/apps/ORDERS/i-1",
            "/v4/default/registry/microservices/s/instances/i/heartbeat",
            "/v4/default/registry/heartbeats",
            "/admin/registry/heartbeats",
        ] {
            assert!(is_renewal(&Method::PUT, path), "{path}");
        }
        for (method, path) in [
            (Method::PUT, "/eureka/apps/ORDERS/i-1/status"),
            (Method::PUT, "/eureka/apps/ORDERS/i-1/metadata"),
            (Method::POST, "/eureka/apps/ORDERS"),
            (Method::DELETE, "/eureka/apps/ORDERS/i-1"),
            (Method::PUT, "/v4/default/registry/microservices/s/instances/i/status"),
        ] {
            assert!(!is_renewal(&method, path), "{method} {path}");
        }
    }

    #[test]
    fn each_route_needs_its_role_and_tenancy() {
        let default = Tenancy::One(Tenant::default_tenant());
        let shop = Tenancy::One(Tenant::new("shop", "prod"));
        use Protocol::*;
        use Role::*;
        assert_eq!(need(Method::GET, "/health", None), (Node, None, Tenancy::All));
        // The heartbeat WebSocket is a GET that renews leases.
        assert_eq!(
            need(
                Method::GET,
                "/v4/default/registry/microservices/s/instances/i/heartbeat",
                None
            ),
            (ServiceCenter, Some(Write), default.clone())
        );
        assert_eq!(
            need(Method::POST, "/v4/token", None),
            (ServiceCenter, None, Tenancy::All)
        );
        assert_eq!(
            need(Method::GET, "/eureka/apps", None),
            (Eureka, Some(Read), default.clone())
        );
        assert_eq!(
            need(Method::POST, "/eureka/apps/A", None),
            (Eureka, Some(Write), default.clone())
        );
        assert_eq!(need(Method::DELETE, "/eureka/v2/apps/A/i", None).1, Some(Write));
        assert_eq!(
            need(Method::GET, "/v4/prod/registry/instances", Some("Shop")),
            (ServiceCenter, Some(Read), shop.clone())
        );
        assert_eq!(
            need(Method::POST, "/v4/prod/registry/instances/action", Some("shop")).1,
            Some(Read)
        );
        assert_eq!(
            need(Method::PUT, "/v4/default/registry/heartbeats", None),
            (ServiceCenter, Some(Write), default)
        );
        assert_eq!(
            need(Method::GET, "/v4/default/admin/dump", None),
            (ServiceCenter, Some(Admin), Tenancy::All)
        );
        assert_eq!(
            need(Method::GET, "/admin/cluster", None),
            (Node, Some(Read), Tenancy::All)
        );
        assert_eq!(need(Method::GET, "/admin/backup", None).1, Some(Admin));
        assert_eq!(need(Method::POST, "/admin/members", None).1, Some(Admin));
        assert_eq!(need(Method::POST, "/admin/drain", None).1, Some(Admin));
        assert_eq!(need(Method::POST, "/admin/registry/instances", None).1, Some(Write));
        assert_eq!(need(Method::GET, "/", None), (Node, Some(Read), Tenancy::All));
        assert_eq!(need(Method::GET, "/metrics", None).1, Some(Read));
        assert_eq!(
            need(Method::POST, "/registry.federation.v1.Federation/Follow", None),
            (Node, Some(Read), Tenancy::All)
        );
    }
}
