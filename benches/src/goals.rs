//! The quick suite's targets: each goal's measured value, its target and whether it holds, in
//! the shape `summary.json` publishes (`goals.NAME = {value, target, pass}`).

use std::collections::BTreeMap;

use serde::Serialize;

/// One target and how the run did against it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Goal {
    pub value: f64,
    pub target: f64,
    pub pass: bool,
}

impl Goal {
    /// Passes when `value ≥ target`.
    pub fn at_least(value: f64, target: f64) -> Goal {
        Goal {
            value,
            target,
            pass: value.is_finite() && value >= target,
        }
    }

    /// Passes when `value ≤ target`.
    pub fn at_most(value: f64, target: f64) -> Goal {
        Goal {
            value,
            target,
            pass: value.is_finite() && value <= target,
        }
    }
}

/// The targets of the issue, by goal name.
pub mod targets {
    // Issue 23's raised targets.
    pub const HEARTBEAT_VS_HYPER: f64 = 1.0;
    pub const REGISTER_VS_ETCD: f64 = 2.0;
    pub const DISCOVERY_VS_HYPER: f64 = 1.0;
    pub const FAILOVER_S: f64 = 0.5;
    pub const FALSE_EVICTIONS: f64 = 0.0;
    // The scale stage's, at its largest size (1M).
    pub const BYTES_PER_INSTANCE: f64 = 1_000.0;
    pub const CATCHUP_S: f64 = 10.0;
    pub const RESTART_S: f64 = 5.0;
    pub const FULL_FETCH_P99_MS: f64 = 1_000.0;
    /// With 10,000 watchers.
    pub const WATCH_P99_MS: f64 = 50.0;
    /// Leader CPU per forwarded renewal ÷ per direct renewal.
    pub const FORWARDED_RENEWAL_COST: f64 = 0.2;
    // The default stages' (at the storm's 100k, one watcher), kept as guards.
    pub const WATCH_P99_MS_ONE_WATCHER: f64 = 100.0;
    pub const BYTES_PER_INSTANCE_STORM: f64 = 2_000.0;
    pub const CATCHUP_S_STORM: f64 = 5.0;
    pub const ENTRIES_PER_FSYNC: f64 = 32.0;
    pub const HEALTH_P99_UNDER_HEAVY_READS_MS: f64 = 100.0;
    pub const ELECTIONS_UNDER_HEAVY_READS: f64 = 0.0;
    /// Ours ÷ r-nacos through the Nacos Open API (issue 22: beat the AP peer while linearizable).
    pub const NACOS_VS_RNACOS: f64 = 1.0;
}

/// `value / base`, or 0 when there is no base.
pub fn ratio(value: f64, base: f64) -> f64 {
    if base > 0.0 {
        value / base
    } else {
        0.0
    }
}

/// Goals by name, in a stable order.
pub type Goals = BTreeMap<&'static str, Goal>;

/// Renders the goals as a table: name, value, target, pass.
pub fn render(goals: &Goals) -> String {
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(["goal", "value", "target", "pass"]);
    for (name, g) in goals {
        table.add_row([
            name.to_string(),
            format!("{:.3}", g.value),
            format!("{}", g.target),
            if g.pass { "yes" } else { "NO" }.to_string(),
        ]);
    }
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_compare_in_their_direction() {
        assert!(Goal::at_least(0.31, 0.3).pass);
        assert!(!Goal::at_least(0.29, 0.3).pass);
        assert!(Goal::at_most(0.0, 0.0).pass);
        assert!(!Goal::at_most(1.2, 1.0).pass);
        assert!(!Goal::at_most(f64::NAN, 1.0).pass);
        assert_eq!(ratio(5.0, 0.0), 0.0);
        let json = serde_json::to_value(Goal::at_least(2.0, 1.0)).unwrap();
        assert_eq!(json, serde_json::json!({"value": 2.0, "target": 1.0, "pass": true}));
    }
}
