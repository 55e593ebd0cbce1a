//! The lean path: Eureka's two hottest requests, the heartbeat (`PUT .../apps/{app}/{id}`) and
//! the one-app read (`GET .../apps/{app}`) under `/eureka`, `/eureka/v1` and `/eureka/v2`,
//! answered before the router and its layers, with the same effects on the wire, the metrics
//! and the log: the request id (`x-request-id`, the client's or a new UUID, echoed), the
//! request's span and its failure log, the latency histogram by route pattern, method and status,
//! the counter of renewals, `Vary`/gzip as the Eureka routes' compression layer does it. The
//! answers come from the same functions as the routed handlers ([`super::handlers`]).
//!
//! It is only put in front of the router when no layer it skips could refuse a request: no auth
//! guard and no per-client rate limit ([`crate::router`]). A request it does not claim exactly
//! (another route or method, a percent-encoded segment, a body or a `Content-Encoding`, a query
//! the routed handler would refuse) goes to the router unchanged.

use std::convert::Infallible;
use std::future::ready;
use std::ops::Range;
use std::sync::Arc;
use std::sync::OnceLock;
use std::task::Context;
use std::task::Poll;
use std::time::Instant;

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::Query;
use axum::extract::Request;
use axum::http::header;
use axum::http::HeaderMap;
use axum::http::HeaderName;
use axum::http::HeaderValue;
use axum::http::Method;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Router;
use futures::future::BoxFuture;
use futures::future::Either;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use tower::Layer;
use tower::Service;
use tower::ServiceExt;
use tower_http::compression::predicate::DefaultPredicate;
use tower_http::compression::predicate::Predicate;
use tower_http::compression::CompressionLayer;
use tracing::Instrument;

use super::handlers;
use super::handlers::RenewQuery;
use super::ops::Eureka;
use crate::request_metrics::RequestMetrics;

/// The request id header, as the router's request-id layers name it.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The route prefixes, in the order of [`RENEW_ROUTES`] and [`APP_ROUTES`].
const PREFIXES: [&str; 3] = ["/eureka/apps/", "/eureka/v1/apps/", "/eureka/v2/apps/"];
/// The route patterns the router matches (the `route` label of the latency histogram).
const RENEW_ROUTES: [&str; 3] = [
    "/eureka/apps/{app}/{id}",
    "/eureka/v1/apps/{app}/{id}",
    "/eureka/v2/apps/{app}/{id}",
];
const APP_ROUTES: [&str; 3] = ["/eureka/apps/{app}", "/eureka/v1/apps/{app}", "/eureka/v2/apps/{app}"];
/// Smallest body the compression layer compresses (tower-http's default predicate): a smaller
/// answer passes it untouched.
const COMPRESS_FROM: u64 = 32;

/// A request the lean path answers.
#[derive(Debug)]
enum Claim {
    /// A heartbeat: the app and id segments of the path, and its parsed query.
    Renew {
        prefix: usize,
        app: Range<usize>,
        id: Range<usize>,
        query: RenewQuery,
    },
    /// A one-app read: the app segment of the path.
    App { prefix: usize, app: Range<usize> },
}

impl Claim {
    /// The claim on `request`, if it is a heartbeat or a one-app read exactly as the router would
    /// route it, with nothing for a skipped layer to act on.
    fn of(request: &Request) -> Option<Claim> {
        let headers = request.headers();
        // The decompression layer acts on a `Content-Encoding`; neither handler reads a body.
        let bodiless = headers
            .get(header::CONTENT_LENGTH)
            .is_none_or(|length| length.as_bytes() == b"0")
            && !headers.contains_key(header::TRANSFER_ENCODING)
            && !headers.contains_key(header::CONTENT_ENCODING);
        if !bodiless {
            return None;
        }
        let path = request.uri().path();
        let (prefix, rest) = PREFIXES
            .iter()
            .enumerate()
            .find_map(|(i, p)| Some((i, path.strip_prefix(p)?)))?;
        let start = path.len() - rest.len();
        // Percent-encoded segments are decoded by the router's path extractor.
        let plain = |s: &str| !s.is_empty() && !s.contains(['/', '%']);
        let method = request.method();
        if *method == Method::GET {
            if !plain(rest) || rest == "delta" {
                return None;
            }
            return Some(Claim::App {
                prefix,
                app: start..path.len(),
            });
        }
        if *method == Method::PUT {
            let (app, id) = rest.split_once('/')?;
            if !plain(app) || !plain(id) {
                return None;
            }
            // A query the routed handler refuses (400) is left to it.
            let Query(query) = Query::<RenewQuery>::try_from_uri(request.uri()).ok()?;
            let id_start = start + app.len() + 1;
            return Some(Claim::Renew {
                prefix,
                app: start..id_start - 1,
                id: id_start..path.len(),
                query,
            });
        }
        None
    }
}

/// What the lean path answers from: the Eureka endpoints' shared state and the request metrics,
/// with handles on the hot series.
pub struct Lean {
    eureka: Arc<Eureka>,
    metrics: Arc<RequestMetrics>,
    /// Latency histograms by route (renewals, then apps, per prefix) and status (200, 404),
    /// taken from the family on first use (so no series appears before its first request).
    durations: [[OnceLock<Histogram>; 2]; 6],
    renewals: OnceLock<Counter>,
}

impl Lean {
    pub fn new(eureka: Arc<Eureka>, metrics: Arc<RequestMetrics>) -> Arc<Self> {
        Arc::new(Self {
            eureka,
            metrics,
            durations: Default::default(),
            renewals: OnceLock::new(),
        })
    }

    /// `router` with the lean path in front of it.
    pub fn in_front_of(self: Arc<Self>, router: Router) -> Router {
        Router::new().fallback_service(LeanService { lean: self, router })
    }

    async fn answer(self: Arc<Self>, claim: Claim, request: Request) -> Response {
        let started = Instant::now();
        let (parts, _) = request.into_parts();
        let request_id = parts.headers.get(REQUEST_ID).cloned().unwrap_or_else(new_request_id);
        // The router's request span (`crate::request_span`).
        let span = tracing::info_span!(
            "request",
            id = request_id.to_str().unwrap_or_default(),
            method = %parts.method,
            path = parts.uri.path()
        );
        let path = parts.uri.path();
        let work = async {
            tracing::debug!("started processing request");
            let (route, answer) = match &claim {
                Claim::Renew { prefix, app, id, query } => {
                    let answer = handlers::renew_answer(
                        &self.eureka,
                        &path[app.clone()],
                        &path[id.clone()],
                        &parts.headers,
                        query,
                    )
                    .await;
                    (*prefix, answer)
                }
                Claim::App { prefix, app } => {
                    let answer = handlers::app_answer(&self.eureka, &parts.headers, &path[app.clone()]);
                    (3 + *prefix, answer)
                }
            };
            let mut response = compressed(&parts.headers, answer.into_response()).await;
            // As the router's routes do: a body of known size says so.
            if !response.headers().contains_key(header::CONTENT_LENGTH) {
                if let Some(size) = response.body().size_hint().exact() {
                    response
                        .headers_mut()
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
                }
            }
            self.record(route, &parts.method, &response, started);
            response
        };
        let mut response = work.instrument(span.clone()).await;
        if !response.headers().contains_key(REQUEST_ID) {
            response.headers_mut().insert(REQUEST_ID, request_id);
        }
        let _entered = span.enter();
        let latency = started.elapsed();
        let status = response.status();
        tracing::debug!(?latency, status = status.as_u16(), "finished processing request");
        if status.is_server_error() {
            crate::log_failure(
                tower_http::classify::ServerErrorsFailureClass::StatusCode(status),
                latency,
                &span,
            );
        }
        response
    }

    /// The request metrics' middleware's records ([`crate::request_metrics::record`]): a
    /// successful renewal counts as an operation (a read writes nothing).
    fn record(&self, route: usize, method: &Method, response: &Response, started: Instant) {
        let status = response.status();
        let renewal = route < 3;
        if renewal && (status.is_success() || status.is_redirection()) {
            self.renewals
                .get_or_init(|| self.metrics.operation("eureka", "renew"))
                .inc();
        }
        self.metrics.count_refusal(status);
        let pattern = if renewal {
            RENEW_ROUTES[route]
        } else {
            APP_ROUTES[route - 3]
        };
        let family = || self.metrics.duration(pattern, method.as_str(), status);
        let slot = match status {
            StatusCode::OK => Some(&self.durations[route][0]),
            StatusCode::NOT_FOUND => Some(&self.durations[route][1]),
            _ => None,
        };
        let elapsed = started.elapsed().as_secs_f64();
        match slot {
            Some(slot) => slot.get_or_init(family).observe(elapsed),
            None => family().observe(elapsed),
        }
    }
}

/// A new request id in the form of the router's `MakeRequestUuid` (a v4 UUID, hyphenated,
/// lower case), from the thread's fast generator rather than a `getrandom` call: an id needs to
/// be unique, not secret.
fn new_request_id() -> HeaderValue {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
    let text = id.hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(text).expect("a UUID is a valid header value")
}

/// `response` as the Eureka routes' compression layer passes it on for a request with
/// `headers`: untouched when too small to compress; with `Vary: accept-encoding` when
/// compressible but the client accepts no encoding; through the layer itself otherwise.
async fn compressed(headers: &HeaderMap, mut response: Response) -> Response {
    if response
        .body()
        .size_hint()
        .exact()
        .is_some_and(|size| size < COMPRESS_FROM)
    {
        return response;
    }
    let accepts = headers.get_all(header::ACCEPT_ENCODING);
    if accepts.iter().next().is_none() {
        let compressible = !response.headers().contains_key(header::CONTENT_ENCODING)
            && !response.headers().contains_key(header::CONTENT_RANGE)
            && DefaultPredicate::new().should_compress(&response);
        let varies = response
            .headers()
            .get_all(header::VARY)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"accept-encoding"));
        if compressible && !varies {
            response
                .headers_mut()
                .append(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        return response;
    }
    let mut probe = Request::new(Body::empty());
    for value in accepts {
        probe.headers_mut().append(header::ACCEPT_ENCODING, value.clone());
    }
    let layer = CompressionLayer::new().gzip(true);
    let mut response = Some(response);
    let service = layer.layer(tower::service_fn(move |_: Request| {
        ready(Ok::<_, Infallible>(response.take().unwrap_or_default()))
    }));
    match service.oneshot(probe).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}

/// The router with the lean path in front.
#[derive(Clone)]
struct LeanService {
    lean: Arc<Lean>,
    router: Router,
}

impl Service<Request> for LeanService {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<BoxFuture<'static, Result<Response, Infallible>>, <Router as Service<Request>>::Future>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match Claim::of(&request) {
            Some(claim) => {
                let lean = self.lean.clone();
                Either::Left(Box::pin(async move { Ok(lean.answer(claim, request).await) }))
            }
            None => Either::Right(self.router.call(request)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(method: Method, uri: &str, headers: &[(&str, &str)]) -> Option<Claim> {
        let mut request = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        Claim::of(&request.body(Body::empty()).unwrap())
    }

    #[test]
    fn claims_heartbeats_and_app_reads_exactly() {
        let uri = "/eureka/v2/apps/ORDERS/i-1?status=UP&lastDirtyTimestamp=7";
        let Some(Claim::Renew { prefix, app, id, query }) = claim(Method::PUT, uri, &[]) else {
            panic!("a heartbeat");
        };
        let path = "/eureka/v2/apps/ORDERS/i-1";
        assert_eq!((prefix, &path[app], &path[id]), (2, "ORDERS", "i-1"));
        assert_eq!(query.last_dirty_timestamp.as_deref(), Some("7"));
        let Some(Claim::App { prefix, app }) = claim(Method::GET, "/eureka/apps/ORDERS", &[]) else {
            panic!("an app read");
        };
        assert_eq!((prefix, &"/eureka/apps/ORDERS"[app]), (0, "ORDERS"));
        for (method, uri, headers) in [
            (Method::GET, "/eureka/apps/delta", &[][..]),
            (Method::GET, "/eureka/apps", &[]),
            (Method::HEAD, "/eureka/apps/ORDERS", &[]),
            (Method::GET, "/eureka/apps/ORDERS/i-1", &[]),
            (Method::GET, "/eureka/v3/apps/ORDERS", &[]),
            (Method::GET, "/eureka/apps/OR%44ERS", &[]),
            (Method::PUT, "/eureka/apps/ORDERS", &[]),
            (Method::PUT, "/eureka/apps/ORDERS/i-1/status", &[]),
            (Method::PUT, "/eureka/apps//i-1", &[]),
            (Method::PUT, "/eureka/apps/ORDERS/i-1", &[("content-length", "2")]),
            (Method::PUT, "/eureka/apps/ORDERS/i-1", &[("content-encoding", "gzip")]),
            (
                Method::PUT,
                "/eureka/apps/ORDERS/i-1?lastDirtyTimestamp=1&lastDirtyTimestamp=2",
                &[],
            ),
            (Method::DELETE, "/eureka/apps/ORDERS/i-1", &[]),
        ] {
            assert!(
                claim(method.clone(), uri, headers).is_none(),
                "{method} {uri} {headers:?}"
            );
        }
    }

    #[test]
    fn request_ids_are_v4_uuids() {
        let id = new_request_id();
        let id = uuid::Uuid::parse_str(id.to_str().unwrap()).unwrap();
        assert_eq!(id.get_version_num(), 4);
        assert_eq!(new_request_id().to_str().unwrap().len(), 36);
    }
}
