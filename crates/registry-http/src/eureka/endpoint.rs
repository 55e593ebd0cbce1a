//! A request to the Eureka API, parsed once: which endpoint of [`super::routes`] it is (under
//! `/eureka`, `/eureka/v1` or `/eureka/v2`), what it needs (reads `read`, the rest `write`, on
//! the Eureka tenant), whether it renews a lease, its operation label, and refusals in Eureka's
//! format (the status and a plain-text reason).

use std::any::Any;

use axum::http::HeaderMap;
use axum::http::Method;
use axum::response::Response;
use registry_store::model::Tenant;

use crate::auth::policy::read_or;
use crate::auth::policy::Requirement;
use crate::auth::policy::Tenancy;
use crate::auth::users::Role;
use crate::endpoint::RequestEndpoint;
use crate::endpoint::Segments;
use crate::refusal::Refusal;

/// The Eureka endpoints, one per route and method of [`super::routes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /apps`
    AllApps,
    /// `GET /apps/delta`
    Delta,
    /// `GET /apps/{app}`
    GetApp,
    /// `POST /apps/{app}`
    Register,
    /// `GET /apps/{app}/{id}`
    GetInstance,
    /// `PUT /apps/{app}/{id}`: the heartbeat.
    Renew,
    /// `DELETE /apps/{app}/{id}`
    Cancel,
    /// `PUT /apps/{app}/{id}/status`
    SetStatus,
    /// `DELETE /apps/{app}/{id}/status`
    ClearStatus,
    /// `PUT /apps/{app}/{id}/metadata`
    UpdateMetadata,
    /// `GET /instances/{id}`
    InstanceById,
    /// `GET /vips/{vip}`
    Vip,
    /// `GET /svips/{vip}`
    Svip,
    /// `GET /status`
    ServerStatus,
    /// `PUT /asg/{asg}/status`
    AsgStatus,
    /// `POST /peerreplication/batch`
    PeerReplication,
    /// `GET /eureka/serverinfo/statusoverrides` (unversioned only)
    StatusOverrides,
    /// Under `/eureka` but no route (404) or not this method (405).
    Unknown,
}

impl Endpoint {
    /// The operation label (`registry_operations_total{protocol="eureka"}`).
    pub fn operation(self) -> &'static str {
        match self {
            Endpoint::AllApps => "fetch",
            Endpoint::Delta => "fetch_delta",
            Endpoint::GetApp => "get_app",
            Endpoint::Register => "register",
            Endpoint::GetInstance | Endpoint::InstanceById => "get_instance",
            Endpoint::Renew => "renew",
            Endpoint::Cancel => "cancel",
            Endpoint::SetStatus => "status",
            Endpoint::ClearStatus => "clear_status",
            Endpoint::UpdateMetadata => "metadata",
            Endpoint::Vip | Endpoint::Svip => "vip",
            Endpoint::ServerStatus => "server_status",
            Endpoint::AsgStatus => "asg_status",
            Endpoint::PeerReplication => "replicate",
            Endpoint::StatusOverrides => "status_overrides",
            Endpoint::Unknown => "other",
        }
    }

    /// `method` on `path` below `/eureka` (with no version prefix), or below `/eureka/v1` and
    /// `/eureka/v2` (`versioned`: no `serverinfo` there).
    fn route(method: &Method, rest: &str, versioned: bool) -> Self {
        let get = *method == Method::GET || *method == Method::HEAD;
        let put = *method == Method::PUT;
        let post = *method == Method::POST;
        let delete = *method == Method::DELETE;
        let segments = Segments::of(rest);
        let Some(segments) = segments.all().filter(|all| all.iter().all(|s| !s.is_empty())) else {
            return Endpoint::Unknown;
        };
        match segments {
            ["apps"] if get => Endpoint::AllApps,
            ["apps", "delta"] if get => Endpoint::Delta,
            ["apps", "delta"] => Endpoint::Unknown,
            ["apps", _] if get => Endpoint::GetApp,
            ["apps", _] if post => Endpoint::Register,
            ["apps", _, _] if get => Endpoint::GetInstance,
            ["apps", _, _] if put => Endpoint::Renew,
            ["apps", _, _] if delete => Endpoint::Cancel,
            ["apps", _, _, "status"] if put => Endpoint::SetStatus,
            ["apps", _, _, "status"] if delete => Endpoint::ClearStatus,
            ["apps", _, _, "metadata"] if put => Endpoint::UpdateMetadata,
            ["instances", _] if get => Endpoint::InstanceById,
            ["vips", _] if get => Endpoint::Vip,
            ["svips", _] if get => Endpoint::Svip,
            ["status"] if get => Endpoint::ServerStatus,
            ["asg", _, "status"] if put => Endpoint::AsgStatus,
            ["peerreplication", "batch"] if post => Endpoint::PeerReplication,
            ["serverinfo", "statusoverrides"] if get && !versioned => Endpoint::StatusOverrides,
            _ => Endpoint::Unknown,
        }
    }
}

/// A request to the Eureka API: its endpoint, the role it needs and the tenant Eureka apps
/// live in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EurekaRequest {
    pub endpoint: Endpoint,
    pub role: Role,
    pub tenant: Tenant,
}

/// The Eureka request `method path` is, if `path` is under `/eureka`; Eureka apps live in
/// `tenant`.
pub fn parse(method: &Method, path: &str, _headers: &HeaderMap, tenant: &Tenant) -> Option<EurekaRequest> {
    let rest = path.strip_prefix("/eureka")?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let versioned = rest
        .strip_prefix("v1")
        .or_else(|| rest.strip_prefix("v2"))
        .and_then(|r| if r.is_empty() { Some("") } else { r.strip_prefix('/') });
    let endpoint = match versioned {
        Some(rest) => Endpoint::route(method, rest, true),
        None => Endpoint::route(method, rest, false),
    };
    Some(EurekaRequest {
        endpoint,
        role: read_or(method, Role::Write),
        tenant: tenant.clone(),
    })
}

/// [`parse`] as one of the router's parsers.
pub fn parser(tenant: Tenant) -> crate::endpoint::Parser {
    Box::new(move |method, path, headers| parse(method, path, headers, &tenant).map(RequestEndpoint::new))
}

impl crate::endpoint::Endpoint for EurekaRequest {
    fn protocol(&self) -> &'static str {
        "eureka"
    }

    fn requirement(&self) -> Option<Requirement> {
        Some(Requirement::new(self.role, Tenancy::One(self.tenant.clone())))
    }

    fn is_renewal(&self) -> bool {
        self.endpoint == Endpoint::Renew
    }

    fn operation(&self) -> &'static str {
        self.endpoint.operation()
    }

    /// Eureka's answer: the status and the reason as plain text.
    fn refuse(&self, refusal: &Refusal) -> Response {
        refusal.as_text("text/plain; charset=utf-8")
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use super::*;
    use crate::endpoint::Endpoint as _;
    use Endpoint::*;

    fn parsed(method: Method, path: &str) -> Option<EurekaRequest> {
        parse(&method, path, &HeaderMap::new(), &Tenant::default_tenant())
    }

    /// Every route and method of [`super::super::routes`], under each prefix, with the endpoint,
    /// role and renewal it is.
    #[test]
    fn every_route_is_its_endpoint() {
        let table: [(Method, &str, Endpoint, Role, bool); 18] = [
            (Method::GET, "/apps", AllApps, Role::Read, false),
            (Method::GET, "/apps/delta", Delta, Role::Read, false),
            (Method::GET, "/apps/ORDERS", GetApp, Role::Read, false),
            (Method::POST, "/apps/ORDERS", Register, Role::Write, false),
            (Method::GET, "/apps/ORDERS/i-1", GetInstance, Role::Read, false),
            (Method::PUT, "/apps/ORDERS/i-1", Renew, Role::Write, true),
            (Method::DELETE, "/apps/ORDERS/i-1", Cancel, Role::Write, false),
            (Method::PUT, "/apps/ORDERS/i-1/status", SetStatus, Role::Write, false),
            (
                Method::DELETE,
                "/apps/ORDERS/i-1/status",
                ClearStatus,
                Role::Write,
                false,
            ),
            (
                Method::PUT,
                "/apps/ORDERS/i-1/metadata",
                UpdateMetadata,
                Role::Write,
                false,
            ),
            (Method::GET, "/instances/i-1", InstanceById, Role::Read, false),
            (Method::GET, "/vips/orders", Vip, Role::Read, false),
            (Method::GET, "/svips/orders", Svip, Role::Read, false),
            (Method::GET, "/status", ServerStatus, Role::Read, false),
            (Method::PUT, "/asg/web/status", AsgStatus, Role::Write, false),
            (
                Method::POST,
                "/peerreplication/batch",
                PeerReplication,
                Role::Write,
                false,
            ),
            (Method::HEAD, "/apps", AllApps, Role::Read, false),
            (Method::PATCH, "/apps/ORDERS", Unknown, Role::Write, false),
        ];
        for prefix in ["/eureka", "/eureka/v1", "/eureka/v2"] {
            for (method, path, endpoint, role, renewal) in &table {
                let path = format!("{prefix}{path}");
                let r = parsed(method.clone(), &path).unwrap_or_else(|| panic!("{path} is Eureka's"));
                assert_eq!(r.endpoint, *endpoint, "{method} {path}");
                assert_eq!(
                    r.requirement(),
                    Some(Requirement::new(*role, Tenancy::One(Tenant::default_tenant()))),
                    "{method} {path}"
                );
                assert_eq!(r.is_renewal(), *renewal, "{method} {path}");
                assert_eq!(r.protocol(), "eureka");
            }
        }
        let overrides = parsed(Method::GET, "/eureka/serverinfo/statusoverrides").unwrap();
        assert_eq!(overrides.endpoint, StatusOverrides);
        assert_eq!(
            parsed(Method::GET, "/eureka/v2/serverinfo/statusoverrides")
                .unwrap()
                .endpoint,
            Unknown
        );
    }

    #[test]
    fn only_eureka_paths_are_claimed() {
        assert!(parsed(Method::GET, "/eurekas/apps").is_none());
        assert!(parsed(Method::GET, "/v4/default/registry/instances").is_none());
        assert!(parsed(Method::GET, "/admin/cluster").is_none());
        assert_eq!(parsed(Method::GET, "/eureka").unwrap().endpoint, Unknown);
        assert_eq!(parsed(Method::GET, "/eureka/v2").unwrap().endpoint, Unknown);
        assert_eq!(parsed(Method::GET, "/eureka/v3/apps").unwrap().endpoint, Unknown);
        assert_eq!(parsed(Method::GET, "/eureka/apps//i").unwrap().endpoint, Unknown);
        // Unknown paths still need a role: write unless reading.
        assert_eq!(parsed(Method::POST, "/eureka/nowhere").unwrap().role, Role::Write);
        // Not renewals: the other writes on an instance.
        for (method, path) in [
            (Method::PUT, "/eureka/apps/ORDERS/i-1/status"),
            (Method::PUT, "/eureka/apps/ORDERS/i-1/metadata"),
            (Method::POST, "/eureka/apps/ORDERS"),
            (Method::DELETE, "/eureka/apps/ORDERS/i-1"),
        ] {
            assert!(!parsed(method.clone(), path).unwrap().is_renewal(), "{method} {path}");
        }
    }

    #[test]
    fn refusals_are_plain_text_with_their_status() {
        let r = parsed(Method::GET, "/eureka/apps").unwrap();
        let response = r.refuse(&Refusal::Forbidden("no".into()));
        assert_eq!(response.status(), axum::http::StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    }

    /// Every route [`super::super::routes`] declares (read from its source, so a route added
    /// without an endpoint fails here) is an endpoint under every prefix.
    #[test]
    fn every_declared_route_has_an_endpoint() {
        let routes = crate::endpoint::declared_routes(include_str!("mod.rs"), &[]);
        assert!(routes.len() >= 17, "{routes:?}");
        for (method, pattern) in routes {
            let path = crate::endpoint::sample_path(&pattern);
            let prefixes: &[&str] = if pattern.starts_with("/eureka/") {
                &[""]
            } else {
                &["/eureka", "/eureka/v1", "/eureka/v2"]
            };
            for prefix in prefixes {
                let path = format!("{prefix}{path}");
                let r = parsed(method.clone(), &path).unwrap_or_else(|| panic!("{path} is not Eureka's"));
                assert_ne!(r.endpoint, Unknown, "{method} {pattern} has no endpoint");
            }
        }
    }
}
