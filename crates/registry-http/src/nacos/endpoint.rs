//! A request to the Nacos naming API, parsed once: which endpoint of [`super::routes`] it is
//! (under `/nacos`) and in which API version, what it needs (reads `read`, the rest `write`),
//! whether it renews a lease (the beat), its operation label, and refusals in Nacos's format:
//! v1 the status and a plain-text message (its `ResponseExceptionHandler`), v2 the status and
//! the `{"code":…,"message":…,"data":…}` envelope (`NacosApiExceptionHandler`).
//!
//! The namespace (and so the tenant) is a query or form parameter, which the parser does not
//! see: with auth on, a Nacos request needs its role on every tenant.

use std::any::Any;

use axum::http::HeaderMap;
use axum::http::Method;
use axum::response::Response;

use super::error::ErrorCode;
use super::error::NacosError;
use super::error::TEXT_UTF8;
use crate::auth::policy::read_or;
use crate::auth::policy::Requirement;
use crate::auth::policy::Tenancy;
use crate::auth::users::Role;
use crate::endpoint::RequestEndpoint;
use crate::refusal::Refusal;

/// The Nacos endpoints, one per route and method of [`super::routes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /nacos/v1/ns/instance`
    Register,
    /// `DELETE /nacos/v1/ns/instance`
    Deregister,
    /// `PUT /nacos/v1/ns/instance`
    Update,
    /// `GET /nacos/v1/ns/instance`
    Detail,
    /// `PUT /nacos/v1/ns/instance/beat`
    Beat,
    /// `GET /nacos/v1/ns/instance/list`
    List,
    /// `POST /nacos/v1/ns/service`
    CreateService,
    /// `DELETE /nacos/v1/ns/service`
    DeleteService,
    /// `PUT /nacos/v1/ns/service`
    UpdateService,
    /// `GET /nacos/v1/ns/service`
    GetService,
    /// `GET /nacos/v1/ns/service/list`
    ListServices,
    /// Under `/nacos` but no route (404) or not this method (405).
    Unknown,
}

impl Endpoint {
    /// The operation label (`registry_operations_total{protocol="nacos"}`).
    pub fn operation(self) -> &'static str {
        match self {
            Endpoint::Register => "register",
            Endpoint::Deregister => "deregister",
            Endpoint::Update => "update",
            Endpoint::Detail => "get_instance",
            Endpoint::Beat => "renew",
            Endpoint::List => "list",
            Endpoint::CreateService => "create_service",
            Endpoint::DeleteService => "delete_service",
            Endpoint::UpdateService => "update_service",
            Endpoint::GetService => "get_service",
            Endpoint::ListServices => "list_services",
            Endpoint::Unknown => "other",
        }
    }

    /// `method` on `rest`, the path below `/nacos/vN/ns` (the same in v1 and v2).
    fn route(method: &Method, rest: &str) -> Self {
        let get = *method == Method::GET || *method == Method::HEAD;
        match rest.trim_end_matches('/') {
            "/instance" if *method == Method::POST => Endpoint::Register,
            "/instance" if *method == Method::DELETE => Endpoint::Deregister,
            "/instance" if *method == Method::PUT => Endpoint::Update,
            "/instance" if get => Endpoint::Detail,
            "/instance/beat" if *method == Method::PUT => Endpoint::Beat,
            "/instance/list" if get => Endpoint::List,
            "/service" if *method == Method::POST => Endpoint::CreateService,
            "/service" if *method == Method::DELETE => Endpoint::DeleteService,
            "/service" if *method == Method::PUT => Endpoint::UpdateService,
            "/service" if get => Endpoint::GetService,
            "/service/list" if get => Endpoint::ListServices,
            _ => Endpoint::Unknown,
        }
    }
}

/// The API a request is to: the Open API v1 (`/nacos/v1/ns`, text errors) or v2 (`/nacos/v2/ns`,
/// the `Result` envelope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// A request to the Nacos API: its endpoint and the role it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NacosRequest {
    pub endpoint: Endpoint,
    pub version: Version,
    pub role: Role,
}

/// The Nacos request `method path` is, if `path` is under `/nacos`.
pub fn parse(method: &Method, path: &str, _headers: &HeaderMap) -> Option<NacosRequest> {
    let rest = path.strip_prefix("/nacos")?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let (version, endpoint) = if let Some(rest) = rest.strip_prefix("/v2/ns") {
        (Version::V2, Endpoint::route(method, rest))
    } else if let Some(rest) = rest.strip_prefix("/v1/ns") {
        (Version::V1, Endpoint::route(method, rest))
    } else {
        (Version::V1, Endpoint::Unknown)
    };
    Some(NacosRequest {
        endpoint,
        version,
        role: read_or(method, Role::Write),
    })
}

/// [`parse`] as one of the router's parsers.
pub fn parser() -> crate::endpoint::Parser {
    Box::new(|method, path, headers| parse(method, path, headers).map(RequestEndpoint::new))
}

impl crate::endpoint::Endpoint for NacosRequest {
    fn protocol(&self) -> &'static str {
        "nacos"
    }

    fn requirement(&self) -> Option<Requirement> {
        Some(Requirement::new(self.role, Tenancy::All))
    }

    fn is_renewal(&self) -> bool {
        self.endpoint == Endpoint::Beat
    }

    fn operation(&self) -> &'static str {
        self.endpoint.operation()
    }

    /// Nacos's answer: v1 the status and the message as plain text; v2 the status and the
    /// envelope (`ACCESS_DENIED` for auth, `PARAMETER_VALIDATE_ERROR` for a body too large,
    /// `SERVER_ERROR` for the rate limit).
    fn refuse(&self, refusal: &Refusal) -> Response {
        if self.version == Version::V1 {
            return refusal.as_text(TEXT_UTF8);
        }
        let code = match refusal {
            Refusal::Unauthenticated(_) | Refusal::Forbidden(_) => ErrorCode::AccessDenied,
            Refusal::TooLarge => ErrorCode::ParameterValidateError,
            Refusal::TooManyRequests { .. } => ErrorCode::ServerError,
        };
        let error = NacosError::Api {
            status: refusal.status(),
            code,
            message: refusal.message(),
        };
        refusal.with_headers(error.into_v2_response())
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

    fn parsed(method: Method, path: &str) -> Option<NacosRequest> {
        parse(&method, path, &HeaderMap::new())
    }

    #[test]
    fn routes_are_recognised_by_method_and_path() {
        let cases = [
            (Method::POST, "/nacos/v1/ns/instance", Register),
            (Method::DELETE, "/nacos/v1/ns/instance", Deregister),
            (Method::PUT, "/nacos/v1/ns/instance", Update),
            (Method::GET, "/nacos/v1/ns/instance", Detail),
            (Method::PUT, "/nacos/v1/ns/instance/beat", Beat),
            (Method::GET, "/nacos/v1/ns/instance/list", List),
            (Method::GET, "/nacos/v1/ns/instance/list/", List),
            (Method::POST, "/nacos/v1/ns/instance/list", Unknown),
            (Method::POST, "/nacos/v1/ns/service", CreateService),
            (Method::DELETE, "/nacos/v1/ns/service", DeleteService),
            (Method::PUT, "/nacos/v1/ns/service", UpdateService),
            (Method::GET, "/nacos/v1/ns/service", GetService),
            (Method::GET, "/nacos/v1/ns/service/list", ListServices),
            (Method::POST, "/nacos/v1/ns/service/list", Unknown),
            (Method::POST, "/nacos/v2/ns/instance", Register),
            (Method::PUT, "/nacos/v2/ns/instance/beat", Beat),
            (Method::GET, "/nacos/v2/ns/service/list", ListServices),
            (Method::GET, "/nacos/v3/ns/service/list", Unknown),
            (Method::GET, "/nacos/v1/instance", Unknown),
            (Method::GET, "/nacos", Unknown),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                parsed(method.clone(), path).unwrap().endpoint,
                expected,
                "{method} {path}"
            );
        }
        assert!(parsed(Method::GET, "/nacosx/v1").is_none());
        assert!(parsed(Method::GET, "/eureka/apps").is_none());
    }

    #[test]
    fn reads_need_read_and_the_rest_write_on_every_tenant() {
        let list = parsed(Method::GET, "/nacos/v1/ns/instance/list").unwrap();
        assert_eq!(list.requirement(), Some(Requirement::new(Role::Read, Tenancy::All)));
        let beat = parsed(Method::PUT, "/nacos/v1/ns/instance/beat").unwrap();
        assert_eq!(beat.requirement(), Some(Requirement::new(Role::Write, Tenancy::All)));
        assert!(beat.is_renewal());
        assert_eq!(beat.operation(), "renew");
        assert!(!parsed(Method::POST, "/nacos/v1/ns/instance").unwrap().is_renewal());
    }

    #[test]
    fn the_version_follows_the_path() {
        assert_eq!(
            parsed(Method::GET, "/nacos/v1/ns/instance").unwrap().version,
            Version::V1
        );
        assert_eq!(
            parsed(Method::GET, "/nacos/v2/ns/instance").unwrap().version,
            Version::V2
        );
        let create = parsed(Method::POST, "/nacos/v2/ns/service").unwrap();
        assert_eq!(create.requirement(), Some(Requirement::new(Role::Write, Tenancy::All)));
        assert_eq!(create.operation(), "create_service");
        let list = parsed(Method::GET, "/nacos/v1/ns/service/list").unwrap();
        assert_eq!(list.requirement(), Some(Requirement::new(Role::Read, Tenancy::All)));
        assert!(parsed(Method::PUT, "/nacos/v2/ns/instance/beat").unwrap().is_renewal());
    }

    #[test]
    fn v2_refusals_are_the_envelope_with_the_status() {
        let request = parsed(Method::POST, "/nacos/v2/ns/instance").unwrap();
        let response = request.refuse(&Refusal::Forbidden("no".into()));
        assert_eq!(response.status(), axum::http::StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let response = request.refuse(&Refusal::Unauthenticated("who?".into()));
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    }

    #[test]
    fn refusals_are_plain_text_with_the_status() {
        let request = parsed(Method::POST, "/nacos/v1/ns/instance").unwrap();
        let response = request.refuse(&Refusal::Forbidden("no".into()));
        assert_eq!(response.status(), axum::http::StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain;charset=UTF-8");
    }
}
