//! UDP push to Nacos 1.x subscribers (the Node SDK `nacos`, Nacos's Java 1.x client, the Go and
//! C# 1.x clients): a `GET /nacos/v1/ns/instance/list` carrying `udpPort` > 0 from a client that
//! takes pushes subscribes its `ip:udpPort` to the service, and when the service's instances
//! change this node sends the service's list there as Nacos's `UdpPushService` does, and sends
//! it once more if no ack comes within 10 s. The contract is `docs/nacos.md`, "v1 subscribers
//! and UDP push".
//!
//! - [`subscribers`]: the bounded table of subscribers; [`agent`]: which clients are pushed to;
//! - [`packet`]: the push and ack datagrams; [`metrics`]: its `/metrics`;
//! - [`worker`]: the `nacos-udp-push` worker that follows the change feed, pushes, reads acks
//!   and retries.
//!
//! Unlike Nacos, pushes go to the address the list request came from, never to its `clientIP`
//! parameter: a request cannot make this node send datagrams to a third party. Sends are
//! rate-limited per address and in total, and a request never waits on the push side.

pub mod agent;
pub mod metrics;
pub mod packet;
pub mod subscribers;
pub mod worker;

use std::convert::Infallible;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use parking_lot::Mutex;
use registry_store::model::Tenant;
use tokio::time::Instant;

use self::subscribers::Recorded;
use self::subscribers::Subscriber;
use self::subscribers::SubscriberTable;
use self::subscribers::TableLimits;
use super::mapping::ServiceName;
use crate::connections::ClientAddr;

/// What the push side has done, for `/metrics`.
#[derive(Debug, Default)]
pub struct PushCounters {
    /// Push datagrams sent, retries included.
    pub pushes: AtomicU64,
    /// Pushes sent again for want of an ack.
    pub retries: AtomicU64,
    /// Acks matching a push.
    pub acks: AtomicU64,
    /// Pushes given up after the retry went unanswered.
    pub unacknowledged: AtomicU64,
    /// Pushes not sent: over a rate, too large for a datagram, or the send failed.
    pub dropped: AtomicU64,
    /// List requests with a `udpPort` not subscribed (table full, or an address's share full).
    pub refused: AtomicU64,
}

/// The subscribers and counters, shared by the list handler (which records subscribers) and
/// the push worker.
pub struct UdpPush {
    table: Mutex<SubscriberTable>,
    pub counters: PushCounters,
}

impl UdpPush {
    pub fn new(limits: TableLimits) -> Arc<Self> {
        Arc::new(Self {
            table: Mutex::new(SubscriberTable::new(limits)),
            counters: PushCounters::default(),
        })
    }

    /// Subscribers held now.
    pub fn subscribers(&self) -> usize {
        self.table.lock().len()
    }

    /// Records (or refreshes) a subscriber.
    pub fn record(&self, subscriber: Subscriber) -> Recorded {
        let recorded = self.table.lock().record(subscriber, Instant::now());
        if recorded == Recorded::Refused {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
        }
        recorded
    }

    pub(crate) fn table(&self) -> &Mutex<SubscriberTable> {
        &self.table
    }
}

/// A list request's side of the push: the push state (absent where the router has none, e.g.
/// router tests), the address the request came from and the client's agent.
pub struct PushContext {
    push: Option<Arc<UdpPush>>,
    source: Option<IpAddr>,
    agent: String,
}

impl<S: Send + Sync> FromRequestParts<S> for PushContext {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Put there by the router's `Extension` layer.
        let push = parts.extensions.get::<Arc<UdpPush>>().cloned();
        let source = parts
            .extensions
            .get::<ConnectInfo<ClientAddr>>()
            .map(|ConnectInfo(ClientAddr(addr))| addr.ip());
        // `WebUtils.getUserAgent`: `User-Agent`, else `Client-Version`.
        let header_text = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let agent = header_text(header::USER_AGENT.as_str())
            .or_else(|| header_text("client-version"))
            .unwrap_or_default();
        Ok(Self { push, source, agent })
    }
}

impl PushContext {
    /// Subscribes the request's source address at `udp_port` to `service` (its `clusters`, as
    /// given) when the port is one and the client takes pushes. `client_ip` (the `clientIP`
    /// parameter) is not where pushes go: the request's source address is, whatever it says.
    pub fn subscribe(&self, tenant: &Tenant, service: &ServiceName, clusters: &str, udp_port: i64) {
        let (Some(push), Some(ip)) = (&self.push, self.source) else {
            return;
        };
        let Ok(port) = u16::try_from(udp_port) else { return };
        if port == 0 || !agent::takes_push(&self.agent) {
            return;
        }
        push.record(Subscriber {
            tenant: tenant.clone(),
            service: service.clone(),
            clusters: clusters.to_string(),
            address: SocketAddr::new(ip.to_canonical(), port),
        });
    }
}
