//! Shared by the benches: `registryd` processes on loopback, health waits, RSS, percentiles.

#![allow(dead_code)]

#[path = "../../tests/common/ports.rs"]
mod ports;
pub use ports::free_port;

use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

pub const BIN: &str = env!("CARGO_BIN_EXE_registryd");

/// A `registryd` process; killed on drop.
pub struct Proc {
    pub child: Child,
    pub http: String,
}

impl Proc {
    pub fn spawn(args: &[String], http: &str) -> Proc {
        let child = Command::new(BIN)
            .args(args)
            .args(["--http", http, "--log-level", "warn"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn registryd");
        Proc {
            child,
            http: http.to_string(),
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.http)
    }

    /// SIGTERM, then wait (bounded).
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `base/health` answers 200; returns how long that took.
pub async fn wait_healthy(client: &reqwest::Client, base: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if let Ok(r) = client
            .get(format!("{base}/health"))
            .timeout(Duration::from_millis(500))
            .send()
            .await
        {
            if r.status() == 200 {
                return start.elapsed();
            }
        }
        assert!(start.elapsed() < limit, "{base} not healthy within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
