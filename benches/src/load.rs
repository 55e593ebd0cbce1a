//! The load engine: workers, one connection each, sending a workload's requests open-loop (at a
//! fixed rate, each request's latency measured from the time it was *meant* to be sent, which
//! corrects coordinated omission) or closed-loop (as fast as answers come back).

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use tokio::time::Instant;

use crate::conn::Conn;
use crate::conn::Target;
use crate::driver::Workload;

/// How hard and how long to load.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Connections (= concurrent requests at most), spread round-robin over the targets.
    pub connections: usize,
    /// Requests per second in all (open loop); `None` sends as fast as answers come (closed loop).
    pub rate: Option<f64>,
    /// How long to measure, after the warm-up.
    pub duration: Duration,
    /// Load sent but not measured first.
    pub warmup: Duration,
    /// Stop after this many requests in all (warm-up included), even before `duration`.
    pub requests: Option<u64>,
    /// The sequence number of the first request (storms continue where the last one stopped).
    pub first_seq: u64,
}

impl Default for LoadSpec {
    fn default() -> Self {
        LoadSpec {
            connections: 64,
            rate: None,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            requests: None,
            first_seq: 0,
        }
    }
}

impl LoadSpec {
    /// A storm: `count` requests from sequence number `first`, as fast as answers come, no
    /// warm-up, given at most `limit`.
    pub fn storm(connections: usize, first: u64, count: u64, limit: Duration) -> LoadSpec {
        LoadSpec {
            connections,
            rate: None,
            duration: limit,
            warmup: Duration::ZERO,
            requests: Some(count),
            first_seq: first,
        }
    }
}

/// What one load run measured (after the warm-up).
pub struct LoadResult {
    /// Answered requests, successes and errors.
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// From the end of the warm-up to the last answer.
    pub elapsed: Duration,
    /// Latency in µs from the intended send time (open loop) or the send time (closed loop).
    pub latency: Histogram<u64>,
    /// Answers per second of the measured window.
    pub per_second: Vec<u64>,
}

impl LoadResult {
    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs <= 0.0 {
            return 0.0;
        }
        (self.requests - self.errors) as f64 / secs
    }

    /// The `q`-quantile (0..1) of latency in milliseconds.
    pub fn latency_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

struct Worker {
    latency: Histogram<u64>,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    per_second: Vec<u64>,
    last_answer: Option<Instant>,
}

/// A histogram of µs from 1 µs to 10 minutes, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("static bounds are valid")
}

/// Runs `workload` against `targets` as `spec` says; `progress` (if any) counts requests.
pub async fn run(
    targets: &[Target],
    workload: Arc<Workload>,
    spec: &LoadSpec,
    progress: Option<ProgressBar>,
) -> LoadResult {
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + spec.warmup;
    let end = measure_from + spec.duration;
    let next = Arc::new(AtomicU64::new(0));
    let ticker = progress.map(|bar| {
        let next = next.clone();
        tokio::spawn(async move {
            loop {
                bar.set_position(next.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    });
    let workers = (0..spec.connections.max(1)).map(|i| {
        let conn = Conn::new(targets[i % targets.len()].clone());
        let (workload, next, spec) = (workload.clone(), next.clone(), spec.clone());
        tokio::spawn(work(conn, workload, next, spec, start, measure_from, end))
    });
    let mut result = LoadResult {
        requests: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latency: new_histogram(),
        per_second: Vec::new(),
    };
    let mut last_answer = measure_from;
    for worker in futures::future::join_all(workers).await {
        let w = worker.expect("load workers do not panic");
        result.requests += w.requests;
        result.errors += w.errors;
        result.first_error = result.first_error.or(w.first_error);
        result.latency.add(&w.latency).expect("same bounds");
        if result.per_second.len() < w.per_second.len() {
            result.per_second.resize(w.per_second.len(), 0);
        }
        for (total, n) in result.per_second.iter_mut().zip(&w.per_second) {
            *total += n;
        }
        last_answer = last_answer.max(w.last_answer.unwrap_or(measure_from));
    }
    if let Some(t) = ticker {
        t.abort();
    }
    result.elapsed = last_answer.saturating_duration_since(measure_from);
    result
}

async fn work(
    mut conn: Conn,
    workload: Arc<Workload>,
    next: Arc<AtomicU64>,
    spec: LoadSpec,
    start: Instant,
    measure_from: Instant,
    end: Instant,
) -> Worker {
    let mut w = Worker {
        latency: new_histogram(),
        requests: 0,
        errors: 0,
        first_error: None,
        per_second: Vec::new(),
        last_answer: None,
    };
    tokio::time::sleep_until(start).await;
    loop {
        let k = next.fetch_add(1, Ordering::Relaxed);
        if spec.requests.is_some_and(|n| k >= n) {
            break;
        }
        let intended = match spec.rate {
            Some(rate) => start + Duration::from_secs_f64(k as f64 / rate),
            None => Instant::now(),
        };
        if intended >= end {
            break;
        }
        // Only an open loop waits for its request's time. Tokio's timer rounds every deadline up
        // to its next millisecond, so a closed loop that slept "until now" waited up to a
        // millisecond before each request: 64 connections of a hello-world server made 44k
        // requests a second with the cores two-thirds idle, 132k without the sleep.
        if spec.rate.is_some() {
            tokio::time::sleep_until(intended).await;
        }
        let outcome = conn.send(workload.request(spec.first_seq + k)).await;
        let done = Instant::now();
        if intended < measure_from {
            continue;
        }
        let failure = match outcome {
            Ok(answer) if workload.accepts(answer.status()) => None,
            Ok(answer) => Some(format!(
                "HTTP {}: {}",
                answer.status(),
                String::from_utf8_lossy(answer.body())
                    .chars()
                    .take(200)
                    .collect::<String>()
            )),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = failure {
            w.errors += 1;
            w.first_error.get_or_insert(why);
        }
        w.requests += 1;
        w.latency
            .saturating_record(done.saturating_duration_since(intended).as_micros() as u64);
        let second = done.saturating_duration_since(measure_from).as_secs() as usize;
        if w.per_second.len() <= second {
            w.per_second.resize(second + 1, 0);
        }
        w.per_second[second] += 1;
        w.last_answer = Some(done);
    }
    w
}
