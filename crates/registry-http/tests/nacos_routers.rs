//! The Nacos router over the in-memory fake registry (`registry_store::testing::FakeRegistry`),
//! beside the Eureka and ServiceCenter routers on the same fake: register, list, beat,
//! deregister and the errors in Nacos's format, what each request wrote (a beat writes nothing),
//! and instances seen across the three protocols (issue 22).

use axum::http::Method;
use axum::http::StatusCode;
use registry_store::command::Command;
use serde_json::json;
use serde_json::Value;

mod front;

use front::Front;

impl Front {
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
