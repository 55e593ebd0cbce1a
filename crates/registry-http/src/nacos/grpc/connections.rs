//! The connections of Nacos 2.x clients to this node and what each holds: its id, whether its
//! stream set it up, when it was last heard from, the sender of its stream's pushes, the leases
//! of the ephemeral instances it registered and the services it subscribed to.
//!
//! A connection is known by the client's address (one HTTP/2 connection carries both the
//! unary requests and the stream, as Nacos's `CONTEXT_KEY_CONN_ID` keys them by transport).
//! It is registered when its stream's `ConnectionSetupRequest` arrives and gone when the
//! stream ends (the client closed it, its process died, HTTP/2 keep-alive gave up on it) or
//! when it stays silent past [`IDLE_LIMIT`] and the detection grace.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

use parking_lot::Mutex;
use registry_store::model::InstanceKey;
use registry_store::model::Tenant;
use registry_store::node::wall_clock_ms;
use tokio::sync::mpsc;

use super::codec;
use super::codec::GrpcError;
use super::proto::Payload;
use crate::nacos::mapping::ServiceName;
use crate::nacos::wire::Host;

/// Nacos's `KEEP_ALIVE_TIME` (`NacosRuntimeConnectionEjector`): a connection silent this long
/// is asked whether its client is there (`ClientDetectionRequest`).
pub const IDLE_LIMIT: Duration = Duration::from_secs(20);
/// And dropped when it stays silent this much longer.
pub const DETECTION_GRACE: Duration = Duration::from_secs(5);
/// Pushes a connection's stream may have queued before more are dropped (the client re-reads
/// on its own schedule; the next change pushes again).
pub const PUSH_QUEUE: usize = 64;

/// What a subscription is to: a service of a namespace, and the clusters asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionKey {
    pub tenant: Tenant,
    pub namespace: String,
    /// `group@@service`.
    pub grouped: String,
    pub clusters: String,
}

/// One subscription and the hosts last pushed for it.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub name: ServiceName,
    pub last_sent: Option<Vec<Host>>,
}

/// A subscription to check, with where to push its changes.
#[derive(Debug, Clone)]
pub struct Subscribed {
    pub remote: SocketAddr,
    pub key: SubscriptionKey,
    pub subscription: Subscription,
    pub push: mpsc::Sender<Payload>,
}

#[derive(Debug)]
struct Connection {
    id: String,
    registered: bool,
    last_active: Instant,
    detection_sent: bool,
    push: Option<mpsc::Sender<Payload>>,
    leases: HashSet<InstanceKey>,
    subscriptions: BTreeMap<SubscriptionKey, Subscription>,
}

/// Most connections one node holds, and from one IP address (a client keeps one; a host of
/// many clients some hundreds): past them a new connection is refused.
pub const MAX_CONNECTIONS: usize = 10_000;
pub const MAX_PER_IP: usize = 1_000;
/// Most instances one connection keeps registered (its leases).
pub const MAX_LEASES: usize = 10_000;

/// This node's Nacos 2.x connections.
#[derive(Debug, Default)]
pub struct Connections {
    by_remote: Mutex<HashMap<SocketAddr, Connection>>,
    next_request: AtomicU64,
}

impl Connections {
    /// The connection from `remote`, a new one if the limits let it in (`OVER_THRESHOLD`
    /// otherwise, as Nacos refuses past its connection limit).
    fn admit(map: &mut HashMap<SocketAddr, Connection>, remote: SocketAddr) -> Result<&mut Connection, GrpcError> {
        if !map.contains_key(&remote) {
            if map.len() >= MAX_CONNECTIONS {
                return Err(GrpcError::refused(
                    codec::OVER_THRESHOLD,
                    format!("Connection limit reached: this node holds {MAX_CONNECTIONS} connections"),
                ));
            }
            if map.keys().filter(|a| a.ip() == remote.ip()).count() >= MAX_PER_IP {
                return Err(GrpcError::refused(
                    codec::OVER_THRESHOLD,
                    format!(
                        "Connection limit reached: {MAX_PER_IP} connections from {}",
                        remote.ip()
                    ),
                ));
            }
        }
        Ok(Self::entry(map, remote))
    }

    fn entry(map: &mut HashMap<SocketAddr, Connection>, remote: SocketAddr) -> &mut Connection {
        map.entry(remote).or_insert_with(|| Connection {
            // Nacos's form: `millis_ip_port`.
            id: format!("{}_{}_{}", wall_clock_ms(), remote.ip(), remote.port()),
            registered: false,
            last_active: Instant::now(),
            detection_sent: false,
            push: None,
            leases: HashSet::new(),
            subscriptions: BTreeMap::new(),
        })
    }

    /// `ServerCheckRequest`: the id of the connection from `remote` (known from now on, not
    /// registered until its stream sets it up).
    pub fn check(&self, remote: SocketAddr) -> Result<String, GrpcError> {
        let mut map = self.by_remote.lock();
        let c = Self::admit(&mut map, remote)?;
        c.last_active = Instant::now();
        Ok(c.id.clone())
    }

    /// `ConnectionSetupRequest` on the stream: the connection is registered, its pushes go to
    /// `push`. Returns its id.
    pub fn setup(&self, remote: SocketAddr, push: mpsc::Sender<Payload>) -> Result<String, GrpcError> {
        let mut map = self.by_remote.lock();
        let c = Self::admit(&mut map, remote)?;
        c.registered = true;
        c.push = Some(push);
        c.last_active = Instant::now();
        c.detection_sent = false;
        Ok(c.id.clone())
    }

    /// Whether the connection from `remote` may hold `more` leases besides those it holds (at
    /// most [`MAX_LEASES`]).
    pub fn may_hold(&self, remote: SocketAddr, more: usize) -> Result<(), GrpcError> {
        let held = self.by_remote.lock().get(&remote).map_or(0, |c| c.leases.len());
        if held + more > MAX_LEASES {
            return Err(GrpcError::refused(
                codec::OVER_THRESHOLD,
                format!("a connection keeps at most {MAX_LEASES} instances registered (it holds {held})"),
            ));
        }
        Ok(())
    }

    /// Something arrived from `remote` (a request, an answer on its stream).
    pub fn heard_from(&self, remote: SocketAddr) {
        if let Some(c) = self.by_remote.lock().get_mut(&remote) {
            c.last_active = Instant::now();
            c.detection_sent = false;
        }
    }

    /// A request from `remote` may be served only on a registered connection
    /// (`Connection is unregistered.`, 301, otherwise: the client connects again).
    pub fn require(&self, remote: SocketAddr) -> Result<(), GrpcError> {
        match self.by_remote.lock().get_mut(&remote) {
            Some(c) if c.registered => {
                c.last_active = Instant::now();
                c.detection_sent = false;
                Ok(())
            }
            _ => Err(GrpcError::refused(codec::UN_REGISTER, "Connection is unregistered.")),
        }
    }

    /// The stream of connection `id` from `remote` ended: the connection is gone, and with it
    /// its leases (no longer renewed) and subscriptions.
    pub fn close(&self, remote: SocketAddr, id: &str) {
        let mut map = self.by_remote.lock();
        if map.get(&remote).is_some_and(|c| c.id == id) {
            map.remove(&remote);
        }
    }

    /// The connection from `remote` holds the lease of `key` from now on.
    pub fn hold(&self, remote: SocketAddr, key: InstanceKey) {
        if let Some(c) = self.by_remote.lock().get_mut(&remote) {
            c.leases.insert(key);
        }
    }

    /// No connection holds `keys` any more (deregistered, or gone from the registry).
    pub fn release(&self, keys: &[InstanceKey]) {
        let mut map = self.by_remote.lock();
        for c in map.values_mut() {
            for k in keys {
                c.leases.remove(k);
            }
        }
    }

    /// `remote`'s connection no longer holds its instance `id` of `tenant` (deregistered).
    pub fn release_id(&self, remote: SocketAddr, tenant: &Tenant, id: &str) {
        if let Some(c) = self.by_remote.lock().get_mut(&remote) {
            c.leases.retain(|k| !(&k.tenant == tenant && k.id == id));
        }
    }

    /// The instances of `remote`'s connection in `tenant`'s service `grouped` (for a batch
    /// registration, which replaces them).
    pub fn held_in(&self, remote: SocketAddr, tenant: &Tenant, service_id: &str) -> Vec<InstanceKey> {
        let map = self.by_remote.lock();
        map.get(&remote).map_or_else(Vec::new, |c| {
            c.leases
                .iter()
                .filter(|k| &k.tenant == tenant && k.service_id == service_id)
                .cloned()
                .collect()
        })
    }

    /// Every lease a live connection holds, once.
    pub fn held(&self) -> Vec<InstanceKey> {
        let map = self.by_remote.lock();
        let all: HashSet<&InstanceKey> = map.values().flat_map(|c| c.leases.iter()).collect();
        all.into_iter().cloned().collect()
    }

    /// Subscribes (or, with `on` false, unsubscribes) `remote`'s connection to `key`.
    pub fn subscribe(&self, remote: SocketAddr, key: SubscriptionKey, name: ServiceName, on: bool) {
        if let Some(c) = self.by_remote.lock().get_mut(&remote) {
            if on {
                c.subscriptions
                    .entry(key)
                    .or_insert(Subscription { name, last_sent: None });
            } else {
                c.subscriptions.remove(&key);
            }
        }
    }

    /// Every subscription of a registered connection.
    pub fn subscriptions(&self) -> Vec<Subscribed> {
        let map = self.by_remote.lock();
        map.iter()
            .filter(|(_, c)| c.registered)
            .flat_map(|(remote, c)| {
                c.subscriptions.iter().filter_map(|(key, s)| {
                    Some(Subscribed {
                        remote: *remote,
                        key: key.clone(),
                        subscription: s.clone(),
                        push: c.push.clone()?,
                    })
                })
            })
            .collect()
    }

    /// Records what was last pushed (or answered) for `key` to `remote`.
    pub fn sent(&self, remote: SocketAddr, key: &SubscriptionKey, hosts: Vec<Host>) {
        if let Some(s) = self
            .by_remote
            .lock()
            .get_mut(&remote)
            .and_then(|c| c.subscriptions.get_mut(key))
        {
            s.last_sent = Some(hosts);
        }
    }

    /// A fresh id for a request this server sends.
    pub fn request_id(&self) -> String {
        self.next_request.fetch_add(1, Ordering::Relaxed).to_string()
    }

    /// Drops the connections silent past [`IDLE_LIMIT`] and [`DETECTION_GRACE`] (and those
    /// never set up past the limit); returns the push senders of those silent past
    /// [`IDLE_LIMIT`] only, to be asked whether their client is there.
    pub fn sweep(&self, now: Instant) -> Vec<mpsc::Sender<Payload>> {
        let mut map = self.by_remote.lock();
        map.retain(|_, c| {
            let idle = now.saturating_duration_since(c.last_active);
            idle < IDLE_LIMIT || (c.registered && idle < IDLE_LIMIT + DETECTION_GRACE)
        });
        map.values_mut()
            .filter(|c| now.saturating_duration_since(c.last_active) >= IDLE_LIMIT && !c.detection_sent)
            .filter_map(|c| {
                c.detection_sent = true;
                c.push.clone()
            })
            .collect()
    }

    /// Drops every connection (the server stops): their streams end.
    pub fn close_all(&self) {
        self.by_remote.lock().clear();
    }

    /// How many connections are registered.
    pub fn registered(&self) -> usize {
        self.by_remote.lock().values().filter(|c| c.registered).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> InstanceKey {
        InstanceKey {
            tenant: Tenant::default(),
            service_id: "eureka.orders".into(),
            id: id.into(),
        }
    }

    #[test]
    fn a_connection_serves_once_set_up_and_its_leases_go_with_it() {
        let connections = Connections::default();
        let remote: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let id = connections.check(remote).unwrap();
        assert_eq!(connections.require(remote).unwrap_err().code, codec::UN_REGISTER);
        let (tx, _rx) = mpsc::channel(1);
        assert_eq!(connections.setup(remote, tx).unwrap(), id);
        connections.require(remote).unwrap();
        connections.hold(remote, key("a"));
        connections.hold(remote, key("b"));
        connections.release(&[key("b")]);
        assert_eq!(connections.held(), vec![key("a")]);
        connections.close(remote, "another");
        assert_eq!(connections.held().len(), 1, "only its own id closes it");
        connections.close(remote, &id);
        assert!(connections.held().is_empty());
        assert_eq!(connections.registered(), 0);
    }

    #[test]
    fn silent_connections_are_asked_then_dropped() {
        let connections = Connections::default();
        let remote: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        let (tx, _rx) = mpsc::channel(1);
        connections.setup(remote, tx).unwrap();
        connections.hold(remote, key("a"));
        let now = Instant::now();
        assert!(connections.sweep(now).is_empty());
        assert_eq!(connections.sweep(now + IDLE_LIMIT).len(), 1, "asked once");
        assert!(connections.sweep(now + IDLE_LIMIT).is_empty());
        assert_eq!(connections.held().len(), 1);
        connections.sweep(now + IDLE_LIMIT + DETECTION_GRACE);
        assert!(connections.held().is_empty());
    }

    #[test]
    fn connections_and_their_instances_are_bounded() {
        let connections = Connections::default();
        let from = |ip: [u8; 4], port: u16| SocketAddr::from((ip, port));
        for port in 0..MAX_PER_IP as u16 {
            connections.check(from([10, 0, 0, 1], 1_000 + port)).unwrap();
        }
        let refused = connections.check(from([10, 0, 0, 1], 60_000)).unwrap_err();
        assert_eq!(refused.code, codec::OVER_THRESHOLD, "{}", refused.message);
        // Known connections and other addresses still get in.
        connections.check(from([10, 0, 0, 1], 1_000)).unwrap();
        let (tx, _rx) = mpsc::channel(1);
        let other = from([10, 0, 0, 2], 1);
        connections.setup(other, tx).unwrap();

        for n in 0..MAX_LEASES {
            connections.hold(other, key(&format!("i-{n}")));
        }
        assert_eq!(connections.may_hold(other, 1).unwrap_err().code, codec::OVER_THRESHOLD);
        connections.release(&[key("i-0")]);
        connections.may_hold(other, 1).unwrap();
    }
}
