//! `/metrics` parses as Prometheus text and says what the cluster is doing: one leader, the
//! registered instance by tenant, status and origin, its lease, the Raft term and indexes,
//! flush and apply latencies, and the registration's request by route and status; and the
//! series every Prometheus user expects: `process_*` and `registry_build_info`; latency buckets
//! to a minute with long polls apart, and refusals by reason; on the leader, each member's
//! replication lag and reachability; evictions by protocol.
//!
//! Not checked here: `registry_operations_total{protocol,operation}` (registrations, renewals,
//! cancellations per protocol), which another change adds with its own test.

use std::time::Duration;

use openmetrics_parser::openmetrics::parse_openmetrics;
use openmetrics_parser::MetricsExposition;
use openmetrics_parser::OpenMetricsType;
use openmetrics_parser::OpenMetricsValue;

use serde_json::json;

use crate::support::eureka_register;
use crate::support::Cluster;

pub(crate) type Scrape = MetricsExposition<OpenMetricsType, OpenMetricsValue>;

/// Node `i`'s `/metrics`, parsed by an OpenMetrics parser (it checks the format strictly).
pub(crate) async fn scrape(cluster: &Cluster, i: usize) -> Scrape {
    let text = cluster.metrics_text(i).await;
    parse_openmetrics(&text).unwrap_or_else(|e| panic!("not OpenMetrics ({e:?}):\n{text}"))
}

/// The value of the one sample of family `name` whose labels include `labels`: a gauge's or
/// counter's value, a histogram's count.
pub(crate) fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let family = scrape.families.get(name)?;
    let matching: Vec<f64> = family
        .iter_samples()
        .filter(|s| {
            let set = s.get_labelset().expect("labels");
            labels.iter().all(|(k, v)| set.get_label_value(k) == Some(*v))
        })
        .map(|s| match &s.value {
            OpenMetricsValue::Gauge(n) | OpenMetricsValue::Unknown(n) => n.as_f64(),
            OpenMetricsValue::Counter(c) => c.value.as_f64(),
            OpenMetricsValue::Histogram(h) => h.count.unwrap_or_default() as f64,
            other => panic!("{name}: unexpected {other:?}"),
        })
        .collect();
    assert!(matching.len() <= 1, "{name} {labels:?}: {matching:?}");
    matching.first().copied()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_describe_the_cluster() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let base = cluster.nodes[leader].url("");
    eureka_register(&cluster.client, &base, "METERED", "m-1").await.unwrap();
    cluster.wait_converged(Duration::from_secs(20)).await;

    let mut leaders = 0.0;
    for i in 0..3 {
        let s = scrape(&cluster, i).await;
        leaders += value(&s, "registry_raft_is_leader", &[]).expect("is_leader");
        assert!(value(&s, "registry_raft_term", &[]).unwrap() >= 1.0);
        assert_eq!(
            value(&s, "registry_raft_leader_id", &[]).unwrap(),
            cluster.nodes[leader].id as f64,
            "node {i}"
        );
        let applied = value(&s, "registry_raft_last_applied_index", &[]).unwrap();
        assert!(applied >= 1.0 && applied <= value(&s, "registry_raft_last_log_index", &[]).unwrap());
        let up_local = [("tenant", "default/default"), ("status", "UP"), ("origin", "local")];
        assert_eq!(value(&s, "registry_instances", &up_local), Some(1.0), "node {i}");
        assert!(value(&s, "registry_raft_log_flush_seconds", &[]).unwrap() >= 1.0);
        assert!(value(&s, "registry_raft_apply_seconds", &[]).unwrap() >= 1.0);
        assert!(value(&s, "registry_raft_leader_changes", &[]).unwrap() >= 1.0);
        assert!(value(&s, "registry_change_feed_subscribers", &[]).unwrap() >= 1.0);
        for protocol in ["eureka", "servicecenter", "other"] {
            let labels = [("protocol", protocol)];
            assert_eq!(
                value(&s, "registry_evicted_instances", &labels),
                Some(0.0),
                "{protocol}"
            );
        }
    }
    assert_eq!(leaders, 1.0, "exactly one node leads");

    // The lease keeper takes the registration in at its next round.
    let mut s = scrape(&cluster, leader).await;
    for _ in 0..100 {
        if value(&s, "registry_leases", &[]) == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        s = scrape(&cluster, leader).await;
    }
    assert_eq!(value(&s, "registry_leases", &[]), Some(1.0));
    assert!(value(&s, "registry_lease_renewal_threshold", &[]).is_some());
    assert!(value(&s, "registry_lease_expiry_enabled", &[]).is_some());
    let registration = [("route", "/eureka/apps/{app}"), ("method", "POST"), ("status", "204")];
    assert_eq!(
        value(&s, "registry_http_request_duration_seconds", &registration),
        Some(1.0)
    );
}

/// The families Prometheus users look for first, present on every node with sensible values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_name_the_process_and_the_build() {
    let cluster = Cluster::start(1, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let s = scrape(&cluster, 0).await;
    for name in [
        "process_cpu_seconds",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(scrape_has(&s, name), "{name} missing");
    }
    assert!(value(&s, "process_resident_memory_bytes", &[]).unwrap() > 1e6);
    assert!(value(&s, "process_open_fds", &[]).unwrap() >= 3.0);
    assert!(value(&s, "process_start_time_seconds", &[]).unwrap() > 1.6e9);
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(value(&s, "registry_build_info", &version), Some(1.0));
}

/// Whether family `name` is there (the parser names a counter's family without `_total`).
fn scrape_has(scrape: &Scrape, name: &str) -> bool {
    scrape.families.contains_key(name)
}

/// The `le` bounds of histogram family `name`'s buckets, read from the text (`+Inf` left out).
fn finite_buckets(text: &str, name: &str) -> Vec<f64> {
    let prefix = format!("{name}_bucket{{");
    let mut bounds: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next()?.parse::<f64>().ok())
        .filter(|b| b.is_finite())
        .collect();
    bounds.sort_by(f64::total_cmp);
    bounds.dedup();
    bounds
}

/// Latencies are bucketed up to a minute, long polls are timed apart, refusals are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_bucket_to_a_minute_and_count_refusals() {
    let cluster = Cluster::start(1, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let base = cluster.nodes[0].url("");
    eureka_register(&cluster.client, &base, "METERED", "m-1").await.unwrap();
    // A long poll that times out after a second, and a body over the 2 MiB limit.
    let poll = cluster
        .client
        .get(format!("{base}/eureka/apps/delta?waitRevision=1000000&waitSeconds=1"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(poll.status().as_u16(), 200);
    // On a client of its own: the node answers 413 and closes the connection while the body is
    // still being sent, and a pooled connection closed that way would fail the next scrape.
    let too_large = reqwest::Client::new()
        .post(format!("{base}/eureka/apps/METERED"))
        .header("content-type", "application/json")
        .body(vec![b' '; 3 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status().as_u16(), 413);

    let text = cluster.metrics_text(0).await;
    let s = parse_openmetrics(&text).unwrap_or_else(|e| panic!("not OpenMetrics ({e:?}):\n{text}"));
    let requests = finite_buckets(&text, "registry_http_request_duration_seconds");
    assert!(*requests.last().unwrap() >= 60.0, "{requests:?}");
    assert!(requests[0] <= 0.001, "{requests:?}");
    let polls = finite_buckets(&text, "registry_http_long_poll_duration_seconds");
    assert!(*polls.last().unwrap() >= 60.0, "{polls:?}");

    let delta = [("route", "/eureka/apps/delta"), ("method", "GET"), ("status", "200")];
    assert_eq!(value(&s, "registry_http_long_poll_duration_seconds", &delta), Some(1.0));
    assert_eq!(value(&s, "registry_http_request_duration_seconds", &delta), None);
    for (reason, count) in [
        ("unauthorized", 0.0),
        ("forbidden", 0.0),
        ("payload_too_large", 1.0),
        ("rate_limited", 0.0),
    ] {
        assert_eq!(
            value(&s, "registry_http_refusals", &[("reason", reason)]),
            Some(count),
            "{reason}"
        );
    }
}

/// The members' series on node `i`: (member id, lag, reachable), sorted by member.
fn member_series(s: &Scrape) -> Vec<(String, Option<f64>, Option<f64>)> {
    let members = |name: &str| -> Vec<String> {
        s.families.get(name).map_or_else(Vec::new, |f| {
            f.iter_samples()
                .filter_map(|x| x.get_labelset().ok()?.get_label_value("member").map(str::to_string))
                .collect()
        })
    };
    let mut ids = members("registry_member_replication_lag_entries");
    ids.extend(members("registry_member_reachable"));
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .map(|m| {
            let labels = [("member", m.as_str())];
            let lag = value(s, "registry_member_replication_lag_entries", &labels);
            let reachable = value(s, "registry_member_reachable", &labels);
            (m, lag, reachable)
        })
        .collect()
}

/// The leader exports every member's lag and reachability (followers none); a killed member
/// shows unreachable within seconds; a Eureka instance whose lease expires is counted as a
/// Eureka eviction on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_members_as_the_leader_sees_them_and_evictions_by_protocol() {
    let mut cluster = Cluster::start(3, &["--lease-tick-ms", "200", "--self-preservation", "false"]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let base = cluster.nodes[leader].url("");
    // Renew every second, expire after two: never renewed, so evicted.
    let short = json!({ "instance": {
        "instanceId": "short-1", "hostName": "10.0.0.1", "app": "SHORT", "ipAddr": "10.0.0.1",
        "status": "UP", "port": {"$": 8080, "@enabled": "true"},
        "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
        "leaseInfo": {"renewalIntervalInSecs": 1, "durationInSecs": 2}
    }});
    let resp = cluster
        .client
        .post(format!("{base}/eureka/apps/SHORT"))
        .json(&short)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);

    let eureka = [("protocol", "eureka")];
    let mut evicted_everywhere = false;
    for _ in 0..150 {
        let mut all = true;
        for i in 0..3 {
            all &= value(&scrape(&cluster, i).await, "registry_evicted_instances", &eureka) == Some(1.0);
        }
        if all {
            evicted_everywhere = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        evicted_everywhere,
        "the expired Eureka instance was not counted as evicted on every node"
    );
    for i in 0..3 {
        let s = scrape(&cluster, i).await;
        for protocol in ["servicecenter", "other"] {
            assert_eq!(
                value(&s, "registry_evicted_instances", &[("protocol", protocol)]),
                Some(0.0)
            );
        }
        if i != leader {
            assert!(member_series(&s).is_empty(), "follower {i} exports members' series");
        }
    }

    let ids: Vec<String> = cluster.nodes.iter().map(|n| n.id.to_string()).collect();
    let s = scrape(&cluster, leader).await;
    let members = member_series(&s);
    assert_eq!(
        members.iter().map(|m| m.0.clone()).collect::<Vec<_>>(),
        ids,
        "{members:?}"
    );
    for (member, lag, reachable) in &members {
        assert!(lag.is_some_and(|l| l >= 0.0), "member {member}: {members:?}");
        assert!(reachable.is_none_or(|r| r == 1.0), "member {member}: {members:?}");
    }

    let victim = (leader + 1) % 3;
    cluster.nodes[victim].kill9();
    let down = [("member", ids[victim].as_str())];
    let mut seen = None;
    for _ in 0..150 {
        seen = value(&scrape(&cluster, leader).await, "registry_member_reachable", &down);
        if seen == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, Some(0.0), "the killed member is not shown unreachable");
    let s = scrape(&cluster, leader).await;
    let other = [("member", ids[(leader + 2) % 3].as_str())];
    assert_eq!(value(&s, "registry_member_reachable", &other), Some(1.0));
    assert_eq!(
        value(&s, "registry_member_reachable", &[("member", ids[leader].as_str())]),
        Some(1.0)
    );
}
