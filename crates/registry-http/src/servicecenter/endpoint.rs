//! A request to the ServiceCenter API, parsed once: which endpoint of [`super::routes`] it is,
//! its tenant (`X-Domain-Name` and `{project}`, see [`super::tenant`]), what it needs, whether
//! it renews leases, its operation label, and refusals in ServiceCenter's format
//! (`errorCode`/`errorMessage`).
//!
//! Reads (and batch find, a POST) need `read`, the rest `write` (the heartbeat WebSocket, a GET,
//! too), on the request's tenant; a tenant the handler will refuse as invalid needs a principal
//! of every tenant. `/v4/{project}/admin/...` needs `admin` on every tenant; `POST /v4/token`
//! nothing.

use std::any::Any;

use axum::http::HeaderMap;
use axum::http::Method;
use axum::response::IntoResponse;
use axum::response::Response;
use registry_store::model::Tenant;

use super::error::ErrorCode;
use super::error::ScError;
use super::tenant::project_of;
use crate::auth::policy::read_or;
use crate::auth::policy::Requirement;
use crate::auth::policy::Tenancy;
use crate::auth::users::Role;
use crate::endpoint::RequestEndpoint;
use crate::endpoint::Segments;
use crate::refusal::Refusal;

/// The ServiceCenter endpoints, one per route and method of [`super::routes`] (paths below
/// `/v4/{project}`; `ms` is `registry/microservices`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET registry/version`
    Version,
    /// `GET registry/health`
    Health,
    /// `GET registry/health/readiness`
    Readiness,
    /// `GET govern/apps`
    GovernApps,
    /// `GET govern/microservices`
    GovernList,
    /// `GET govern/microservices/{id}`
    GovernGet,
    /// `GET registry/existence`
    Existence,
    /// `POST ms`
    CreateService,
    /// `GET ms`
    ListServices,
    /// `DELETE ms`
    DeleteServices,
    /// `GET ms/{id}`
    GetService,
    /// `DELETE ms/{id}`
    DeleteService,
    /// `PUT ms/{id}/properties`
    PutServiceProperties,
    /// `GET ms/{id}/providers`
    Providers,
    /// `GET ms/{id}/consumers`
    Consumers,
    /// `POST ms/{id}/instances`
    RegisterInstance,
    /// `GET ms/{id}/instances`
    ServiceInstances,
    /// `GET ms/{id}/instances/{instance}`
    GetInstance,
    /// `DELETE ms/{id}/instances/{instance}`
    UnregisterInstance,
    /// `PUT ms/{id}/instances/{instance}/heartbeat`
    Heartbeat,
    /// `GET ms/{id}/instances/{instance}/heartbeat`: the heartbeat WebSocket.
    HeartbeatSocket,
    /// `GET ms/{id}/watcher`: the watch WebSocket.
    Watch,
    /// `PUT ms/{id}/instances/{instance}/status`
    SetInstanceStatus,
    /// `PUT ms/{id}/instances/{instance}/properties`
    PutInstanceProperties,
    /// `PUT registry/heartbeats`
    Heartbeats,
    /// `POST registry/dependencies`
    AddDependencies,
    /// `PUT registry/dependencies`
    ReplaceDependencies,
    /// `GET registry/instances`
    Find,
    /// `POST registry/instances/action`
    BatchFind,
    /// `POST ms/{id}/schemas`
    PutSchemas,
    /// `GET ms/{id}/schemas`
    ListSchemas,
    /// `PUT ms/{id}/schemas/{schema}`
    PutSchema,
    /// `GET ms/{id}/schemas/{schema}`
    GetSchema,
    /// `DELETE ms/{id}/schemas/{schema}`
    DeleteSchema,
    /// `POST ms/{id}/tags`
    AddTags,
    /// `GET ms/{id}/tags`
    GetTags,
    /// `PUT ms/{id}/tags/{key}`
    UpdateTag,
    /// `DELETE ms/{id}/tags/{key}`
    DeleteTags,
    /// `POST /v4/token`: a bearer token for a name and password.
    Token,
    /// `/v4/{project}/admin/...`
    Admin,
    /// Under `/v4` but no route (404) or not this method (405).
    Unknown,
}

impl Endpoint {
    /// The operation label (`registry_operations_total{protocol="servicecenter"}`).
    pub fn operation(self) -> &'static str {
        use Endpoint::*;
        match self {
            Version => "version",
            Health => "health",
            Readiness => "readiness",
            GovernApps | GovernList | GovernGet => "govern",
            Existence => "existence",
            CreateService => "create_service",
            ListServices => "list_services",
            DeleteServices | DeleteService => "delete_service",
            GetService => "get_service",
            PutServiceProperties => "service_properties",
            Providers | Consumers => "dependency_read",
            RegisterInstance => "register",
            ServiceInstances => "list_instances",
            GetInstance => "get_instance",
            UnregisterInstance => "cancel",
            Heartbeat => "renew",
            HeartbeatSocket => "renew_socket",
            Heartbeats => "renew_batch",
            Watch => "watch",
            SetInstanceStatus => "status",
            PutInstanceProperties => "instance_properties",
            AddDependencies | ReplaceDependencies => "dependencies",
            Find => "find",
            BatchFind => "batch_find",
            PutSchemas | PutSchema | DeleteSchema => "schema_write",
            ListSchemas | GetSchema => "schema_read",
            AddTags | UpdateTag | DeleteTags => "tag_write",
            GetTags => "tag_read",
            Token => "token",
            Admin => "admin",
            Unknown => "other",
        }
    }

    /// Whether it only reads, whatever its method (batch find is a POST).
    fn reads(self) -> bool {
        use Endpoint::*;
        matches!(
            self,
            Version
                | Health
                | Readiness
                | GovernApps
                | GovernList
                | GovernGet
                | Existence
                | ListServices
                | GetService
                | Providers
                | Consumers
                | ServiceInstances
                | GetInstance
                | Watch
                | Find
                | BatchFind
                | ListSchemas
                | GetSchema
                | GetTags
        )
    }

    /// `method` on the segments after `/v4/{project}/registry` (`govern`: after `.../govern`).
    fn route(method: &Method, govern: bool, segments: &[&str]) -> Self {
        use Endpoint::*;
        let get = *method == Method::GET || *method == Method::HEAD;
        let put = *method == Method::PUT;
        let post = *method == Method::POST;
        let delete = *method == Method::DELETE;
        if segments.iter().any(|s| s.is_empty()) {
            return Unknown;
        }
        if govern {
            return match segments {
                ["apps"] if get => GovernApps,
                ["microservices"] if get => GovernList,
                ["microservices", _] if get => GovernGet,
                _ => Unknown,
            };
        }
        match segments {
            ["version"] if get => Version,
            ["health"] if get => Health,
            ["health", "readiness"] if get => Readiness,
            ["existence"] if get => Existence,
            ["heartbeats"] if put => Heartbeats,
            ["dependencies"] if post => AddDependencies,
            ["dependencies"] if put => ReplaceDependencies,
            ["instances"] if get => Find,
            ["instances", "action"] if post => BatchFind,
            ["microservices"] if post => CreateService,
            ["microservices"] if get => ListServices,
            ["microservices"] if delete => DeleteServices,
            ["microservices", _] if get => GetService,
            ["microservices", _] if delete => DeleteService,
            ["microservices", _, "properties"] if put => PutServiceProperties,
            ["microservices", _, "providers"] if get => Providers,
            ["microservices", _, "consumers"] if get => Consumers,
            ["microservices", _, "watcher"] if get => Watch,
            ["microservices", _, "instances"] if post => RegisterInstance,
            ["microservices", _, "instances"] if get => ServiceInstances,
            ["microservices", _, "instances", _] if get => GetInstance,
            ["microservices", _, "instances", _] if delete => UnregisterInstance,
            ["microservices", _, "instances", _, "heartbeat"] if put => Heartbeat,
            ["microservices", _, "instances", _, "heartbeat"] if get => HeartbeatSocket,
            ["microservices", _, "instances", _, "status"] if put => SetInstanceStatus,
            ["microservices", _, "instances", _, "properties"] if put => PutInstanceProperties,
            ["microservices", _, "schemas"] if post => PutSchemas,
            ["microservices", _, "schemas"] if get => ListSchemas,
            ["microservices", _, "schemas", _] if put => PutSchema,
            ["microservices", _, "schemas", _] if get => GetSchema,
            ["microservices", _, "schemas", _] if delete => DeleteSchema,
            ["microservices", _, "tags"] if post => AddTags,
            ["microservices", _, "tags"] if get => GetTags,
            ["microservices", _, "tags", _] if put => UpdateTag,
            ["microservices", _, "tags", _] if delete => DeleteTags,
            _ => Unknown,
        }
    }
}

/// A request to the ServiceCenter API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScRequest {
    pub endpoint: Endpoint,
    /// `None`: no credential needed.
    pub role: Option<Role>,
    /// The request's tenant, for the routes that have one (`registry/...`, `govern/...`); an
    /// invalid one is the refusal its handler answers.
    pub tenant: Option<Result<Tenant, ScError>>,
}

/// The ServiceCenter request `method path` is, if `path` is under `/v4/`.
pub fn parse(method: &Method, path: &str, headers: &HeaderMap) -> Option<ScRequest> {
    let rest = path.strip_prefix("/v4/")?;
    if rest == "token" && *method == Method::POST {
        return Some(ScRequest {
            endpoint: Endpoint::Token,
            role: None,
            tenant: None,
        });
    }
    let segments = Segments::of(rest);
    let request = match segments.kept() {
        [_, "admin", ..] => ScRequest {
            endpoint: Endpoint::Admin,
            role: Some(Role::Admin),
            tenant: None,
        },
        [_, area @ ("registry" | "govern"), tail @ ..] => {
            let endpoint = match segments.all() {
                Some(_) => Endpoint::route(method, *area == "govern", tail),
                None => Endpoint::Unknown,
            };
            let role = match endpoint {
                Endpoint::HeartbeatSocket => Role::Write,
                e if e.reads() => Role::Read,
                // No route: as strict as the route it looks like.
                Endpoint::Unknown if path.ends_with("/registry/instances/action") => Role::Read,
                Endpoint::Unknown if path.ends_with("/heartbeat") => Role::Write,
                Endpoint::Unknown => read_or(method, Role::Write),
                _ => Role::Write,
            };
            let tenant = project_of(path).map(|project| project.and_then(|p| super::tenant::tenant(headers, &p)));
            ScRequest {
                endpoint,
                role: Some(role),
                tenant,
            }
        }
        _ => ScRequest {
            endpoint: Endpoint::Unknown,
            role: Some(read_or(method, Role::Admin)),
            tenant: None,
        },
    };
    Some(request)
}

/// [`parse`] as one of the router's parsers.
pub fn parser() -> crate::endpoint::Parser {
    Box::new(|method, path, headers| parse(method, path, headers).map(RequestEndpoint::new))
}

impl crate::endpoint::Endpoint for ScRequest {
    fn protocol(&self) -> &'static str {
        "servicecenter"
    }

    fn requirement(&self) -> Option<Requirement> {
        let tenancy = match &self.tenant {
            Some(Ok(tenant)) => Tenancy::One(tenant.clone()),
            _ => Tenancy::All,
        };
        self.role.map(|role| Requirement::new(role, tenancy))
    }

    fn is_renewal(&self) -> bool {
        matches!(self.endpoint, Endpoint::Heartbeat | Endpoint::Heartbeats)
    }

    fn operation(&self) -> &'static str {
        self.endpoint.operation()
    }

    /// ServiceCenter's answer: `401002`, `403001`, `429001`, or `400001` for a body too large.
    fn refuse(&self, refusal: &Refusal) -> Response {
        refusal.with_headers(sc_refusal(refusal).into_response())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `refusal` as ServiceCenter's error (without the headers [`Refusal::with_headers`] adds).
pub fn sc_refusal(refusal: &Refusal) -> ScError {
    let message = refusal.message();
    match refusal {
        Refusal::Unauthenticated(_) => ScError::new(ErrorCode::Unauthorized, message),
        Refusal::Forbidden(_) => ScError::new(ErrorCode::Forbidden, message),
        Refusal::TooManyRequests { .. } => ScError::new(ErrorCode::TooManyRequests, message),
        Refusal::TooLarge => ScError::invalid(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Endpoint as _;
    use Endpoint::*;

    const MS: &str = "/v4/default/registry/microservices";

    fn parsed(method: Method, path: &str, domain: Option<&str>) -> ScRequest {
        let mut headers = HeaderMap::new();
        if let Some(d) = domain {
            headers.insert("x-domain-name", d.parse().unwrap());
        }
        parse(&method, path, &headers).unwrap_or_else(|| panic!("{path} is ServiceCenter's"))
    }

    /// Every route and method of [`super::super::routes`], with the endpoint, role and renewal
    /// it is, on the default tenant.
    #[test]
    fn every_route_is_its_endpoint() {
        use Role::Read as R;
        use Role::Write as W;
        let ms = |tail: &str| format!("{MS}{tail}");
        let table: Vec<(Method, String, Endpoint, Role, bool)> = vec![
            (Method::GET, "/v4/default/registry/version".into(), Version, R, false),
            (Method::GET, "/v4/default/registry/health".into(), Health, R, false),
            (
                Method::GET,
                "/v4/default/registry/health/readiness".into(),
                Readiness,
                R,
                false,
            ),
            (Method::GET, "/v4/default/govern/apps".into(), GovernApps, R, false),
            (
                Method::GET,
                "/v4/default/govern/microservices".into(),
                GovernList,
                R,
                false,
            ),
            (
                Method::GET,
                "/v4/default/govern/microservices/s".into(),
                GovernGet,
                R,
                false,
            ),
            (
                Method::GET,
                "/v4/default/registry/existence".into(),
                Existence,
                R,
                false,
            ),
            (Method::POST, ms(""), CreateService, W, false),
            (Method::GET, ms(""), ListServices, R, false),
            (Method::DELETE, ms(""), DeleteServices, W, false),
            (Method::GET, ms("/s"), GetService, R, false),
            (Method::DELETE, ms("/s"), DeleteService, W, false),
            (Method::PUT, ms("/s/properties"), PutServiceProperties, W, false),
            (Method::GET, ms("/s/providers"), Providers, R, false),
            (Method::GET, ms("/s/consumers"), Consumers, R, false),
            (Method::POST, ms("/s/instances"), RegisterInstance, W, false),
            (Method::GET, ms("/s/instances"), ServiceInstances, R, false),
            (Method::GET, ms("/s/instances/i"), GetInstance, R, false),
            (Method::DELETE, ms("/s/instances/i"), UnregisterInstance, W, false),
            (Method::PUT, ms("/s/instances/i/heartbeat"), Heartbeat, W, true),
            // The heartbeat WebSocket is a GET that renews leases with every pong.
            (Method::GET, ms("/s/instances/i/heartbeat"), HeartbeatSocket, W, false),
            (Method::GET, ms("/s/watcher"), Watch, R, false),
            (Method::PUT, ms("/s/instances/i/status"), SetInstanceStatus, W, false),
            (
                Method::PUT,
                ms("/s/instances/i/properties"),
                PutInstanceProperties,
                W,
                false,
            ),
            (
                Method::PUT,
                "/v4/default/registry/heartbeats".into(),
                Heartbeats,
                W,
                true,
            ),
            (
                Method::POST,
                "/v4/default/registry/dependencies".into(),
                AddDependencies,
                W,
                false,
            ),
            (
                Method::PUT,
                "/v4/default/registry/dependencies".into(),
                ReplaceDependencies,
                W,
                false,
            ),
            (Method::GET, "/v4/default/registry/instances".into(), Find, R, false),
            // Batch find is a POST that only reads.
            (
                Method::POST,
                "/v4/default/registry/instances/action".into(),
                BatchFind,
                R,
                false,
            ),
            (Method::POST, ms("/s/schemas"), PutSchemas, W, false),
            (Method::GET, ms("/s/schemas"), ListSchemas, R, false),
            (Method::PUT, ms("/s/schemas/x"), PutSchema, W, false),
            (Method::GET, ms("/s/schemas/x"), GetSchema, R, false),
            (Method::DELETE, ms("/s/schemas/x"), DeleteSchema, W, false),
            (Method::POST, ms("/s/tags"), AddTags, W, false),
            (Method::GET, ms("/s/tags"), GetTags, R, false),
            (Method::PUT, ms("/s/tags/k"), UpdateTag, W, false),
            (Method::DELETE, ms("/s/tags/k"), DeleteTags, W, false),
            (Method::PATCH, ms("/s"), Unknown, W, false),
        ];
        let default = Tenancy::One(Tenant::default_tenant());
        for (method, path, endpoint, role, renewal) in table {
            let r = parsed(method.clone(), &path, None);
            assert_eq!(r.endpoint, endpoint, "{method} {path}");
            assert_eq!(
                r.requirement(),
                Some(Requirement::new(role, default.clone())),
                "{method} {path}"
            );
            assert_eq!(r.is_renewal(), renewal, "{method} {path}");
            assert_eq!(r.protocol(), "servicecenter");
        }
    }

    #[test]
    fn tenants_admin_and_token() {
        let shop = Tenancy::One(Tenant::new("shop", "prod"));
        let r = parsed(Method::GET, "/v4/prod/registry/instances", Some("Shop"));
        assert_eq!(r.requirement(), Some(Requirement::new(Role::Read, shop)));
        assert_eq!(r.tenant, Some(Ok(Tenant::new("shop", "prod"))));
        // An invalid tenant: the handler refuses it; the guard asks for every tenant.
        let r = parsed(Method::GET, "/v4/a%2Fb/registry/instances", None);
        assert_eq!(r.requirement(), Some(Requirement::new(Role::Read, Tenancy::All)));
        assert!(matches!(r.tenant, Some(Err(_))));
        let r = parsed(Method::GET, "/v4/default/admin/dump", None);
        assert_eq!(
            (r.endpoint, r.requirement()),
            (Admin, Some(Requirement::new(Role::Admin, Tenancy::All)))
        );
        let r = parsed(Method::POST, "/v4/token", None);
        assert_eq!((r.endpoint, r.requirement()), (Token, None));
        let r = parsed(Method::GET, "/v4/token", None);
        assert_eq!(r.requirement(), Some(Requirement::new(Role::Read, Tenancy::All)));
        let r = parsed(Method::POST, "/v4/default/elsewhere", None);
        assert_eq!(r.requirement(), Some(Requirement::new(Role::Admin, Tenancy::All)));
        assert!(parse(&Method::GET, "/eureka/apps", &HeaderMap::new()).is_none());
        assert!(parse(&Method::GET, "/v4", &HeaderMap::new()).is_none());
        let deep = format!("{MS}/s/instances/i/heartbeat/a/b/c/d/e");
        let r = parsed(Method::PUT, &deep, None);
        assert_eq!((r.endpoint, r.role), (Unknown, Some(Role::Write)));
    }

    #[test]
    fn refusals_are_servicecenter_errors() {
        let r = parsed(Method::GET, "/v4/default/registry/instances", None);
        let response = r.refuse(&Refusal::Unauthenticated("who?".into()));
        assert_eq!(response.status(), axum::http::StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key(axum::http::header::WWW_AUTHENTICATE));
        assert_eq!(sc_refusal(&Refusal::Forbidden("no".into())).code, ErrorCode::Forbidden);
        assert_eq!(sc_refusal(&Refusal::TooLarge).code, ErrorCode::InvalidParams);
        let r = r.refuse(&Refusal::TooManyRequests {
            retry_after: std::time::Duration::from_secs(2),
        });
        assert_eq!(r.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[axum::http::header::RETRY_AFTER], "2");
    }

    /// Every route [`super::super::routes`] declares (read from its source, so a route added
    /// without an endpoint fails here) is an endpoint.
    #[test]
    fn every_declared_route_has_an_endpoint() {
        let routes = crate::endpoint::declared_routes(
            include_str!("mod.rs"),
            &[("ms", "/v4/{project}/registry/microservices")],
        );
        assert!(routes.len() >= 38, "{} routes: {routes:?}", routes.len());
        for (method, pattern) in routes {
            let path = crate::endpoint::sample_path(&pattern);
            let r = parsed(method.clone(), &path, None);
            assert_ne!(r.endpoint, Unknown, "{method} {pattern} has no endpoint");
        }
    }
}
