//! Propagation: a Eureka registration sent to node A, until node B serves the instance. Works
//! against any two Eureka-compatible nodes.

use std::time::Duration;
use std::time::Instant;

use super::Samples;
use crate::conn::Conn;
use crate::conn::Target;
use crate::driver::bodiless;
use crate::driver::eureka::instance_json;
use crate::driver::with_body;
use crate::error::BenchError;
use crate::report::Summary;

/// `samples` registrations sent to `a` (a Eureka root), each polled for at `b`.
pub async fn propagation(a: &Target, b: &Target, samples: usize) -> Result<Summary, BenchError> {
    let (mut writer, mut reader) = (Conn::new(a.clone()), Conn::new(b.clone()));
    let mut latencies = Samples::new();
    for n in 0..samples as u64 {
        let body = instance_json("PROPAGATION", 9_000_000 + n, 90).into_bytes();
        let sent = Instant::now();
        let register = with_body("POST", "/apps/PROPAGATION", "application/json", body);
        writer.send_expecting(register, "register", |s| s.is_success()).await?;
        let path = format!("/apps/PROPAGATION/inst-{}", 9_000_000 + n);
        let deadline = sent + Duration::from_secs(10);
        loop {
            if reader.send(bodiless("GET", &path, "application/json")).await?.status() == 200 {
                break;
            }
            if Instant::now() > deadline {
                return Err(BenchError::Setup(format!("{path} never appeared on the other node")));
            }
        }
        latencies.record(sent.elapsed());
    }
    Ok(latencies.summary("propagation: node A -> node B"))
}
