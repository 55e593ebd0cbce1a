//! One instance, three protocols, real clients both ways (issue 22): on a three-node cluster
//! a Nacos client (nacos-sdk-python 1.0, `tests/clients/nacos_client.py`) registers an instance
//! with a cluster (zone) and metadata on node 1, disables and enables it; py-eureka-client
//! (`tests/clients/py_client.py`) on node 2 discovers it, and a ServiceCenter find shaped as
//! java-chassis sends it reads it on node 3, each with the zone, the metadata and the status.
//! The other way round, an instance py-eureka-client registers with a zone and metadata and one
//! registered through ServiceCenter with the requests go-chassis sends are listed by the Nacos
//! client with cluster = zone, the metadata, and `healthy`/`enabled` from their status
//! (`docs/nacos.md` §5; a disabled instance is never listed, §2 "List parameters").
//!
//! The ServiceCenter requests are copied from `tests/clients/replay/`, which cites the SDK source
//! of each: `java-chassis.json` (find: `ServiceCenterClient.findMicroserviceInstance()`,
//! apache/servicecomb-java-chassis@1e9120f) and `go-chassis-sc-client.json` (register the
//! microservice and the instance, set the instance status: go-chassis/sc-client@1cf8c04
//! `Client.RegisterService`, `Client.RegisterMicroServiceInstance`,
//! `Client.UpdateMicroServiceInstanceStatus`). The instance body leaves out the `healthCheck`
//! the replay adds for its expiry steps: go-chassis itself sends none (ServiceCenter's default
//! 30 s × 3 lease then applies, so no heartbeats are needed here).

use std::time::Duration;
use std::time::Instant;

use serde_json::json;
use serde_json::Value;

use crate::client_driver::clients_dir;
use crate::client_driver::python;
use crate::client_driver::Client;
use crate::nacos_views::hosts;
use crate::support::Cluster;

/// Headers go-chassis's sc-client sets on every call (`client.go` `GetDefaultHeaders`,
/// `httpDo`; foundation's `Requests.Do` adds `Accept`).
const GO_CHASSIS_HEADERS: [(&str, &str); 4] = [
    ("Accept", "*/*"),
    ("Content-Type", "application/json"),
    ("User-Agent", "go-client"),
    ("X-Domain-Name", "default"),
];

/// The instances of py-eureka-client's `details` answer (its own cache).
fn eureka_instances(answer: &Value) -> Vec<Value> {
    answer["instances"].as_array().cloned().unwrap_or_default()
}

/// Sends a go-chassis request to node `i`: the status and the body as JSON (`Null` if none).
async fn go_chassis(
    cluster: &Cluster,
    i: usize,
    method: reqwest::Method,
    path: &str,
    body: Option<String>,
) -> (u16, Value) {
    let mut request = cluster
        .client
        .request(method, cluster.nodes[i].url(&format!("/v4/default/registry{path}")));
    for (name, value) in GO_CHASSIS_HEADERS {
        request = request.header(name, value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// java-chassis's find on node `i` (`ServiceCenterClient.findMicroserviceInstance()`: version
/// `0%2B`, empty `rev`, `X-ConsumerId`), asked until `done` holds for the answer (bounded).
async fn java_chassis_find_until(
    cluster: &Cluster,
    i: usize,
    consumer: &str,
    service: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let path = format!("/v4/default/registry/instances?appId=eureka&serviceName={service}&version=0%2B&rev=");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = cluster
            .client
            .get(cluster.nodes[i].url(&path))
            .header("x-domain-name", "default")
            .header("Content-Type", "application/json")
            .header("User-Agent", "microservice-client/1.0.0")
            .header("X-ConsumerId", consumer)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "node {} never found {service} as wanted: last answer {status} {body}",
            i + 1
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The status of the first instance in a ServiceCenter find answer.
fn first_status(found: &Value) -> &str {
    found["instances"][0]["status"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacos_eureka_and_servicecenter_clients_see_each_others_zone_metadata_and_status() {
    let python = python();
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let script = |name: &str| clients_dir().join(name).display().to_string();

    // Node 1: the Nacos client. Node 2: py-eureka-client, registering BILLING with a zone
    // (`metadata.zone`, as Spring Cloud's clients do) and metadata.
    let mut nacos = Client::spawn(
        "nacos-sdk-python",
        python.clone(),
        &[script("nacos_client.py"), cluster.nodes[0].http.clone()],
    );
    assert_eq!(nacos.next_event(Duration::from_secs(60))["event"], "started");
    let mut eureka = Client::spawn(
        "py-eureka-client",
        python,
        &[
            script("py_client.py"),
            format!("{}/", cluster.nodes[1].url("/eureka")),
            "BILLING".into(),
            "9094".into(),
            r#"{"zone":"zone-e","owner":"py"}"#.into(),
        ],
    );
    assert_eq!(eureka.next_event(Duration::from_secs(60))["event"], "started");

    // Node 3: go-chassis registers its microservice and an instance with a zone
    // (`dataCenterInfo.availableZone`) and properties.
    let service = r#"{"service":{"appId":"xproto-go-app","serviceName":"xproto-go-svc","version":"1.0.0","schemas":["xprotoSchema"],"status":"UP","alias":"xproto-go-app:xproto-go-svc","registerBy":"SDK","framework":{"name":"Go-Chassis","version":"v2.7.0"}}}"#;
    let (status, created) = go_chassis(
        &cluster,
        2,
        reqwest::Method::POST,
        "/microservices",
        Some(service.into()),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let go_service = created["serviceId"].as_str().unwrap().to_string();
    let instance = format!(
        r#"{{"instance":{{"serviceId":"{go_service}","endpoints":["rest://10.6.0.3:5000"],"hostName":"xproto-go-host","status":"UP","properties":{{"nodeIP":"10.6.0.3","owner":"go"}},"dataCenterInfo":{{"name":"xproto-dc","region":"xproto-dc","availableZone":"xproto-az"}}}}}}"#
    );
    let (status, registered) = go_chassis(
        &cluster,
        2,
        reqwest::Method::POST,
        &format!("/microservices/{go_service}/instances"),
        Some(instance),
    )
    .await;
    assert_eq!(status, 200, "{registered}");
    let go_instance = registered["instanceId"].as_str().unwrap().to_string();

    // 1. Nacos -> Eureka and ServiceCenter.
    let answer = nacos.ask(r#"register orders 10.9.0.1 8080 zone-a {"team":"core"} beat-every:1"#);
    assert_eq!(answer, json!({ "event": "registered", "ok": true }));

    let seen = eureka.ask_until(
        "details ORDERS",
        |a| eureka_instances(a).len() == 1,
        "py-eureka-client never discovered ORDERS",
    );
    let orders = &eureka_instances(&seen)[0];
    assert_eq!(orders["ipAddr"], "10.9.0.1", "{seen}");
    assert_eq!(orders["port"], 8080, "{seen}");
    assert_eq!(orders["status"], "UP", "{seen}");
    assert_eq!(orders["metadata"]["zone"], "zone-a", "{seen}");
    assert_eq!(orders["metadata"]["team"], "core", "{seen}");

    let found = java_chassis_find_until(&cluster, 2, &go_service, "orders", |v| {
        v["instances"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let orders = &found["instances"][0];
    assert_eq!(orders["endpoints"], json!(["rest://10.9.0.1:8080"]), "{found}");
    assert_eq!(orders["dataCenterInfo"]["availableZone"], "zone-a", "{found}");
    // Nacos has no region: ServiceCenter shows `default` for it, as for a missing part.
    assert_eq!(orders["dataCenterInfo"]["region"], "default", "{found}");
    assert_eq!(orders["properties"]["team"], "core", "{found}");
    assert_eq!(orders["status"], "UP", "{found}");

    // Disabled on the Nacos side: OUT_OF_SERVICE for Eureka, OUTOFSERVICE for ServiceCenter,
    // and no longer listed to Nacos clients; enabled again: UP everywhere.
    let answer = nacos.ask(r#"update orders 10.9.0.1 8080 zone-a 1 {"team":"core"} disabled"#);
    assert_eq!(answer, json!({ "event": "updated", "ok": true }));
    assert!(hosts(&nacos.ask("list orders")).is_empty());
    let seen = eureka.ask_until(
        "details ORDERS",
        |a| {
            eureka_instances(a)
                .first()
                .is_some_and(|i| i["status"] == "OUT_OF_SERVICE")
        },
        "py-eureka-client never saw ORDERS out of service",
    );
    assert_eq!(eureka_instances(&seen)[0]["metadata"]["zone"], "zone-a", "{seen}");
    let found = java_chassis_find_until(&cluster, 2, &go_service, "orders", |v| {
        first_status(v) == "OUTOFSERVICE"
    })
    .await;
    assert_eq!(
        found["instances"][0]["dataCenterInfo"]["availableZone"], "zone-a",
        "{found}"
    );

    let answer = nacos.ask(r#"update orders 10.9.0.1 8080 zone-a 1 {"team":"core"} enabled"#);
    assert_eq!(answer, json!({ "event": "updated", "ok": true }));
    assert_eq!(hosts(&nacos.ask("list orders")).len(), 1);
    eureka.ask_until(
        "details ORDERS",
        |a| eureka_instances(a).first().is_some_and(|i| i["status"] == "UP"),
        "py-eureka-client never saw ORDERS up again",
    );
    java_chassis_find_until(&cluster, 2, &go_service, "orders", |v| first_status(v) == "UP").await;

    // 2. Eureka and ServiceCenter -> Nacos.
    let listed = nacos.ask_until("list billing", |a| hosts(a).len() == 1, "billing in Nacos");
    let billing = &hosts(&listed)[0];
    assert_eq!(billing["ip"], "127.0.0.1", "{listed}");
    assert_eq!(billing["port"], 9094, "{listed}");
    assert_eq!(billing["clusterName"], "zone-e", "{listed}");
    assert_eq!(billing["metadata"]["owner"], "py", "{listed}");
    assert_eq!(billing["metadata"]["zone"], "zone-e", "{listed}");
    assert_eq!(
        (&billing["healthy"], &billing["enabled"]),
        (&json!(true), &json!(true)),
        "{listed}"
    );

    // go-chassis's appId is the Nacos group.
    let go_list = "list xproto-go-app@@xproto-go-svc";
    let listed = nacos.ask_until(go_list, |a| hosts(a).len() == 1, "the go-chassis instance in Nacos");
    assert_eq!(listed["result"]["name"], "xproto-go-app@@xproto-go-svc", "{listed}");
    let go = &hosts(&listed)[0];
    assert_eq!(go["ip"], "10.6.0.3", "{listed}");
    assert_eq!(go["port"], 5000, "{listed}");
    assert_eq!(go["clusterName"], "xproto-az", "{listed}");
    assert_eq!(
        go["metadata"],
        json!({ "nodeIP": "10.6.0.3", "owner": "go" }),
        "{listed}"
    );
    assert_eq!(
        (&go["healthy"], &go["enabled"]),
        (&json!(true), &json!(true)),
        "{listed}"
    );

    // go-chassis sets its instance DOWN: listed unhealthy, still enabled.
    let status_path = format!("/microservices/{go_service}/instances/{go_instance}/status");
    let (status, _) = go_chassis(
        &cluster,
        2,
        reqwest::Method::PUT,
        &format!("{status_path}?value=DOWN"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let listed = nacos.ask_until(
        go_list,
        |a| hosts(a).first().is_some_and(|h| h["healthy"] == false),
        "the DOWN go-chassis instance never listed unhealthy",
    );
    let go = &hosts(&listed)[0];
    assert_eq!(
        (&go["enabled"], &go["clusterName"]),
        (&json!(true), &json!("xproto-az")),
        "{listed}"
    );

    // OUTOFSERVICE: disabled, so no longer listed; UP again: healthy and listed.
    let (status, _) = go_chassis(
        &cluster,
        2,
        reqwest::Method::PUT,
        &format!("{status_path}?value=OUTOFSERVICE"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    nacos.ask_until(
        go_list,
        |a| hosts(a).is_empty(),
        "the OUTOFSERVICE go-chassis instance still listed",
    );
    let (status, _) = go_chassis(
        &cluster,
        2,
        reqwest::Method::PUT,
        &format!("{status_path}?value=UP"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    nacos.ask_until(
        go_list,
        |a| {
            hosts(a)
                .first()
                .is_some_and(|h| h["healthy"] == true && h["enabled"] == true)
        },
        "the go-chassis instance never listed healthy again",
    );

    // py-eureka-client overrides its status OUT_OF_SERVICE: no longer listed to Nacos clients.
    assert_eq!(eureka.ask("status OUT_OF_SERVICE")["event"], "status");
    nacos.ask_until(
        "list billing",
        |a| hosts(a).is_empty(),
        "the OUT_OF_SERVICE Eureka instance still listed",
    );

    assert_eq!(eureka.ask("stop")["event"], "stopped");
    assert_eq!(nacos.ask("stop")["event"], "stopped");
}
