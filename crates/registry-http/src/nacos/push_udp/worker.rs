//! The `nacos-udp-push` worker: follows this node's change feed, and every round pushes the
//! current list of each changed service to its subscribers (one datagram each, from one UDP
//! socket per address family), reads their acks on the same socket, and sends an unanswered
//! push once more after [`ACK_TIMEOUT`] (`UdpConnector`: `ACK_TIMEOUT_NANOS` 10 s,
//! `UDP_MAX_RETRY_TIMES` 1), unless a newer push to the same subscriber replaced it. Sends never
//! wait (`try_send_to`), and are rate-limited per address and in total; what is over a limit is
//! dropped (the client polls the list every `cacheMillis` anyway).

use std::collections::HashMap;
use std::net::IpAddr;
use std::net::Ipv4Addr;
use std::net::Ipv6Addr;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use registry_store::change::Change;
use registry_store::feed::FeedError;
use registry_store::feed::Subscription;
use registry_store::model::Revision;
use registry_store::model::Tenant;
use registry_store::node::wall_clock_ms;
use registry_store::record::Entity;
use registry_store::registry::Registry;
use registry_store::worker::stopped;
use registry_store::worker::StopSignal;
use registry_store::worker::Worker;
use registry_store::worker::WorkerStatus;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::packet;
use super::subscribers::Dirty;
use super::subscribers::Subscriber;
use super::UdpPush;
use crate::nacos::mapping::NacosSettings;
use crate::nacos::ops::Nacos;

/// How long a push waits for its ack before it is sent again (`Constants.ACK_TIMEOUT_NANOS`).
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends after the first one (`Constants.UDP_MAX_RETRY_TIMES`).
pub const MAX_RETRIES: u32 = 1;

/// How often changes are gathered into pushes (Nacos delays a push task by 500 ms to merge
/// changes; here a round every 200 ms does the same).
pub const ROUND: Duration = Duration::from_millis(200);

/// How often idle subscribers are dropped.
const EXPIRY_EVERY: Duration = Duration::from_secs(5);

/// The push side's rates and bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PushLimits {
    /// Datagrams per second to one IP address, and the burst.
    pub per_ip_rate: f64,
    pub per_ip_burst: f64,
    /// Datagrams per second in total, and the burst.
    pub total_rate: f64,
    pub total_burst: f64,
    /// Pushes awaiting an ack; beyond it a push is sent without a retry.
    pub max_pending: usize,
    /// How long a push waits for its ack before it is sent again ([`ACK_TIMEOUT`]).
    pub ack_timeout: Duration,
}

impl Default for PushLimits {
    fn default() -> Self {
        Self {
            per_ip_rate: 200.0,
            per_ip_burst: 400.0,
            total_rate: 5_000.0,
            total_burst: 10_000.0,
            max_pending: 20_000,
            ack_timeout: ACK_TIMEOUT,
        }
    }
}

/// A token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Self { tokens: burst, at: now }
    }

    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
    }
}

/// The send rates: per IP address and in total.
struct Rates {
    limits: PushLimits,
    total: Bucket,
    per_ip: HashMap<IpAddr, Bucket>,
}

impl Rates {
    fn new(limits: PushLimits, now: Instant) -> Self {
        Self {
            limits,
            total: Bucket::full(limits.total_burst, now),
            per_ip: HashMap::new(),
        }
    }

    /// Takes a token for a datagram to `ip`, if both buckets have one.
    fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        let l = self.limits;
        self.total.refill(l.total_rate, l.total_burst, now);
        let bucket = self
            .per_ip
            .entry(ip)
            .or_insert_with(|| Bucket::full(l.per_ip_burst, now));
        bucket.refill(l.per_ip_rate, l.per_ip_burst, now);
        if self.total.tokens < 1.0 || bucket.tokens < 1.0 {
            return false;
        }
        self.total.tokens -= 1.0;
        bucket.tokens -= 1.0;
        true
    }

    /// Forgets the addresses whose bucket has filled up again (nothing sent there lately).
    fn forget_idle(&mut self, now: Instant) {
        let l = self.limits;
        self.per_ip.retain(|_, b| {
            b.refill(l.per_ip_rate, l.per_ip_burst, now);
            b.tokens < l.per_ip_burst
        });
    }
}

/// Who a push goes to, for replacing an older push to the same subscriber.
type SubscriberId = (SocketAddr, Tenant, String, String);

/// A push waiting for its ack.
struct Pending {
    bytes: Arc<Vec<u8>>,
    sent_at: Instant,
    sends: u32,
    subscriber: SubscriberId,
}

/// The worker; see the module doc.
pub struct PushWorker {
    push: Arc<UdpPush>,
    registry: Arc<dyn Registry>,
    nacos: Nacos,
    limits: PushLimits,
    /// The revision it follows the feed from: the one applied when it was made, so no change
    /// between the node's composition and the worker's first run is missed.
    from: Revision,
}

impl UdpPush {
    /// The worker pushing to this table's subscribers from `registry`'s changes after the
    /// revision applied now.
    pub fn worker(
        self: &Arc<Self>,
        registry: Arc<dyn Registry>,
        settings: NacosSettings,
        limits: PushLimits,
    ) -> PushWorker {
        PushWorker {
            push: self.clone(),
            nacos: Nacos::new(registry.clone(), settings),
            from: registry.revision(),
            registry,
            limits,
        }
    }
}

/// The next change, or never when there is no subscription.
async fn next_change(subscription: &mut Option<Subscription>) -> Result<Arc<Change>, FeedError> {
    match subscription {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// A datagram on `socket`, or never when there is none.
async fn receive(socket: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// The state of one running worker.
struct Run {
    v4: UdpSocket,
    v6: Option<UdpSocket>,
    rates: Rates,
    pending: HashMap<(SocketAddr, u64), Pending>,
    newest: HashMap<SubscriberId, u64>,
    last_ref_time: u64,
}

impl Run {
    /// A fresh `lastRefTime` (Nacos's `System.nanoTime()`): wall-clock nanoseconds, increasing.
    fn next_ref_time(&mut self) -> u64 {
        let now = wall_clock_ms().saturating_mul(1_000_000);
        self.last_ref_time = now.max(self.last_ref_time + 1);
        self.last_ref_time
    }

    fn socket_for(&self, to: SocketAddr) -> Option<&UdpSocket> {
        match to {
            SocketAddr::V4(_) => Some(&self.v4),
            SocketAddr::V6(_) => self.v6.as_ref(),
        }
    }

    /// Sends `bytes` to `to` if the rates allow, without waiting.
    fn send(&mut self, push: &UdpPush, to: SocketAddr, bytes: &[u8], now: Instant) -> bool {
        let sent =
            self.rates.allow(to.ip(), now) && self.socket_for(to).is_some_and(|s| s.try_send_to(bytes, to).is_ok());
        let counter = if sent {
            &push.counters.pushes
        } else {
            &push.counters.dropped
        };
        counter.fetch_add(1, Ordering::Relaxed);
        sent
    }
}

impl PushWorker {
    /// Marks the service `change` touches as changed, if anyone could be subscribed to it.
    fn note(&self, change: &Change, dirty: &mut Dirty) {
        if self.push.table().lock().is_empty() {
            return;
        }
        match &change.entity {
            Entity::Instance(instance) => {
                let service = instance.service_ref();
                let name = self
                    .registry
                    .read(|applied| applied.state.service(&service).map(|s| s.name.to_ascii_lowercase()));
                match name {
                    Some(name) => dirty.services.insert((instance.tenant.clone(), name)),
                    None => dirty.tenants.insert(instance.tenant.clone()),
                };
            }
            Entity::Service(service) => {
                dirty
                    .services
                    .insert((service.tenant.clone(), service.name.to_ascii_lowercase()));
            }
            _ => {}
        }
    }

    /// Pushes the changed services to their subscribers.
    fn push_changes(&self, run: &mut Run, dirty: Dirty, now: Instant) {
        let subscribers = self.push.table().lock().of(&dirty);
        if subscribers.is_empty() {
            return;
        }
        let mut groups: HashMap<(Tenant, String, String), (Subscriber, Vec<SocketAddr>)> = HashMap::new();
        for s in subscribers {
            let key = (s.tenant.clone(), s.service.grouped(), s.clusters.clone());
            groups
                .entry(key)
                .or_insert_with(|| (s.clone(), Vec::new()))
                .1
                .push(s.address);
        }
        let ref_time = run.next_ref_time();
        for ((tenant, grouped, clusters), (s, addresses)) in groups {
            // Nacos pushes every enabled instance, healthy or not (`healthyOnly` false).
            let info = self.nacos.list(tenant.clone(), &s.service, &clusters, false);
            let bytes = match packet::encode_push(&info, ref_time) {
                Ok(bytes) => Arc::new(bytes),
                Err(e) => {
                    tracing::debug!(service = %grouped, error = %e, "UDP push not sent");
                    self.push
                        .counters
                        .dropped
                        .fetch_add(addresses.len() as u64, Ordering::Relaxed);
                    continue;
                }
            };
            for to in addresses {
                if !run.send(&self.push, to, &bytes, now) {
                    continue;
                }
                let id: SubscriberId = (to, tenant.clone(), grouped.clone(), clusters.clone());
                if let Some(older) = run.newest.insert(id.clone(), ref_time) {
                    run.pending.remove(&(to, older));
                }
                if run.pending.len() < self.limits.max_pending {
                    run.pending.insert(
                        (to, ref_time),
                        Pending {
                            bytes: bytes.clone(),
                            sent_at: now,
                            sends: 1,
                            subscriber: id,
                        },
                    );
                }
            }
        }
    }

    /// Sends again the pushes unanswered for the ack timeout; gives up on those sent
    /// `1 + MAX_RETRIES` times.
    fn retry(&self, run: &mut Run, now: Instant) {
        let due: Vec<(SocketAddr, u64)> = run
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.sent_at) >= self.limits.ack_timeout)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            let Some(mut p) = run.pending.remove(&key) else {
                continue;
            };
            if p.sends > MAX_RETRIES {
                self.push.counters.unacknowledged.fetch_add(1, Ordering::Relaxed);
                run.newest.remove(&p.subscriber);
                continue;
            }
            let bytes = p.bytes.clone();
            if run.send(&self.push, key.0, &bytes, now) {
                self.push.counters.retries.fetch_add(1, Ordering::Relaxed);
            }
            p.sends += 1;
            p.sent_at = now;
            run.pending.insert(key, p);
        }
    }

    /// An ack from `from`: its push is done.
    fn ack(&self, run: &mut Run, datagram: &[u8], from: SocketAddr) {
        let Some(ack) = packet::decode_ack(datagram) else {
            return;
        };
        let from = SocketAddr::new(from.ip().to_canonical(), from.port());
        if let Some(p) = run.pending.remove(&(from, ack.last_ref_time)) {
            self.push.counters.acks.fetch_add(1, Ordering::Relaxed);
            if run.newest.get(&p.subscriber) == Some(&ack.last_ref_time) {
                run.newest.remove(&p.subscriber);
            }
        }
    }

    async fn work(self, mut stop: StopSignal, status: WorkerStatus) -> Result<(), String> {
        let v4 = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .await
            .map_err(|e| format!("cannot open the UDP push socket: {e}"))?;
        let v6 = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).await.ok();
        let now = Instant::now();
        let mut run = Run {
            v4,
            v6,
            rates: Rates::new(self.limits, now),
            pending: HashMap::new(),
            newest: HashMap::new(),
            last_ref_time: 0,
        };
        let mut subscription: Option<Subscription> = None;
        let mut from = Some(self.from);
        let mut dirty = Dirty::default();
        let mut ticker = tokio::time::interval(ROUND);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_expiry = now + EXPIRY_EVERY;
        let mut buf4 = vec![0u8; packet::MAX_ACK + 1];
        let mut buf6 = vec![0u8; packet::MAX_ACK + 1];
        loop {
            if subscription.is_none() {
                let after = from.take().unwrap_or_else(|| self.registry.revision());
                match self.registry.subscribe(after) {
                    Ok(s) => subscription = Some(s),
                    Err(FeedError::Compacted { .. }) => dirty.all = true,
                    Err(e) => status.error(&e),
                }
            }
            tokio::select! {
                _ = stopped(&mut stop) => return Ok(()),
                change = next_change(&mut subscription) => match change {
                    Ok(change) => self.note(&change, &mut dirty),
                    // Fell behind: push every subscribed service's list once.
                    Err(FeedError::Compacted { .. }) => {
                        subscription = None;
                        dirty.all = true;
                    }
                    Err(FeedError::Closed) => return Ok(()),
                },
                got = run.v4.recv_from(&mut buf4) => {
                    if let Ok((n, from)) = got {
                        self.ack(&mut run, &buf4[..n.min(buf4.len())], from);
                    }
                }
                got = receive(run.v6.as_ref(), &mut buf6) => {
                    if let Ok((n, from)) = got {
                        self.ack(&mut run, &buf6[..n.min(buf6.len())], from);
                    }
                }
                _ = ticker.tick() => {
                    let now = Instant::now();
                    if now >= next_expiry {
                        self.push.table().lock().expire(now);
                        run.rates.forget_idle(now);
                        next_expiry = now + EXPIRY_EVERY;
                    }
                    if !dirty.is_empty() {
                        self.push_changes(&mut run, std::mem::take(&mut dirty), now);
                        status.activity();
                    }
                    self.retry(&mut run, now);
                }
            }
        }
    }
}

impl Worker for PushWorker {
    fn name(&self) -> String {
        "nacos-udp-push".into()
    }

    fn run(self: Box<Self>, stop: StopSignal, status: WorkerStatus) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(self.work(stop, status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_bound_one_address_and_the_total() {
        let limits = PushLimits {
            per_ip_rate: 10.0,
            per_ip_burst: 20.0,
            total_rate: 100.0,
            total_burst: 50.0,
            max_pending: 10,
            ack_timeout: ACK_TIMEOUT,
        };
        let t0 = Instant::now();
        let mut rates = Rates::new(limits, t0);
        let victim: IpAddr = "192.0.2.1".parse().unwrap();
        let sent = (0..1000).filter(|_| rates.allow(victim, t0)).count();
        assert_eq!(sent, 20, "one address gets its burst, no more");
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..1000).filter(|_| rates.allow(victim, t1)).count(), 10);
        // Many addresses: the total bound holds.
        let others = (0..1000u32)
            .filter(|i| rates.allow(IpAddr::from(Ipv4Addr::from(0x0a00_0000 + i)), t1))
            .count();
        assert_eq!(
            others, 40,
            "the total bucket refilled to its burst, less the victim's 10"
        );
        rates.forget_idle(t1 + Duration::from_secs(60));
        assert!(rates.per_ip.is_empty());
    }
}
