//! The go-chassis / java-chassis flow: existence → create (twice) → schema → register →
//! heartbeats → find (with `rev`, then 304) → status → unregister.

use axum::http::Method;
use axum::http::StatusCode;
use serde_json::json;
use serde_json::Value;

use crate::support::Node;
use crate::support::Reply;

pub const BASE: &str = "/v4/default/registry";

pub async fn call(node: &Node, method: Method, path: &str, body: Option<Value>) -> Reply {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    node.send(
        method,
        &format!("{BASE}{path}"),
        &[("content-type", "application/json"), ("x-domain-name", "default")],
        body,
    )
    .await
}

pub async fn create_hello(node: &Node) -> String {
    let service = json!({ "service": { "appId": "default", "serviceName": "hello-server", "version": "1.0.0" } });
    let reply = call(node, Method::POST, "/microservices", Some(service)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()["serviceId"].as_str().unwrap().to_string()
}

pub async fn register(node: &Node, service: &str, id: &str, port: u16) -> Reply {
    let instance = json!({ "instance": {
        "instanceId": id, "hostName": "hello-host", "endpoints": [format!("rest://10.1.0.1:{port}")],
        "healthCheck": { "mode": "push", "interval": 30, "times": 3 }, "properties": { "zone": "az1" }
    }});
    call(
        node,
        Method::POST,
        &format!("/microservices/{service}/instances"),
        Some(instance),
    )
    .await
}

/// Waits (at most 10 s) until `consumer`'s providers include `provider`: the dependency records
/// finds imply are written off their path, a moment later.
pub async fn wait_for_provider(node: &Node, consumer: &str, provider: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let providers = call(node, Method::GET, &format!("/microservices/{consumer}/providers"), None)
            .await
            .json();
        let listed = providers["providers"].as_array().into_iter().flatten();
        if listed.clone().any(|p| p["serviceId"] == provider) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{consumer} never depended on {provider}: {providers}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_sdk_flow_works_end_to_end() {
    let node = Node::start().await;
    let existence = "/existence?type=microservice&appId=default&serviceName=hello-server&version=1.0.0&env=";
    let missing = call(&node, Method::GET, existence, None).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.json()["errorCode"], "400012");

    let id = create_hello(&node).await;
    assert_eq!(id.len(), 32, "a 32-hex id");
    assert_eq!(create_hello(&node).await, id, "create is idempotent");
    assert_eq!(
        call(&node, Method::GET, existence, None).await.json(),
        json!({ "serviceId": id })
    );
    let other_version = existence.replace("1.0.0", "2.0.0");
    assert_eq!(
        call(&node, Method::GET, &other_version, None).await.json()["errorCode"],
        "400026"
    );

    let schema = json!({ "schema": "openapi: 3.0.0", "summary": "abc123" });
    let reply = call(
        &node,
        Method::PUT,
        &format!("/microservices/{id}/schemas/hello"),
        Some(schema),
    )
    .await;
    assert_eq!((reply.status, reply.text()), (StatusCode::OK, String::new()));
    let got = call(&node, Method::GET, &format!("/microservices/{id}/schemas/hello"), None).await;
    assert_eq!(got.json(), json!({ "schema": "openapi: 3.0.0" }));
    assert_eq!(got.headers["x-schema-summary"], "abc123");

    let reply = register(&node, &id, "inst-1", 8080).await;
    assert_eq!(reply.json(), json!({ "instanceId": "inst-1" }));
    assert_eq!(
        register(&node, &id, "inst-1", 8080).await.json(),
        json!({ "instanceId": "inst-1" }),
        "same id again is a heartbeat"
    );
    let hb = call(
        &node,
        Method::PUT,
        &format!("/microservices/{id}/instances/inst-1/heartbeat"),
        None,
    )
    .await;
    assert_eq!((hb.status, hb.text()), (StatusCode::OK, String::new()));
    let batch = json!({ "instances": [
        { "serviceId": id, "instanceId": "inst-1" }, { "serviceId": id, "instanceId": "inst-1" }, { "serviceId": id, "instanceId": "gone" }
    ]});
    let reply = call(&node, Method::PUT, "/heartbeats", Some(batch)).await.json();
    let items = reply["instances"].as_array().unwrap();
    assert_eq!(items.len(), 2, "duplicates are ignored");
    assert!(items[0].get("errMessage").is_none());
    assert!(items[1]["errMessage"].as_str().unwrap().contains("400017"));

    let find = "/instances?appId=default&serviceName=hello-server&version=0.0.0.0%2B";
    let found = call(&node, Method::GET, find, None).await;
    assert_eq!(found.status, StatusCode::OK);
    let instances = found.json()["instances"].as_array().unwrap().clone();
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0]["endpoints"], json!(["rest://10.1.0.1:8080"]));
    assert_eq!(
        instances[0]["healthCheck"],
        json!({ "mode": "push", "interval": 30, "times": 3 })
    );
    let rev = found.headers["x-resource-revision"].to_str().unwrap().to_string();
    let again = call(&node, Method::GET, &format!("{find}&rev={rev}"), None).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.headers["x-resource-revision"], rev.as_str());
    assert_eq!(
        call(&node, Method::GET, &format!("{find}&rev="), None).await.status,
        StatusCode::OK,
        "an empty rev is no rev"
    );

    let status = call(
        &node,
        Method::PUT,
        &format!("/microservices/{id}/instances/inst-1/status?value=DOWN"),
        None,
    )
    .await;
    assert_eq!(status.status, StatusCode::OK);
    let changed = call(&node, Method::GET, &format!("{find}&rev={rev}"), None).await;
    assert_eq!(changed.status, StatusCode::OK, "a change gives a new revision");
    assert_eq!(changed.json()["instances"][0]["status"], "DOWN");
    assert_ne!(changed.headers["x-resource-revision"], rev.as_str());

    let props = json!({ "instanceId": "inst-1", "properties": { "weight": "3" } });
    assert_eq!(
        call(
            &node,
            Method::PUT,
            &format!("/microservices/{id}/instances/inst-1/properties"),
            Some(props)
        )
        .await
        .status,
        StatusCode::OK
    );
    let one = call(
        &node,
        Method::GET,
        &format!("/microservices/{id}/instances/inst-1"),
        None,
    )
    .await
    .json();
    assert_eq!(one["instance"]["properties"], json!({ "weight": "3" }));

    let delete_busy = call(&node, Method::DELETE, &format!("/microservices/{id}"), None).await;
    assert_eq!(delete_busy.json()["errorCode"], "400013");
    let bye = call(
        &node,
        Method::DELETE,
        &format!("/microservices/{id}/instances/inst-1"),
        None,
    )
    .await;
    assert_eq!((bye.status, bye.text()), (StatusCode::OK, String::new()));
    assert_eq!(
        call(&node, Method::GET, find, None).await.json(),
        json!({}),
        "no instances: an empty object"
    );
    assert_eq!(
        call(&node, Method::DELETE, &format!("/microservices/{id}?force=1"), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(call(&node, Method::GET, find, None).await.json()["errorCode"], "400012");
}

#[tokio::test]
async fn version_rules_select_providers_and_malformed_rules_mean_all() {
    let node = Node::start().await;
    for (version, port) in [("1.0.0", 8081), ("1.1.0", 8082), ("2.0.0", 8083)] {
        let service = json!({ "service": { "serviceName": "calc", "version": version } });
        let id = call(&node, Method::POST, "/microservices", Some(service)).await.json()["serviceId"]
            .as_str()
            .unwrap()
            .to_string();
        register(&node, &id, &format!("calc-{port}"), port).await;
    }
    let ports = |reply: Value| -> Vec<String> {
        let mut p: Vec<String> = reply["instances"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| i["endpoints"][0].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        p.sort();
        p.into_iter()
            .map(|e| e.rsplit(':').next().unwrap().to_string())
            .collect()
    };
    for (rule, want) in [
        ("latest", vec!["8083"]),
        ("1.1.0%2B", vec!["8082", "8083"]),
        ("1.0.0-2.0.0", vec!["8081", "8082"]),
        ("1.1.0", vec!["8082"]),
        ("", vec!["8081", "8082", "8083"]),
        ("garbage", vec!["8081", "8082", "8083"]),
        ("0%252B", vec!["8081", "8082", "8083"]),
    ] {
        let reply = call(
            &node,
            Method::GET,
            &format!("/instances?serviceName=calc&version={rule}"),
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{rule}");
        assert_eq!(ports(reply.json()), want, "version rule {rule:?}");
    }
}

#[tokio::test]
async fn tags_and_properties_and_listing() {
    let node = Node::start().await;
    let id = create_hello(&node).await;
    let tags = json!({ "tags": { "a": "1", "b": "2" } });
    assert_eq!(
        call(&node, Method::POST, &format!("/microservices/{id}/tags"), Some(tags))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&node, Method::PUT, &format!("/microservices/{id}/tags/a?value=9"), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &node,
            Method::PUT,
            &format!("/microservices/{id}/tags/zz?value=9"),
            None
        )
        .await
        .json()["errorCode"],
        "400018"
    );
    assert_eq!(
        call(&node, Method::DELETE, &format!("/microservices/{id}/tags/b"), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&node, Method::GET, &format!("/microservices/{id}/tags"), None)
            .await
            .json(),
        json!({ "tags": { "a": "9" } })
    );
    let props = json!({ "properties": { "allowCrossApp": "true" } });
    assert_eq!(
        call(
            &node,
            Method::PUT,
            &format!("/microservices/{id}/properties"),
            Some(props)
        )
        .await
        .status,
        StatusCode::OK
    );
    let got = call(&node, Method::GET, &format!("/microservices/{id}"), None)
        .await
        .json();
    assert_eq!(got["service"]["properties"], json!({ "allowCrossApp": "true" }));
    assert_eq!(got["service"]["level"], "BACK");
    let list = call(&node, Method::GET, "/microservices", None).await.json();
    assert_eq!(list["services"].as_array().unwrap().len(), 1);
    let apps = node.send(Method::GET, "/v4/default/govern/apps", &[], "").await.json();
    assert_eq!(apps, json!({ "appIds": ["default"] }));
    let version = call(&node, Method::GET, "/version", None).await.json();
    assert_eq!(version["apiVersion"], "4.0.0");
}

#[tokio::test]
async fn a_consumers_find_records_the_dependency() {
    let node = Node::start().await;
    let provider = create_hello(&node).await;
    let consumer_body = json!({ "service": { "serviceName": "web-ui", "version": "1.0.0" } });
    let consumer = call(&node, Method::POST, "/microservices", Some(consumer_body))
        .await
        .json()["serviceId"]
        .as_str()
        .unwrap()
        .to_string();
    let find = node
        .send(
            Method::GET,
            &format!("{BASE}/instances?serviceName=hello-server&version=latest"),
            &[("x-consumerid", consumer.as_str())],
            "",
        )
        .await;
    assert_eq!(find.status, StatusCode::OK);
    // Written off the find's path, a moment later.
    wait_for_provider(&node, &consumer, &provider).await;
    let revision = node.node.revision();
    node.send(
        Method::GET,
        &format!("{BASE}/instances?serviceName=hello-server"),
        &[("x-consumerid", consumer.as_str())],
        "",
    )
    .await;
    // Longer than the flush delay: a write would have happened by now.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        node.node.revision(),
        revision,
        "a known dependency is not written again"
    );
    let providers = call(
        &node,
        Method::GET,
        &format!("/microservices/{consumer}/providers"),
        None,
    )
    .await
    .json();
    assert_eq!(providers["providers"][0]["serviceId"], provider.as_str());
    let consumers = call(
        &node,
        Method::GET,
        &format!("/microservices/{provider}/consumers"),
        None,
    )
    .await
    .json();
    assert_eq!(consumers["consumers"][0]["serviceId"], consumer.as_str());
    assert_eq!(
        call(&node, Method::DELETE, &format!("/microservices/{provider}"), None)
            .await
            .json()["errorCode"],
        "400023"
    );
    assert_eq!(
        call(
            &node,
            Method::DELETE,
            &format!("/microservices/{provider}?force=true"),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn batch_find_reports_updated_not_modified_and_failed_by_index() {
    let node = Node::start().await;
    let id = create_hello(&node).await;
    register(&node, &id, "inst-1", 8080).await;
    let single = call(&node, Method::GET, "/instances?serviceName=hello-server", None).await;
    let rev = single.headers["x-resource-revision"].to_str().unwrap().to_string();
    let request = json!({
        "services": [
            { "service": { "appId": "default", "serviceName": "hello-server" }, "rev": "" },
            { "service": { "appId": "default", "serviceName": "hello-server" }, "rev": rev },
            { "service": { "appId": "default", "serviceName": "nobody" }, "rev": "" },
        ],
        "instances": [
            { "instance": { "serviceId": id, "instanceId": "inst-1" }, "rev": "" },
            { "instance": { "serviceId": id, "instanceId": "ghost" }, "rev": "" },
        ]
    });
    let reply = call(
        &node,
        Method::POST,
        "/instances/action?type=query",
        Some(request.clone()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["services"]["updated"][0]["index"], 0);
    assert_eq!(body["services"]["updated"][0]["rev"], rev.as_str());
    assert_eq!(body["services"]["updated"][0]["instances"][0]["instanceId"], "inst-1");
    assert_eq!(body["services"]["notModified"], json!([1]));
    assert_eq!(body["services"]["failed"][0]["indexes"], json!([2]));
    assert_eq!(body["services"]["failed"][0]["error"]["errorCode"], "400012");
    assert_eq!(body["instances"]["updated"][0]["instances"][0]["instanceId"], "inst-1");
    assert_eq!(body["instances"]["failed"][0]["error"]["errorCode"], "400017");
    let wrong_type = call(&node, Method::POST, "/instances/action?type=delete", Some(request)).await;
    assert_eq!(wrong_type.json()["errorCode"], "400001");
}

/// A batch request is one log entry (issue 19: 20,000 schemas in one `POST MS/schemas` were
/// 20,000 entries written one after another): the registry's revision moves by one.
#[tokio::test]
async fn batch_requests_are_one_log_entry_each() {
    let node = Node::start().await;
    let service = create_hello(&node).await;
    let revision = |node: &Node| {
        let node = node.node.clone();
        async move { node.revision() }
    };
    let schemas: Vec<Value> = (0..5_000)
        .map(|n| json!({ "schemaId": format!("s{n}"), "schema": "openapi: 3.0.0", "summary": "x" }))
        .collect();
    let before = revision(&node).await;
    let reply = call(
        &node,
        Method::POST,
        &format!("/microservices/{service}/schemas"),
        Some(json!({ "schemas": schemas })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(revision(&node).await, before + 1);
    let listed = call(&node, Method::GET, &format!("/microservices/{service}/schemas"), None).await;
    assert_eq!(listed.json()["schemas"].as_array().unwrap().len(), 5_000);

    let other = call(
        &node,
        Method::POST,
        "/microservices",
        Some(json!({ "service": { "serviceName": "other", "version": "1.0.0" } })),
    )
    .await
    .json()["serviceId"]
        .as_str()
        .unwrap()
        .to_string();
    let before = revision(&node).await;
    let deleted = call(
        &node,
        Method::DELETE,
        "/microservices",
        Some(json!({ "serviceIds": [service, other, "ghost"], "force": true })),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text());
    assert_eq!(revision(&node).await, before + 1);
    let results = deleted.json()["services"].clone();
    assert!(
        results[0].get("errMessage").is_none() && results[1].get("errMessage").is_none(),
        "{results}"
    );
    assert!(
        results[2]["errMessage"].as_str().unwrap().contains("does not exist"),
        "{results}"
    );
}
