//! The terminal table of load summaries.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::CellAlignment;
use comfy_table::Table;

use super::Summary;

/// One row per summary: throughput and latency quantiles.
pub fn render(summaries: &[Summary]) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "load", "requests", "errors", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms",
    ]);
    for s in summaries {
        table.add_row([
            s.name.clone(),
            s.requests.to_string(),
            s.errors.to_string(),
            format!("{:.0}", s.throughput),
            format!("{:.2}", s.p50_ms),
            format!("{:.2}", s.p99_ms),
            format!("{:.2}", s.p999_ms),
            format!("{:.2}", s.max_ms),
        ]);
    }
    for column in table.column_iter_mut().skip(1) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    table.to_string()
}
