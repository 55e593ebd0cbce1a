//! The Prometheus rules and the Grafana dashboard name only series a running node exports (or
//! Prometheus's own `up` for the scrape job); every rule has a severity, and one of them says a
//! node is down; the dashboard shows what an operator acts on (issue 21): the process, the
//! build, operations and evictions by protocol, refusals by reason, each member's lag and
//! reachability, and long polls apart from the request latency.

use std::collections::BTreeSet;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use crate::files::read;
use crate::files::yaml;

#[path = "../common/ports.rs"]
mod ports;

/// A single node on loopback, killed when dropped.
struct Node {
    child: Child,
    http: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A node with one federation peer (nothing answers at its address), so the per-peer series
/// are there too.
fn start_node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let http = format!("127.0.0.1:{}", ports::free_port());
    let raft = format!("127.0.0.1:{}", ports::free_port());
    let config = dir.path().join("registry.toml");
    let silent_peer = format!("http://127.0.0.1:{}/eureka", ports::free_port());
    std::fs::write(
        &config,
        format!("cluster_name = \"dc1\"\n\n[[sync]]\nname = \"dc2\"\nkind = \"eureka\"\nurl = \"{silent_peer}\"\ndirection = \"both\"\n"),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_registryd"))
        .args([
            "--node-id",
            "1",
            "--http",
            &http,
            "--raft",
            &raft,
            "--log-level",
            "warn",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("registryd starts");
    Node { child, http, _dir: dir }
}

/// Every sample name `/metrics` may carry: each family's name with its type's suffixes.
async fn exported_series(node: &Node) -> BTreeSet<String> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = format!("http://{}/health", node.http);
    while !client.get(&health).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "the node did not become healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // One instance, so the instance series has a sample (a family without one is not listed).
    let register = client
        .post(format!("http://{}/eureka/apps/METERED", node.http))
        .json(&serde_json::json!({"instance": {
            "instanceId": "m-1", "hostName": "10.0.0.1", "app": "METERED", "ipAddr": "10.0.0.1",
            "status": "UP", "port": {"$": 8080, "@enabled": "true"},
            "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"}
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status().as_u16(), 204);
    // One long poll (it times out after a second), so the long polls' histogram has a sample.
    let poll = client
        .get(format!(
            "http://{}/eureka/apps/delta?waitRevision=1000000&waitSeconds=1",
            node.http
        ))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(poll.status().as_u16(), 200);
    let text = client
        .get(format!("http://{}/metrics", node.http))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').unwrap();
        let suffixes: &[&str] = match kind {
            "counter" => &["_total", "_created"],
            "histogram" => &["_bucket", "_count", "_sum", "_created"],
            _ => &[""],
        };
        names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    assert!(names.contains("registry_raft_term"), "{text}");
    names
}

/// Series the dashboard uses that a branch not yet merged adds; the check tolerates their
/// absence, and only theirs. (`registry_operations_total` came with the endpoints branch.)
const ADDED_BY_A_PENDING_BRANCH: &[&str] = &[];

/// The `registry_*` and `process_*` identifiers in a PromQL expression (not label values or
/// parts of longer identifiers).
fn series_in(expr: &str) -> Vec<String> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found = Vec::new();
    let mut at = 0;
    while at < expr.len() {
        let rest = &expr[at..];
        let before = expr[..at].chars().next_back();
        let starts = rest.starts_with("registry_") || rest.starts_with("process_");
        if starts && !before.is_some_and(|c| is_ident(c) || c == '"') {
            let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
            found.push(rest[..end].to_string());
            at += end;
        } else {
            at += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    found
}

#[test]
fn series_are_found_in_expressions() {
    assert_eq!(
        series_in(r#"rate(process_cpu_seconds_total{instance=~"$node"}[5m]) / registry_x"#),
        vec!["process_cpu_seconds_total", "registry_x"]
    );
    assert_eq!(
        series_in(r#"up{job="registry_x"} + my_process_y"#),
        Vec::<String>::new()
    );
}

fn dashboard_exprs() -> Vec<String> {
    let dashboard: serde_json::Value = serde_json::from_str(&read("grafana/registry-dashboard.json")).unwrap();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    panels
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("targets").clone())
        .map(|t| t["expr"].as_str().expect("expr").to_string())
        .collect()
}

/// The dashboard's panels do not overlap, fit Grafana's 24 columns and have distinct ids.
#[test]
fn dashboard_panels_tile_the_grid() {
    let dashboard: serde_json::Value = serde_json::from_str(&read("grafana/registry-dashboard.json")).unwrap();
    let mut cells = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for p in dashboard["panels"].as_array().expect("panels") {
        let title = p["title"].as_str().expect("title");
        assert!(ids.insert(p["id"].as_u64().expect("id")), "{title}: id used twice");
        let at = |k: &str| {
            p["gridPos"][k]
                .as_u64()
                .unwrap_or_else(|| panic!("{title}: gridPos.{k}"))
        };
        let (x, y, w, h) = (at("x"), at("y"), at("w"), at("h"));
        assert!(w > 0 && h > 0 && x + w <= 24, "{title}: {x}+{w} columns");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(cells.insert((cx, cy)), "{title} overlaps another panel at ({cx}, {cy})");
            }
        }
    }
}

/// The series an operator acts on are on the dashboard (issue 21).
#[test]
fn the_dashboard_shows_the_process_the_build_members_refusals_evictions_and_operations() {
    let used: BTreeSet<String> = dashboard_exprs().iter().flat_map(|e| series_in(e)).collect();
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "registry_build_info",
        "registry_operations_total",
        "registry_evicted_instances_total",
        "registry_http_refusals_total",
        "registry_member_replication_lag_entries",
        "registry_member_reachable",
        "registry_http_request_duration_seconds_bucket",
        "registry_http_long_poll_duration_seconds_bucket",
    ] {
        assert!(used.contains(name), "the dashboard does not use {name}");
    }
}

/// The alert rules, each checked for a `severity` label.
fn alert_exprs() -> Vec<String> {
    let prometheus = &yaml("prometheus/prometheus.yml")[0];
    let job = &prometheus["scrape_configs"][0];
    assert_eq!(job["metrics_path"].as_str(), Some("/metrics"));
    assert_eq!(job["static_configs"][0]["targets"].as_vec().map(Vec::len), Some(3));
    let job_name = job["job_name"].as_str().expect("a job name");
    let rules_file = prometheus["rule_files"][0].as_str().expect("a rules file");
    let rules = &yaml(&format!("prometheus/{rules_file}"))[0];
    let rules = rules["groups"][0]["rules"].as_vec().expect("rules");
    for rule in rules {
        let severity = rule["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("critical" | "warning")),
            "{:?}: severity {severity:?}",
            rule["alert"]
        );
    }
    let node_down = format!("up{{job=\"{job_name}\"}} == 0");
    assert!(
        rules.iter().any(|r| r["expr"].as_str() == Some(node_down.as_str())),
        "no rule `{node_down}`"
    );
    rules
        .iter()
        .map(|r| r["expr"].as_str().expect("expr").to_string())
        .collect()
}

#[tokio::test]
async fn dashboards_and_alerts_name_series_a_node_exports() {
    let node = start_node();
    let exported = exported_series(&node).await;
    let mut used = BTreeSet::new();
    for expr in dashboard_exprs().iter().chain(&alert_exprs()) {
        let names = series_in(expr);
        // `up` is Prometheus's own series for the scrape, not the node's.
        assert!(!names.is_empty() || expr.starts_with("up{"), "{expr}");
        used.extend(names);
    }
    let unknown: Vec<&String> = used
        .iter()
        .filter(|n| !exported.contains(*n) && !ADDED_BY_A_PENDING_BRANCH.contains(&n.as_str()))
        .collect();
    assert!(unknown.is_empty(), "not exported: {unknown:?}");
    let merged: Vec<&&str> = ADDED_BY_A_PENDING_BRANCH
        .iter()
        .filter(|n| exported.contains(**n))
        .collect();
    assert!(
        merged.is_empty(),
        "{merged:?} exported now: take them out of ADDED_BY_A_PENDING_BRANCH"
    );
}
