//! Connection hygiene: how a listener accepts and serves connections so that no client can lock
//! others out by holding connections open.
//!
//! - At most `max_connections` per listener and `max_per_client` per client address: past
//!   either, a new connection is closed at once (refused), never left waiting in the backlog.
//! - A connection must send its first byte, and then each request's headers, within
//!   `header_read_timeout`; an idle keep-alive HTTP/1 connection is closed after the same time
//!   (as Tomcat, which Eureka's own server runs on, closes them after 20 s). HTTP/2 connections
//!   are pinged when idle and closed when the peer stops answering.
//! - Each connection is served by hyper with upgrades (WebSockets); on shutdown, connections
//!   finish their in-flight requests.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Context;
use std::task::Poll;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioExecutor;
use hyper_util::rt::TokioIo;
use hyper_util::rt::TokioTimer;
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::io::ReadBuf;
use tokio::sync::watch;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tower::ServiceExt;
use tower_http::normalize_path::NormalizePath;

/// Open connections per listener by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Open connections per client address by default: a tenth of the listener's, so one address
/// cannot take them all.
pub const DEFAULT_MAX_PER_CLIENT: usize = 1_000;
/// Time to send a request's headers (and to start a new request on an idle connection) by
/// default.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(20);

/// The client's address, as handlers and middleware see it (`ConnectInfo<ClientAddr>`) on
/// every listener [`crate::serve`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// A listener's connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_per_client: usize,
    pub header_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_client: DEFAULT_MAX_PER_CLIENT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
}

/// Open connections per client address.
type PerClient = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// A listener that refuses connections past its limits.
pub struct LimitedListener<L> {
    inner: L,
    open: Arc<Semaphore>,
    per_client: PerClient,
    limits: ConnectionLimits,
}

impl<L> LimitedListener<L>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    L::Io: Unpin,
{
    pub fn new(inner: L, limits: ConnectionLimits) -> Self {
        Self {
            inner,
            open: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            per_client: PerClient::default(),
            limits,
        }
    }

    /// The next connection within the limits; those past them are closed as they come.
    pub async fn accept(&mut self) -> (Limited<L::Io>, SocketAddr) {
        loop {
            let (io, addr) = self.inner.accept().await;
            let Ok(permit) = self.open.clone().try_acquire_owned() else {
                tracing::debug!(client = %addr, "connection refused: the listener is full");
                continue;
            };
            let Some(slot) = ClientSlot::take(&self.per_client, addr.ip(), self.limits.max_per_client) else {
                tracing::debug!(client = %addr, "connection refused: this client holds too many");
                continue;
            };
            let first_byte = Box::pin(tokio::time::sleep(self.limits.header_read_timeout));
            let connection = Limited {
                io,
                first_byte: Some(first_byte),
                _permit: permit,
                _slot: slot,
            };
            return (connection, addr);
        }
    }
}

/// One connection counted against its client's share until it closes.
struct ClientSlot {
    per_client: PerClient,
    ip: IpAddr,
}

impl ClientSlot {
    fn take(per_client: &PerClient, ip: IpAddr, max: usize) -> Option<Self> {
        let mut counts = per_client.lock();
        let open = counts.entry(ip).or_default();
        if *open >= max.max(1) {
            return None;
        }
        *open += 1;
        Some(Self {
            per_client: per_client.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut counts = self.per_client.lock();
        if let Some(open) = counts.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// A connection counted against its listener's and its client's limits until it closes, which
/// fails its reads if no byte arrives in time after it was accepted.
pub struct Limited<Io> {
    io: Io,
    /// Until the first byte is read.
    first_byte: Option<Pin<Box<Sleep>>>,
    _permit: OwnedSemaphorePermit,
    _slot: ClientSlot,
}

impl<Io: AsyncRead + Unpin> AsyncRead for Limited<Io> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.io).poll_read(cx, buf);
        if self.first_byte.is_some() {
            match &read {
                Poll::Ready(Ok(())) if buf.filled().len() > before => self.first_byte = None,
                Poll::Pending => {
                    if let Some(deadline) = self.first_byte.as_mut() {
                        if deadline.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no request in time")));
                        }
                    }
                }
                _ => {}
            }
        }
        read
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

/// Serves `app` on `listener` until `shutdown` resolves, then lets open connections finish
/// their in-flight requests. Handlers see the client's address as `ConnectInfo<ClientAddr>`.
pub async fn run<L>(
    mut listener: LimitedListener<L>,
    app: NormalizePath<Router>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    L::Io: Unpin,
{
    let header_read_timeout = listener.limits.header_read_timeout;
    let (stop, stopping) = watch::channel(false);
    let (done, all_done) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let service = app.clone().map_request(move |request: axum::http::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(ClientAddr(addr)));
            request
        });
        let mut stopping = stopping.clone();
        let all_done = all_done.clone();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            builder
                .http2()
                .timer(TokioTimer::new())
                .enable_connect_protocol()
                .keep_alive_interval(header_read_timeout)
                .keep_alive_timeout(header_read_timeout);
            let connection =
                builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = async { stopping.wait_for(|s| *s).await.map(|_| ()) } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::trace!(client = %addr, error = %e, "connection ended");
            }
            drop(all_done);
        });
    }
    let _ = stop.send(true);
    drop(all_done);
    done.closed().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_at_most_its_share_and_gets_slots_back() {
        let per_client = PerClient::default();
        let ip: IpAddr = [127, 0, 0, 1].into();
        let first = ClientSlot::take(&per_client, ip, 2).unwrap();
        let second = ClientSlot::take(&per_client, ip, 2).unwrap();
        assert!(ClientSlot::take(&per_client, ip, 2).is_none());
        assert!(ClientSlot::take(&per_client, [127, 0, 0, 2].into(), 2).is_some());
        drop(first);
        let third = ClientSlot::take(&per_client, ip, 2);
        assert!(third.is_some());
        drop((second, third));
        assert!(
            per_client.lock().is_empty(),
            "no address kept once its connections closed"
        );
    }
}
