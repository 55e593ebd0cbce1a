//! The benchmark harness: load any Eureka-, ServiceCenter- or Nacos-compatible registry (ours
//! included) and the baselines it is judged against.
//!
//! - [`conn`]: one lean HTTP/1.1 connection per load worker.
//! - [`driver`]: each protocol's requests (Eureka JSON/XML, ServiceCenter v4, Nacos naming v1,
//!   the etcd v3 gateway, plain GET) and the set-up a workload needs.
//! - [`load`]: the open-/closed-loop engine with coordinated-omission-corrected histograms.
//! - [`report`]: summaries as a table, JSON and an SVG chart.
//! - [`procs`]: the processes a suite starts (registryd nodes, etcd members, the hello server).
//! - [`baseline`]: fsync latency of the data disk.
//! - [`restore`]: a registry of the storm's instances loaded by one restore.
//! - [`scenario`]: the multi-step measurements (watch, propagation, failover, memory, catch-up,
//!   heavy reads).
//! - [`goals`]: the quick suite's targets and its `summary.json`.

pub mod baseline;
pub mod conn;
pub mod driver;
pub mod error;
pub mod goals;
pub mod load;
pub mod procs;
pub mod report;
pub mod restore;
pub mod scenario;

use std::sync::Arc;

use indicatif::ProgressBar;
use indicatif::ProgressStyle;

use crate::conn::Conn;
use crate::conn::Target;
use crate::driver::Workload;
use crate::error::BenchError;
use crate::load::LoadSpec;
use crate::report::Summary;

/// Prepares `workload` (unless `prepare` is false), runs it and summarises it under `name`.
pub async fn measure(
    name: &str,
    targets: &[Target],
    workload: Workload,
    spec: &LoadSpec,
    prepare: bool,
    show_progress: bool,
) -> Result<Summary, BenchError> {
    if targets.is_empty() {
        return Err(BenchError::Target("no target".into()));
    }
    if prepare {
        let mut conns: Vec<Conn> = (0..spec.connections.clamp(1, 32))
            .map(|i| Conn::new(targets[i % targets.len()].clone()))
            .collect();
        workload.prepare(&mut conns).await?;
    }
    let progress = show_progress.then(|| progress_bar(name, spec));
    let result = load::run(targets, Arc::new(workload), spec, progress.clone()).await;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(Summary::of(name, &result))
}

/// A bar counting requests (to `spec.requests`, or open-ended with a spinner).
fn progress_bar(name: &str, spec: &LoadSpec) -> ProgressBar {
    let expected = spec.requests.or(spec
        .rate
        .map(|r| (r * (spec.duration + spec.warmup).as_secs_f64()) as u64));
    let bar = match expected {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    let template = if expected.is_some() {
        "{prefix:>24} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec})"
    } else {
        "{prefix:>24} [{elapsed_precise}] {spinner} {pos} requests ({per_sec})"
    };
    bar.set_style(ProgressStyle::with_template(template).expect("static template"));
    bar.set_prefix(name.to_string());
    bar
}
