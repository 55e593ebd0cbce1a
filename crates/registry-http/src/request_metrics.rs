//! Latency of every HTTP request, by route (the matched path pattern, so ids do not make new
//! series), method and status, and refusals by reason: a middleware layer that records into
//! families the `/metrics` route exposes; and clients' writes to the registry by protocol and
//! operation (`register`, `renew`, `cancel`, `status`, ...), from each request's endpoint
//! ([`crate::endpoint`]).
//!
//! Long polls (Eureka's `/apps/delta?waitRevision=`) wait up to 60 s by design, so a handler
//! marks its response with [`LongPoll`] and the middleware records it in a histogram of its own:
//! their waits never stretch the ordinary latencies. (A ServiceCenter watch answers its upgrade at
//! once and is timed as an ordinary request; the socket's life is not a request's latency.)

use std::sync::Arc;
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::extract::Request;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use crate::auth::users::Role;
use crate::endpoint::RequestEndpoint;

/// Upper bounds of the ordinary latency buckets, in seconds: fine below 10 ms where reads are,
/// and on to 60 s so a write that times out (10 s) or a stuck request lands in a finite bucket.
pub const REQUEST_BUCKETS: [f64; 20] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
    20.0, 30.0, 60.0,
];

/// Upper bounds of the long-poll buckets, in seconds: a poll answers early on a change, or after
/// its wait (30 s by default, at most 60 s) plus the time to build the answer.
pub const LONG_POLL_BUCKETS: [f64; 11] = [0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 75.0];

/// Response extension set by a handler that waited on purpose (a long poll).
#[derive(Clone, Copy, Debug)]
pub struct LongPoll;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route pattern (`/eureka/apps/{app}`), or `unmatched`.
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// `unauthorized`, `forbidden`, `payload_too_large` or `rate_limited`.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// `eureka`, `servicecenter` or `node`.
    pub protocol: &'static str,
    /// The endpoint's operation: `register`, `renew`, `cancel`, `status`, `metadata`, ...
    pub operation: &'static str,
}

/// Request durations in seconds, refusals and operations.
#[derive(Clone)]
pub struct RequestMetrics {
    /// Every request but long polls, from 100 µs to 60 s.
    pub durations: Family<RequestLabels, Histogram>,
    /// Long polls, from 10 ms to 75 s.
    pub long_polls: Family<RequestLabels, Histogram>,
    /// Answers refusing a client (401, 403, 413, 429), whichever layer gave them.
    pub refusals: Family<RefusalLabels, Counter>,
    /// Writes to the registry (requests needing the `write` role: registrations, renewals,
    /// cancellations, status and metadata changes, ...) answered with success (2xx, 3xx), by
    /// protocol and operation. Reads and the node's own operations are not counted.
    pub operations: Family<OperationLabels, Counter>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        let refusals = Family::<RefusalLabels, Counter>::default();
        // Every reason is there from the start, at 0, so rates and alerts need no `absent()`.
        for reason in REFUSAL_REASONS {
            let _ = refusals.get_or_create(&RefusalLabels {
                reason: reason.to_string(),
            });
        }
        Self {
            durations: Family::new_with_constructor(|| Histogram::new(REQUEST_BUCKETS)),
            long_polls: Family::new_with_constructor(|| Histogram::new(LONG_POLL_BUCKETS)),
            refusals,
            operations: Family::default(),
        }
    }
}

const REFUSAL_REASONS: [&str; 4] = ["unauthorized", "forbidden", "payload_too_large", "rate_limited"];

/// The refusal a status stands for, if it is one.
pub fn refusal_reason(status: StatusCode) -> Option<&'static str> {
    match status {
        StatusCode::UNAUTHORIZED => Some("unauthorized"),
        StatusCode::FORBIDDEN => Some("forbidden"),
        StatusCode::PAYLOAD_TOO_LARGE => Some("payload_too_large"),
        StatusCode::TOO_MANY_REQUESTS => Some("rate_limited"),
        _ => None,
    }
}

/// The middleware: times the request and records it once the response is ready.
pub async fn record(State(metrics): State<Arc<RequestMetrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().as_str().to_string();
    let endpoint = RequestEndpoint::of(request.extensions());
    let writes = endpoint.requirement().is_some_and(|r| r.role == Role::Write);
    let response = next.run(request).await;
    let status = response.status();
    if writes && (status.is_success() || status.is_redirection()) {
        metrics.operation(endpoint.protocol(), endpoint.operation()).inc();
    }
    metrics.count_refusal(status);
    let labels = RequestLabels {
        route,
        method,
        status: status.as_u16(),
    };
    let histograms = if response.extensions().get::<LongPoll>().is_some() {
        &metrics.long_polls
    } else {
        &metrics.durations
    };
    histograms
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

impl RequestMetrics {
    /// The counter of `protocol`'s successful `operation` (a handle sharing the family's).
    pub fn operation(&self, protocol: &'static str, operation: &'static str) -> Counter {
        self.operations
            .get_or_create(&OperationLabels { protocol, operation })
            .clone()
    }

    /// Counts an answer with `status` if it refuses the client.
    pub fn count_refusal(&self, status: StatusCode) {
        if let Some(reason) = refusal_reason(status) {
            self.refusals
                .get_or_create(&RefusalLabels {
                    reason: reason.to_string(),
                })
                .inc();
        }
    }

    /// The ordinary latency histogram of `route`, `method` and `status` (a handle sharing the
    /// family's: callers on a hot path keep it).
    pub fn duration(&self, route: &str, method: &str, status: StatusCode) -> Histogram {
        self.durations
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method: method.to_string(),
                status: status.as_u16(),
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_by_status_and_buckets_to_a_minute() {
        assert_eq!(refusal_reason(StatusCode::UNAUTHORIZED), Some("unauthorized"));
        assert_eq!(refusal_reason(StatusCode::FORBIDDEN), Some("forbidden"));
        assert_eq!(refusal_reason(StatusCode::PAYLOAD_TOO_LARGE), Some("payload_too_large"));
        assert_eq!(refusal_reason(StatusCode::TOO_MANY_REQUESTS), Some("rate_limited"));
        assert_eq!(refusal_reason(StatusCode::NOT_FOUND), None);
        assert!(REQUEST_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert!(LONG_POLL_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(REQUEST_BUCKETS.last(), Some(&60.0));
        assert!(*LONG_POLL_BUCKETS.last().unwrap() > 60.0);
    }

    #[tokio::test]
    async fn successful_writes_count_as_their_endpoints_operation() {
        use axum::routing::post;
        use tower::ServiceExt;

        let metrics = Arc::new(RequestMetrics::default());
        let endpoints = Arc::new(crate::endpoint::Endpoints::new(vec![
            crate::eureka::endpoint::parser(registry_store::model::Tenant::default_tenant()),
            crate::node_endpoint::parser(),
        ]));
        let app = axum::Router::new()
            .route("/eureka/apps", axum::routing::get(|| async { StatusCode::OK }))
            .route("/eureka/apps/{app}", post(|| async { StatusCode::NO_CONTENT }))
            .route(
                "/eureka/apps/{app}/{id}",
                axum::routing::put(|| async { StatusCode::NOT_FOUND }),
            )
            .layer(axum::middleware::from_fn_with_state(metrics.clone(), record))
            .layer(axum::middleware::from_fn_with_state(
                endpoints,
                crate::endpoint::classify,
            ));
        for (method, path) in [
            ("POST", "/eureka/apps/A"),
            ("PUT", "/eureka/apps/A/i-1"),
            ("GET", "/eureka/apps"),
        ] {
            let request = Request::builder()
                .method(method)
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap();
            app.clone().oneshot(request).await.unwrap();
        }
        let count = |operation| {
            metrics
                .operations
                .get_or_create(&OperationLabels {
                    protocol: "eureka",
                    operation,
                })
                .get()
        };
        assert_eq!(count("register"), 1);
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("operations", "ops", metrics.operations.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"operations_total{protocol="eureka",operation="register"} 1"#),
            "{text}"
        );
        // A renewal answered 404 renewed nothing; a fetch writes nothing.
        assert_eq!(count("renew"), 0);
        assert_eq!(count("fetch"), 0);
    }
}
