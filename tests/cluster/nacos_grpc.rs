//! The real nacos-sdk-python 2.x gRPC naming client (`v2.nacos.NacosNamingService`, Nacos
//! 2.x's protocol on each HTTP port + 1000) against a three-node cluster: register, discover,
//! subscribe and be pushed changes; the instances seen by Eureka and ServiceCenter with their
//! zone, metadata and status, and a Eureka instance found by the gRPC client; connection-bound
//! leases that survive a leader kill and expire with a killed client (issue 22).
//!
//! The client is installed by `tests/run.sh` into `tests/clients/.venv`.

use std::collections::HashSet;
use std::time::Duration;
use std::time::Instant;

use serde_json::json;
use serde_json::Value;

use crate::client_driver::clients_dir;
use crate::client_driver::python;
use crate::client_driver::Client;
use crate::nacos_views::assert_orders_seen_by_eureka_and_servicecenter;
use crate::nacos_views::register_eureka_billing;
use crate::support::Cluster;

/// A gRPC client of `servers` (HTTP addresses; it adds 1000), its cache under `cache`.
fn grpc_client(servers: &[String], cache: &std::path::Path) -> Client {
    let script = clients_dir().join("nacos_grpc_client.py").display().to_string();
    let args = [script, servers.join(","), cache.display().to_string()];
    let client = Client::spawn("nacos-sdk-python gRPC", python(), &args);
    assert_eq!(client.next_event(Duration::from_secs(60))["event"], "started");
    client
}

/// `ip:port` of the hosts in a `list` answer, sorted.
fn addresses(answer: &Value) -> Vec<String> {
    let mut found: Vec<String> = answer["hosts"]
        .as_array()
        .unwrap_or_else(|| panic!("no hosts in {answer}"))
        .iter()
        .map(|h| format!("{}:{}", h["ip"].as_str().unwrap_or_default(), h["port"]))
        .collect();
    found.sort();
    found
}

/// Whether a `pushes` answer's last push is `want`.
fn pushed(want: &'static [&'static str]) -> impl Fn(&Value) -> bool {
    move |a: &Value| {
        a["pushes"]
            .as_array()
            .and_then(|p| p.last())
            .is_some_and(|last| *last == json!(want))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacos_grpc_client_registers_discovers_is_pushed_and_is_seen_across_protocols() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let cache = tempfile::tempdir().unwrap();
    let mut provider = grpc_client(&[cluster.nodes[0].http.clone()], &cache.path().join("provider"));
    let mut consumer = grpc_client(&[cluster.nodes[1].http.clone()], &cache.path().join("consumer"));

    // Register through node 1, discover through node 2.
    let registered = provider.ask(r#"register orders 10.7.0.1 8080 zone-a {"team":"core"}"#);
    assert_eq!(registered, json!({ "event": "registered", "ok": true }));
    let listed = consumer.ask_until("list orders", |a| addresses(a) == ["10.7.0.1:8080"], "orders on node 2");
    let host = &listed["hosts"][0];
    assert_eq!(host["clusterName"], "zone-a", "{listed}");
    assert_eq!(host["metadata"]["team"], "core", "{listed}");
    assert_eq!(host["healthy"], true, "{listed}");
    assert_eq!(host["ephemeral"], true, "{listed}");
    assert_eq!(
        host["instanceId"], "10.7.0.1#8080#zone-a#DEFAULT_GROUP@@orders",
        "{listed}"
    );

    // Subscribe on node 2 (the client's callback hears of changes only: the list above already
    // filled its cache); a registration and a deregistration on node 1 are pushed.
    assert_eq!(consumer.ask("subscribe orders")["event"], "subscribed");
    let answer = provider.ask("register orders 10.7.0.2 8081 zone-a {}");
    assert_eq!(answer["ok"], true, "{answer}");
    consumer.ask_until(
        "pushes orders",
        pushed(&["10.7.0.1:8080", "10.7.0.2:8081"]),
        "the registration pushed",
    );
    let answer = provider.ask("deregister orders 10.7.0.2 8081 zone-a");
    assert_eq!(answer["ok"], true, "{answer}");
    consumer.ask_until("pushes orders", pushed(&["10.7.0.1:8080"]), "the deregistration pushed");

    // Eureka on node 2 and ServiceCenter on node 3: the address, zone, metadata and status.
    assert_orders_seen_by_eureka_and_servicecenter(&cluster, 1, 2, "10.7.0.1").await;

    // A Eureka registration on node 3 is found by the gRPC client on node 1.
    register_eureka_billing(&cluster, 2, "10.7.0.9").await;
    let listed = provider.ask_until(
        "list billing",
        |a| addresses(a) == ["10.7.0.9:9090"],
        "billing over gRPC",
    );
    let host = &listed["hosts"][0];
    assert_eq!(host["clusterName"], "zone-b", "{listed}");
    assert_eq!(host["metadata"]["owner"], "eureka", "{listed}");
    assert_eq!(host["healthy"], true, "{listed}");

    // A batch replaces the connection's instances of the service; the service list names both.
    let answer = provider.ask("batch stock DEFAULT 10.7.1.1:7000,10.7.1.2:7000");
    assert_eq!(answer["ok"], true, "{answer}");
    consumer.ask_until(
        "list stock",
        |a| addresses(a) == ["10.7.1.1:7000", "10.7.1.2:7000"],
        "the batch",
    );
    let services = provider.ask("services");
    let names: HashSet<&str> = services["names"]
        .as_array()
        .unwrap_or_else(|| panic!("{services}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        ["orders", "billing", "stock"].iter().all(|n| names.contains(n)),
        "{services}"
    );
    assert_eq!(provider.ask("stop")["event"], "stopped");
    assert_eq!(consumer.ask("stop")["event"], "stopped");
}

/// The node `client` is connected to now.
fn node_of(cluster: &Cluster, client: &mut Client) -> usize {
    let answer = client.ask("server");
    let port = answer["port"].as_u64().unwrap_or_else(|| panic!("{answer}"));
    cluster
        .nodes
        .iter()
        .position(|n| {
            n.http
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u64>().ok() == Some(port - 1000))
        })
        .unwrap_or_else(|| panic!("no node serves gRPC on {port}"))
}

/// Connection-bound leases: killing the leader evicts no instance whose client is alive (the
/// clients on the killed node connect again elsewhere, the others' nodes keep renewing), past
/// the fresh TTL the new leader gives; a killed client's instance expires, the others stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_bound_leases_survive_a_leader_kill_and_expire_with_a_killed_client() {
    let mut cluster = Cluster::start(3, &["--lease-tick-ms", "200"]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let cache = tempfile::tempdir().unwrap();
    let servers: Vec<String> = cluster.nodes.iter().map(|n| n.http.clone()).collect();
    let leader = cluster.leader(Duration::from_secs(10)).await;
    // Clients (each given every node; nacos-sdk-python 2.x starts at a uniformly random one,
    // `NacosServerConnector.__init__`'s `randrange`), each registering one instance, until one
    // is connected to the leader and one to a follower. Bounded by 40 clients: all missing the
    // leader has odds (2/3)^40, about 1e-7 (with 10 it was 1.7 %, and CI met it once).
    let mut clients: Vec<(Client, usize, String)> = Vec::new();
    for n in 1..=40 {
        let on_leader = clients.iter().any(|(_, node, _)| *node == leader);
        let on_follower = clients.iter().any(|(_, node, _)| *node != leader);
        if on_leader && on_follower {
            break;
        }
        let mut client = grpc_client(&servers, &cache.path().join(n.to_string()));
        let ip = format!("10.6.0.{n}");
        let answer = client.ask(&format!("register leased {ip} 7000 DEFAULT {{}}"));
        assert_eq!(answer["ok"], true, "{answer}");
        let node = node_of(&cluster, &mut client);
        clients.push((client, node, format!("{ip}#7000#DEFAULT#DEFAULT_GROUP@@leased")));
    }
    let follower = clients
        .iter()
        .position(|(_, node, _)| *node != leader)
        .expect("a client on a follower");
    assert!(
        clients.iter().any(|(_, node, _)| *node == leader),
        "no client connected to the leader"
    );
    let watcher = clients[follower].1;
    let all: HashSet<String> = clients.iter().map(|(_, _, id)| id.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.instance_ids(watcher, "eureka.leased").await != all {
        assert!(Instant::now() < deadline, "the instances never all showed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Kill the leader: every instance stays past the fresh TTL the new leader gives (the
    // lease's 60 s): the clients of the dead node register again elsewhere (nacos-sdk-python
    // 2.0.11 within ~45 s: its redo task runs every 30 s), the others' nodes keep renewing.
    cluster.nodes[leader].kill9();
    let new_leader = cluster.leader_among(&cluster.running(), Duration::from_secs(30)).await;
    assert_ne!(new_leader, leader);
    let until = Instant::now() + Duration::from_secs(75);
    while Instant::now() < until {
        let ids = cluster.instance_ids(watcher, "eureka.leased").await;
        assert_eq!(ids, all, "node {} lost an instance whose client is alive", watcher + 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for (client, _, _) in &mut clients {
        assert_ne!(node_of(&cluster, client), leader, "a client still on the dead node");
    }

    // Kill -9 the client on the follower: its instance expires, the others stay.
    let (killed, _, gone) = clients.remove(follower);
    drop(killed);
    let rest: HashSet<String> = all.iter().filter(|id| **id != gone).cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let ids = cluster.instance_ids(watcher, "eureka.leased").await;
        if ids == rest {
            break;
        }
        assert_eq!(ids, all, "only the killed client's instance may go");
        assert!(Instant::now() < deadline, "the killed client's instance never expired");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for (client, _, _) in &mut clients {
        assert_eq!(client.ask("stop")["event"], "stopped");
    }
}
