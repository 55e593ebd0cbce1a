//! The quick suite end to end, shrunk: every registry stage against a three-node cluster of the
//! `registryd` the workspace builds (the baselines need etcd and are left out), checking that
//! `summary.json` carries each goal as `{value, target, pass}` and that no load saw an error.
//! Speed is not asserted: the shared machines are too noisy for that.

use std::process::Command;

use serde_json::Value;

/// Runs `quick` with `args` (and `--quiet`) into a new folder; the folder and its summary.
fn run_quick(args: &[&str]) -> (tempfile::TempDir, Value) {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_quick"))
        .arg("--out")
        .arg(out.path())
        .args(args)
        .arg("--quiet")
        .status()
        .unwrap();
    assert!(status.success(), "quick exited with {status}");
    let summary = serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap()).unwrap();
    (out, summary)
}

#[test]
fn the_quick_suite_writes_its_summary() {
    let registryd = registry_bench::procs::sibling_binary("registryd");
    assert!(
        registryd.exists(),
        "{} is missing: build it first (`cargo test --workspace` does)",
        registryd.display()
    );
    let (out, summary) = run_quick(&[
        "--only",
        "storm,reads,latency,heavy_reads,catchup,failover",
        "--instances",
        "300",
        "--connections",
        "8",
        "--seconds",
        "0.5",
        "--samples",
        "5",
        "--heavy-reads-seconds",
        "1",
    ]);
    for goal in [
        "entries_per_fsync",
        "bytes_per_instance_storm",
        "watch_p99_ms_one_watcher",
        "catchup_s_storm",
        "failover_s",
        "false_evictions_storm",
        "health_p99_under_heavy_reads_ms",
        "elections_under_heavy_reads",
    ] {
        let g = &summary["goals"][goal];
        assert!(g["value"].is_number() && g["target"].is_number(), "{goal}: {g}");
        assert!(g["pass"].is_boolean(), "{goal}: {g}");
    }
    assert_eq!(summary["details"]["failover"]["acknowledged_writes_lost"], 0);
    let heavy = &summary["details"]["heavy_reads"]["report"];
    assert!(heavy["fetches"].as_u64().unwrap() > 0, "{heavy}");
    assert_eq!(heavy["fetch_errors"], 0, "{heavy}");
    let bombs = heavy["bomb_answers"].as_object().unwrap();
    assert!(bombs.keys().all(|status| status == "400"), "{heavy}");
    let loads = summary["loads"].as_array().unwrap();
    assert!(loads.len() >= 9, "every load is reported: {}", loads.len());
    for load in loads {
        assert_eq!(load["errors"], 0, "{}: {}", load["name"], load["first_error"]);
        assert!(
            load["requests"].as_u64().unwrap() > 0,
            "{} answered nothing",
            load["name"]
        );
    }
    assert!(out.path().join("latency.svg").exists());
}

/// The scale stage, shrunk to one small size and few watchers: it runs every measure and writes
/// its goals, `scale.json` and `scale.svg`.
#[test]
fn the_scale_stage_writes_its_curves() {
    let (out, summary) = run_quick(&[
        "--only",
        "scale",
        "--instances",
        "2000",
        "--connections",
        "8",
        "--scale-watchers",
        "40",
        "--scale-read-seconds",
        "0.5",
        "--heavy-reads-fetchers",
        "4",
    ]);
    for goal in [
        "bytes_per_instance",
        "catchup_s",
        "restart_s",
        "full_fetch_p99_ms",
        "watch_p99_ms",
        "forwarded_renewal_cost",
        "false_evictions",
    ] {
        let g = &summary["goals"][goal];
        assert!(g["value"].is_number() && g["pass"].is_boolean(), "{goal}: {g}");
    }
    let scale: Value = serde_json::from_slice(&std::fs::read(out.path().join("scale.json")).unwrap()).unwrap();
    let point = &scale["points"][0];
    assert_eq!(point["instances"], 2000, "{point}");
    assert_eq!(point["watch"]["missed"], 0, "{point}");
    assert!(point["watch_error"].is_null(), "{point}");
    assert!(
        point["catchup_error"].is_null() && point["restart_error"].is_null(),
        "{point}"
    );
    assert_eq!(point["renewals_failed"], 0, "{point}");
    for (shape, fetch) in point["fetches"].as_object().unwrap() {
        assert_eq!(fetch["errors"], 0, "{shape}: {fetch}");
        assert!(fetch["fetches"].as_u64().unwrap() > 0, "{shape}: {fetch}");
    }
    assert_eq!(scale["failover"]["acknowledged_writes_lost"], 0);
    assert!(out.path().join("scale.svg").exists());
}
