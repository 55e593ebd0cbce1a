//! Bad input: every 400 case of §2 with Eureka's text; malformed bodies leave the store alone.

use axum::http::Method;
use axum::http::StatusCode;
use serde_json::json;
use serde_json::Value;

use crate::support::instance;
use crate::support::Node;

fn without(mut v: Value, field: &str) -> Value {
    v.as_object_mut().unwrap().remove(field);
    v
}

#[tokio::test]
async fn each_registration_check_answers_with_eurekas_text() {
    let node = Node::start().await;
    let good = instance("ORDERS", "10.0.0.11", 8080);
    let mut no_name = good.clone();
    no_name["dataCenterInfo"] = json!({ "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo" });
    let cases = [
        (
            without(without(good.clone(), "instanceId"), "hostName"),
            "Missing instanceId",
        ),
        (
            json!({ "instanceId": "x", "app": "ORDERS", "ipAddr": "1.2.3.4", "dataCenterInfo": good["dataCenterInfo"] }),
            "Missing hostname",
        ),
        (without(good.clone(), "ipAddr"), "Missing ip address"),
        (without(good.clone(), "app"), "Missing appName"),
        (without(good.clone(), "dataCenterInfo"), "Missing dataCenterInfo"),
        (no_name, "Missing dataCenterInfo Name"),
    ];
    let before = node.node.revision();
    for (body, text) in cases {
        let reply = node.register_json("ORDERS", &body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.text(), text, "{body}");
    }
    let reply = node.register_json("BILLING", &good).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.text(), "Mismatched appName, expecting BILLING but was ORDERS");
    assert_eq!(node.node.revision(), before, "nothing was proposed");
}

#[tokio::test]
async fn malformed_bodies_get_400_in_their_format_and_change_nothing() {
    let node = Node::start().await;
    node.register_json("ORDERS", &instance("ORDERS", "10.0.0.11", 8080))
        .await;
    let before = node.get_json("/eureka/apps").await.body;
    let revision = node.node.revision();
    let json_reply = node
        .send(
            Method::POST,
            "/eureka/apps/ORDERS",
            &[("content-type", "application/json")],
            "{\"instance\": {".to_string(),
        )
        .await;
    assert_eq!(json_reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(json_reply.json(), json!({ "error": "cannot parse request body" }));
    let xml_reply = node
        .send(
            Method::POST,
            "/eureka/apps/ORDERS",
            &[("content-type", "application/xml")],
            "<instance><app>".to_string(),
        )
        .await;
    assert_eq!(xml_reply.status, StatusCode::BAD_REQUEST);
    assert!(
        xml_reply
            .text()
            .contains("<message>cannot parse request body</message>"),
        "{}",
        xml_reply.text()
    );
    assert_eq!(node.node.revision(), revision);
    assert_eq!(node.get_json("/eureka/apps").await.body, before);
}

#[tokio::test]
async fn unknown_apps_and_instances_are_404() {
    let node = Node::start().await;
    assert_eq!(node.delete("/eureka/apps/NOPE/x").await.status, StatusCode::NOT_FOUND);
    assert_eq!(node.put("/eureka/apps/NOPE/x").await.status, StatusCode::NOT_FOUND);
    assert_eq!(node.get_json("/eureka/apps/NOPE").await.status, StatusCode::NOT_FOUND);
    assert!(node.get_json("/eureka/apps/NOPE").await.body.is_empty());
}

/// Netflix: `ApplicationResource.addInstance` is `@Consumes({"application/json",
/// "application/xml"})` and `DiscoveryJerseyProvider.isReadable` takes only those (and UTF-8 /
/// ISO-8859-1 charsets): Jersey answers anything else, and a body without a content type
/// (read as `application/octet-stream`), with 415.
#[tokio::test]
async fn a_registration_in_another_media_type_is_415() {
    let node = Node::start().await;
    let body = serde_json::to_vec(&json!({ "instance": instance("ORDERS", "10.0.0.11", 8080) })).unwrap();
    let before = node.node.revision();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("text/xml"),
        Some("application/json; charset=UTF-16"),
        None,
    ] {
        let headers: Vec<(&str, &str)> = content_type.map(|c| ("content-type", c)).into_iter().collect();
        let reply = node
            .send(Method::POST, "/eureka/apps/ORDERS", &headers, body.clone())
            .await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type:?}");
    }
    assert_eq!(node.node.revision(), before, "nothing was proposed");
    let reply = node
        .send(
            Method::POST,
            "/eureka/apps/ORDERS",
            &[("content-type", "Application/JSON;charset=utf-8")],
            body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
}
