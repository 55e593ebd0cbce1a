//! `loadgen`: loads any Eureka, ServiceCenter, Nacos or etcd-gateway endpoint (or a plain GET) with one
//! workload and reports throughput and coordinated-omission-corrected latency as a table, JSON
//! and an SVG chart.
//!
//! ```text
//! loadgen --target http://127.0.0.1:8761/eureka --protocol eureka-json --op heartbeat \
//!         --instances 1000 --connections 64 --rate 20000 --duration 10 --json out.json --svg out.svg
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use registry_bench::conn::Target;
use registry_bench::driver::Op;
use registry_bench::driver::Protocol;
use registry_bench::driver::Shape;
use registry_bench::driver::Workload;
use registry_bench::load::LoadSpec;
use registry_bench::report;

#[derive(Parser, Debug)]
#[command(name = "loadgen", about = "Load a registry and measure it")]
struct Cli {
    /// Base URL, with the protocol's root (e.g. http://host:8761/eureka). Repeat to spread the
    /// connections over several nodes.
    #[arg(long, required = true)]
    target: Vec<String>,
    /// eureka-json, eureka-xml, servicecenter, nacos, etcd or plain.
    #[arg(long, default_value = "eureka-json")]
    protocol: Protocol,
    /// register, heartbeat, apps, delta, app (Eureka); register, heartbeat, find, find-rev
    /// (ServiceCenter); register, heartbeat, list (Nacos, target the server's root); put (etcd);
    /// get (plain).
    #[arg(long, default_value = "heartbeat")]
    op: Op,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Requests per second in all (open loop). Omit for closed loop (as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of unmeasured load first.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Stop after this many requests.
    #[arg(long)]
    requests: Option<u64>,
    /// Number of the first request (a register storm registers instances from here on).
    #[arg(long, default_value_t = 0)]
    first_seq: u64,
    /// Instances the workload spreads over (and registers first, for heartbeats and reads).
    #[arg(long, default_value_t = 1000)]
    instances: u64,
    /// Apps (services) the instances spread over.
    #[arg(long, default_value_t = 100)]
    apps: u64,
    /// Lease of registered instances, in seconds.
    #[arg(long, default_value_t = 90)]
    lease: u32,
    /// Path for the plain protocol.
    #[arg(long, default_value = "/")]
    path: String,
    /// Skip the set-up registrations (they were done by an earlier run).
    #[arg(long)]
    no_prepare: bool,
    /// Name of the run in the reports (default: protocol and operation).
    #[arg(long)]
    name: Option<String>,
    /// Write the summary as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Draw the latency chart here (SVG).
    #[arg(long)]
    svg: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let targets = cli
        .target
        .iter()
        .map(|t| Target::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let shape = Shape {
        instances: cli.instances,
        apps: cli.apps,
        lease_secs: cli.lease,
    };
    let workload = Workload::new(cli.protocol, cli.op, shape, &cli.path)?;
    let spec = LoadSpec {
        connections: cli.connections,
        rate: cli.rate,
        duration: Duration::from_secs_f64(cli.duration),
        warmup: Duration::from_secs_f64(cli.warmup),
        requests: cli.requests,
        first_seq: cli.first_seq,
    };
    let name = cli.name.unwrap_or_else(|| format!("{} {}", cli.protocol, cli.op));
    let summary = registry_bench::measure(&name, &targets, workload, &spec, !cli.no_prepare, !cli.quiet).await?;
    println!("{}", report::table::render(std::slice::from_ref(&summary)));
    if let Some(e) = &summary.first_error {
        eprintln!("first error: {e}");
    }
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_vec_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &cli.svg {
        report::chart::latency_svg(path, &name, std::slice::from_ref(&summary))?;
    }
    Ok(())
}
