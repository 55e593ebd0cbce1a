//! Restart time with many instances stored: registers N instances (default 100,000) with a
//! single-node `registryd`, stops it with SIGTERM, starts it again on the same data and measures
//! the time until `/health` answers 200 and the digest counts every instance.
//!
//! `cargo build --release -p registry-http && cargo bench -p registry-bench --bench startup [-- N]`
//!
//! With `STARTUP_KEEP_DATA=DIR`, the stopped node's data folder is copied to `DIR` before the
//! restart, to profile a start on it (`perf record target/release/registryd --data-dir DIR ...`).

use std::time::Duration;
use std::time::Instant;

use registry_bench::driver::Op;
use registry_bench::driver::Protocol;
use registry_bench::driver::Shape;
use registry_bench::driver::Workload;
use registry_bench::load::LoadSpec;
use registry_bench::procs::get_json;
use registry_bench::procs::registry::Cluster;
use registry_bench::procs::wait_for;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let instances: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let mut cluster = Cluster::start(1, &[]).await?;
    let empty_rss = cluster.nodes[0].rss_bytes();
    let shape = Shape {
        instances,
        apps: (instances / 10).max(1),
        lease_secs: 3600,
    };
    let spec = LoadSpec {
        warmup: Duration::ZERO,
        duration: Duration::from_secs(1800),
        requests: Some(instances),
        ..LoadSpec::default()
    };
    let register = Workload::new(Protocol::EurekaJson, Op::Register, shape, "/")?;
    let name = format!("register {instances}");
    let storm = registry_bench::measure(&name, &[cluster.nodes[0].eureka()], register, &spec, false, true).await?;
    println!(
        "registered {instances} instances at {:.0}/s ({} errors); RSS {} MiB (empty: {} MiB)",
        storm.throughput,
        storm.errors,
        cluster.nodes[0].rss_bytes() >> 20,
        empty_rss >> 20
    );

    cluster.nodes[0].terminate();
    if let Some(keep) = std::env::var_os("STARTUP_KEEP_DATA") {
        let copied = std::process::Command::new("cp")
            .arg("-r")
            .arg(&cluster.nodes[0].data)
            .arg(&keep)
            .status()?;
        anyhow::ensure!(copied.success(), "copying the data folder to {keep:?} failed");
    }
    let restart = Instant::now();
    cluster.nodes[0].start()?;
    let healthy = cluster.wait_healthy(0, Duration::from_secs(300)).await?;
    let healthy_after = restart.elapsed();
    let target = cluster.nodes[0].target();
    let stored = wait_for("every instance served", Duration::from_secs(300), || async {
        match get_json(&target, "/admin/registry/digest").await {
            Ok((200, digest)) => digest["instances"].as_u64(),
            _ => None,
        }
    })
    .await?;
    println!(
        "restart with {stored} instances stored (revision {healthy}): healthy after {healthy_after:?}, \
         digest served after {:?}, RSS {} MiB",
        restart.elapsed(),
        cluster.nodes[0].rss_bytes() >> 20
    );
    anyhow::ensure!(
        stored >= instances,
        "{stored} of {instances} instances after the restart"
    );
    Ok(())
}
