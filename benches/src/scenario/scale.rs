//! The scale stage (issue 23): one three-node cluster grown through 10k, 100k, 1M... Eureka
//! instances, and at each size the costs that grow with it: memory per node and per instance,
//! the registration rate, the full registry fetch in Eureka's four shapes and the delta fetch
//! (16 concurrent clients while a thirtieth of the instances renew every second), the
//! ServiceCenter find of the largest service, the leader's CPU per renewal received directly and
//! forwarded, watch latency with thousands of watchers, a wiped follower's catch-up and a full
//! restart; at the largest size, a leader crash under load (false evictions).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::catchup::catch_up;
use super::failover::failover;
use super::failover::FailoverReport;
use super::full_fetch::FetchFormat;
use super::full_fetch::Fetcher;
use super::renewal_cost::renewal_cost;
use super::renewal_cost::RenewalCost;
use super::restart::full_restart;
use super::restart::RestartReport;
use super::watch_fanout::watch_fanout;
use super::watch_fanout::FanoutReport;
use super::watch_fanout::FanoutSpec;
use super::Samples;
use crate::conn::Conn;
use crate::conn::Target;
use crate::driver::Op;
use crate::driver::Protocol;
use crate::driver::Shape;
use crate::driver::Workload;
use crate::error::BenchError;
use crate::load::LoadSpec;
use crate::measure;
use crate::procs::registry::Cluster;
use crate::procs::registry::Stalls;
use crate::procs::wait_for;
use crate::report::Summary;

/// A node using less CPU than this (cores, over a second) is idle.
const IDLE_CORES: f64 = 0.3;
/// Longest wait for the nodes to become idle before a measure that needs them so.
const SETTLE_LIMIT: Duration = Duration::from_secs(300);

/// How far and how hard.
#[derive(Debug, Clone)]
pub struct ScaleSpec {
    /// The sizes, ascending (e.g. 10k, 100k, 1M).
    pub sizes: Vec<u64>,
    /// Connections of the registration storms.
    pub connections: usize,
    /// Concurrent full-fetch clients.
    pub fetchers: usize,
    /// Seconds each fetch shape (and the delta, and the find) is measured.
    pub read_seconds: f64,
    pub watchers: usize,
    /// Renewals per second of the renewal-cost measure, and its seconds.
    pub renewal_rate: f64,
    pub renewal_seconds: f64,
}

impl ScaleSpec {
    /// 10k, then every tenfold up to `largest`, and `largest` itself.
    pub fn sizes_up_to(largest: u64) -> Vec<u64> {
        let mut sizes = Vec::new();
        let mut size = 10_000;
        while size < largest {
            sizes.push(size);
            size *= 10;
        }
        sizes.push(largest);
        sizes
    }
}

/// One fetch shape's latencies: each client's first fetch apart (it may wait for the payload's
/// first build), then the fetches that follow.
#[derive(Debug, Clone, Serialize)]
pub struct FetchPoint {
    pub first_p50_ms: f64,
    pub first_max_ms: f64,
    pub first_errors: u64,
    pub fetches: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub bytes: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Everything measured at one size.
#[derive(Debug, Clone, Serialize)]
pub struct SizePoint {
    pub instances: u64,
    /// Registrations/s of the storm from the previous size to this one.
    pub registrations_per_s: f64,
    pub rss_bytes_per_node: Vec<u64>,
    /// (leader RSS − its RSS empty) ÷ instances.
    pub bytes_per_instance: f64,
    /// By shape (`json_gzip`, `json_plain`, `xml_gzip`, `xml_plain`), and `delta_json_gzip`.
    pub fetches: BTreeMap<String, FetchPoint>,
    /// Renewals meanwhile: asked per second, answered, failed.
    pub renewals_per_s: f64,
    pub renewals_answered: u64,
    pub renewals_failed: u64,
    /// Instances of the largest ServiceCenter service, and its find's latencies.
    pub largest_service_instances: u64,
    pub sc_find_p50_ms: f64,
    pub sc_find_p99_ms: f64,
    pub sc_finds_per_s: f64,
    pub renewal_cost: RenewalCost,
    /// The watch fan-out, or why it failed.
    pub watch: Option<FanoutReport>,
    pub watch_error: Option<String>,
    pub catchup_s: Option<f64>,
    pub catchup_error: Option<String>,
    pub restart: Option<RestartReport>,
    pub restart_error: Option<String>,
    /// Seconds this size's measures took (registration included).
    pub seconds: f64,
}

/// The stage's findings.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    pub rss_empty_bytes: u64,
    pub points: Vec<SizePoint>,
    /// The leader killed under load at the largest size.
    pub failover: FailoverReport,
}

/// Runs the stage on a fresh `cluster`; every load's summary is also pushed to `loads`.
pub async fn scale(
    cluster: &mut Cluster,
    spec: &ScaleSpec,
    loads: &mut Vec<Summary>,
) -> Result<ScaleReport, BenchError> {
    let largest = *spec.sizes.last().ok_or_else(|| BenchError::Setup("no size".into()))?;
    // One shape for the whole stage, so an instance keeps its app from size to size.
    let shape = Shape {
        instances: largest,
        apps: (largest / 10).max(1),
        lease_secs: 3600,
    };
    let leader = cluster.leader(Duration::from_secs(30)).await?;
    let rss_empty_bytes = cluster.nodes[leader].rss_bytes();
    let mut points = Vec::new();
    let (mut registered, mut in_big_service) = (0, 0);
    let mut stalls = StallLog::start(cluster).await;
    for (step, &size) in spec.sizes.iter().enumerate() {
        let began = Instant::now();
        eprintln!("scale: {size} instances");
        let everyone = cluster.eureka_targets();
        let storm = LoadSpec::storm(
            spec.connections,
            registered,
            size - registered,
            Duration::from_secs(3600),
        );
        let register = Workload::new(Protocol::EurekaJson, Op::Register, shape, "/")?;
        let storm = measure(
            &format!("scale: register to {size}"),
            &everyone,
            register,
            &storm,
            false,
            false,
        )
        .await?;
        eprintln!("  registrations: {:.0}/s ({} errors)", storm.throughput, storm.errors);
        stalls.note(cluster, "the storm").await;
        if storm.errors > 0 {
            return Err(BenchError::Setup(format!(
                "{} registrations failed: {:?}",
                storm.errors, storm.first_error
            )));
        }
        let registrations_per_s = storm.throughput;
        loads.push(storm);
        registered = size;
        for node in &cluster.nodes {
            wait_for(
                &format!("node {} to apply {size} instances", node.id),
                Duration::from_secs(600),
                || async { node.instances().await.filter(|n| *n >= size) },
            )
            .await?;
        }
        let leader = cluster.leader(Duration::from_secs(30)).await?;
        let rss_bytes_per_node: Vec<u64> = cluster.nodes.iter().map(|n| n.rss_bytes()).collect();
        let bytes_per_instance = rss_bytes_per_node[leader].saturating_sub(rss_empty_bytes) as f64 / size as f64;
        eprintln!("  RSS per node {rss_bytes_per_node:?}: {bytes_per_instance:.0} bytes per instance");

        // The largest ServiceCenter service holds a hundredth as many instances.
        let big = (size / 100).max(10);
        let big_shape = Shape {
            instances: big,
            apps: 1,
            lease_secs: 3600,
        };
        let sc_root = [cluster.nodes[leader].target()];
        let sc_register = Workload::new(Protocol::ServiceCenter, Op::Register, big_shape, "/")?;
        let sc_spec = LoadSpec::storm(
            spec.connections,
            in_big_service,
            big - in_big_service,
            Duration::from_secs(600),
        );
        measure("scale: largest service", &sc_root, sc_register, &sc_spec, true, false).await?;
        in_big_service = big;

        // Reads while a thirtieth of the instances renew every second.
        let renewals = Renewals::start(cluster.eureka_targets(), shape_of(shape, size), size as f64 / 30.0);
        let mut fetches = BTreeMap::new();
        for format in FetchFormat::ALL {
            let point = fetch_point(cluster, "/apps", format, spec).await;
            eprintln!(
                "  full fetch {}: first {:.0} ms (slowest of {}), then p50 {:.0} ms, p99 {:.0} ms, {} fetches of {} KB, {} errors",
                format.name(),
                point.first_max_ms,
                spec.fetchers,
                point.p50_ms,
                point.p99_ms,
                point.fetches,
                point.bytes / 1000,
                point.errors
            );
            fetches.insert(format.name(), point);
        }
        let delta = fetch_point(cluster, "/apps/delta", FetchFormat::GZIP_JSON, spec).await;
        eprintln!(
            "  delta: first {:.0} ms, then p50 {:.0} ms, p99 {:.0} ms, {} KB gzip'd",
            delta.first_max_ms,
            delta.p50_ms,
            delta.p99_ms,
            delta.bytes / 1000
        );
        fetches.insert("delta_json_gzip".into(), delta);
        let find = Workload::new(Protocol::ServiceCenter, Op::Find, big_shape, "/")?;
        let find_spec = LoadSpec {
            connections: 16,
            duration: Duration::from_secs_f64(spec.read_seconds),
            warmup: Duration::from_secs(1),
            ..LoadSpec::default()
        };
        let find = measure(
            &format!("scale: find of {big} at {size}"),
            &sc_root,
            find,
            &find_spec,
            false,
            false,
        )
        .await?;
        eprintln!(
            "  servicecenter find of {big} instances: p50 {:.1} ms, p99 {:.1} ms",
            find.p50_ms, find.p99_ms
        );
        let (sc_find_p50_ms, sc_find_p99_ms, sc_finds_per_s) = (find.p50_ms, find.p99_ms, find.throughput);
        loads.push(find);
        let (renewals_answered, renewals_failed) = renewals.stop().await;
        stalls.note(cluster, "the reads").await;

        // Payload builds the reads started may still run: they would count as the leader's idle.
        let settled = cluster.wait_idle(IDLE_CORES, SETTLE_LIMIT).await;
        eprintln!("  nodes idle after {settled:.1} s");
        let cost = renewal_cost(cluster, shape_of(shape, size), spec.renewal_rate, spec.renewal_seconds).await?;
        eprintln!(
            "  leader CPU per renewal: direct {:.1} µs, forwarded {:.1} µs ({:.2}){}",
            cost.direct_us_per_renewal,
            cost.forwarded_us_per_renewal,
            cost.forwarded_ratio,
            cost.void.as_ref().map_or(String::new(), |why| format!(": void, {why}"))
        );
        stalls.note(cluster, "the renewal cost").await;

        let leader = cluster.leader(Duration::from_secs(30)).await?;
        let writer = (leader + 1) % cluster.nodes.len();
        let nodes: Vec<Target> = cluster.nodes.iter().map(|n| n.target()).collect();
        let fanout = FanoutSpec {
            watchers: spec.watchers,
            tag: step as u32,
            ..FanoutSpec::default()
        };
        let (watch, watch_error) = match watch_fanout(&cluster.nodes[writer].target(), &nodes, fanout).await {
            Ok(mut watch) => {
                eprintln!(
                    "  watch, {} watchers: p50 {:.1} ms, p99 {:.1} ms, {} missed (connected in {:.1} s); p50/p99 per node {:.0?}; the writer is node {}",
                    watch.watchers, watch.p50_ms, watch.p99_ms, watch.missed, watch.connect_s, watch.per_node_ms, writer + 1
                );
                eprintln!("    p50/p99 per event {:.0?}", watch.per_event_ms);
                loads.extend(watch.summary.take());
                (Some(watch), None)
            }
            Err(e) => {
                eprintln!("  watch, {} watchers: failed: {e}", spec.watchers);
                (None, Some(e.to_string()))
            }
        };

        stalls.note(cluster, "the watch").await;
        cluster.wait_idle(IDLE_CORES, SETTLE_LIMIT).await;
        let leader = cluster.leader(Duration::from_secs(60)).await?;
        let follower = (0..cluster.nodes.len())
            .rev()
            .find(|i| *i != leader)
            .expect("three nodes");
        let (catchup_s, catchup_error) = match catch_up(cluster, follower, leader).await {
            Ok(s) => {
                eprintln!("  catch-up of a wiped follower: {s:.2} s");
                (Some(s), None)
            }
            Err(e) => {
                eprintln!("  catch-up of a wiped follower: failed: {e}");
                (None, Some(e.to_string()))
            }
        };
        stalls.note(cluster, "the catch-up").await;
        // A failed catch-up may leave the member out of the cluster: no restart then.
        let restarted = match catchup_error {
            Some(_) => Err(BenchError::Setup("skipped: the catch-up failed".into())),
            None => full_restart(cluster, Duration::from_secs(600)).await,
        };
        let (restart, restart_error) = match restarted {
            Ok(r) => {
                eprintln!("  full restart: {:.2} s (per node {:?})", r.max_s, r.per_node_s);
                (Some(r), None)
            }
            Err(e) => {
                eprintln!("  full restart: {e}");
                (None, Some(e.to_string()))
            }
        };
        cluster.leader(Duration::from_secs(120)).await?;
        stalls.note(cluster, "the restart").await;

        points.push(SizePoint {
            instances: size,
            registrations_per_s,
            rss_bytes_per_node,
            bytes_per_instance,
            fetches,
            renewals_per_s: size as f64 / 30.0,
            renewals_answered,
            renewals_failed,
            largest_service_instances: big,
            sc_find_p50_ms,
            sc_find_p99_ms,
            sc_finds_per_s,
            renewal_cost: cost,
            watch,
            watch_error,
            catchup_s,
            catchup_error,
            restart,
            restart_error,
            seconds: began.elapsed().as_secs_f64(),
        });
    }
    eprintln!("scale: the leader killed under load at {largest} instances");
    let failover = failover(cluster, Default::default()).await?;
    eprintln!("  {failover:?}");
    Ok(ScaleReport {
        rss_empty_bytes,
        points,
        failover,
    })
}

/// The stalls each node records, written to the log phase by phase: where elections come from.
struct StallLog {
    last: Vec<Stalls>,
}

impl StallLog {
    async fn start(cluster: &Cluster) -> StallLog {
        let last = cluster
            .stalls()
            .await
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect();
        StallLog { last }
    }

    /// Logs each node's stalls since the previous note, after `phase`.
    async fn note(&mut self, cluster: &Cluster, phase: &str) {
        let now = cluster.stalls().await;
        let mut line = format!("  stalls ≥ 128 ms during {phase}:");
        for (i, (now, last)) in now.iter().zip(&mut self.last).enumerate() {
            match now {
                Some(now) => {
                    let d = now.since(last);
                    line += &format!(
                        " n{}: term {}, runtime {}, thread {}, append gaps {};",
                        i + 1,
                        d.term,
                        d.runtime,
                        d.thread,
                        d.append_gaps
                    );
                    *last = *now;
                }
                None => line += &format!(" n{}: no answer;", i + 1),
            }
        }
        eprintln!("{line}");
    }
}

/// `shape` cut to the first `size` instances (all registered), keeping its apps.
fn shape_of(shape: Shape, size: u64) -> Shape {
    Shape {
        instances: size,
        ..shape
    }
}

/// `spec.fetchers` clients fetching `path` in `format`, spread over the nodes: each fetches once
/// (the first fetches, all at once: at a large size they wait for the payload's first build),
/// then back to back for `spec.read_seconds` (a fetch started in time is waited for, up to 10
/// minutes), as clients that fetch every 30 s would find it.
async fn fetch_point(cluster: &Cluster, path: &str, format: FetchFormat, spec: &ScaleSpec) -> FetchPoint {
    let mut fetchers: Vec<Fetcher> = (0..spec.fetchers)
        .map(|i| {
            Fetcher::new(
                cluster.nodes[i % cluster.nodes.len()].eureka(),
                path,
                format,
                Duration::from_secs(600),
            )
        })
        .collect();
    let mut first = Samples::new();
    for result in futures::future::join_all(fetchers.iter_mut().map(Fetcher::fetch)).await {
        match result {
            Ok((latency, _)) => first.record(latency),
            Err(e) => first.error(e),
        }
    }
    let first = first.summary(path);
    let until = Instant::now() + Duration::from_secs_f64(spec.read_seconds);
    let runs = fetchers.into_iter().map(|mut fetcher| {
        tokio::spawn(async move {
            let mut samples = Samples::new();
            let size = fetcher.until(until, &mut samples).await;
            (samples, size)
        })
    });
    let runs: Vec<_> = runs.collect();
    let mut samples = Samples::new();
    let mut bytes = 0;
    for run in runs {
        match run.await {
            Ok((s, size)) => {
                samples.merge(s);
                bytes = bytes.max(size);
            }
            Err(e) => samples.error(format!("a fetcher failed: {e}")),
        }
    }
    let s = samples.summary(path);
    FetchPoint {
        first_p50_ms: first.p50_ms,
        first_max_ms: first.max_ms,
        first_errors: first.errors,
        fetches: s.requests - s.errors,
        errors: s.errors,
        first_error: first.first_error.or(s.first_error),
        bytes,
        p50_ms: s.p50_ms,
        p99_ms: s.p99_ms,
        max_ms: s.max_ms,
    }
}

/// Eureka renewals of a shape's instances at a steady rate over the targets, in the
/// background until stopped.
struct Renewals {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Renewals {
    const CONNECTIONS: usize = 32;

    fn start(targets: Vec<Target>, shape: Shape, per_second: f64) -> Renewals {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let workload =
            Arc::new(Workload::new(Protocol::EurekaJson, Op::Heartbeat, shape, "/").expect("eureka heartbeats"));
        let every = Duration::from_secs_f64(Self::CONNECTIONS as f64 / per_second.max(1.0));
        let tasks = (0..Self::CONNECTIONS)
            .map(|lane| {
                let (stop, answered, failed, workload) =
                    (stop.clone(), answered.clone(), failed.clone(), workload.clone());
                let mut conn = Conn::new(targets[lane % targets.len()].clone());
                tokio::spawn(async move {
                    let mut due = Instant::now();
                    let mut seq = lane as u64;
                    while !stop.load(Ordering::Relaxed) {
                        tokio::time::sleep_until(due).await;
                        let ok =
                            matches!(conn.send(workload.request(seq)).await, Ok(a) if workload.accepts(a.status()));
                        let counter = if ok { &answered } else { &failed };
                        counter.fetch_add(1, Ordering::Relaxed);
                        seq += Self::CONNECTIONS as u64;
                        due += every;
                    }
                })
            })
            .collect();
        Renewals {
            stop,
            answered,
            failed,
            tasks,
        }
    }

    /// Stops the renewals; (answered, failed).
    async fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        (
            self.answered.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

impl ScaleReport {
    /// The curves to draw: one panel per cost.
    pub fn panels(&self) -> Vec<crate::report::curves::Panel> {
        use crate::report::curves::Panel;
        let line = |name: &str, value: &dyn Fn(&SizePoint) -> f64| {
            let points = self.points.iter().map(|p| (p.instances as f64, value(p))).collect();
            (name.to_string(), points)
        };
        let panel = |title: &str, unit: &str, series: Vec<(String, Vec<(f64, f64)>)>| Panel {
            title: title.into(),
            unit: unit.into(),
            series,
        };
        let fetch = |shape: &'static str| move |p: &SizePoint| p.fetches.get(shape).map_or(0.0, |f| f.p99_ms);
        vec![
            panel(
                "memory per instance (leader)",
                "bytes",
                vec![line("RSS growth ÷ instances", &|p| p.bytes_per_instance)],
            ),
            panel(
                "registrations (3 nodes)",
                "per second",
                vec![line("registrations/s", &|p| p.registrations_per_s)],
            ),
            panel(
                "full fetch p99, 16 clients",
                "ms",
                FetchFormat::ALL
                    .iter()
                    .map(|f| {
                        let name = f.name();
                        let points = self
                            .points
                            .iter()
                            .map(|p| (p.instances as f64, p.fetches.get(&name).map_or(0.0, |f| f.p99_ms)))
                            .collect();
                        (name, points)
                    })
                    .collect(),
            ),
            panel(
                "first full fetch after the registrations (JSON gzip, slowest of the clients)",
                "ms",
                vec![line("first fetch", &|p| {
                    p.fetches.get("json_gzip").map_or(0.0, |f| f.first_max_ms)
                })],
            ),
            panel(
                "delta fetch p99 (JSON gzip)",
                "ms",
                vec![line("delta", &fetch("delta_json_gzip"))],
            ),
            panel(
                "ServiceCenter find, largest service",
                "ms",
                vec![line("p99", &|p| p.sc_find_p99_ms)],
            ),
            panel(
                "watch p99, all watchers",
                "ms",
                vec![line("register → event", &|p| {
                    p.watch.as_ref().map_or(0.0, |w| w.p99_ms)
                })],
            ),
            panel(
                "leader CPU per renewal",
                "µs",
                vec![
                    line("direct", &|p| p.renewal_cost.direct_us_per_renewal),
                    line("forwarded", &|p| p.renewal_cost.forwarded_us_per_renewal),
                ],
            ),
            panel(
                "wiped follower's catch-up",
                "s",
                vec![line("catch-up", &|p| p.catchup_s.unwrap_or(0.0))],
            ),
            panel(
                "full restart to serving",
                "s",
                vec![line("slowest node", &|p| p.restart.as_ref().map_or(0.0, |r| r.max_s))],
            ),
        ]
    }
}
