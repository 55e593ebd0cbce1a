//! Heavy reads and hostile bodies (issue 19): while clients fetch the whole registry gzip'd,
//! back to back and spread over the nodes, and others post the XML attribute bomb (one
//! `<instance>` with 100,000 attributes) as a Eureka registration, `/health` is probed on every
//! node on a fixed schedule and the Raft term is read before and after. Measures each node's
//! `/health` latency, the fetches done, the bombs' answers and the elections.
//!
//! Each probe opens a new connection, as a load balancer's or Kubernetes' probe does, and its
//! latency counts from the time it was due, so a node that stalls is charged for every probe it
//! held up (coordinated omission corrected). The probes run on a thread and runtime of their
//! own: the fetchers' clients, busy copying megabytes, do not delay them.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use serde::Serialize;
use tokio::time::Instant;

use super::full_fetch::fetch_until;
use super::full_fetch::FetchFormat;
use super::Samples;
use crate::conn::Conn;
use crate::conn::Target;
use crate::driver::bodiless;
use crate::error::BenchError;
use crate::procs::registry::Cluster;
use crate::report::Summary;

/// How hard and how long.
#[derive(Debug, Clone, Copy)]
pub struct HeavyReadsSpec {
    /// Clients fetching `GET /eureka/apps` gzip'd, back to back, spread over the nodes.
    pub fetchers: usize,
    /// Clients posting the attribute bomb, back to back: the first at the leader, the next at
    /// the followers.
    pub bombers: usize,
    /// Attributes on the bomb's `<instance>`.
    pub bomb_attributes: usize,
    pub duration: Duration,
    /// How often each node's `/health` is probed.
    pub probe_every: Duration,
}

impl Default for HeavyReadsSpec {
    fn default() -> Self {
        HeavyReadsSpec {
            fetchers: 16,
            bombers: 2,
            bomb_attributes: 100_000,
            duration: Duration::from_secs(20),
            probe_every: Duration::from_millis(50),
        }
    }
}

/// One node's `/health` while it was loaded.
#[derive(Debug, Clone, Serialize)]
pub struct NodeHealth {
    pub node: u64,
    pub probes: u64,
    /// Probes answered with anything but 200, or not at all within 10 s.
    pub failures: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// `[seconds into the stage the probe was due, ms]` of every probe slower than
    /// [`SLOW_PROBE`]: when a node stalls, and whether the others stalled with it.
    pub slow_probes: Vec<[f64; 2]>,
}

/// A probe slower than this is listed with its time.
pub const SLOW_PROBE: Duration = Duration::from_millis(50);

/// What the stage measured.
#[derive(Debug, Clone, Serialize)]
pub struct HeavyReadsReport {
    pub seconds: f64,
    pub fetchers: usize,
    /// Full fetches answered 200 with a gzip'd body.
    pub fetches: u64,
    pub fetch_errors: u64,
    pub first_fetch_error: Option<String>,
    /// The size of the last gzip'd registry fetched.
    pub fetch_gzip_bytes: u64,
    pub fetch_p50_ms: f64,
    pub fetch_p99_ms: f64,
    pub bombers: usize,
    pub bomb_bytes: usize,
    /// The bombs' answers by status (`"none"`: no answer within 10 s).
    pub bomb_answers: BTreeMap<String, u64>,
    pub bomb_p50_ms: f64,
    pub bomb_p99_ms: f64,
    pub health: Vec<NodeHealth>,
    /// The highest p99 of any node.
    pub health_p99_ms: f64,
    /// Each node's term before and after.
    pub terms_before: Vec<u64>,
    pub terms_after: Vec<u64>,
    /// Elections started meanwhile (the highest term after minus the highest before).
    pub elections: u64,
    /// Each node's `/health` latencies, for the suite's loads (not in this report's JSON).
    #[serde(skip)]
    pub health_loads: Vec<Summary>,
}

/// The bomb of `attributes` attributes: about 11 bytes each (1.1 MB for 100,000).
pub fn attribute_bomb(attributes: usize) -> Bytes {
    let mut body = String::with_capacity(attributes * 12 + 64);
    body.push_str("<instance");
    for i in 0..attributes {
        body.push_str(&format!(" a{i}=\"x\""));
    }
    body.push_str("><hostName>h</hostName></instance>");
    Bytes::from(body)
}

/// Runs the stage on `cluster` (every node running, the registry loaded).
pub async fn heavy_reads(cluster: &Cluster, spec: HeavyReadsSpec) -> Result<HeavyReadsReport, BenchError> {
    let leader = cluster.leader(Duration::from_secs(30)).await?;
    let terms_before = terms(cluster).await?;
    let nodes: Vec<usize> = (0..cluster.nodes.len()).collect();
    let bomb_order: Vec<usize> = std::iter::once(leader)
        .chain(nodes.iter().copied().filter(|n| *n != leader))
        .collect();
    let bomb = attribute_bomb(spec.bomb_attributes);
    let (mut fetched, mut bombs) = (Samples::new(), Samples::new());
    let started = Instant::now();
    let until = started + spec.duration;

    let probes: Vec<(u64, Target)> = cluster.nodes.iter().map(|n| (n.id, n.target())).collect();
    let every = spec.probe_every;
    let prober = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let probing = probes
                .into_iter()
                .map(|(id, target)| async move { (id, probe(target, every, started, until).await) });
            Ok::<_, std::io::Error>(futures::future::join_all(probing).await)
        })
    });
    let fetchers: Vec<_> = (0..spec.fetchers)
        .map(|i| {
            let target = cluster.nodes[nodes[i % nodes.len()]].eureka();
            // The first fetch at each node waits for the payload's build.
            tokio::spawn(fetch_until(
                target,
                FetchFormat::GZIP_JSON,
                until,
                Duration::from_secs(60),
            ))
        })
        .collect();
    let bombers: Vec<_> = (0..spec.bombers)
        .map(|i| {
            let target = cluster.nodes[bomb_order[i % bomb_order.len()]].eureka();
            tokio::spawn(send_bombs(target, bomb.clone(), until))
        })
        .collect();

    let mut fetch_gzip_bytes = 0;
    for f in fetchers {
        let (samples, bytes) = f
            .await
            .map_err(|e| BenchError::Setup(format!("a fetcher failed: {e}")))?;
        fetched.merge(samples);
        fetch_gzip_bytes = fetch_gzip_bytes.max(bytes);
    }
    let mut bomb_answers = BTreeMap::new();
    for b in bombers {
        let (samples, answers) = b
            .await
            .map_err(|e| BenchError::Setup(format!("a bomber failed: {e}")))?;
        bombs.merge(samples);
        for (status, n) in answers {
            *bomb_answers.entry(status).or_default() += n;
        }
    }
    let probed = prober
        .join()
        .map_err(|_| BenchError::Setup("the health prober panicked".into()))??;
    let seconds = started.elapsed().as_secs_f64();
    let terms_after = terms(cluster).await?;

    let fetches = fetched.summary("full fetch, gzip");
    let bombs = bombs.summary("attribute bomb");
    let mut health_loads = Vec::new();
    let mut health = Vec::new();
    for (id, (samples, slow_probes)) in probed {
        let s = samples.summary(&format!("/health of node {id} under heavy reads"));
        health.push(NodeHealth {
            node: id,
            probes: s.requests,
            failures: s.errors,
            p50_ms: s.p50_ms,
            p99_ms: s.p99_ms,
            max_ms: s.max_ms,
            slow_probes,
        });
        health_loads.push(s);
    }
    let highest = |terms: &[u64]| terms.iter().copied().max().unwrap_or(0);
    Ok(HeavyReadsReport {
        seconds,
        fetchers: spec.fetchers,
        fetches: fetches.requests - fetches.errors,
        fetch_errors: fetches.errors,
        first_fetch_error: fetches.first_error,
        fetch_gzip_bytes,
        fetch_p50_ms: fetches.p50_ms,
        fetch_p99_ms: fetches.p99_ms,
        bombers: spec.bombers,
        bomb_bytes: bomb.len(),
        bomb_answers,
        bomb_p50_ms: bombs.p50_ms,
        bomb_p99_ms: bombs.p99_ms,
        health_p99_ms: health.iter().map(|h| h.p99_ms).fold(0.0, f64::max),
        health,
        elections: highest(&terms_after).saturating_sub(highest(&terms_before)),
        terms_before,
        terms_after,
        health_loads,
    })
}

/// Every node's term.
async fn terms(cluster: &Cluster) -> Result<Vec<u64>, BenchError> {
    let mut terms = Vec::new();
    for node in &cluster.nodes {
        let term = node
            .term()
            .await
            .ok_or_else(|| BenchError::Setup(format!("node {} reports no term", node.id)))?;
        terms.push(term);
    }
    Ok(terms)
}

/// `/health` at `target` (a node's root) every `every` from `started` until `until`: the
/// latencies, and the slow probes with their times.
async fn probe(target: Target, every: Duration, started: Instant, until: Instant) -> (Samples, Vec<[f64; 2]>) {
    let mut samples = Samples::new();
    let mut slow = Vec::new();
    let mut due = started;
    while due < until {
        tokio::time::sleep_until(due).await;
        let mut conn = Conn::new(target.clone());
        match conn.send(bodiless("GET", "/health", "application/json")).await {
            Ok(answer) if answer.status() == 200 => {
                let took = due.elapsed();
                samples.record(took);
                if took > SLOW_PROBE {
                    let at = (due - started).as_secs_f64();
                    slow.push([(at * 1000.0).round() / 1000.0, took.as_secs_f64() * 1000.0]);
                }
            }
            Ok(answer) => samples.error(format!("HTTP {}", answer.status())),
            Err(e) => samples.error(e),
        }
        due += every;
    }
    (samples, slow)
}

/// The bomb posted as a registration at `target` (a Eureka root) until `until`: latencies and
/// answers by status.
async fn send_bombs(target: Target, bomb: Bytes, until: Instant) -> (Samples, BTreeMap<String, u64>) {
    let mut conn = Conn::new(target);
    let mut samples = Samples::new();
    let mut answers = BTreeMap::new();
    while Instant::now() < until {
        let request = Request::builder()
            .method("POST")
            .uri("/apps/EVIL")
            .header(hyper::header::CONTENT_TYPE, "application/xml")
            .header(hyper::header::ACCEPT, "application/xml")
            .body(Full::new(bomb.clone()))
            .expect("static request parts are valid");
        let sent = Instant::now();
        let status = match conn.send(request).await {
            Ok(answer) => {
                samples.record(sent.elapsed());
                answer.status().as_u16().to_string()
            }
            Err(e) => {
                samples.error(e);
                tokio::time::sleep(Duration::from_millis(50)).await;
                "none".to_string()
            }
        };
        *answers.entry(status).or_default() += 1;
    }
    (samples, answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bomb_is_one_instance_with_that_many_attributes() {
        let bomb = attribute_bomb(100_000);
        let text = std::str::from_utf8(&bomb).unwrap();
        assert!(text.starts_with("<instance a0=\"x\" a1=\"x\""));
        assert!(text.ends_with(" a99999=\"x\"><hostName>h</hostName></instance>"));
        assert_eq!(text.matches("=\"x\"").count(), 100_000);
        assert!((1_000_000..1_300_000).contains(&bomb.len()), "{}", bomb.len());
    }
}
