//! Baseline F: how long one write + fdatasync of a 4 KiB block takes on the disk the registry's
//! data lives on. It bounds how many log flushes per second any durable store can make there.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::error::BenchError;
use crate::load::new_histogram;

#[derive(Debug, Clone, Serialize)]
pub struct FsyncLatency {
    pub samples: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Sequential fsyncs per second (1 / mean).
    pub per_second: f64,
}

/// Appends `samples` 4 KiB blocks to a file in `dir`, each followed by `fdatasync`.
pub fn fsync_latency(dir: &Path, samples: u64) -> Result<FsyncLatency, BenchError> {
    let path = dir.join(".registry-bench-fsync");
    let mut file = std::fs::File::create(&path)?;
    let block = [0x5a_u8; 4096];
    let mut histogram = new_histogram();
    let started = Instant::now();
    for _ in 0..samples.max(1) {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        histogram.saturating_record(t.elapsed().as_micros().max(1) as u64);
    }
    let total = started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(FsyncLatency {
        samples: samples.max(1),
        p50_ms: histogram.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: histogram.value_at_quantile(0.99) as f64 / 1000.0,
        per_second: samples.max(1) as f64 / total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let f = fsync_latency(dir.path(), 5).unwrap();
        assert_eq!(f.samples, 5);
        assert!(f.per_second > 0.0 && f.p99_ms >= f.p50_ms);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
