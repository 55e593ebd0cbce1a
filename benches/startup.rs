//! Startup time with many instances stored: loads N instances (default 100,000) into a
//! single-node `registryd` over HTTP, stops it with SIGTERM, restarts it on the same data and
//! measures the time until `/health` answers 200 and every instance is served.
//!
//! `cargo bench -p registry-http --bench startup [-- INSTANCES]`

mod support;

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use serde_json::json;
use serde_json::Value;
use support::free_port;
use support::wait_healthy;
use support::Proc;

const CONCURRENCY: usize = 64;

#[tokio::main]
async fn main() {
    let instances: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let http = format!("127.0.0.1:{}", free_port());
    let raft = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{http}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();

    let args = ["--data-dir", data, "--raft", &raft].map(String::from);
    let mut node = Proc::spawn(&args, &http);
    let first_start = wait_healthy(&client, &base, Duration::from_secs(30)).await;
    println!("empty start: healthy after {first_start:?}");

    let load_start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (next, client, base) = (next.clone(), client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= instances {
                    return;
                }
                let body = json!({
                    "service": format!("svc-{}", n % 1000),
                    "id": format!("inst-{n}"),
                    "host": format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255),
                    "endpoints": [format!("rest://10.0.0.1:{}", 8000 + n % 1000)],
                    "metadata": { "zone": "zone-a", "version": "1.0.0" },
                });
                for _ in 0..100 {
                    let sent = client
                        .post(format!("{base}/admin/registry/instances"))
                        .json(&body)
                        .send()
                        .await;
                    if sent.is_ok_and(|r| r.status() == 200) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let load = load_start.elapsed();
    println!(
        "loaded {instances} instances in {load:?} ({:.0} registrations/s), RSS {} MiB",
        instances as f64 / load.as_secs_f64(),
        node.rss_kib() / 1024
    );
    node.terminate();

    let restart = Instant::now();
    let mut node = Proc::spawn(&args, &http);
    let healthy = wait_healthy(&client, &base, Duration::from_secs(120)).await;
    let digest: Value = client
        .get(format!("{base}/admin/registry/digest"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let served = restart.elapsed();
    println!(
        "restart with {} instances stored: healthy after {healthy:?}, digest served after {served:?}, RSS {} MiB",
        digest["instances"],
        node.rss_kib() / 1024
    );
    assert_eq!(digest["instances"].as_u64(), Some(instances as u64));
    node.terminate();
}
