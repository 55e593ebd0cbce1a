//! `quick`: the quick benchmark suite (run it through `benches/quick --out DIR`). On one machine,
//! in one run, it measures the baselines (H: hello-world requests/s of a minimal hyper server;
//! E: puts/s of a three-member etcd; F: fsync latency of the data disk) and a three-node
//! registry cluster (register storm to 100k instances, heartbeats, discovery reads, watch and
//! propagation latency, memory per instance, `/health` and elections under gzip'd full fetches and
//! XML attribute bombs, a wiped follower's catch-up, a leader crash under load) and, through the
//! Nacos Open API, our registry against r-nacos (one node and three), then writes
//! `DIR/summary.json` (goals, baselines, every load), `DIR/latency.svg` and prints the tables.
//! The `scale` stage (not a default one: `--only scale` or `--scale`) grows a fresh cluster
//! through 10k, 100k, ... `--instances` and writes its cost curves to `DIR/scale.svg` and
//! `DIR/scale.json`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use registry_bench::baseline;
use registry_bench::conn::Target;
use registry_bench::driver::Op;
use registry_bench::driver::Protocol;
use registry_bench::driver::Shape;
use registry_bench::driver::Workload;
use registry_bench::goals;
use registry_bench::goals::targets;
use registry_bench::goals::Goal;
use registry_bench::goals::Goals;
use registry_bench::load::LoadSpec;
use registry_bench::measure;
use registry_bench::procs::etcd::EtcdCluster;
use registry_bench::procs::hello;
use registry_bench::procs::registry::Cluster;
use registry_bench::procs::rnacos::RnacosCluster;
use registry_bench::report;
use registry_bench::report::Summary;
use registry_bench::restore;
use registry_bench::scenario;
use registry_bench::scenario::heavy_reads::HeavyReadsSpec;
use registry_bench::scenario::scale::ScaleSpec;
use serde_json::json;

#[derive(Parser, Debug)]
#[command(name = "quick", about = "The quick benchmark suite")]
struct Cli {
    /// Where summary.json and latency.svg go (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Instances the register storm ends with.
    #[arg(long, default_value_t = 100_000)]
    instances: u64,
    /// Concurrent connections of every throughput load (the same for baselines and registry).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds each throughput load is measured.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Samples of the watch and propagation latencies.
    #[arg(long, default_value_t = 300)]
    samples: usize,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
    /// Seconds of the heavy-reads stage (full fetches and attribute bombs while `/health` is
    /// probed).
    #[arg(long, default_value_t = 20.0)]
    heavy_reads_seconds: f64,
    /// Clients fetching the full registry gzip'd in the heavy-reads stage.
    #[arg(long, default_value_t = 16)]
    heavy_reads_fetchers: usize,
    /// Clients sending the XML attribute bomb in the heavy-reads stage.
    #[arg(long, default_value_t = 2)]
    heavy_reads_bombers: usize,
    /// Run only these stages (comma-separated: baselines, storm, reads, latency, heavy_reads,
    /// catchup, failover, nacos, scale); goals of the others are left out. For working on one
    /// target. Without the storm, heavy_reads restores `--instances` instances first.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Run the scale stage after the default stages (it is not one of them).
    #[arg(long)]
    scale: bool,
    /// The scale stage's largest size (default: `--instances`).
    #[arg(long)]
    scale_instances: Option<u64>,
    /// Watchers of the scale stage's watch-latency measure.
    #[arg(long, default_value_t = 10_000)]
    scale_watchers: usize,
    /// Seconds each of the scale stage's read loads is measured.
    #[arg(long, default_value_t = 10.0)]
    scale_read_seconds: f64,
    /// Keep the registry nodes' data and logs (their folder is printed at the end).
    #[arg(long)]
    keep: bool,
    /// Nacos registrations of the `nacos` stage's storm (each registry, each size).
    #[arg(long, default_value_t = 20_000)]
    nacos_registrations: u64,
    /// Instances the `nacos` stage's beats spread over.
    #[arg(long, default_value_t = 10_000)]
    nacos_instances: u64,
    /// The registry nodes' log filter (`--log-level` of registryd), e.g. `info` with `--keep`.
    #[arg(long, default_value = "warn")]
    node_log_level: String,
}

struct Suite {
    cli: Cli,
    loads: Vec<Summary>,
}

impl Suite {
    /// Whether `stage` is to run.
    fn runs(&self, stage: &str) -> bool {
        if stage == "scale" {
            return self.cli.scale || self.cli.only.iter().any(|s| s == stage);
        }
        self.cli.only.is_empty() || self.cli.only.iter().any(|s| s == stage)
    }

    /// Whether any stage that loads the suite's main three-node cluster runs.
    fn runs_main_cluster(&self) -> bool {
        ["storm", "reads", "latency", "heavy_reads", "catchup", "failover"]
            .iter()
            .any(|s| self.runs(s))
    }

    fn spec(&self) -> LoadSpec {
        LoadSpec {
            connections: self.cli.connections,
            duration: Duration::from_secs_f64(self.cli.seconds),
            warmup: Duration::from_secs(1),
            ..LoadSpec::default()
        }
    }

    /// Runs one load and keeps its summary; returns its throughput.
    async fn load(
        &mut self,
        name: &str,
        targets: &[Target],
        workload: Workload,
        spec: LoadSpec,
        prepare: bool,
    ) -> anyhow::Result<f64> {
        let summary = measure(name, targets, workload, &spec, prepare, !self.cli.quiet)
            .await
            .with_context(|| format!("load {name:?}"))?;
        eprintln!(
            "  {name}: {:.0}/s, p99 {:.2} ms, {} errors",
            summary.throughput, summary.p99_ms, summary.errors
        );
        if let Some(e) = &summary.first_error {
            eprintln!("    first error: {e}");
        }
        let throughput = summary.throughput;
        self.loads.push(summary);
        Ok(throughput)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    std::fs::create_dir_all(&cli.out).with_context(|| format!("creating {}", cli.out.display()))?;
    let started = std::time::Instant::now();
    let mut suite = Suite { cli, loads: Vec::new() };
    let mut goals = Goals::new();
    let mut details = serde_json::Map::new();
    let instances = suite.cli.instances;
    let storm_shape = Shape {
        instances,
        apps: (instances / 10).max(1),
        lease_secs: 3600,
    };

    let (mut h, mut e) = (None, None);
    if suite.runs("baselines") {
        eprintln!("baselines");
        let fsync = baseline::fsync_latency(&std::env::temp_dir(), 300)?;
        eprintln!("  F: fsync p50 {:.2} ms, p99 {:.2} ms", fsync.p50_ms, fsync.p99_ms);
        let (hello_proc, hello_target) = hello::start()?;
        let plain = Workload::new(Protocol::Plain, Op::Get, Shape::default(), "/")?;
        h = Some(
            suite
                .load("H: hello (hyper)", &[hello_target], plain, suite.spec(), false)
                .await?,
        );
        drop(hello_proc);
        let etcd = EtcdCluster::start(3).await?;
        let put = Workload::new(Protocol::Etcd, Op::Put, storm_shape, "/")?;
        e = Some(
            suite
                .load(
                    "E: etcd put (3 members)",
                    &etcd.targets.clone(),
                    put,
                    suite.spec(),
                    false,
                )
                .await?,
        );
        drop(etcd);
        details.insert(
            "baselines".into(),
            json!({ "hello_requests_per_s": h, "etcd_puts_per_s": e, "fsync": fsync }),
        );
    }

    let node_args = ["--log-level".to_string(), suite.cli.node_log_level.clone()];
    let log_dir = if suite.runs_main_cluster() {
        eprintln!("registry: three nodes");
        let cluster = Cluster::start(3, &node_args).await?;
        main_cluster_stages(&mut suite, cluster, storm_shape, (h, e), &mut goals, &mut details).await?
    } else {
        "none".to_string()
    };

    if suite.runs("nacos") {
        let nacos = nacos_stage(&mut suite, &node_args).await?;
        let named = [
            ("nacos_register_vs_rnacos_1_node", nacos.one_node.0),
            ("nacos_heartbeat_vs_rnacos_1_node", nacos.one_node.1),
            ("nacos_register_vs_rnacos_3_nodes", nacos.three_nodes.0),
            ("nacos_heartbeat_vs_rnacos_3_nodes", nacos.three_nodes.1),
        ];
        for (name, ratio) in named {
            goals.insert(name, Goal::at_least(ratio, targets::NACOS_VS_RNACOS));
        }
        details.insert("nacos".into(), json!(nacos.details));
    }

    if suite.runs("scale") {
        let largest = suite.cli.scale_instances.unwrap_or(instances);
        scale_stage(&mut suite, &node_args, largest, &mut goals, &mut details).await?;
    }

    let summary = json!({
        "goals": goals,
        "details": details,
        "settings": {
            "connections": suite.cli.connections,
            "seconds_per_load": suite.cli.seconds,
            "heavy_reads_seconds": suite.cli.heavy_reads_seconds,
            "only": suite.cli.only,
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        },
        "loads": suite.loads,
        "suite_seconds": started.elapsed().as_secs_f64(),
    });
    let path = suite.cli.out.join("summary.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let charted: Vec<Summary> = suite
        .loads
        .iter()
        .filter(|s| !s.name.starts_with("register"))
        .cloned()
        .collect();
    report::chart::latency_svg(&suite.cli.out.join("latency.svg"), "latency by percentile", &charted)?;
    println!("{}", report::table::render(&suite.loads));
    println!("{}", goals::render(&goals));
    println!(
        "wrote {} in {:.0} s (node data and logs: {log_dir})",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The stages on the suite's main three-node cluster (storm, reads, latency, heavy reads,
/// catch-up, failover); returns where the nodes' files went.
async fn main_cluster_stages(
    suite: &mut Suite,
    mut cluster: Cluster,
    storm_shape: Shape,
    (h, e): (Option<f64>, Option<f64>),
    goals: &mut Goals,
    details: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<String> {
    let instances = storm_shape.instances;
    let leader = cluster.leader(Duration::from_secs(30)).await?;
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let everyone = cluster.eureka_targets();

    if suite.runs("storm") || suite.runs("reads") || suite.runs("catchup") {
        let rss_empty = cluster.nodes[leader].rss_bytes();
        let connections = suite.cli.connections;
        let storm = |first: u64, count: u64| LoadSpec::storm(connections, first, count, Duration::from_secs(1800));
        let first = instances / 10;
        let register = Workload::new(Protocol::EurekaJson, Op::Register, storm_shape, "/")?;
        let name = format!("register to {first} (3 nodes)");
        suite.load(&name, &everyone, register, storm(0, first), false).await?;
        let rss_tenth = cluster.nodes[leader].rss_bytes();
        let before = cluster.nodes[leader].log_counters().await.unwrap_or_default();
        let register = Workload::new(Protocol::EurekaJson, Op::Register, storm_shape, "/")?;
        let name = format!("register to {instances} (3 nodes)");
        let spec = storm(first, instances - first);
        let registrations = suite.load(&name, &everyone, register, spec, false).await?;
        let after = cluster.nodes[leader].log_counters().await.unwrap_or_default();
        // The goal counts registry writes per fsync: each is one log entry in an unbatched log.
        let (entries_per_flush, commands_per_flush) = after.per_flush_since(&before);
        // Let the followers apply everything before their memory is read.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_full: Vec<u64> = cluster.nodes.iter().map(|n| n.rss_bytes()).collect();
        let bytes_per_instance = rss_full[leader].saturating_sub(rss_empty) as f64 / instances as f64;
        if let Some(e) = e {
            goals.insert(
                "register_vs_etcd",
                Goal::at_least(goals::ratio(registrations, e), targets::REGISTER_VS_ETCD),
            );
        }
        goals.insert(
            "entries_per_fsync",
            Goal::at_least(commands_per_flush, targets::ENTRIES_PER_FSYNC),
        );
        goals.insert(
            "bytes_per_instance_storm",
            Goal::at_most(bytes_per_instance, targets::BYTES_PER_INSTANCE_STORM),
        );
        details.insert(
            "storm".into(),
            json!({
                "instances": instances,
                "registrations_per_s": registrations,
                "raft_entries_per_fsync": entries_per_flush,
                "commands_per_fsync": commands_per_flush,
                "rss_bytes": { "empty": rss_empty, "at_a_tenth": rss_tenth, "full_per_node": rss_full },
                "bytes_per_instance": bytes_per_instance,
            }),
        );
    }

    if suite.runs("reads") {
        let at_leader = [cluster.nodes[leader].eureka()];
        let at_follower = [cluster.nodes[followers[0]].eureka()];
        let heartbeat = || Workload::new(Protocol::EurekaJson, Op::Heartbeat, storm_shape, "/");
        let heartbeats = suite
            .load(
                "eureka heartbeat (leader)",
                &at_leader,
                heartbeat()?,
                suite.spec(),
                false,
            )
            .await?;
        suite
            .load(
                "eureka heartbeat (follower)",
                &at_follower,
                heartbeat()?,
                suite.spec(),
                false,
            )
            .await?;
        let app = Workload::new(Protocol::EurekaJson, Op::App, storm_shape, "/")?;
        let discovery = suite
            .load("eureka one app, JSON", &at_leader, app, suite.spec(), false)
            .await?;
        let app_xml = Workload::new(Protocol::EurekaXml, Op::App, storm_shape, "/")?;
        suite
            .load("eureka one app, XML", &at_leader, app_xml, suite.spec(), false)
            .await?;
        let delta = Workload::new(Protocol::EurekaJson, Op::Delta, storm_shape, "/")?;
        suite
            .load("eureka delta", &at_leader, delta, suite.spec(), false)
            .await?;
        let sc_shape = Shape {
            instances: 1_000,
            apps: 100,
            lease_secs: 3600,
        };
        let sc_root = [cluster.nodes[leader].target()];
        let find = Workload::new(Protocol::ServiceCenter, Op::FindRev, sc_shape, "/")?;
        suite
            .load("servicecenter find with rev", &sc_root, find, suite.spec(), true)
            .await?;
        let find = Workload::new(Protocol::ServiceCenter, Op::Find, sc_shape, "/")?;
        suite
            .load("servicecenter find", &sc_root, find, suite.spec(), false)
            .await?;
        if let Some(h) = h {
            goals.insert(
                "heartbeat_vs_hyper",
                Goal::at_least(goals::ratio(heartbeats, h), targets::HEARTBEAT_VS_HYPER),
            );
            goals.insert(
                "discovery_vs_hyper",
                Goal::at_least(goals::ratio(discovery, h), targets::DISCOVERY_VS_HYPER),
            );
        }
        details.insert(
            "reads".into(),
            json!({ "heartbeats_per_s": heartbeats, "one_app_reads_per_s": discovery }),
        );
    }

    if suite.runs("latency") {
        eprintln!("latencies");
        let (a, b) = (&cluster.nodes[followers[0]], &cluster.nodes[followers[1]]);
        let watch = scenario::watch::watch_latency(&a.target(), &b.target(), suite.cli.samples).await?;
        eprintln!("  watch p99 {:.2} ms", watch.p99_ms);
        goals.insert(
            "watch_p99_ms_one_watcher",
            Goal::at_most(watch.p99_ms, targets::WATCH_P99_MS_ONE_WATCHER),
        );
        suite.loads.push(watch);
        let propagation = scenario::propagation::propagation(&a.eureka(), &b.eureka(), suite.cli.samples).await?;
        eprintln!("  propagation p99 {:.2} ms", propagation.p99_ms);
        suite.loads.push(propagation);
    }

    if suite.runs("heavy_reads") {
        let spec = HeavyReadsSpec {
            duration: Duration::from_secs_f64(suite.cli.heavy_reads_seconds),
            fetchers: suite.cli.heavy_reads_fetchers,
            bombers: suite.cli.heavy_reads_bombers,
            ..HeavyReadsSpec::default()
        };
        eprintln!(
            "heavy reads: {} clients fetching /eureka/apps gzip'd, {} sending the XML attribute bomb",
            spec.fetchers, spec.bombers
        );
        let leader = cluster.leader(Duration::from_secs(30)).await?;
        // Without the storm, the registry is loaded by one restore.
        if cluster.nodes[leader].instances().await.unwrap_or(0) == 0 {
            let began = std::time::Instant::now();
            let backup = restore::eureka_backup(&storm_shape)?;
            restore::restore(&cluster.nodes[leader].target(), backup).await?;
            for node in &cluster.nodes {
                registry_bench::procs::wait_for(
                    &format!("node {} to apply the restore", node.id),
                    Duration::from_secs(120),
                    || async { node.instances().await.filter(|n| *n >= instances) },
                )
                .await?;
            }
            eprintln!(
                "  restored {instances} instances in {:.1} s",
                began.elapsed().as_secs_f64()
            );
        }
        let held = cluster.nodes[leader].instances().await.unwrap_or(0);
        let report = scenario::heavy_reads::heavy_reads(&cluster, spec).await?;
        for h in &report.health {
            eprintln!(
                "  node {} /health: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} probes, {} failed)",
                h.node, h.p50_ms, h.p99_ms, h.max_ms, h.probes, h.failures
            );
        }
        eprintln!(
            "  {} full fetches of {held} instances ({} KB gzip'd, p50 {:.0} ms, p99 {:.0} ms, {} errors); bombs answered {:?}; {} elections",
            report.fetches,
            report.fetch_gzip_bytes / 1000,
            report.fetch_p50_ms,
            report.fetch_p99_ms,
            report.fetch_errors,
            report.bomb_answers,
            report.elections
        );
        goals.insert(
            "health_p99_under_heavy_reads_ms",
            Goal::at_most(report.health_p99_ms, targets::HEALTH_P99_UNDER_HEAVY_READS_MS),
        );
        goals.insert(
            "elections_under_heavy_reads",
            Goal::at_most(report.elections as f64, targets::ELECTIONS_UNDER_HEAVY_READS),
        );
        suite.loads.extend(report.health_loads.iter().cloned());
        details.insert("heavy_reads".into(), json!({ "instances": held, "report": report }));
    }

    if suite.runs("catchup") {
        eprintln!("catch-up of a wiped follower");
        // Leadership may have moved during the loads before.
        let leader = cluster.leader(Duration::from_secs(30)).await?;
        let follower = (0..3).rev().find(|i| *i != leader).expect("three nodes");
        let catchup = scenario::catchup::catch_up(&mut cluster, follower, leader)
            .await
            .with_context(|| format!("catch-up of node {} through node {}", follower + 1, leader + 1))?;
        eprintln!("  {catchup:.2} s");
        goals.insert("catchup_s_storm", Goal::at_most(catchup, targets::CATCHUP_S_STORM));
        details.insert("catchup_s".into(), json!(catchup));
    }

    if suite.runs("failover") {
        eprintln!("failover under load");
        let failover = scenario::failover::failover(&mut cluster, Default::default()).await?;
        eprintln!("  {failover:?}");
        goals.insert("failover_s", Goal::at_most(failover.unavailable_s, targets::FAILOVER_S));
        goals.insert(
            "false_evictions_storm",
            Goal::at_most(failover.false_evictions as f64, targets::FALSE_EVICTIONS),
        );
        details.insert("failover".into(), json!(failover));
    }
    Ok(if suite.cli.keep {
        format!("kept in {}", cluster.stop_and_keep_files().display())
    } else {
        drop(cluster);
        "deleted".to_string()
    })
}

/// The scale stage on a fresh three-node cluster, to `largest` instances: its goals at the
/// largest size, its report under `details.scale`, and `scale.json` and `scale.svg` in the
/// output folder.
async fn scale_stage(
    suite: &mut Suite,
    node_args: &[String],
    largest: u64,
    goals: &mut Goals,
    details: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let spec = ScaleSpec {
        sizes: ScaleSpec::sizes_up_to(largest),
        connections: suite.cli.connections,
        fetchers: suite.cli.heavy_reads_fetchers,
        read_seconds: suite.cli.scale_read_seconds,
        watchers: suite.cli.scale_watchers,
        renewal_rate: 5_000.0,
        renewal_seconds: 5.0,
    };
    eprintln!(
        "scale: a fresh three-node cluster grown through {:?} instances",
        spec.sizes
    );
    let mut cluster = Cluster::start(3, node_args).await?;
    let report = scenario::scale::scale(&mut cluster, &spec, &mut suite.loads).await?;
    if suite.cli.keep {
        eprintln!(
            "scale: node data and logs kept in {}",
            cluster.stop_and_keep_files().display()
        );
    } else {
        drop(cluster);
    }
    let top = report.points.last().context("the scale stage measured no size")?;
    let scale_goals = [
        (
            "bytes_per_instance",
            Goal::at_most(top.bytes_per_instance, targets::BYTES_PER_INSTANCE),
        ),
        (
            "catchup_s",
            Goal::at_most(top.catchup_s.unwrap_or(f64::NAN), targets::CATCHUP_S),
        ),
        (
            "restart_s",
            Goal::at_most(top.restart.as_ref().map_or(f64::NAN, |r| r.max_s), targets::RESTART_S),
        ),
        (
            "full_fetch_p99_ms",
            Goal::at_most(
                top.fetches.get("json_gzip").map_or(f64::NAN, |f| f.p99_ms),
                targets::FULL_FETCH_P99_MS,
            ),
        ),
        (
            "watch_p99_ms",
            Goal::at_most(top.watch.as_ref().map_or(f64::NAN, |w| w.p99_ms), targets::WATCH_P99_MS),
        ),
        (
            "forwarded_renewal_cost",
            Goal::at_most(top.renewal_cost.forwarded_ratio, targets::FORWARDED_RENEWAL_COST),
        ),
        (
            "false_evictions",
            Goal::at_most(report.failover.false_evictions as f64, targets::FALSE_EVICTIONS),
        ),
        (
            "failover_s_at_scale",
            Goal::at_most(report.failover.unavailable_s, targets::FAILOVER_S),
        ),
    ];
    for (name, goal) in scale_goals {
        goals.insert(name, goal);
    }
    let json = serde_json::to_value(&report)?;
    let path = suite.cli.out.join("scale.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&json)?).with_context(|| format!("writing {}", path.display()))?;
    report::curves::curves_svg(&suite.cli.out.join("scale.svg"), &report.panels())?;
    details.insert("scale".into(), json);
    Ok(())
}

/// Ours ÷ r-nacos at one size: (registrations, heartbeats).
type Ratios = (f64, f64);

struct NacosStage {
    one_node: Ratios,
    three_nodes: Ratios,
    details: serde_json::Value,
}

/// The `nacos` stage: the same Nacos Open API v1 loads (a registration storm, then beats of
/// prepared instances) against our registry and r-nacos, one node and three nodes, the same
/// connections and durations, one system running at a time.
async fn nacos_stage(suite: &mut Suite, node_args: &[String]) -> anyhow::Result<NacosStage> {
    eprintln!("nacos: ours and r-nacos, one node and three nodes");
    let mut details = serde_json::Map::new();
    let mut ratios = Vec::new();
    for size in [1usize, 3] {
        let ours = {
            let cluster = Cluster::start(size, node_args).await?;
            cluster.leader(Duration::from_secs(30)).await?;
            let targets: Vec<Target> = cluster.nodes.iter().map(|n| n.target()).collect();
            nacos_loads(suite, &format!("ours, {size} node"), &targets).await?
        };
        let theirs = {
            let rnacos = RnacosCluster::start(size).await?;
            nacos_loads(suite, &format!("r-nacos, {size} node"), &rnacos.targets.clone()).await?
        };
        let pair = (goals::ratio(ours.0, theirs.0), goals::ratio(ours.1, theirs.1));
        details.insert(
            format!("{size}_node"),
            json!({
                "ours": { "registrations_per_s": ours.0, "heartbeats_per_s": ours.1 },
                "rnacos": { "registrations_per_s": theirs.0, "heartbeats_per_s": theirs.1 },
                "register_ratio": pair.0, "heartbeat_ratio": pair.1,
            }),
        );
        ratios.push(pair);
    }
    Ok(NacosStage {
        one_node: ratios[0],
        three_nodes: ratios[1],
        details: serde_json::Value::Object(details),
    })
}

/// A registration storm, then beats of prepared instances, over every one of `targets`;
/// returns (registrations/s, beats/s).
async fn nacos_loads(suite: &mut Suite, who: &str, targets: &[Target]) -> anyhow::Result<(f64, f64)> {
    let storm_shape = Shape {
        instances: suite.cli.nacos_registrations,
        apps: (suite.cli.nacos_registrations / 10).max(1),
        lease_secs: 30,
    };
    let storm = LoadSpec::storm(
        suite.cli.connections,
        0,
        suite.cli.nacos_registrations,
        Duration::from_secs(600),
    );
    let register = Workload::new(Protocol::Nacos, Op::Register, storm_shape, "/")?;
    let registrations = suite
        .load(&format!("nacos register ({who})"), targets, register, storm, false)
        .await?;
    // Beats renew instances of their own (registered by the load's preparation), so the storm's
    // instances, which nobody beats, do not matter to it.
    let beat_shape = Shape {
        instances: suite.cli.nacos_instances,
        apps: (suite.cli.nacos_instances / 10).max(1),
        lease_secs: 30,
    };
    let beat = Workload::new(Protocol::Nacos, Op::Heartbeat, beat_shape, "/")?;
    let beats = suite
        .load(&format!("nacos beat ({who})"), targets, beat, suite.spec(), true)
        .await?;
    Ok((registrations, beats))
}
