//! The Nacos router over the in-memory fake registry (`registry_store::testing::FakeRegistry`),
//! beside the Eureka and ServiceCenter routers on the same fake: register, list, beat,
//! deregister and the errors in Nacos's format, what each request wrote (a beat writes nothing),
//! instances seen across the three protocols, the service endpoints, and the Open API v2 with
//! its envelope and error codes (issue 22).
//!
//! No Python client speaks the v2 HTTP API, so the v2 requests here are shaped after the Nacos
//! server's own controllers (alibaba/nacos@486e198): `InstanceControllerV2` with
//! `model/form/InstanceForm.java`, `ServiceControllerV2` with `model/form/ServiceForm.java`,
//! answered as `api/model/v2/Result.java` and `core/exception/NacosApiExceptionHandler.java`.

use axum::body::Body;
use axum::http::Method;
use axum::http::StatusCode;
use registry_store::command::Command;
use serde_json::json;
use serde_json::Value;

mod front;

use front::Front;
use front::Reply;

impl Front {
    /// A v2 call with its parameters in the query string.
    async fn v2(&self, method: Method, path: &str, query: &str) -> Reply {
        let uri = format!("/nacos/v2/ns/{path}?{query}");
        self.send(method, &uri, &[], Body::empty()).await
    }

    /// A v2 call with its parameters in a form body (Spring binds the forms from either).
    async fn v2_form(&self, method: Method, path: &str, form: &str) -> Reply {
        let uri = format!("/nacos/v2/ns/{path}");
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        self.send(method, &uri, &headers, Body::from(form.to_string())).await
    }

    /// A v2 call that succeeded: its `data`.
    async fn v2_data(&self, method: Method, path: &str, query: &str) -> Value {
        let reply = self.v2(method, path, query).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let body = reply.json();
        assert_eq!(
            (body["code"].clone(), body["message"].clone()),
            (json!(0), json!("success")),
            "{body}"
        );
        body["data"].clone()
    }

    async fn list(&self, query: &str) -> Value {
        let reply = self.nacos(Method::GET, "instance/list", query).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()
    }
}

const ORDERS: &str = "serviceName=orders&ip=10.0.0.7&port=8080&clusterName=zone-a&weight=2.5\
&metadata=%7B%22version%22%3A%221.0%22%7D";

#[tokio::test]
async fn register_list_beat_deregister_list() {
    let front = Front::new();
    let reply = front.nacos(Method::POST, "instance", ORDERS).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.text(), "ok");
    assert!(
        reply.header("content-type").starts_with("text/plain"),
        "{}",
        reply.header("content-type")
    );
    assert_eq!(front.fake.writes(), 1, "a registration is one write");

    let listed = front.list("serviceName=orders").await;
    assert_eq!(listed["name"], "DEFAULT_GROUP@@orders");
    assert_eq!(listed["groupName"], "DEFAULT_GROUP");
    assert_eq!(listed["cacheMillis"], 10000);
    // Jackson names `ServiceInfo.allIPs` after its getter `isAllIPs()`; Java clients read it so.
    assert_eq!(listed["allIPs"], false, "{listed}");
    assert!(listed.get("allIps").is_none(), "{listed}");
    let hosts = listed["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 1, "{listed}");
    let host = &hosts[0];
    assert_eq!(host["instanceId"], "10.0.0.7#8080#zone-a#DEFAULT_GROUP@@orders");
    assert_eq!(host["ip"], "10.0.0.7");
    assert_eq!(host["port"], 8080);
    assert_eq!(host["weight"], 2.5);
    assert_eq!(host["healthy"], true);
    assert_eq!(host["enabled"], true);
    assert_eq!(host["ephemeral"], true);
    assert_eq!(host["clusterName"], "zone-a");
    assert_eq!(host["serviceName"], "DEFAULT_GROUP@@orders");
    assert_eq!(host["metadata"], json!({ "version": "1.0" }));
    assert_eq!(host["instanceHeartBeatInterval"], 5000);

    // Clusters filter; the detail answers one instance.
    let other = front.list("serviceName=orders&clusters=zone-b,zone-c").await;
    assert_eq!(other["hosts"], json!([]));
    assert_eq!(other["clusters"], "zone-b,zone-c");
    let detail = front
        .nacos(
            Method::GET,
            "instance",
            "serviceName=orders&ip=10.0.0.7&port=8080&clusterName=zone-a",
        )
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text());
    let detail = detail.json();
    assert_eq!(detail["service"], "DEFAULT_GROUP@@orders");
    assert_eq!(detail["weight"], 2.5);
    assert_eq!(detail["metadata"]["version"], "1.0");

    // The beat renews and writes nothing; the Python client sends it as `beat` JSON.
    let beat = json!({ "serviceName": "DEFAULT_GROUP@@orders", "ip": "10.0.0.7", "port": 8080, "cluster": "zone-a" });
    let query = format!(
        "serviceName=DEFAULT_GROUP%40%40orders&beat={}",
        percent_encode(&beat.to_string())
    );
    let writes = front.fake.writes();
    let reply = front.nacos(Method::PUT, "instance/beat", &query).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({ "clientBeatInterval": 5000, "code": 10200, "lightBeatEnabled": true })
    );
    assert_eq!(front.fake.writes(), writes, "a beat writes nothing");
    assert_eq!(front.fake.renewals(), 1);
    // A light beat: parameters only, as a form.
    let reply = front
        .nacos_form(
            Method::PUT,
            "instance/beat",
            "serviceName=orders&ip=10.0.0.7&port=8080&clusterName=zone-a",
        )
        .await;
    assert_eq!(reply.json()["code"], 10200);

    // Deregister (as a form), then the list is empty and a beat says: register again.
    let reply = front
        .nacos_form(
            Method::DELETE,
            "instance",
            "serviceName=orders&ip=10.0.0.7&port=8080&clusterName=zone-a",
        )
        .await;
    assert_eq!((reply.status, reply.text().as_str()), (StatusCode::OK, "ok"));
    assert!(matches!(front.fake.commands().last(), Some(Command::CancelInstance(_))));
    assert_eq!(front.list("serviceName=orders").await["hosts"], json!([]));
    let reply = front.nacos(Method::PUT, "instance/beat", &query).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["code"], 20404);
    // Deregistering what is not held is `ok` and writes nothing.
    let writes = front.fake.writes();
    let reply = front
        .nacos(
            Method::DELETE,
            "instance",
            "serviceName=orders&ip=10.0.0.7&port=8080&clusterName=zone-a",
        )
        .await;
    assert_eq!((reply.status, reply.text().as_str()), (StatusCode::OK, "ok"));
    assert_eq!(front.fake.writes(), writes);
}

#[tokio::test]
async fn an_update_changes_weight_enabled_and_metadata() {
    let front = Front::new();
    let reply = front.nacos(Method::POST, "instance", ORDERS).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let at = "serviceName=orders&ip=10.0.0.7&port=8080&clusterName=zone-a";
    let reply = front
        .nacos_form(
            Method::PUT,
            "instance",
            &format!("{at}&weight=5&enabled=false&metadata=owner%3Dpay"),
        )
        .await;
    assert_eq!((reply.status, reply.text().as_str()), (StatusCode::OK, "ok"));
    // Disabled: not listed, but still there.
    assert_eq!(front.list("serviceName=orders").await["hosts"], json!([]));
    let detail = front.nacos(Method::GET, "instance", at).await.json();
    assert_eq!(detail["weight"], 5.0);
    assert_eq!(detail["metadata"], json!({ "owner": "pay" }));
    let reply = front.nacos(Method::PUT, "instance", &format!("{at}&weight=5")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let hosts = front.list("serviceName=orders").await["hosts"].clone();
    assert_eq!(hosts[0]["weight"], 5.0, "{hosts}");
    assert_eq!(hosts[0]["enabled"], true, "{hosts}");
    // Nothing to update: the service, then the instance.
    let reply = front
        .nacos(Method::PUT, "instance", "serviceName=nothing&ip=10.0.0.7&port=8080")
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.text().starts_with("service not found"), "{}", reply.text());
    let reply = front
        .nacos(Method::PUT, "instance", "serviceName=orders&ip=10.0.0.8&port=8080")
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.text().starts_with("instance not found"), "{}", reply.text());
}

#[tokio::test]
async fn healthy_only_enabled_and_persistent_instances() {
    let front = Front::new();
    for (ip, extra) in [
        ("10.0.0.1", ""),
        ("10.0.0.2", "&healthy=false"),
        ("10.0.0.3", "&enabled=false"),
        ("10.0.0.4", "&ephemeral=false"),
    ] {
        let query = format!("serviceName=pay@@billing&ip={ip}&port=9000{extra}");
        let reply = front.nacos(Method::POST, "instance", &query).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }
    let ips = |v: &Value| -> Vec<String> {
        v["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["ip"].as_str().unwrap().to_string())
            .collect()
    };
    // Disabled instances are never listed; unhealthy ones unless healthyOnly.
    let all = front.list("serviceName=billing&groupName=pay").await;
    assert_eq!(all["name"], "pay@@billing");
    assert_eq!(ips(&all), ["10.0.0.1", "10.0.0.2", "10.0.0.4"]);
    let healthy = front.list("serviceName=billing&groupName=pay&healthyOnly=true").await;
    assert_eq!(ips(&healthy), ["10.0.0.1", "10.0.0.4"]);
    let persistent = &all["hosts"][2];
    assert_eq!(persistent["ephemeral"], false);
    // Another group, another namespace: other services.
    assert_eq!(front.list("serviceName=billing").await["hosts"], json!([]));
    assert_eq!(
        front.list("serviceName=pay@@billing&namespaceId=dev").await["hosts"],
        json!([])
    );
    // An unhealthy instance is DOWN and a disabled one OUT_OF_SERVICE for ServiceCenter.
    let found = front
        .sc(
            Method::GET,
            "/instances?appId=pay&serviceName=billing&version=0%2B",
            None,
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text());
    let statuses: Vec<Value> = found.json()["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [json!("UP"), json!("DOWN"), json!("OUTOFSERVICE"), json!("UP")]
    );
}

#[tokio::test]
async fn errors_are_nacos_texts_and_statuses() {
    let front = Front::new();
    let cases = [
        (
            Method::POST,
            "instance",
            "ip=1.2.3.4&port=80",
            400,
            "Param 'serviceName' is required.",
        ),
        (
            Method::POST,
            "instance",
            "serviceName=a&port=80",
            400,
            "Param 'ip' is required.",
        ),
        (
            Method::POST,
            "instance",
            "serviceName=a&ip=1.2.3.4",
            400,
            "Param 'port' is required.",
        ),
        (
            Method::POST,
            "instance",
            "serviceName=a&ip=1.2.3.4&port=x",
            400,
            "For input string: \"x\"",
        ),
        (
            Method::POST,
            "instance",
            "serviceName=a&ip=1.2.3.4&port=70000",
            400,
            "Required parameter 'port' type int is require 0 ~ 65535",
        ),
        (
            Method::POST,
            "instance",
            "serviceName=%40%40a&ip=1.2.3.4&port=80",
            400,
            "Param 'serviceName' is illegal, groupName can't be empty",
        ),
        (
            Method::POST,
            "instance",
            "serviceName=a&ip=1.2.3.4&port=80&weight=20000",
            400,
            "instance format invalid: The weights range from 0.0 to 10000.0",
        ),
        (
            Method::POST,
            "instance",
            "serviceName=a&ip=1.2.3.4&port=80&clusterName=a_b",
            400,
            "Instance 'clusterName' should be characters with only 0-9a-zA-Z-. (current: a_b)",
        ),
        (
            Method::POST,
            "instance",
            "serviceName=a&ip=1.2.3.4&port=80&metadata=a%3D1%2Cb",
            400,
            "metadata format incorrect:a=1,b",
        ),
        (
            Method::POST,
            "instance",
            "serviceName=a&ip=1.2.3.4&port=80&namespaceId=a%2Fb",
            400,
            "Param 'namespaceId' is illegal",
        ),
        (
            Method::GET,
            "instance",
            "serviceName=a&ip=1.2.3.4&port=80",
            404,
            "no ips found for cluster DEFAULT in service DEFAULT_GROUP@@a",
        ),
        (
            Method::GET,
            "instance/list",
            "groupName=g",
            400,
            "Param 'serviceName' is required.",
        ),
        (
            Method::PUT,
            "instance/beat",
            "serviceName=a&beat=%7Bnot",
            400,
            "Param 'beat' is illegal",
        ),
    ];
    for (method, path, query, status, text) in cases {
        let reply = front.nacos(method.clone(), path, query).await;
        assert_eq!(
            reply.status.as_u16(),
            status,
            "{method} {path}?{query}: {}",
            reply.text()
        );
        assert!(
            reply.text().starts_with(text),
            "{method} {path}?{query}: {:?} does not start with {text:?}",
            reply.text()
        );
        assert!(
            reply.header("content-type").starts_with("text/plain"),
            "{}",
            reply.header("content-type")
        );
    }
    assert_eq!(front.fake.writes(), 0, "nothing refused reached the store");

    // One instance held: another address of the same service is "no matched ip".
    let reply = front
        .nacos(Method::POST, "instance", "serviceName=a&ip=1.2.3.4&port=80")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = front
        .nacos(Method::GET, "instance", "serviceName=a&ip=1.2.3.4&port=81")
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.text().as_str()),
        (404, "no matched ip found!")
    );
    // A beat without `beat` for an unknown instance: 20404, nothing renewed.
    let reply = front
        .nacos(Method::PUT, "instance/beat", "serviceName=a&ip=1.2.3.4&port=81")
        .await;
    assert_eq!(reply.json()["code"], 20404);
}

#[tokio::test]
async fn a_nacos_instance_is_seen_by_eureka_and_servicecenter() {
    let front = Front::new();
    let reply = front.nacos(Method::POST, "instance", ORDERS).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());

    // Eureka: app ORDERS, the same ip and port, zone in the metadata, the instance's metadata.
    let app = front.eureka(Method::GET, "/apps/ORDERS", None).await;
    assert_eq!(app.status, StatusCode::OK, "{}", app.text());
    let app = app.json();
    let instance = &app["application"]["instance"][0];
    assert_eq!(instance["ipAddr"], "10.0.0.7", "{app}");
    assert_eq!(instance["port"]["$"], 8080, "{app}");
    assert_eq!(instance["status"], "UP");
    assert_eq!(instance["metadata"]["zone"], "zone-a", "{app}");
    assert_eq!(instance["metadata"]["version"], "1.0", "{app}");

    // ServiceCenter: appId eureka, service orders, the endpoint and the zone.
    let found = front
        .sc(
            Method::GET,
            "/instances?appId=eureka&serviceName=orders&version=0%2B",
            None,
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text());
    let found = found.json();
    let instance = &found["instances"][0];
    assert_eq!(instance["endpoints"], json!(["rest://10.0.0.7:8080"]), "{found}");
    assert_eq!(instance["dataCenterInfo"]["availableZone"], "zone-a", "{found}");
    assert_eq!(instance["properties"]["version"], "1.0", "{found}");
    assert_eq!(instance["status"], "UP");

    // A Eureka override OUT_OF_SERVICE disables it for Nacos clients.
    let id = "10.0.0.7%238080%23zone-a%23DEFAULT_GROUP%40%40orders";
    let reply = front
        .eureka(
            Method::PUT,
            &format!("/apps/ORDERS/{id}/status?value=OUT_OF_SERVICE"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(front.list("serviceName=orders").await["hosts"], json!([]));
}

#[tokio::test]
async fn a_eureka_instance_is_listed_by_nacos() {
    let front = Front::new();
    let info = json!({ "instance": {
        "instanceId": "10.0.0.8:account:8081",
        "hostName": "10.0.0.8",
        "app": "ACCOUNT",
        "ipAddr": "10.0.0.8",
        "status": "UP",
        "port": { "$": 8081, "@enabled": "true" },
        "securePort": { "$": 443, "@enabled": "false" },
        "dataCenterInfo": { "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn" },
        "metadata": { "zone": "zone-b", "team": "core" },
        "vipAddress": "account"
    }});
    let reply = front.eureka(Method::POST, "/apps/ACCOUNT", Some(info)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());

    let listed = front.list("serviceName=account").await;
    let hosts = listed["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 1, "{listed}");
    assert_eq!(hosts[0]["ip"], "10.0.0.8");
    assert_eq!(hosts[0]["port"], 8081);
    assert_eq!(hosts[0]["clusterName"], "zone-b");
    assert_eq!(hosts[0]["instanceId"], "10.0.0.8:account:8081");
    assert_eq!(hosts[0]["metadata"]["team"], "core");
    assert_eq!(hosts[0]["healthy"], true);
    assert_eq!(
        front.list("serviceName=account&clusters=zone-b").await["hosts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Nacos finds it by address: detail, beat (a renewal) and deregistration.
    let at = "serviceName=account&ip=10.0.0.8&port=8081&clusterName=zone-b";
    let reply = front.nacos(Method::GET, "instance", at).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let writes = front.fake.writes();
    let reply = front.nacos(Method::PUT, "instance/beat", at).await;
    assert_eq!(reply.json()["code"], 10200);
    assert_eq!(front.fake.writes(), writes);
    let reply = front.nacos(Method::DELETE, "instance", at).await;
    assert_eq!(reply.status, StatusCode::OK);
    let app = front.eureka(Method::GET, "/apps/ACCOUNT", None).await;
    assert_eq!(app.status, StatusCode::NOT_FOUND, "{}", app.text());
}

/// Query-string escaping for the test's JSON.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The label selector of Nacos's docs, as a `selector` parameter.
const LABEL_SELECTOR: &str = r#"{"type":"label","expression":"CONSUMER.label.A = PROVIDER.label.A"}"#;

#[tokio::test]
async fn services_are_created_read_listed_updated_and_deleted() {
    let front = Front::new();
    // `ServiceController.create`: protectThreshold, metadata (JSON), selector.
    let create = format!(
        "serviceName=orders&protectThreshold=0.5&metadata={}&selector={}",
        percent_encode(r#"{"owner":"pay"}"#),
        percent_encode(LABEL_SELECTOR)
    );
    let reply = front.nacos(Method::POST, "service", &create).await;
    assert_eq!((reply.status, reply.text().as_str()), (StatusCode::OK, "ok"));
    assert!(matches!(front.fake.commands().last(), Some(Command::CreateService(_))));
    let detail = front.nacos(Method::GET, "service", "serviceName=orders").await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text());
    assert_eq!(
        detail.json(),
        json!({
            "namespaceId": "public", "groupName": "DEFAULT_GROUP", "name": "orders",
            "protectThreshold": 0.5, "metadata": { "owner": "pay" },
            "selector": { "type": "label", "contextType": "CMDB", "expression": "CONSUMER.label.A = PROVIDER.label.A" },
            "clusters": []
        })
    );
    // A second create is refused; the same name in another group is another service.
    let again = front.nacos(Method::POST, "service", "serviceName=orders").await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.text(), "specified service DEFAULT_GROUP@@orders already exists!");
    let other_group = front
        .nacos_form(Method::POST, "service", "serviceName=orders&groupName=pay")
        .await;
    assert_eq!(other_group.status, StatusCode::OK, "{}", other_group.text());

    // The list is per group, names without their group, paged.
    let listed = front.nacos(Method::GET, "service/list", "pageNo=1&pageSize=10").await;
    assert_eq!(listed.json(), json!({ "count": 1, "doms": ["orders"] }));
    let listed = front
        .nacos(Method::GET, "service/list", "pageNo=1&pageSize=10&groupName=pay")
        .await;
    assert_eq!(listed.json(), json!({ "count": 1, "doms": ["orders"] }));
    let listed = front.nacos(Method::GET, "service/list", "pageNo=2&pageSize=1").await;
    assert_eq!(listed.json(), json!({ "count": 1, "doms": [] }));

    // An instance in the service: its cluster shows, and the service cannot be deleted.
    let reply = front
        .nacos(
            Method::POST,
            "instance",
            "serviceName=orders&ip=10.0.0.7&port=8080&clusterName=zone-a&ephemeral=false",
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let detail = front.nacos(Method::GET, "service", "serviceName=orders").await.json();
    assert_eq!(
        detail["clusters"],
        json!([{ "name": "zone-a", "healthChecker": { "type": "TCP" }, "metadata": {} }])
    );
    let writes = front.fake.writes();
    let refused = front.nacos(Method::DELETE, "service", "serviceName=orders").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused.text(),
        "Service DEFAULT_GROUP@@orders is not empty, can't be delete. Please unregister instance first"
    );
    assert_eq!(front.fake.writes(), writes, "a refused delete writes nothing");

    // Update: a new threshold and metadata; no selector is the none selector.
    let reply = front
        .nacos_form(
            Method::PUT,
            "service",
            "serviceName=orders&protectThreshold=0.8&metadata=owner%3Dops",
        )
        .await;
    assert_eq!((reply.status, reply.text().as_str()), (StatusCode::OK, "ok"));
    let detail = front.nacos(Method::GET, "service", "serviceName=orders").await.json();
    assert_eq!(detail["protectThreshold"], 0.8);
    assert_eq!(detail["metadata"], json!({ "owner": "ops" }));
    assert_eq!(detail["selector"], json!({ "type": "none", "contextType": "NONE" }));
    // The metadata is the service's properties: ServiceCenter shows them.
    let sc = front.sc(Method::GET, "/microservices/eureka.orders", None).await;
    assert_eq!(sc.status, StatusCode::OK, "{}", sc.text());
    assert_eq!(sc.json()["service"]["properties"], json!({ "owner": "ops" }));

    // Without its instance the service goes; then it is unknown.
    let reply = front
        .nacos(
            Method::DELETE,
            "instance",
            "serviceName=orders&ip=10.0.0.7&port=8080&clusterName=zone-a",
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = front.nacos(Method::DELETE, "service", "serviceName=orders").await;
    assert_eq!((reply.status, reply.text().as_str()), (StatusCode::OK, "ok"));
    assert!(matches!(front.fake.commands().last(), Some(Command::DeleteService(_))));
    let gone = front.nacos(Method::GET, "service", "serviceName=orders").await;
    assert_eq!(gone.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        gone.text(),
        "service not found, namespace: public, serviceName: DEFAULT_GROUP@@orders"
    );
    let listed = front.nacos(Method::GET, "service/list", "pageNo=1&pageSize=10").await;
    assert_eq!(listed.json(), json!({ "count": 0, "doms": [] }));
}

#[tokio::test]
async fn a_eureka_app_is_a_nacos_service() {
    let front = Front::new();
    let reply = front
        .nacos(Method::POST, "instance", "serviceName=account&ip=10.0.0.9&port=80")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    // Created by a registration: Nacos's defaults for the fields no one set.
    let detail = front.nacos(Method::GET, "service", "serviceName=account").await.json();
    assert_eq!(detail["protectThreshold"], 0.0);
    assert_eq!(detail["metadata"], json!({}));
    assert_eq!(detail["clusters"][0]["name"], "DEFAULT");
    let v2 = front.v2_data(Method::GET, "service", "serviceName=account").await;
    assert_eq!(v2["ephemeral"], true, "{v2}");
}

#[tokio::test]
async fn service_errors_are_nacos_texts_and_statuses() {
    let front = Front::new();
    let selector = format!("serviceName=a&selector={}", percent_encode(r#"{"type":"nope"}"#));
    let cases = [
        (
            Method::POST,
            "service",
            "protectThreshold=1",
            "Param 'serviceName' is required.",
        ),
        (
            Method::POST,
            "service",
            "serviceName=pay%40%40",
            "Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName'",
        ),
        (
            Method::POST,
            "service",
            "serviceName=a&protectThreshold=x",
            "For input string: \"x\"",
        ),
        (
            Method::POST,
            "service",
            selector.as_str(),
            "not match any type of selector!",
        ),
        (
            Method::POST,
            "service",
            "serviceName=a&metadata=a%3D1%2Cb",
            "metadata format incorrect:a=1,b",
        ),
        (
            Method::PUT,
            "service",
            "serviceName=a",
            "Param 'protectThreshold' is required.",
        ),
        (
            Method::PUT,
            "service",
            "serviceName=a&protectThreshold=0",
            "service DEFAULT_GROUP@@a not found!",
        ),
        (
            Method::DELETE,
            "service",
            "serviceName=a",
            "service DEFAULT_GROUP@@a not found!",
        ),
        (Method::DELETE, "service", "", "Param 'serviceName' is required."),
        (
            Method::GET,
            "service",
            "serviceName=a&namespaceId=dev",
            "service not found, namespace: dev, serviceName: DEFAULT_GROUP@@a",
        ),
        (
            Method::GET,
            "service/list",
            "pageSize=10",
            "Param 'pageNo' is required.",
        ),
        (Method::GET, "service/list", "pageNo=1", "Param 'pageSize' is required."),
        (
            Method::GET,
            "service/list",
            "pageNo=1&pageSize=1&namespaceId=a%2Fb",
            "Param 'namespaceId' is illegal",
        ),
    ];
    for (method, path, query, text) in cases {
        let reply = front.nacos(method.clone(), path, query).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{method} {path}?{query}: {}",
            reply.text()
        );
        assert!(
            reply.text().starts_with(text),
            "{method} {path}?{query}: {}",
            reply.text()
        );
        assert!(reply.header("content-type").starts_with("text/plain"));
    }
    assert_eq!(front.fake.writes(), 0, "no refused request wrote");
}

/// The v2 envelope of a failure: status, code and the detail's start.
fn v2_error(reply: &Reply) -> (StatusCode, u64, String) {
    let body = reply.json();
    assert!(reply.header("content-type").starts_with("application/json"));
    let (code, text) = (body["code"].as_u64().unwrap_or_default(), body["message"].clone());
    assert!(text.is_string(), "{body}");
    (
        reply.status,
        code,
        body["data"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn v2_instances_answer_in_the_envelope() {
    let front = Front::new();
    // `InstanceControllerV2.register` binds an `InstanceForm`: serviceName and groupName apart.
    let at = "serviceName=orders&groupName=pay&ip=10.0.0.7&port=8080&clusterName=zone-a";
    let reply = front
        .v2_form(
            Method::POST,
            "instance",
            &format!("{at}&weight=2&metadata=%7B%22v%22%3A%221%22%7D"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json(), json!({ "code": 0, "message": "success", "data": "ok" }));

    // `list`: `Result<ServiceInfo>`, the grouped name as in v1; `clusterName` filters.
    let info = front
        .v2_data(Method::GET, "instance/list", "serviceName=orders&groupName=pay")
        .await;
    assert_eq!(info["name"], "pay@@orders");
    assert_eq!(info["hosts"][0]["instanceId"], "10.0.0.7#8080#zone-a#pay@@orders");
    assert_eq!(info["hosts"][0]["weight"], 2.0);
    let other = front
        .v2_data(
            Method::GET,
            "instance/list",
            "serviceName=orders&groupName=pay&clusterName=zone-b",
        )
        .await;
    assert_eq!(other["hosts"], json!([]));
    // The same instance through v1: one operations layer.
    assert_eq!(
        front.list("serviceName=pay%40%40orders").await["hosts"][0]["ip"],
        "10.0.0.7"
    );

    // `detail`: `InstanceDetailInfoVo`.
    let detail = front.v2_data(Method::GET, "instance", at).await;
    assert_eq!(
        detail,
        json!({ "serviceName": "pay@@orders", "ip": "10.0.0.7", "port": 8080, "clusterName": "zone-a",
                "weight": 2.0, "healthy": true, "instanceId": "10.0.0.7#8080#zone-a#pay@@orders",
                "metadata": { "v": "1" } })
    );

    // `update`: the form again, a new weight.
    let reply = front.v2(Method::PUT, "instance", &format!("{at}&weight=3")).await;
    assert_eq!(reply.json()["data"], "ok", "{}", reply.text());
    assert_eq!(front.v2_data(Method::GET, "instance", at).await["weight"], 3.0);

    // `beat`: the bare object (`ObjectNode`), no envelope; it writes nothing.
    let writes = front.fake.writes();
    let reply = front
        .v2(
            Method::PUT,
            "instance/beat",
            "serviceName=pay%40%40orders&ip=10.0.0.7&port=8080&clusterName=zone-a",
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({ "clientBeatInterval": 5000, "code": 10200, "lightBeatEnabled": true })
    );
    assert_eq!(front.fake.writes(), writes);

    // `deregister`, then the list is empty.
    let reply = front.v2(Method::DELETE, "instance", at).await;
    assert_eq!(reply.json()["data"], "ok", "{}", reply.text());
    let info = front
        .v2_data(Method::GET, "instance/list", "serviceName=orders&groupName=pay")
        .await;
    assert_eq!(info["hosts"], json!([]));
}

#[tokio::test]
async fn v2_services_answer_in_the_envelope() {
    let front = Front::new();
    // `ServiceControllerV2.create` binds a `ServiceForm` (ephemeral defaults to false).
    let create = format!(
        "serviceName=orders&groupName=pay&protectThreshold=0.25&metadata=k%3Dv&selector={}",
        percent_encode(LABEL_SELECTOR)
    );
    let reply = front.v2_form(Method::POST, "service", &create).await;
    assert_eq!(reply.json(), json!({ "code": 0, "message": "success", "data": "ok" }));
    for name in ["billing", "stock"] {
        let data = front
            .v2_data(
                Method::POST,
                "service",
                &format!("serviceName={name}&groupName=pay&ephemeral=true"),
            )
            .await;
        assert_eq!(data, "ok");
    }

    // `detail`: `ServiceDetailInfo`.
    let detail = front
        .v2_data(Method::GET, "service", "serviceName=orders&groupName=pay")
        .await;
    assert_eq!(
        detail,
        json!({ "namespace": "public", "serviceName": "orders", "groupName": "pay", "clusterMap": {},
                "metadata": { "k": "v" }, "protectThreshold": 0.25,
                "selector": { "type": "label", "contextType": "CMDB", "expression": "CONSUMER.label.A = PROVIDER.label.A" },
                "ephemeral": false })
    );
    let stock = front
        .v2_data(Method::GET, "service", "serviceName=stock&groupName=pay")
        .await;
    assert_eq!(stock["ephemeral"], true);

    // `list`: `ServiceNameView`, sorted here, paged.
    let all = front.v2_data(Method::GET, "service/list", "groupName=pay").await;
    assert_eq!(all, json!({ "count": 3, "services": ["billing", "orders", "stock"] }));
    let second = front
        .v2_data(Method::GET, "service/list", "groupName=pay&pageNo=2&pageSize=2")
        .await;
    assert_eq!(second, json!({ "count": 3, "services": ["stock"] }));
    let default_group = front.v2_data(Method::GET, "service/list", "").await;
    assert_eq!(default_group, json!({ "count": 0, "services": [] }));

    // An instance: its cluster with its hosts; delete is refused (SERVICE_DELETE_FAILURE).
    let at = "serviceName=orders&groupName=pay&ip=10.0.0.7&port=8080&clusterName=zone-a&ephemeral=false";
    assert_eq!(front.v2_data(Method::POST, "instance", at).await, "ok");
    let detail = front
        .v2_data(Method::GET, "service", "serviceName=orders&groupName=pay")
        .await;
    let cluster = &detail["clusterMap"]["zone-a"];
    assert_eq!(cluster["clusterName"], "zone-a", "{detail}");
    assert_eq!(cluster["healthChecker"], json!({ "type": "TCP" }));
    assert_eq!(
        cluster["hosts"],
        json!([{ "valid": true, "metadata": {}, "port": 8080, "ip": "10.0.0.7", "weight": 1.0, "enabled": true }])
    );
    let refused = front
        .v2(Method::DELETE, "service", "serviceName=orders&groupName=pay")
        .await;
    assert_eq!(
        v2_error(&refused),
        (
            StatusCode::BAD_REQUEST,
            21009,
            "Service pay@@orders is not empty, can't be delete. Please unregister instance first".to_string()
        )
    );
    assert_eq!(refused.json()["message"], "service delete failure");

    // `update`: the form; the ephemeral flag stays.
    let data = front
        .v2_data(
            Method::PUT,
            "service",
            "serviceName=orders&groupName=pay&protectThreshold=0.75",
        )
        .await;
    assert_eq!(data, "ok");
    let detail = front
        .v2_data(Method::GET, "service", "serviceName=orders&groupName=pay")
        .await;
    assert_eq!(detail["protectThreshold"], 0.75);
    assert_eq!(detail["metadata"], json!({}));
    assert_eq!(detail["ephemeral"], false);

    // Without the instance it goes; then it is SERVICE_NOT_EXIST.
    assert_eq!(front.v2_data(Method::DELETE, "instance", at).await, "ok");
    assert_eq!(
        front
            .v2_data(Method::DELETE, "service", "serviceName=orders&groupName=pay")
            .await,
        "ok"
    );
    let gone = front
        .v2(Method::GET, "service", "serviceName=orders&groupName=pay")
        .await;
    assert_eq!(
        v2_error(&gone),
        (
            StatusCode::BAD_REQUEST,
            21008,
            "service not found, namespace: public, serviceName: pay@@orders".to_string()
        )
    );
}

#[tokio::test]
async fn v2_errors_carry_their_codes() {
    let front = Front::new();
    let selector = format!("serviceName=a&selector={}", percent_encode(r#"{"type":"nope"}"#));
    let cases = [
        // `InstanceForm.validate`: PARAMETER_MISSING.
        (
            Method::POST,
            "instance",
            "ip=1.2.3.4&port=80",
            400,
            10000,
            "Required parameter 'serviceName' type String is not present",
        ),
        (
            Method::POST,
            "instance",
            "serviceName=a&port=80",
            400,
            10000,
            "Required parameter 'ip' type String is not present",
        ),
        (
            Method::POST,
            "instance",
            "serviceName=a&ip=1.2.3.4",
            400,
            10000,
            "Required parameter 'port' type Integer is not present",
        ),
        // `checkWeight`: WEIGHT_ERROR; `NamingUtils.checkInstanceIsLegal`: INSTANCE_ERROR.
        (
            Method::POST,
            "instance",
            "serviceName=a&ip=1.2.3.4&port=80&weight=20000",
            400,
            21001,
            "instance format invalid: The weights range from 0.0 to 10000.0",
        ),
        (
            Method::POST,
            "instance",
            "serviceName=a&ip=1.2.3.4&port=80&clusterName=a_b",
            400,
            21004,
            "Instance 'clusterName' should be characters",
        ),
        // A number that is not one: PARAMETER_VALIDATE_ERROR.
        (
            Method::POST,
            "instance",
            "serviceName=a&ip=1.2.3.4&port=x",
            400,
            20002,
            "For input string: \"x\"",
        ),
        (
            Method::POST,
            "instance",
            "serviceName=%40%40a&ip=1.2.3.4&port=80",
            400,
            20002,
            "Param 'serviceName' is illegal",
        ),
        (
            Method::POST,
            "instance",
            "serviceName=a&ip=1.2.3.4&port=80&namespaceId=a%2Fb",
            400,
            20002,
            "Param 'namespaceId' is illegal",
        ),
        // `@RequestParam`s: PARAMETER_MISSING with Spring's words.
        (
            Method::GET,
            "instance",
            "serviceName=a&port=80",
            400,
            10000,
            "Required request parameter 'ip' for method parameter type String is not present",
        ),
        (
            Method::GET,
            "instance/list",
            "groupName=x",
            400,
            10000,
            "Required request parameter 'serviceName'",
        ),
        (
            Method::PUT,
            "instance/beat",
            "ip=1.2.3.4&port=80",
            400,
            10000,
            "Required request parameter 'serviceName'",
        ),
        (
            Method::DELETE,
            "service",
            "",
            400,
            10000,
            "Required request parameter 'serviceName'",
        ),
        // `InstanceOperatorClientImpl`: not found is 404 RESOURCE_NOT_FOUND; an update of an
        // unknown service INSTANCE_ERROR.
        (
            Method::GET,
            "instance",
            "serviceName=a&ip=1.2.3.4&port=80",
            404,
            20004,
            "no ips found for cluster DEFAULT in service DEFAULT_GROUP@@a",
        ),
        (
            Method::PUT,
            "instance",
            "serviceName=a&ip=1.2.3.4&port=80",
            400,
            21004,
            "service not found, namespace: public, service: DEFAULT_GROUP@@a",
        ),
        // `ServiceForm.validate`, `parseSelector`, `ServiceOperatorV2Impl`.
        (
            Method::POST,
            "service",
            "groupName=pay",
            400,
            10000,
            "Required parameter 'serviceName' type String is not present",
        ),
        (
            Method::POST,
            "service",
            selector.as_str(),
            400,
            21006,
            "not match any type of selector!",
        ),
        (
            Method::PUT,
            "service",
            "serviceName=a",
            400,
            21008,
            "service DEFAULT_GROUP@@a not found!",
        ),
        (
            Method::DELETE,
            "service",
            "serviceName=a",
            400,
            21008,
            "service DEFAULT_GROUP@@a not found!",
        ),
        (
            Method::GET,
            "service",
            "serviceName=a",
            400,
            21008,
            "service not found, namespace: public, serviceName: DEFAULT_GROUP@@a",
        ),
        (
            Method::GET,
            "service/list",
            "pageNo=x",
            400,
            20002,
            "For input string: \"x\"",
        ),
    ];
    for (method, path, query, status, code, data) in cases {
        let reply = front.v2(method.clone(), path, query).await;
        let (got_status, got_code, got_data) = v2_error(&reply);
        assert_eq!(
            (got_status.as_u16(), got_code),
            (status, code),
            "{method} {path}?{query}: {}",
            reply.text()
        );
        assert!(got_data.starts_with(data), "{method} {path}?{query}: {}", reply.text());
    }
    // A service that exists: SERVICE_ALREADY_EXIST.
    assert_eq!(front.v2_data(Method::POST, "service", "serviceName=a").await, "ok");
    let again = front.v2(Method::POST, "service", "serviceName=a").await;
    assert_eq!(
        v2_error(&again),
        (
            StatusCode::BAD_REQUEST,
            21007,
            "specified service DEFAULT_GROUP@@a already exists!".to_string()
        )
    );
}
