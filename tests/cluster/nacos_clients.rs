//! A real, unmodified Nacos client against a three-node cluster: nacos-sdk-python 1.0
//! (`nacos.NacosClient`, the naming Open API v1 over HTTP) registers, beats, lists, reads and
//! deregisters through node 1; the instance is seen by Eureka on node 2 and ServiceCenter on
//! node 3 with its zone and metadata, and a Eureka-registered instance is listed by the Nacos
//! client (issue 22).
//!
//! The client is installed by `tests/run.sh` into `tests/clients/.venv`.

use std::time::Duration;
use std::time::Instant;

use serde_json::json;
use serde_json::Value;

use crate::client_driver::clients_dir;
use crate::client_driver::python;
use crate::client_driver::Client;
use crate::support::Cluster;

/// Asks `ask` until `done` holds for the answer (bounded), and returns that answer.
fn ask_until(client: &mut Client, ask: &str, done: impl Fn(&Value) -> bool, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = client.ask(ask);
        if done(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "{what}: last answer {answer}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `path` on node `i` as JSON once `done` holds for it (bounded).
async fn get_until(cluster: &Cluster, i: usize, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = cluster.get_json(i, path).await {
            if done(&v) {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "node {} never showed {path} as wanted",
            i + 1
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn hosts(answer: &Value) -> Vec<Value> {
    answer["result"]["hosts"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacos_python_client_registers_beats_lists_and_deregisters_across_protocols() {
    let python = python();
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let script = clients_dir().join("nacos_client.py").display().to_string();
    let mut nacos = Client::spawn("nacos-sdk-python", python, &[script, cluster.nodes[0].http.clone()]);
    assert_eq!(nacos.next_event(Duration::from_secs(60))["event"], "started");

    // Register, then list and read it back through the same client.
    let registered = nacos.ask(r#"register orders 10.9.0.1 8080 zone-a {"team":"core"}"#);
    assert_eq!(registered, json!({ "event": "registered", "ok": true }));
    let listed = nacos.ask("list orders");
    assert_eq!(listed["result"]["name"], "DEFAULT_GROUP@@orders", "{listed}");
    let found = hosts(&listed);
    assert_eq!(found.len(), 1, "{listed}");
    assert_eq!(found[0]["ip"], "10.9.0.1");
    assert_eq!(found[0]["port"], 8080);
    assert_eq!(found[0]["clusterName"], "zone-a");
    assert_eq!(found[0]["metadata"]["team"], "core");
    assert_eq!(found[0]["healthy"], true);
    assert!(hosts(&nacos.ask("list orders zone-b")).is_empty());
    let detail = nacos.ask("detail orders 10.9.0.1 8080 zone-a");
    assert_eq!(
        detail["result"]["instanceId"], "10.9.0.1#8080#zone-a#DEFAULT_GROUP@@orders",
        "{detail}"
    );

    // The beat renews: code 10200 and the interval.
    let beat = nacos.ask("beat orders 10.9.0.1 8080 zone-a");
    assert_eq!(beat["answer"]["code"], 10200, "{beat}");
    assert_eq!(beat["answer"]["clientBeatInterval"], 5000, "{beat}");

    // Eureka on node 2: app ORDERS with the address, the zone and the metadata.
    let app = get_until(&cluster, 1, "/eureka/apps/ORDERS", |v| {
        v["application"]["instance"].is_array()
    })
    .await;
    let instance = &app["application"]["instance"][0];
    assert_eq!(instance["ipAddr"], "10.9.0.1", "{app}");
    assert_eq!(instance["port"]["$"], 8080, "{app}");
    assert_eq!(instance["status"], "UP", "{app}");
    assert_eq!(instance["metadata"]["zone"], "zone-a", "{app}");
    assert_eq!(instance["metadata"]["team"], "core", "{app}");

    // ServiceCenter on node 3: appId eureka, service orders.
    let find = "/v4/default/registry/instances?appId=eureka&serviceName=orders&version=0%2B";
    let found = get_until(&cluster, 2, find, |v| {
        v["instances"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    let instance = &found["instances"][0];
    assert_eq!(instance["endpoints"], json!(["rest://10.9.0.1:8080"]), "{found}");
    assert_eq!(instance["dataCenterInfo"]["availableZone"], "zone-a", "{found}");
    assert_eq!(instance["properties"]["team"], "core", "{found}");
    assert_eq!(instance["status"], "UP", "{found}");

    // A Eureka registration on node 2 is listed by the Nacos client on node 1.
    let billing = json!({ "instance": {
        "instanceId": "10.9.0.2:billing:9090",
        "hostName": "10.9.0.2",
        "app": "BILLING",
        "ipAddr": "10.9.0.2",
        "status": "UP",
        "port": { "$": 9090, "@enabled": "true" },
        "securePort": { "$": 443, "@enabled": "false" },
        "dataCenterInfo": { "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn" },
        "leaseInfo": { "renewalIntervalInSecs": 30, "durationInSecs": 900 },
        "metadata": { "zone": "zone-b", "owner": "eureka" }
    }});
    let status = cluster
        .client
        .post(cluster.nodes[1].url("/eureka/apps/BILLING"))
        .json(&billing)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    let listed = ask_until(&mut nacos, "list billing", |a| hosts(a).len() == 1, "billing in Nacos");
    let host = &hosts(&listed)[0];
    assert_eq!(host["ip"], "10.9.0.2", "{listed}");
    assert_eq!(host["port"], 9090, "{listed}");
    assert_eq!(host["clusterName"], "zone-b", "{listed}");
    assert_eq!(host["metadata"]["owner"], "eureka", "{listed}");

    // Deregister: gone from the list, and a beat is told to register again.
    let gone = nacos.ask("deregister orders 10.9.0.1 8080 zone-a");
    assert_eq!(gone, json!({ "event": "deregistered", "ok": true }));
    assert!(hosts(&nacos.ask("list orders")).is_empty());
    let beat = nacos.ask("beat orders 10.9.0.1 8080 zone-a");
    assert_eq!(beat["answer"]["code"], 20404, "{beat}");
    // And Eureka on node 2 no longer has it.
    get_until(&cluster, 1, "/eureka/apps/", |v| {
        v["applications"]["application"]
            .as_array()
            .is_some_and(|apps| apps.iter().all(|a| a["name"] != "ORDERS"))
    })
    .await;
    assert_eq!(nacos.ask("stop")["event"], "stopped");
}

/// The ips `list SERVICE` shows through `client`.
fn listed_ips(client: &mut Client, service: &str) -> Vec<String> {
    let answer = client.ask(&format!("list {service}"));
    let mut ips: Vec<String> = hosts(&answer)
        .iter()
        .map(|h| h["ip"].as_str().unwrap_or_default().to_string())
        .collect();
    ips.sort();
    ips
}

/// Leases: an ephemeral instance whose client falls silent expires after its ip delete
/// timeout; one whose client beats (the client's own heartbeat thread) stays, also while the
/// leader is killed and another elected; a persistent one stays without beats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_ephemeral_instances_expire_beating_and_persistent_ones_stay_through_a_leader_kill() {
    let python = python();
    let mut cluster = Cluster::start(3, &["--lease-tick-ms", "200"]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let script = clients_dir().join("nacos_client.py").display().to_string();
    let servers: Vec<String> = cluster.nodes.iter().map(|n| n.http.clone()).collect();
    let mut nacos = Client::spawn("nacos-sdk-python", python, &[script, servers.join(",")]);
    assert_eq!(nacos.next_event(Duration::from_secs(60))["event"], "started");

    let short = r#"{"preserved.heart.beat.interval":"1000","preserved.heart.beat.timeout":"2000","preserved.ip.delete.timeout":"3000"}"#;
    let longer = r#"{"preserved.heart.beat.interval":"1000","preserved.heart.beat.timeout":"3000","preserved.ip.delete.timeout":"8000"}"#;
    for (ip, metadata, mode) in [
        ("10.8.0.1", longer, "beat-every:1"),
        ("10.8.0.2", short, ""),
        ("10.8.0.3", short, "persistent"),
    ] {
        let answer = nacos.ask(&format!("register leased {ip} 7000 DEFAULT {metadata} {mode}"));
        assert_eq!(answer["ok"], true, "{answer}");
    }
    let all = ["10.8.0.1", "10.8.0.2", "10.8.0.3"].map(String::from).to_vec();
    assert_eq!(listed_ips(&mut nacos, "leased"), all);

    // The silent one goes once its 3 s lease runs out; the other two stay.
    let kept = vec!["10.8.0.1".to_string(), "10.8.0.3".to_string()];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ips = listed_ips(&mut nacos, "leased");
        if ips == kept {
            break;
        }
        assert_eq!(ips, all, "only the silent instance may go");
        assert!(Instant::now() < deadline, "the silent instance never expired");
        std::thread::sleep(Duration::from_millis(250));
    }

    // Kill the leader: the beating instance survives the election and well past its lease.
    let leader = cluster.leader(Duration::from_secs(10)).await;
    cluster.nodes[leader].kill9();
    let survivor = cluster.running()[0];
    let new_leader = cluster.leader_among(&cluster.running(), Duration::from_secs(30)).await;
    assert_ne!(new_leader, leader);
    let until = Instant::now() + Duration::from_secs(12);
    while Instant::now() < until {
        let ids = cluster.instance_ids(survivor, "eureka.leased").await;
        assert_eq!(ids.len(), 2, "node {} shows {ids:?}", survivor + 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(nacos.ask("stop")["event"], "stopped");
}
