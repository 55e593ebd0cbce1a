//! What a renewal costs the leader (issue 23): the same open-loop stream of Eureka heartbeats
//! is sent for the same time to the leader and to a follower (which forwards them), twice each,
//! alternating, and the leader's CPU time (user + system, from `/proc`) is read around each,
//! less what it spends idle over as long; the cheaper reading of each kind is kept. Forwarded
//! renewals should cost the leader a fraction of direct ones: a follower batches them. The CPU
//! of the leader's background payload builder (which encodes Eureka's full registry ahead of
//! fetches after a write or an election) is left out: it serves no renewal, and a build of a
//! million instances in one window would swamp the measure.

use std::time::Duration;

use serde::Serialize;

use crate::driver::Op;
use crate::driver::Protocol;
use crate::driver::Shape;
use crate::driver::Workload;
use crate::error::BenchError;
use crate::load::LoadSpec;
use crate::measure;
use crate::procs::registry::Cluster;

/// The leader's CPU per renewal, received directly and forwarded by a follower.
#[derive(Debug, Clone, Serialize)]
pub struct RenewalCost {
    pub rate_per_s: f64,
    pub seconds: f64,
    /// The leader's CPU seconds per second with no load, the quieter of a window before the
    /// loads and one after (subtracted from the others).
    pub idle_cpu_per_s: f64,
    pub direct_renewals: u64,
    pub direct_us_per_renewal: f64,
    pub forwarded_renewals: u64,
    pub forwarded_us_per_renewal: f64,
    /// forwarded ÷ direct; not a number when the measure is void (below).
    pub forwarded_ratio: f64,
    /// Why the measure is void, if it is: an election during it (the leader's term moved), so
    /// the CPU read was not all of one leader's; or a load that cost the leader no more than
    /// idling, so background work swamped it (a 1M run read 0.0 µs for both, and passed).
    pub void: Option<String>,
}

/// Heartbeats of `shape`'s (registered) instances at `rate` per second for `seconds`, at the
/// leader and then at a follower.
pub async fn renewal_cost(cluster: &Cluster, shape: Shape, rate: f64, seconds: f64) -> Result<RenewalCost, BenchError> {
    let leader = cluster.leader(Duration::from_secs(30)).await?;
    let follower = (0..cluster.nodes.len())
        .find(|i| *i != leader && cluster.nodes[*i].is_running())
        .ok_or_else(|| BenchError::Setup("no follower runs".into()))?;
    let term_before = cluster.nodes[leader].term().await;
    let window = Duration::from_secs_f64(seconds);
    let leader_cpu = || cluster.nodes[leader].serving_cpu_seconds();

    let idle_for_a_window = || async {
        let before = leader_cpu();
        tokio::time::sleep(window).await;
        (leader_cpu() - before) / seconds
    };
    let idle_before = idle_for_a_window().await;

    // Each load's renewals answered, the leader's CPU seconds over it, and its length.
    let run = |at: usize| {
        let target = cluster.nodes[at].eureka();
        async move {
            let spec = LoadSpec {
                connections: 16,
                rate: Some(rate),
                duration: window,
                warmup: Duration::ZERO,
                requests: None,
                first_seq: 0,
            };
            let workload = Workload::new(Protocol::EurekaJson, Op::Heartbeat, shape, "/")?;
            let (before, began) = (leader_cpu(), std::time::Instant::now());
            let summary = measure("renewals", &[target], workload, &spec, false, false).await?;
            // Renewals forwarded in a batch may reach the leader a little after the answers.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let renewed = summary.requests - summary.errors;
            if let Some(e) = summary.first_error.filter(|_| summary.errors > 0) {
                eprintln!("    {} of {} renewals failed: {e}", summary.errors, summary.requests);
            }
            Ok::<_, BenchError>((renewed, leader_cpu() - before, began.elapsed().as_secs_f64()))
        }
    };
    // Each load twice, alternating: background work (a payload build the reads left) only adds
    // to a window's CPU, so the cheaper of two is the better reading. A 1M run read 81.9 µs a
    // direct renewal against 23-28 at smaller sizes, a ratio of 0.12 made by the build alone.
    let mut loads = Vec::with_capacity(4);
    for at in [leader, follower, leader, follower] {
        loads.push(run(at).await?);
    }
    // Background work that ran through the first idle window would make the leader look busier
    // idle than under renewals: the quieter of two windows, before and after, is its idle.
    let idle_cpu_per_s = idle_before.min(idle_for_a_window().await);
    let per_renewal_us = |(renewed, cpu, elapsed): (u64, f64, f64)| {
        (cpu - idle_cpu_per_s * elapsed).max(0.0) * 1e6 / renewed.max(1) as f64
    };
    // (renewals, µs per renewal) of the cheaper of two readings.
    let cheaper = |a: (u64, f64, f64), b: (u64, f64, f64)| {
        [a, b]
            .map(|load| (load.0, per_renewal_us(load)))
            .into_iter()
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .expect("two readings")
    };
    let (direct_renewals, direct_us_per_renewal) = cheaper(loads[0], loads[2]);
    let (forwarded_renewals, forwarded_us_per_renewal) = cheaper(loads[1], loads[3]);
    let term_after = cluster.nodes[leader].term().await;
    let void = if term_after != term_before || term_before.is_none() {
        Some(format!(
            "the leader's term moved during the measure ({term_before:?} to {term_after:?}): an election"
        ))
    } else if direct_us_per_renewal <= 0.0 || forwarded_us_per_renewal <= 0.0 {
        Some(format!(
            "the leader was no busier under renewals than idle ({idle_cpu_per_s:.2} CPU-s a second): background work"
        ))
    } else {
        None
    };
    let ratio = crate::goals::ratio(forwarded_us_per_renewal, direct_us_per_renewal);
    Ok(RenewalCost {
        rate_per_s: rate,
        seconds,
        idle_cpu_per_s,
        direct_renewals,
        direct_us_per_renewal,
        forwarded_renewals,
        forwarded_us_per_renewal,
        forwarded_ratio: if void.is_some() { f64::NAN } else { ratio },
        void,
    })
}
