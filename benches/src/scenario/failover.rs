//! Failover under load: instances heartbeat through every node and writers register through the
//! followers; the leader is killed (SIGKILL). Measures the unavailability window (the longest
//! gap between acknowledged writes around the crash), acknowledged writes missing afterwards,
//! and false evictions (heartbeating instances that were evicted or told to register again).

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use crate::conn::Conn;
use crate::conn::Target;
use crate::driver::bodiless;
use crate::driver::eureka::instance_json;
use crate::driver::with_body;
use crate::error::BenchError;
use crate::procs::registry::Cluster;

/// What the crash cost.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverReport {
    /// Longest time without an acknowledged write, from just before the crash.
    pub unavailable_s: f64,
    pub acknowledged_writes: u64,
    pub acknowledged_writes_lost: u64,
    pub heartbeating_instances: u64,
    pub false_evictions: u64,
    /// The longest a heartbeat took to be answered (by any node).
    pub slowest_heartbeat_s: f64,
}

/// Settings of the failover run.
#[derive(Debug, Clone, Copy)]
pub struct FailoverSpec {
    pub writers: usize,
    pub heartbeating: u64,
    /// Lease of the heartbeating instances (they renew every second).
    pub lease_secs: u32,
    pub before_crash: Duration,
    /// How long the load goes on after the crash (at least one lease, so a lost lease shows).
    pub after_crash: Duration,
}

impl Default for FailoverSpec {
    fn default() -> Self {
        FailoverSpec {
            writers: 8,
            heartbeating: 300,
            lease_secs: 10,
            before_crash: Duration::from_secs(3),
            after_crash: Duration::from_secs(12),
        }
    }
}

const LIVE_APP: &str = "FAILOVER-LIVE";
const WRITE_APP: &str = "FAILOVER-WRITES";
const LIVE_BASE: u64 = 20_000_000;
const WRITE_BASE: u64 = 30_000_000;

fn register(app: &str, n: u64, lease: u32) -> hyper::Request<http_body_util::Full<bytes::Bytes>> {
    with_body(
        "POST",
        &format!("/apps/{app}"),
        "application/json",
        instance_json(app, n, lease).into_bytes(),
    )
}

/// Sends `request()` to the first of `targets` (from `start`) that answers; `None` if none did.
async fn to_any(
    conns: &mut [Conn],
    start: usize,
    request: impl Fn() -> hyper::Request<http_body_util::Full<bytes::Bytes>>,
) -> Option<u16> {
    for i in 0..conns.len() {
        let at = (start + i) % conns.len();
        if let Ok(answer) = conns[at].send(request()).await {
            if answer.status().is_server_error() {
                continue;
            }
            return Some(answer.status().as_u16());
        }
    }
    None
}

/// Runs the scenario on a three-node `cluster` and kills its leader.
pub async fn failover(cluster: &mut Cluster, spec: FailoverSpec) -> Result<FailoverReport, BenchError> {
    let leader = cluster.leader(Duration::from_secs(10)).await?;
    let everyone: Vec<Target> = cluster.eureka_targets();
    let survivors: Vec<Target> = (0..cluster.nodes.len())
        .filter(|i| *i != leader)
        .map(|i| cluster.nodes[i].eureka())
        .collect();

    // The heartbeating instances, registered and renewed through every node.
    let mut setup: Vec<Conn> = everyone.iter().cloned().map(Conn::new).collect();
    for n in 0..spec.heartbeating {
        let status = to_any(&mut setup, n as usize, || {
            register(LIVE_APP, LIVE_BASE + n, spec.lease_secs)
        })
        .await;
        if status != Some(204) {
            return Err(BenchError::Setup(format!("registering live instance {n}: {status:?}")));
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let evicted = Arc::new(Mutex::new(HashSet::new()));
    let slowest_heartbeat = Arc::new(Mutex::new(Duration::ZERO));
    // Each instance heartbeats on its own, every second, as its client would.
    let heartbeats: Vec<_> = (0..spec.heartbeating)
        .map(|n| {
            let (stop, evicted, slowest) = (stop.clone(), evicted.clone(), slowest_heartbeat.clone());
            let mut conns: Vec<Conn> = everyone.iter().cloned().map(Conn::new).collect();
            tokio::spawn(async move {
                let path = format!("/apps/{LIVE_APP}/inst-{}?status=UP", LIVE_BASE + n);
                tokio::time::sleep(Duration::from_millis(n * 1000 / spec.heartbeating.max(1))).await;
                let mut round = n as usize;
                while !stop.load(Ordering::Relaxed) {
                    let began = Instant::now();
                    let status = to_any(&mut conns, round, || bodiless("PUT", &path, "application/json")).await;
                    if status == Some(404) {
                        evicted.lock().expect("not poisoned").insert(n);
                    }
                    let took = began.elapsed();
                    {
                        let mut slowest = slowest.lock().expect("not poisoned");
                        *slowest = (*slowest).max(took);
                    }
                    round += 1;
                    tokio::time::sleep(Duration::from_secs(1).saturating_sub(took)).await;
                }
            })
        })
        .collect();

    let acks = Arc::new(Mutex::new(Vec::<(Instant, u64)>::new()));
    let next = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..spec.writers)
        .map(|w| {
            let (stop, acks, next) = (stop.clone(), acks.clone(), next.clone());
            let mut conn = Conn::new(survivors[w % survivors.len()].clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let n = WRITE_BASE + next.fetch_add(1, Ordering::Relaxed);
                    match conn.send(register(WRITE_APP, n, 3600)).await {
                        Ok(a) if a.status().is_success() => {
                            acks.lock().expect("not poisoned").push((Instant::now(), n))
                        }
                        _ => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            })
        })
        .collect();

    tokio::time::sleep(spec.before_crash).await;
    let crash = Instant::now();
    cluster.nodes[leader].kill();
    tokio::time::sleep(spec.after_crash).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    for h in heartbeats {
        let _ = h.await;
    }

    let acks = std::mem::take(&mut *acks.lock().expect("not poisoned"));
    let unavailable = longest_gap(&acks, crash - Duration::from_secs(1), crash + spec.after_crash);

    // Everything is read from the new leader, which has every committed write.
    let new_leader = cluster.leader(Duration::from_secs(30)).await?;
    cluster.wait_healthy(new_leader, Duration::from_secs(30)).await?;
    let reader = cluster.nodes[new_leader].eureka();
    let stored_writes = instance_ids(&reader, WRITE_APP).await?;
    let lost = acks
        .iter()
        .filter(|(_, n)| !stored_writes.contains(&format!("inst-{n}")))
        .count() as u64;
    let live = instance_ids(&reader, LIVE_APP).await?;
    let mut falsely_evicted = evicted.lock().expect("not poisoned").clone();
    for n in 0..spec.heartbeating {
        if !live.contains(&format!("inst-{}", LIVE_BASE + n)) {
            falsely_evicted.insert(n);
        }
    }
    let slowest_heartbeat_s = slowest_heartbeat.lock().expect("not poisoned").as_secs_f64();
    Ok(FailoverReport {
        unavailable_s: unavailable.as_secs_f64(),
        acknowledged_writes: acks.len() as u64,
        acknowledged_writes_lost: lost,
        heartbeating_instances: spec.heartbeating,
        false_evictions: falsely_evicted.len() as u64,
        slowest_heartbeat_s,
    })
}

/// The longest time between consecutive acknowledgements within `[from, to]` (the edges count
/// as acknowledgements, so no acknowledgement at all gives the whole span).
pub fn longest_gap(acks: &[(Instant, u64)], from: Instant, to: Instant) -> Duration {
    let mut times: Vec<Instant> = acks
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| *t >= from && *t <= to)
        .collect();
    times.sort();
    let mut previous = from;
    let mut longest = Duration::ZERO;
    for t in times.into_iter().chain(std::iter::once(to)) {
        longest = longest.max(t - previous);
        previous = t;
    }
    longest
}

/// The instance ids of `app` at a Eureka root.
async fn instance_ids(target: &Target, app: &str) -> Result<HashSet<String>, BenchError> {
    let mut conn = Conn::new(target.clone());
    let request = bodiless("GET", &format!("/apps/{app}"), "application/json");
    let answer = conn
        .send_expecting(request, &format!("reading {app} back"), |s| s.is_success())
        .await?;
    let body: Value =
        serde_json::from_slice(answer.body()).map_err(|e| BenchError::Setup(format!("reading {app} back: {e}")))?;
    let instances = match &body["application"]["instance"] {
        Value::Array(list) => list.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    Ok(instances
        .iter()
        .filter_map(|i| i["instanceId"].as_str().map(String::from))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_gap_counts_the_edges() {
        let t0 = Instant::now();
        let at = |ms: u64| (t0 + Duration::from_millis(ms), 0);
        let acks = [at(100), at(200), at(900), at(1000)];
        let gap = longest_gap(&acks, t0, t0 + Duration::from_millis(1500));
        assert_eq!(gap, Duration::from_millis(700));
        assert_eq!(
            longest_gap(&[], t0, t0 + Duration::from_secs(2)),
            Duration::from_secs(2)
        );
    }
}
