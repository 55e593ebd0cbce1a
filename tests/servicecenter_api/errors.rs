//! Bad input: every rule of §2 is a 400001 with a detail; unknown service 400012; unknown
//! instance 400017; a body that is not JSON 400001; the store is untouched by any of them.

use axum::http::Method;
use axum::http::StatusCode;
use serde_json::json;
use serde_json::Value;

use crate::flow::call;
use crate::flow::create_hello;
use crate::support::Node;

async fn expect(node: &Node, method: Method, path: &str, body: Option<Value>, code: &str) {
    let reply = call(node, method, path, body.clone()).await;
    assert_eq!(
        reply.status.as_u16() as u32,
        code.parse::<u32>().unwrap() / 1000,
        "{path} {body:?}: {}",
        reply.text()
    );
    let err = reply.json();
    assert_eq!(err["errorCode"], code, "{path} {body:?}: {err}");
    assert!(err["errorMessage"].is_string());
    assert!(err["detail"].as_str().is_some_and(|d| !d.is_empty()), "{err}");
}

#[tokio::test]
async fn every_refusal_has_its_code_and_changes_nothing() {
    let node = Node::start().await;
    let id = create_hello(&node).await;
    let revision = node.node.revision();
    let bad_services = [
        json!({ "serviceName": "" }),
        json!({ "serviceName": "-x" }),
        json!({ "serviceName": "ok", "appId": "bad app" }),
        json!({ "serviceName": "ok", "version": "1.2.3.4.5" }),
        json!({ "serviceName": "ok", "environment": "staging" }),
        json!({ "serviceName": "ok", "level": "TOP" }),
        json!({ "serviceName": "ok", "status": "ASLEEP" }),
        json!({ "serviceName": "ok", "registerBy": "HAND" }),
        json!({ "serviceName": "ok", "alias": "a b" }),
        json!({ "serviceName": "ok", "serviceId": "has space" }),
        json!({ "serviceName": "ok", "description": "d".repeat(300) }),
        json!({ "serviceName": "ok", "version": 3 }),
    ];
    for service in bad_services {
        expect(
            &node,
            Method::POST,
            "/microservices",
            Some(json!({ "service": service })),
            "400001",
        )
        .await;
    }
    expect(&node, Method::POST, "/microservices", Some(json!({})), "400001").await;
    let bad_instances = [
        json!({ "hostName": "" }),
        json!({ "hostName": "h", "endpoints": [""] }),
        json!({ "hostName": "h", "instanceId": "a/b" }),
        json!({ "hostName": "h", "status": "NAPPING" }),
        json!({ "hostName": "h", "healthCheck": { "mode": "poke", "interval": 5 } }),
        json!({ "hostName": "h", "dataCenterInfo": { "name": "dc 1", "region": "r", "availableZone": "z" } }),
    ];
    for instance in bad_instances {
        expect(
            &node,
            Method::POST,
            &format!("/microservices/{id}/instances"),
            Some(json!({ "instance": instance })),
            "400001",
        )
        .await;
    }
    let not_json = node
        .send(
            Method::POST,
            "/v4/default/registry/microservices",
            &[("content-type", "application/json")],
            "{oops".to_string(),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_json.json()["errorCode"], "400001");

    expect(&node, Method::GET, "/microservices/nope", None, "400012").await;
    expect(
        &node,
        Method::POST,
        "/microservices/nope/instances",
        Some(json!({ "instance": { "hostName": "h" } })),
        "400012",
    )
    .await;
    expect(
        &node,
        Method::GET,
        "/instances?appId=default&serviceName=nobody",
        None,
        "400012",
    )
    .await;
    let consumer = node
        .send(
            Method::GET,
            "/v4/default/registry/instances?serviceName=hello-server",
            &[("x-consumerid", "ghost")],
            "",
        )
        .await;
    assert_eq!(consumer.json()["errorCode"], "400012");
    expect(
        &node,
        Method::GET,
        &format!("/microservices/{id}/instances/nope"),
        None,
        "400017",
    )
    .await;
    expect(
        &node,
        Method::PUT,
        &format!("/microservices/{id}/instances/nope/heartbeat"),
        None,
        "400017",
    )
    .await;
    expect(
        &node,
        Method::DELETE,
        &format!("/microservices/{id}/instances/nope"),
        None,
        "400017",
    )
    .await;
    // A heartbeat under an unknown service is 400017 too: sc-client registers again only on it
    // (ServiceCenter looks the lease up by service and instance, `heartbeat_util.go`).
    expect(
        &node,
        Method::PUT,
        "/microservices/no-such-service/instances/nope/heartbeat",
        None,
        "400017",
    )
    .await;
    // A batch find without a body, and a delete with a `force` ServiceCenter does not read as
    // a boolean (`service_resource.go` `trueOrFalse`), are invalid parameters.
    expect(&node, Method::POST, "/instances/action?type=query", None, "400001").await;
    expect(
        &node,
        Method::DELETE,
        &format!("/microservices/{id}?force=yes"),
        None,
        "400001",
    )
    .await;
    expect(
        &node,
        Method::PUT,
        &format!("/microservices/{id}/instances/nope/status?value=SIDEWAYS"),
        None,
        "400001",
    )
    .await;
    expect(
        &node,
        Method::GET,
        &format!("/microservices/{id}/schemas/nope"),
        None,
        "400016",
    )
    .await;
    expect(
        &node,
        Method::GET,
        &format!("/microservices/{id}/schemas?withSchema=2"),
        None,
        "400001",
    )
    .await;
    expect(&node, Method::GET, "/existence?type=galaxy", None, "400001").await;
    let other = json!({ "service": { "serviceId": "another-id", "serviceName": "hello-server", "version": "1.0.0" } });
    expect(&node, Method::POST, "/microservices", Some(other), "400010").await;
    assert_eq!(node.node.revision(), revision, "no refused request reached the log");
}
