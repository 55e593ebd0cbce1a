//! Limits that keep one client from exhausting a node: the size of request bodies, the number
//! of open connections per listener, and requests per second per client address (token
//! buckets; 429 in the protocol's own format, with `Retry-After`).

use std::io;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Context;
use std::task::Poll;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::IncomingStream;
use governor::clock::Clock;
use governor::clock::DefaultClock;
use governor::DefaultKeyedRateLimiter;
use governor::Quota;
use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::io::ReadBuf;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::Semaphore;

use crate::auth::policy;
use crate::refusal::refusal;
use crate::refusal::Refusal;

/// Largest request body by default (a registration is a few KiB; a schema may be more).
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Open connections per listener by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// How often idle clients' buckets are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// The limits of one node's HTTP listeners.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    pub max_body_bytes: usize,
    pub max_connections: usize,
    /// Requests per second each client address may make, with bursts of `rate_burst`; `None`:
    /// no rate limit.
    pub rate_per_client: Option<NonZeroU32>,
    pub rate_burst: Option<NonZeroU32>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            rate_per_client: None,
            rate_burst: None,
        }
    }
}

/// The client's address, as handlers and middleware see it (`ConnectInfo<ClientAddr>`) on
/// every listener [`crate::serve`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl<L> Connected<IncomingStream<'_, LimitedListener<L>>> for ClientAddr
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    L::Io: Unpin,
{
    fn connect_info(stream: IncomingStream<'_, LimitedListener<L>>) -> Self {
        ClientAddr(*stream.remote_addr())
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
pub async fn limit_rate(State(limit): State<Arc<RateLimit>>, request: Request, next: Next) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map(|c| c.0 .0.ip());
    if let Some(client) = client {
        if let Err(wait) = limit.check(client) {
            let protocol = policy::protocol_of(request.uri().path());
            tracing::debug!(%client, "rate limit exceeded");
            return refusal(protocol, &Refusal::TooManyRequests { retry_after: wait });
        }
    }
    next.run(request).await
}

/// Answers a body over the limit (axum's 413) in the protocol's format.
pub async fn explain_too_large(request: Request, next: Next) -> Response {
    let protocol = policy::protocol_of(request.uri().path());
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return refusal(protocol, &Refusal::TooLarge);
    }
    response
}

/// A listener that holds at most `max` connections open: past it, it stops accepting until one
/// closes (new clients wait in the kernel's backlog).
pub struct LimitedListener<L> {
    inner: L,
    open: Arc<Semaphore>,
}

impl<L> LimitedListener<L> {
    pub fn new(inner: L, max: usize) -> Self {
        Self {
            inner,
            open: Arc::new(Semaphore::new(max.max(1))),
        }
    }
}

impl<L: axum::serve::Listener> axum::serve::Listener for LimitedListener<L>
where
    L::Io: Unpin,
{
    type Io = Limited<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let permit = match self.open.clone().acquire_owned().await {
            Ok(p) => p,
            // The semaphore is never closed.
            Err(_) => std::future::pending().await,
        };
        let (io, addr) = self.inner.accept().await;
        (Limited { io, _permit: permit }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection counted against its listener's limit until it closes.
pub struct Limited<Io> {
    io: Io,
    _permit: OwnedSemaphorePermit,
}

impl<Io: AsyncRead + Unpin> AsyncRead for Limited<Io> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Limited<Io> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
