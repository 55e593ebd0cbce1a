//! The load the chaos suite keeps on the cluster while faults come and go, and what it saw.
//!
//! - **Key clients** register (each time with a new value), cancel and read (linearizably) a
//!   small set of keys through any node, recording every call with its start, end and answer
//!   for the linearizability checker. A client sticks to one node and moves on after an error,
//!   as Eureka and ServiceCenter clients do.
//! - **Heartbeaters** keep instances alive with a short lease, renewing every second through
//!   their node (moving on after an error). A renewal answered "not registered" less than a
//!   lease after the last acknowledged renewal is a false eviction: recorded, then re-registered
//!   as a real client would. (One answered after a whole lease without an acknowledged renewal
//!   is an honest expiry: the cluster was unreachable for that client too long. Counted apart.)
//! - **Mortal instances** are registered with the same short lease and never renewed: they
//!   must be evicted, so the eviction machinery is known to be working while nothing else is
//!   evicted.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use serde_json::json;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::linearizable::Call;
use crate::linearizable::Micros;
use crate::linearizable::Op;
use crate::linearizable::Outcome;

/// The service every key and instance of the suite belongs to.
pub const SERVICE: &str = "chaos";
/// Heartbeaters' lease: renew every second, expire six seconds after the last renewal (Eureka's
/// ratio: three renewals missed in a row).
pub const SHORT_LEASE: (u32, u32) = (1, 6);
/// A lease that ran out less than this after the client's last acknowledged renewal was evicted
/// falsely (the margin covers the renewal's own trip).
const LEASE_HONOURED: Duration = Duration::from_secs(SHORT_LEASE.1 as u64 - 1);
/// Keys' lease: longer than any run, so only cancellations remove keys.
const KEY_LEASE: (u32, u32) = (30, 86_400);

pub struct Shape {
    pub key_clients: usize,
    pub keys: usize,
    pub heartbeaters: usize,
    pub instances_per_heartbeater: usize,
    pub mortals: usize,
}

/// What the clients saw, shared by their tasks.
#[derive(Default)]
pub struct Seen {
    /// Every key operation, by key.
    pub history: Mutex<BTreeMap<String, Vec<Op>>>,
    /// False evictions and other things that must never happen.
    pub anomalies: Mutex<Vec<String>>,
    pub renewals_ok: AtomicU64,
    pub renewals_failed: AtomicU64,
    /// Leases that ran out because no renewal got through for a whole lease.
    pub lapsed: AtomicU64,
}

impl Seen {
    fn record(&self, key: &str, op: Op) {
        self.history
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_default()
            .push(op);
    }
}

/// Switches shared by the key clients.
#[derive(Default)]
struct Control {
    stop: AtomicBool,
    paused: AtomicBool,
    /// Key operations under way.
    in_flight: AtomicUsize,
    /// Keys are named by generation: each stretch between two checkpoints uses fresh keys, so
    /// every key's history stays short enough to check (as Jepsen's independent keys do).
    generation: AtomicU64,
}

pub struct Workload {
    start: Instant,
    control: Arc<Control>,
    tasks: Vec<JoinHandle<()>>,
    pub seen: Arc<Seen>,
    pub heartbeated: Vec<String>,
    pub mortals: Vec<String>,
}

/// One HTTP client's view of the cluster: every node's base URL, and a sticky choice.
#[derive(Clone)]
struct Nodes {
    client: reqwest::Client,
    bases: Arc<Vec<String>>,
}

impl Nodes {
    fn base(&self, at: usize) -> &str {
        &self.bases[at % self.bases.len()]
    }
}

/// Body of a native registration of `id` with `lease`, carrying `value` in its metadata.
fn registration(id: &str, lease: (u32, u32), value: Option<u64>) -> Value {
    let mut body = json!({
        "service": SERVICE, "id": id, "host": "10.1.2.3", "endpoints": ["rest://10.1.2.3:8080"],
        "lease": { "renewal_interval_secs": lease.0, "duration_secs": lease.1 },
    });
    if let Some(v) = value {
        body["metadata"] = json!({ "v": v.to_string() });
    }
    body
}

async fn register(nodes: &Nodes, at: usize, id: &str, lease: (u32, u32), value: Option<u64>) -> Result<(), String> {
    let resp = nodes
        .client
        .post(format!("{}/admin/registry/instances", nodes.base(at)))
        .json(&registration(id, lease, value))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match resp.status().as_u16() {
        200 => Ok(()),
        s => Err(format!("{s}: {}", resp.text().await.unwrap_or_default())),
    }
}

/// Registers until acknowledged (moving between nodes), within `limit`.
async fn register_until_acked(nodes: &Nodes, at: &mut usize, id: &str, lease: (u32, u32), limit: Duration) {
    let deadline = Instant::now() + limit;
    while let Err(e) = register(nodes, *at, id, lease, None).await {
        assert!(Instant::now() < deadline, "{id} not registered within {limit:?}: {e}");
        *at += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Workload {
    /// Registers the heartbeated and mortal instances, then starts every client.
    pub async fn start(client: reqwest::Client, bases: Vec<String>, shape: &Shape) -> Workload {
        let nodes = Nodes {
            client,
            bases: Arc::new(bases),
        };
        let start = Instant::now();
        let control = Arc::new(Control::default());
        let seen = Arc::new(Seen::default());
        let mortals: Vec<String> = (0..shape.mortals).map(|m| format!("mortal-{m}")).collect();
        let mut heartbeated = Vec::new();
        let mut tasks = Vec::new();

        for (m, id) in mortals.iter().enumerate() {
            let mut at = m;
            register_until_acked(&nodes, &mut at, id, SHORT_LEASE, Duration::from_secs(60)).await;
        }
        for h in 0..shape.heartbeaters {
            let ids: Vec<String> = (0..shape.instances_per_heartbeater)
                .map(|n| format!("alive-{h}-{n}"))
                .collect();
            let mut at = h;
            for id in &ids {
                register_until_acked(&nodes, &mut at, id, SHORT_LEASE, Duration::from_secs(60)).await;
            }
            heartbeated.extend(ids.iter().cloned());
            let (nodes, control, seen) = (nodes.clone(), control.clone(), seen.clone());
            tasks.push(tokio::spawn(heartbeater(nodes, at, ids, control, seen)));
        }
        for c in 0..shape.key_clients {
            let client = KeyClient {
                me: c,
                nodes: nodes.clone(),
                keys: shape.keys,
                start,
                control: control.clone(),
                seen: seen.clone(),
            };
            tasks.push(tokio::spawn(client.run()));
        }
        Workload {
            start,
            control,
            tasks,
            seen,
            heartbeated,
            mortals,
        }
    }

    /// Holds the key clients and waits until none has a call in flight (each is bounded by the
    /// client's timeout). Heartbeaters go on.
    pub async fn pause(&self) {
        self.control.paused.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.control.in_flight.load(Ordering::SeqCst) > 0 {
            assert!(Instant::now() < deadline, "key clients did not finish their calls");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Lets the key clients go on, with fresh keys.
    pub fn resume(&self) {
        self.control.generation.fetch_add(1, Ordering::SeqCst);
        self.control.paused.store(false, Ordering::SeqCst);
    }

    /// Every key used so far.
    pub fn keys(&self) -> Vec<String> {
        self.seen.history.lock().unwrap().keys().cloned().collect()
    }

    pub fn elapsed(&self) -> Micros {
        self.start.elapsed().as_micros() as Micros
    }

    /// Stops every client and waits for their calls in flight (each bounded by the client's
    /// timeout).
    pub async fn stop(&mut self) {
        self.control.stop.store(true, Ordering::SeqCst);
        for t in self.tasks.drain(..) {
            t.await.expect("workload task");
        }
    }

    /// Records a final consistent read of `key` through `base`; false if it got no answer.
    pub async fn final_read(&self, client: &reqwest::Client, base: &str, key: &str) -> bool {
        let invoked = self.elapsed();
        let Ok(seen) = read(client, base, key).await else {
            return false;
        };
        let op = Op {
            call: Call::Read,
            outcome: Outcome::Read(seen),
            invoked,
            completed: Some(self.elapsed()),
        };
        self.seen.record(key, op);
        true
    }
}

/// A linearizable read of `key`: its value, or `None` if not registered.
async fn read(client: &reqwest::Client, base: &str, key: &str) -> Result<Option<u64>, String> {
    let resp = client
        .get(format!("{base}/admin/registry/instances"))
        .query(&[("service", SERVICE), ("id", key), ("consistent", "true")])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != 200 {
        return Err(resp.status().to_string());
    }
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    let instances = body["instances"].as_array().ok_or("no instance list")?;
    match instances.as_slice() {
        [] => Ok(None),
        [one] => {
            let v = one["metadata"]["v"]
                .as_str()
                .ok_or_else(|| format!("no value in {one}"))?;
            Ok(Some(v.parse().map_err(|_| format!("bad value {v}"))?))
        }
        more => Err(format!("{} instances for one id", more.len())),
    }
}

/// Cancels `key`: `Some(existed)` when answered.
async fn cancel(client: &reqwest::Client, base: &str, key: &str) -> Option<bool> {
    let url = format!("{base}/admin/registry/instances/{SERVICE}/{key}");
    let resp = client.delete(url).send().await.ok()?;
    match resp.status().as_u16() {
        200 => Some(true),
        404 => Some(false),
        _ => None,
    }
}

/// One client registering, cancelling and reading random keys of the current generation.
struct KeyClient {
    me: usize,
    nodes: Nodes,
    keys: usize,
    start: Instant,
    control: Arc<Control>,
    seen: Arc<Seen>,
}

impl KeyClient {
    fn now(&self) -> Micros {
        self.start.elapsed().as_micros() as Micros
    }

    async fn run(self) {
        let mut rng = fastrand::Rng::with_seed(self.me as u64 * 7919 + 1);
        let mut at = self.me;
        let mut value = (self.me as u64) << 40;
        let control = &self.control;
        while !control.stop.load(Ordering::SeqCst) {
            control.in_flight.fetch_add(1, Ordering::SeqCst);
            if control.paused.load(Ordering::SeqCst) {
                control.in_flight.fetch_sub(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            let generation = control.generation.load(Ordering::SeqCst);
            let key = format!("key-{generation}-{}", rng.usize(..self.keys));
            value += 1;
            let outcome = self.one_call(&mut rng, at, &key, value).await;
            control.in_flight.fetch_sub(1, Ordering::SeqCst);
            if outcome == Outcome::Unknown {
                at += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            } else {
                tokio::time::sleep(Duration::from_millis(rng.u64(5..30))).await;
            }
        }
    }

    /// One random call on `key` through node `at`, recorded; its outcome.
    async fn one_call(&self, rng: &mut fastrand::Rng, at: usize, key: &str, value: u64) -> Outcome {
        let base = self.nodes.base(at);
        let invoked = self.now();
        let (call, outcome) = match rng.u8(..10) {
            0..=4 => {
                let answer = register(&self.nodes, at, key, KEY_LEASE, Some(value)).await;
                let outcome = if answer.is_ok() {
                    Outcome::Registered
                } else {
                    Outcome::Unknown
                };
                (Call::Register(value), outcome)
            }
            5..=6 => {
                let outcome = match cancel(&self.nodes.client, base, key).await {
                    Some(existed) => Outcome::Cancelled { existed },
                    None => Outcome::Unknown,
                };
                (Call::Cancel, outcome)
            }
            _ => match read(&self.nodes.client, base, key).await {
                Ok(v) => (Call::Read, Outcome::Read(v)),
                // A failed read changed nothing and tells nothing: not recorded.
                Err(_) => return Outcome::Unknown,
            },
        };
        let op = Op {
            call,
            outcome,
            invoked,
            completed: (outcome != Outcome::Unknown).then(|| self.now()),
        };
        self.seen.record(key, op);
        outcome
    }
}

/// Renews `ids` every second through one node until stopped.
async fn heartbeater(nodes: Nodes, mut at: usize, ids: Vec<String>, control: Arc<Control>, seen: Arc<Seen>) {
    let body = json!({ "instances": ids.iter().map(|id| json!({ "service": SERVICE, "id": id })).collect::<Vec<_>>() });
    let mut last_ok = Instant::now();
    while !control.stop.load(Ordering::SeqCst) {
        let round = Instant::now();
        let answer = nodes
            .client
            .put(format!("{}/admin/registry/heartbeats", nodes.base(at)))
            .timeout(Duration::from_millis(1_500))
            .json(&body)
            .send()
            .await;
        let found: Option<Vec<bool>> = match answer {
            Ok(resp) if resp.status() == 200 => resp
                .json::<Value>()
                .await
                .ok()
                .and_then(|b| serde_json::from_value(b["found"].clone()).ok()),
            _ => None,
        };
        match found {
            Some(found) => {
                seen.renewals_ok.fetch_add(1, Ordering::Relaxed);
                let since_ok = last_ok.elapsed();
                last_ok = Instant::now();
                for (id, found) in ids.iter().zip(found) {
                    if found {
                        continue;
                    }
                    if since_ok < LEASE_HONOURED {
                        seen.anomalies.lock().unwrap().push(format!(
                            "false eviction: {} answered {id} is not registered {since_ok:?} after its last acknowledged renewal",
                            nodes.base(at)
                        ));
                    } else {
                        seen.lapsed.fetch_add(1, Ordering::Relaxed);
                    }
                    register_until_acked(&nodes, &mut at, id, SHORT_LEASE, Duration::from_secs(60)).await;
                    last_ok = Instant::now();
                }
                let pause = Duration::from_secs(1).saturating_sub(round.elapsed());
                tokio::time::sleep(pause).await;
            }
            None => {
                // Retry at once elsewhere: a lease outlives a few failed renewals.
                seen.renewals_failed.fetch_add(1, Ordering::Relaxed);
                at += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
