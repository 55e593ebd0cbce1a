//! What a run reports: one [`Summary`] per load, shown as a terminal table, written as JSON, and
//! drawn as a latency-by-percentile chart (SVG); the scale stage's cost curves (SVG).

pub mod chart;
pub mod curves;
pub mod table;

use serde::Serialize;

use crate::load::LoadResult;

/// Latency quantiles drawn on the chart and kept in the JSON.
pub const QUANTILES: [f64; 10] = [0.0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999];

/// One load run, in numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub name: String,
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub seconds: f64,
    /// Successful requests per second.
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// `[quantile, ms]` pairs for the chart.
    pub percentiles: Vec<[f64; 2]>,
    /// Answers in each second of the run.
    pub per_second: Vec<u64>,
}

impl Summary {
    pub fn of(name: &str, result: &LoadResult) -> Summary {
        Summary {
            name: name.to_string(),
            requests: result.requests,
            errors: result.errors,
            first_error: result.first_error.clone(),
            seconds: result.elapsed.as_secs_f64(),
            throughput: result.throughput(),
            p50_ms: result.latency_ms(0.5),
            p99_ms: result.latency_ms(0.99),
            p999_ms: result.latency_ms(0.999),
            max_ms: result.latency.max() as f64 / 1000.0,
            percentiles: QUANTILES.iter().map(|&q| [q, result.latency_ms(q)]).collect(),
            per_second: result.per_second.clone(),
        }
    }
}
