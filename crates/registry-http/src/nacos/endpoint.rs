//! A request to the Nacos naming API, parsed once: which endpoint of [`super::routes`] it is
//! (under `/nacos`), what it needs (reads `read`, the rest `write`), whether it renews a lease
//! (the beat), its operation label, and refusals in Nacos's format (the status and a plain-text
//! message, as its `ResponseExceptionHandler` answers).
//!
//! The namespace (and so the tenant) is a query or form parameter, which the parser does not
//! see: with auth on, a Nacos request needs its role on every tenant.

use std::any::Any;

use axum::http::HeaderMap;
use axum::http::Method;
use axum::response::Response;

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
            Endpoint::Unknown => "other",
        }
    }

    /// `method` on `rest`, the path below `/nacos`.
    fn route(method: &Method, rest: &str) -> Self {
        let get = *method == Method::GET || *method == Method::HEAD;
        match rest.trim_end_matches('/') {
            "/v1/ns/instance" if *method == Method::POST => Endpoint::Register,
            "/v1/ns/instance" if *method == Method::DELETE => Endpoint::Deregister,
            "/v1/ns/instance" if *method == Method::PUT => Endpoint::Update,
            "/v1/ns/instance" if get => Endpoint::Detail,
            "/v1/ns/instance/beat" if *method == Method::PUT => Endpoint::Beat,
            "/v1/ns/instance/list" if get => Endpoint::List,
            _ => Endpoint::Unknown,
        }
    }
}

/// A request to the Nacos API: its endpoint and the role it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NacosRequest {
    pub endpoint: Endpoint,
    pub role: Role,
}

/// The Nacos request `method path` is, if `path` is under `/nacos`.
pub fn parse(method: &Method, path: &str, _headers: &HeaderMap) -> Option<NacosRequest> {
    let rest = path.strip_prefix("/nacos")?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    Some(NacosRequest {
        endpoint: Endpoint::route(method, rest),
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

    /// Nacos's answer: the status and the message as plain text.
    fn refuse(&self, refusal: &Refusal) -> Response {
        refusal.as_text(TEXT_UTF8)
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
            (Method::GET, "/nacos/v1/ns/service/list", Unknown),
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
    fn refusals_are_plain_text_with_the_status() {
        let request = parsed(Method::POST, "/nacos/v1/ns/instance").unwrap();
        let response = request.refuse(&Refusal::Forbidden("no".into()));
        assert_eq!(response.status(), axum::http::StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain;charset=UTF-8");
    }
}
