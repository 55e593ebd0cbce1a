//! A real, unmodified Nacos client against a three-node cluster: nacos-sdk-python 1.0
//! (`nacos.NacosClient`, the naming Open API v1 over HTTP) registers, beats, lists, reads and
//! deregisters through node 1; the instance is seen by Eureka on node 2 and ServiceCenter on
//! node 3 with its zone and metadata, and a Eureka-registered instance is listed by the Nacos
//! client; a service created through the service API on one node takes the client's instances
//! through another and shows them, in v1 and v2, on the third (issue 22).
//!
//! nacos-sdk-python 1.0.0 has no service calls (its `NacosClient` offers instance calls only):
//! the service endpoints are called over plain HTTP here, shaped after the server's
//! `ServiceController` (v1) and `ServiceControllerV2` (v2) at alibaba/nacos@486e198; the client
//! drives the instances in them.
//!
//! The client is installed by `tests/run.sh` into `tests/clients/.venv`.

use std::time::Duration;
use std::time::Instant;

use serde_json::json;

use crate::client_driver::clients_dir;
use crate::client_driver::python;
use crate::client_driver::Client;
use crate::nacos_views::assert_orders_seen_by_eureka_and_servicecenter;
use crate::nacos_views::get_until;
use crate::nacos_views::hosts;
use crate::nacos_views::register_eureka_billing;
use crate::support::Cluster;

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

    // Eureka on node 2 and ServiceCenter on node 3: the address, the zone and the metadata.
    assert_orders_seen_by_eureka_and_servicecenter(&cluster, 1, 2, "10.9.0.1").await;

    // A Eureka registration on node 2 is listed by the Nacos client on node 1.
    register_eureka_billing(&cluster, 1, "10.9.0.2").await;
    let listed = nacos.ask_until("list billing", |a| hosts(a).len() == 1, "billing in Nacos");
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

/// Sends `method` to `path` on node `i` with `form` as the body: the status and the body.
async fn send_form(cluster: &Cluster, i: usize, method: reqwest::Method, path: &str, form: &str) -> (u16, String) {
    let response = cluster
        .client
        .request(method, cluster.nodes[i].url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Sends until the answer is `want` (bounded): a node answers from its own state, which follows
/// a write on another node within moments.
async fn send_until(cluster: &Cluster, i: usize, method: reqwest::Method, path: &str, form: &str, want: (u16, &str)) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = send_form(cluster, i, method.clone(), path, form).await;
        if (got.0, got.1.as_str()) == want {
            return;
        }
        assert!(Instant::now() < deadline, "{method} {path} {form}: last answer {got:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacos_services_hold_the_python_clients_instances_across_nodes() {
    let python = python();
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let script = clients_dir().join("nacos_client.py").display().to_string();
    let mut nacos = Client::spawn("nacos-sdk-python", python, &[script, cluster.nodes[1].http.clone()]);
    assert_eq!(nacos.next_event(Duration::from_secs(60))["event"], "started");

    // Node 1: `POST /nacos/v1/ns/service`, a persistent service with its threshold and metadata.
    let created = send_form(
        &cluster,
        0,
        reqwest::Method::POST,
        "/nacos/v1/ns/service",
        "serviceName=inventory&protectThreshold=0.5&metadata=%7B%22owner%22%3A%22stock%22%7D",
    )
    .await;
    assert_eq!(created, (200, "ok".to_string()));

    // Node 2: the client registers a persistent instance into it (Nacos 2.x refuses an
    // ephemeral one in a persistent service) and updates its weight and metadata.
    let registered = nacos.ask(r#"register inventory 10.7.0.1 8080 zone-a {"v":"1"} persistent"#);
    assert_eq!(registered, json!({ "event": "registered", "ok": true }));
    let updated = nacos.ask(r#"update inventory 10.7.0.1 8080 zone-a 3 {"v":"2"} persistent"#);
    assert_eq!(updated, json!({ "event": "updated", "ok": true }));
    let listed = nacos.ask("list inventory");
    let host = &hosts(&listed)[0];
    assert_eq!(
        (host["weight"].clone(), host["metadata"]["v"].clone()),
        (json!(3.0), json!("2")),
        "{listed}"
    );
    assert_eq!(host["ephemeral"], false, "{listed}");

    // Node 3: the v1 detail with its cluster, the v2 detail with the instance in it.
    let detail = get_until(&cluster, 2, "/nacos/v1/ns/service?serviceName=inventory", |v| {
        v["clusters"].as_array().is_some_and(|c| !c.is_empty())
    })
    .await;
    assert_eq!(detail["protectThreshold"], 0.5, "{detail}");
    assert_eq!(detail["metadata"], json!({ "owner": "stock" }), "{detail}");
    assert_eq!(detail["clusters"][0]["name"], "zone-a", "{detail}");
    let v2 = get_until(&cluster, 2, "/nacos/v2/ns/service?serviceName=inventory", |v| {
        v["code"] == 0
    })
    .await;
    let hosts_v2 = &v2["data"]["clusterMap"]["zone-a"]["hosts"];
    assert_eq!(hosts_v2[0]["ip"], "10.7.0.1", "{v2}");
    assert_eq!(hosts_v2[0]["weight"], 3.0, "{v2}");
    assert_eq!(v2["data"]["ephemeral"], false, "{v2}");
    let list = get_until(&cluster, 2, "/nacos/v1/ns/service/list?pageNo=1&pageSize=10", |v| {
        v["count"] == 1
    })
    .await;
    assert_eq!(list["doms"], json!(["inventory"]), "{list}");

    // Node 1: deleting it is refused while the instance is there.
    let refused = send_form(
        &cluster,
        0,
        reqwest::Method::DELETE,
        "/nacos/v1/ns/service",
        "serviceName=inventory",
    )
    .await;
    assert_eq!(
        refused,
        (
            400,
            "Service DEFAULT_GROUP@@inventory is not empty, can't be delete. Please unregister instance first"
                .to_string()
        )
    );

    // The client deregisters; node 3 deletes it through v2; node 1 lists nothing.
    let gone = nacos.ask("deregister inventory 10.7.0.1 8080 zone-a");
    assert_eq!(gone, json!({ "event": "deregistered", "ok": true }));
    send_until(
        &cluster,
        2,
        reqwest::Method::DELETE,
        "/nacos/v2/ns/service",
        "serviceName=inventory",
        (200, r#"{"code":0,"message":"success","data":"ok"}"#),
    )
    .await;
    get_until(&cluster, 0, "/nacos/v1/ns/service/list?pageNo=1&pageSize=10", |v| {
        v["count"] == 0
    })
    .await;
    let (status, text) = send_form(
        &cluster,
        0,
        reqwest::Method::PUT,
        "/nacos/v1/ns/service",
        "serviceName=inventory&protectThreshold=0",
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (400, "service DEFAULT_GROUP@@inventory not found!")
    );
    assert_eq!(nacos.ask("stop")["event"], "stopped");
}
