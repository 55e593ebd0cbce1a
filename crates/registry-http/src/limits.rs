//! Limits that keep one client from exhausting a node: the size of request bodies and requests
//! per second per client address (token buckets; 429 in the protocol's own format, with
//! `Retry-After`), refused as the request's endpoint ([`crate::endpoint`]) renders refusals. Connection limits live in [`crate::connections`].

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::Clock;
use governor::clock::DefaultClock;
use governor::DefaultKeyedRateLimiter;
use governor::Quota;

use crate::connections::ClientAddr;
use crate::connections::ConnectionLimits;
use crate::endpoint::RequestEndpoint;
use crate::refusal::Refusal;

/// Largest request body by default (a registration is a few KiB; a schema may be more).
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// How often idle clients' buckets are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// The limits of one node's HTTP listeners.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    pub max_body_bytes: usize,
    /// Open connections per listener and per client, and the header-read timeout.
    pub connections: ConnectionLimits,
    /// Requests per second each client address may make, with bursts of `rate_burst`; `None`:
    /// no rate limit.
    pub rate_per_client: Option<NonZeroU32>,
    pub rate_burst: Option<NonZeroU32>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            connections: ConnectionLimits::default(),
            rate_per_client: None,
            rate_burst: None,
        }
    }
}

/// Per-client token buckets.
pub struct RateLimit {
    buckets: DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimit {
    /// Buckets of `per_second` requests a second, holding `burst` (default: one second's worth);
    /// idle clients are forgotten every minute.
    pub fn start(per_second: NonZeroU32, burst: Option<NonZeroU32>) -> Arc<Self> {
        let quota = Quota::per_second(per_second).allow_burst(burst.unwrap_or(per_second));
        let limit = Arc::new(Self {
            buckets: DefaultKeyedRateLimiter::keyed(quota),
        });
        let weak = Arc::downgrade(&limit);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(FORGET_EVERY).await;
                let Some(limit) = weak.upgrade() else { return };
                limit.buckets.retain_recent();
            }
        });
        limit
    }

    /// `Ok` if `client` may make a request now, else how long until it may.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.buckets
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// The rate-limit middleware: 429 in the protocol's format once a client exceeds its rate.
///
/// The limit goes with the request (an extension), so that handlers of long-lived connections
/// (WebSockets) count each frame against the same budget.
///
/// `/health` is exempt (its endpoint says so): probes and load balancers must learn how the node is, whatever the
/// traffic from their address.
pub async fn limit_rate(State(limit): State<Arc<RateLimit>>, mut request: Request, next: Next) -> Response {
    let endpoint = RequestEndpoint::of(request.extensions());
    if !endpoint.rate_limited() {
        return next.run(request).await;
    }
    let client = request
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map(|c| c.0 .0.ip());
    if let Some(client) = client {
        if let Err(wait) = limit.check(client) {
            tracing::debug!(%client, "rate limit exceeded");
            return endpoint.refuse(&Refusal::TooManyRequests { retry_after: wait });
        }
    }
    request.extensions_mut().insert(limit);
    next.run(request).await
}

/// Answers a body over the limit (axum's 413) in the protocol's format.
pub async fn explain_too_large(request: Request, next: Next) -> Response {
    let endpoint = RequestEndpoint::of(request.extensions());
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return endpoint.refuse(&Refusal::TooLarge);
    }
    response
}
