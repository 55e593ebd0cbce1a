//! The Node SDK `nacos` (nacos-naming 2.6.3, unmodified) against a three-node cluster: it
//! registers and beats (its BeatReactor), discovers (`getAllInstances`, `selectInstances`),
//! and subscribes: its HostReactor lists with `udpPort`, and a registration or deregistration
//! by another client reaches it as a UDP push (seen by its PushReceiver, and acked: the nodes
//! count the acks). Killing the leader evicts no instance whose client beats; killing a client
//! process (kill -9) lets its instance expire, which is pushed too (issue 22).
//!
//! The SDK is installed by `tests/run.sh` into `tests/clients/node_modules`.

use std::time::Duration;
use std::time::Instant;

use serde_json::Value;

use crate::client_driver::clients_dir;
use crate::client_driver::installed;
use crate::client_driver::Client;
use crate::support::Cluster;

/// Beats every second, lease of 15 s (the SDK's first beat comes up to 10 s after it starts).
const METADATA: &str = r#"{"preserved.heart.beat.interval":"1000","preserved.heart.beat.timeout":"3000","preserved.ip.delete.timeout":"15000"}"#;

fn spawn(servers: &str) -> Client {
    installed("node_modules/nacos");
    let script = clients_dir().join("nacos_node_client.js").display().to_string();
    let client = Client::spawn("nacos (Node SDK)", "node".into(), &[script, servers.to_string()]);
    let started = client.next_event(Duration::from_secs(60));
    assert_eq!(started["event"], "started", "{started}");
    client
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The sum over the running nodes of the metric line starting with `name `.
async fn metric_sum(cluster: &Cluster, name: &str) -> f64 {
    let mut sum = 0.0;
    for i in cluster.running() {
        let text = cluster.metrics_text(i).await;
        sum += text
            .lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .filter_map(|v| v.trim().parse::<f64>().ok())
            .sum::<f64>();
    }
    sum
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacos_node_sdk_registers_beats_discovers_and_takes_udp_pushes_through_a_leader_kill() {
    let mut cluster = Cluster::start(3, &["--lease-tick-ms", "200"]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let servers: Vec<String> = cluster.nodes.iter().map(|n| n.http.clone()).collect();
    let servers = servers.join(",");
    let mut watcher = spawn(&servers);
    let mut other = spawn(&servers);

    // The watcher registers itself and subscribes.
    let r = watcher.ask(&format!("register nodepush 10.7.0.1 7001 {METADATA}"));
    assert_eq!(r["event"], "registered", "{r}");
    assert_eq!(watcher.ask("subscribe nodepush")["event"], "subscribed");
    watcher.ask_until(
        "seen nodepush",
        |a| strings(&a["ips"]) == ["10.7.0.1:7001"],
        "the subscription's first list",
    );

    // Another client registers: the watcher gets the new list as a UDP push.
    let r = other.ask(&format!("register nodepush 10.7.0.2 7002 {METADATA}"));
    assert_eq!(r["event"], "registered", "{r}");
    let both = ["10.7.0.1:7001", "10.7.0.2:7002"];
    let seen = watcher.ask_until(
        "seen nodepush",
        |a| strings(&a["pushed"]) == both,
        "a push with the new instance",
    );
    assert_eq!(strings(&seen["ips"]), both, "the listener has the pushed list: {seen}");
    assert!(metric_sum(&cluster, "registry_nacos_udp_pushes_total").await >= 1.0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric_sum(&cluster, "registry_nacos_udp_push_acks_total").await < 1.0 {
        assert!(Instant::now() < deadline, "no node counted the SDK's push-ack");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(metric_sum(&cluster, "registry_nacos_udp_subscribers").await >= 1.0);

    // Discovery through the SDK's other calls.
    let all = other.ask_until("all nodepush", |a| strings(&a["ips"]) == both, "getAllInstances");
    assert_eq!(all["event"], "all");
    other.ask_until("select nodepush", |a| strings(&a["ips"]) == both, "selectInstances");

    // A deregistration is pushed too.
    let pushes_before = watcher.ask("seen nodepush")["pushes"].as_u64().unwrap();
    assert_eq!(other.ask("deregister nodepush 10.7.0.2 7002")["event"], "deregistered");
    let seen = watcher.ask_until(
        "seen nodepush",
        |a| strings(&a["pushed"]) == ["10.7.0.1:7001"],
        "a push without the deregistered instance",
    );
    assert!(seen["pushes"].as_u64().unwrap() > pushes_before, "{seen}");

    // Back again, beating; then the leader is killed: neither instance goes, through more
    // than two lease durations (their clients beat through the surviving nodes).
    let r = other.ask(&format!("register nodepush 10.7.0.2 7002 {METADATA}"));
    assert_eq!(r["event"], "registered", "{r}");
    watcher.ask_until(
        "seen nodepush",
        |a| strings(&a["ips"]) == both,
        "the instance registered again",
    );
    // The SDK's first beat comes within 10 s of its start; both have beaten since.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    cluster.nodes[leader].kill9();
    let survivor = cluster.running()[0];
    let new_leader = cluster.leader_among(&cluster.running(), Duration::from_secs(30)).await;
    assert_ne!(new_leader, leader);
    let until = Instant::now() + Duration::from_secs(35);
    while Instant::now() < until {
        let ids = cluster.instance_ids(survivor, "eureka.nodepush").await;
        assert_eq!(ids.len(), 2, "node {} shows {ids:?}", survivor + 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let all = watcher.ask("all nodepush");
    assert_eq!(strings(&all["ips"]), both, "{all}");

    // kill -9 the other client: its instance expires, and the watcher is pushed the list
    // without it.
    drop(other);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let ids = cluster.instance_ids(survivor, "eureka.nodepush").await;
        if ids.len() == 1 {
            break;
        }
        assert_eq!(ids.len(), 2, "node {} shows {ids:?}", survivor + 1);
        assert!(Instant::now() < deadline, "the killed client's instance never expired");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    watcher.ask_until(
        "seen nodepush",
        |a| strings(&a["pushed"]) == ["10.7.0.1:7001"] && strings(&a["ips"]) == ["10.7.0.1:7001"],
        "a push without the expired instance",
    );
    assert_eq!(watcher.ask("stop")["event"], "stopped");
}
