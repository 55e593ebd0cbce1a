//! What a request is, decided once. Each protocol parses a request into its own endpoint type
//! (`eureka::endpoint`, `servicecenter::endpoint`, and [`crate::node_endpoint`] for the node's
//! own routes), which implements [`Endpoint`]: what the request needs (a role on a tenant, or
//! nothing), whether it renews leases, its operation label, and its refusals in the protocol's
//! own format. [`classify`], a middleware early in the stack, stores the request's endpoint in
//! its extensions as a [`RequestEndpoint`]; auth, limits, the audit trail and the request metrics
//! read it there, and handlers may too (the ServiceCenter tenant). This module knows no protocol:
//! the router hands it the parsers ([`Endpoints`]).

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use axum::extract::Request;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::auth::policy::Requirement;
use crate::auth::policy::Tenancy;
use crate::auth::users::Role;
use crate::refusal::Refusal;

/// One protocol's view of a request.
pub trait Endpoint: Debug + Send + Sync + 'static {
    /// The protocol's name, as the audit trail and metrics label it (`eureka`, `servicecenter`,
    /// `node`).
    fn protocol(&self) -> &'static str;
    /// What the caller needs; `None`: no credential.
    fn requirement(&self) -> Option<Requirement>;
    /// Whether the request renews leases (a heartbeat): a write that changes no record, which
    /// the audit trail leaves out.
    fn is_renewal(&self) -> bool;
    /// The operation, for metrics: `register`, `renew`, `cancel`, `status`, `fetch`, ...; a
    /// small fixed set per protocol.
    fn operation(&self) -> &'static str;
    /// Whether the per-client rate limit applies (health probes are exempt).
    fn rate_limited(&self) -> bool {
        true
    }
    /// `refusal` in the protocol's own format.
    fn refuse(&self, refusal: &Refusal) -> Response;
    /// For handlers that read their own protocol's endpoint ([`RequestEndpoint::get`]).
    fn as_any(&self) -> &dyn Any;
}

/// The endpoint of a request, in its extensions once [`classify`] has run.
#[derive(Debug, Clone)]
pub struct RequestEndpoint(Arc<dyn Endpoint>);

impl RequestEndpoint {
    pub fn new(endpoint: impl Endpoint) -> Self {
        Self(Arc::new(endpoint))
    }

    /// The endpoint stored in a request's extensions. Without one (a router served without
    /// [`classify`]) the strictest: `admin` on every tenant, refused in the node's format.
    pub fn of(extensions: &axum::http::Extensions) -> Self {
        extensions
            .get::<RequestEndpoint>()
            .cloned()
            .unwrap_or_else(|| Self::new(Unclassified))
    }

    /// The endpoint as protocol `T`'s own type, if it is one.
    pub fn get<T: Endpoint>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref::<T>()
    }
}

impl std::ops::Deref for RequestEndpoint {
    type Target = dyn Endpoint;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// A request no parser claimed nor stored: needs everything.
#[derive(Debug)]
struct Unclassified;

impl Endpoint for Unclassified {
    fn protocol(&self) -> &'static str {
        "node"
    }

    fn requirement(&self) -> Option<Requirement> {
        Some(Requirement::new(Role::Admin, Tenancy::All))
    }

    fn is_renewal(&self) -> bool {
        false
    }

    fn operation(&self) -> &'static str {
        "other"
    }

    fn refuse(&self, refusal: &Refusal) -> Response {
        crate::refusal::node_refusal(refusal)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The first [`Segments::MAX`] `/`-separated segments of a path, read without allocating: the
/// parsers match routes on them (no route has more).
#[derive(Debug, Clone, Copy)]
pub struct Segments<'a> {
    items: [&'a str; Segments::MAX],
    len: usize,
    /// The path has more segments than are kept.
    more: bool,
}

impl<'a> Segments<'a> {
    pub const MAX: usize = 10;

    pub fn of(path: &'a str) -> Self {
        let mut segments = Segments {
            items: [""; Self::MAX],
            len: 0,
            more: false,
        };
        for segment in path.split('/') {
            if segments.len == Self::MAX {
                segments.more = true;
                break;
            }
            segments.items[segments.len] = segment;
            segments.len += 1;
        }
        segments
    }

    /// The segments kept.
    pub fn kept(&self) -> &[&'a str] {
        &self.items[..self.len]
    }

    /// Every segment, if the path has no more than [`Self::MAX`] (a longer one is no route).
    pub fn all(&self) -> Option<&[&'a str]> {
        (!self.more).then(|| self.kept())
    }
}

/// One protocol's parser: its endpoint for a request under its paths, `None` for any other.
pub type Parser = Box<dyn Fn(&Method, &str, &HeaderMap) -> Option<RequestEndpoint> + Send + Sync>;

/// The protocols' parsers, tried in order; the last one must claim every request (the node's
/// own routes, whose parser answers every path).
pub struct Endpoints {
    parsers: Vec<Parser>,
}

impl Endpoints {
    pub fn new(parsers: Vec<Parser>) -> Self {
        Self { parsers }
    }

    /// The endpoint of `method path` with `headers`.
    pub fn parse(&self, method: &Method, path: &str, headers: &HeaderMap) -> RequestEndpoint {
        self.parsers
            .iter()
            .find_map(|parse| parse(method, path, headers))
            .unwrap_or_else(|| RequestEndpoint::new(Unclassified))
    }
}

/// The middleware: parses the request once and stores its [`RequestEndpoint`].
pub async fn classify(State(endpoints): State<Arc<Endpoints>>, mut request: Request, next: Next) -> Response {
    let endpoint = endpoints.parse(request.method(), request.uri().path(), request.headers());
    request.extensions_mut().insert(endpoint);
    next.run(request).await
}

/// The routes a router's source declares (`.route(PATTERN, get(..).post(..))`), as (method,
/// pattern) pairs: for the tests that check every route has an endpoint. `{name}` in a
/// `format!` pattern is replaced by `substitutions`' value for it.
#[cfg(test)]
pub(crate) fn declared_routes(source: &str, substitutions: &[(&str, &str)]) -> Vec<(Method, String)> {
    let mut routes = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        // The arguments, up to the parenthesis that closes `.route(`.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map_or(rest.len(), |(i, _)| i);
        let args = &rest[..end];
        let (first, handlers) = args.split_once(',').unwrap_or((args, ""));
        let first = first.trim();
        let pattern = match first.split_once('"') {
            Some((_, quoted)) => quoted.split('"').next().unwrap_or_default().to_string(),
            None => substitutions
                .iter()
                .find(|(name, _)| *name == first)
                .map(|(_, value)| value.to_string())
                .unwrap_or_else(|| panic!("route pattern {first} is not known")),
        };
        let mut pattern = pattern.replace("{{", "\u{1}").replace("}}", "\u{2}");
        for (name, value) in substitutions {
            pattern = pattern.replace(&format!("{{{name}}}"), value);
        }
        let pattern = pattern.replace("\u{1}", "{").replace("\u{2}", "}");
        for (name, method) in [
            ("get", Method::GET),
            ("post", Method::POST),
            ("put", Method::PUT),
            ("delete", Method::DELETE),
        ] {
            let call = format!("{name}(");
            let declared = handlers.match_indices(&call).any(|(i, _)| {
                handlers[..i]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'))
            });
            if declared {
                routes.push((method, pattern.clone()));
            }
        }
        rest = &rest[end..];
    }
    routes
}

/// `pattern` with a sample value in each `{param}` segment.
#[cfg(test)]
pub(crate) fn sample_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|s| if s.starts_with('{') { "sample" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unclaimed_requests_need_admin_everywhere() {
        let endpoints = Endpoints::new(vec![Box::new(|_: &Method, p: &str, _: &HeaderMap| {
            (p == "/x").then(|| RequestEndpoint::new(Unclassified))
        })]);
        let e = endpoints.parse(&Method::GET, "/y", &HeaderMap::new());
        assert_eq!(e.requirement(), Some(Requirement::new(Role::Admin, Tenancy::All)));
        assert!(e.get::<Unclassified>().is_some());
        let e = RequestEndpoint::of(&axum::http::Extensions::new());
        assert_eq!(e.protocol(), "node");
    }

    #[test]
    fn declared_routes_are_read_from_source() {
        let source = r#"
            Router::new()
                .route("/a/{id}", get(h::get_a).delete(h::delete))
                .route(&format!("{ms}/{{id}}/x"), put(h::put_x).post(|| async {}))
                .route(ms, post(h::create))
        "#;
        let routes = declared_routes(source, &[("ms", "/m")]);
        assert_eq!(
            routes,
            vec![
                (Method::GET, "/a/{id}".to_string()),
                (Method::DELETE, "/a/{id}".to_string()),
                (Method::POST, "/m/{id}/x".to_string()),
                (Method::PUT, "/m/{id}/x".to_string()),
                (Method::POST, "/m".to_string()),
            ]
        );
        assert_eq!(sample_path("/a/{id}/x"), "/a/sample/x");
    }

    #[test]
    fn segments_are_kept_up_to_the_most_any_route_has() {
        assert_eq!(Segments::of("a/b/c").all(), Some(&["a", "b", "c"][..]));
        assert_eq!(Segments::of("").all(), Some(&[""][..]));
        let long = "x/".repeat(Segments::MAX) + "y";
        let segments = Segments::of(&long);
        assert_eq!(segments.all(), None);
        assert_eq!(segments.kept().len(), Segments::MAX);
    }
}
