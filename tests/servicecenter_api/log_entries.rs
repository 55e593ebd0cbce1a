//! A find never writes on its path: the dependency records finds imply are queued and written
//! later, many finds' records in one entry, counted in the node's log counters.

use std::time::Duration;

use axum::http::Method;
use axum::http::StatusCode;
use registry_http::servicecenter::ScSettings;
use registry_http::ApiSettings;
use serde_json::json;

use crate::flow::call;
use crate::flow::create_hello;
use crate::flow::register;
use crate::flow::wait_for_provider;
use crate::flow::BASE;
use crate::support::Node;

/// Log entries appended so far.
fn entries(node: &Node) -> u64 {
    node.node.log_counters().entries
}

async fn create(node: &Node, name: &str) -> String {
    let body = json!({ "service": { "serviceName": name, "version": "1.0.0" } });
    let reply = call(node, Method::POST, "/microservices", Some(body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()["serviceId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_find_writes_nothing_on_its_path_and_finds_share_one_later_entry() {
    // A long flush delay, so that what the finds themselves write is seen apart from the
    // batched write that follows them.
    let apis = ApiSettings {
        servicecenter: ScSettings {
            dependency_flush_delay: Duration::from_secs(2),
            ..ScSettings::default()
        },
        ..Default::default()
    };
    let node = Node::start_custom(apis, |_| {}).await;
    let provider = create_hello(&node).await;
    assert_eq!(register(&node, &provider, "inst-1", 8080).await.status, StatusCode::OK);
    let web = create(&node, "web-ui").await;
    let mobile = create(&node, "mobile-bff").await;

    let before = entries(&node);
    let find = node
        .send(
            Method::GET,
            &format!("{BASE}/instances?serviceName=hello-server&version=latest"),
            &[("x-consumerid", web.as_str())],
            "",
        )
        .await;
    assert_eq!(find.status, StatusCode::OK, "{}", find.text());
    assert_eq!(find.json()["instances"][0]["instanceId"], "inst-1");
    let batch =
        json!({ "services": [{ "service": { "appId": "default", "serviceName": "hello-server", "version": "0+" } }] });
    let batch_find = node
        .send(
            Method::POST,
            &format!("{BASE}/instances/action?type=query"),
            &[("content-type", "application/json"), ("x-consumerid", mobile.as_str())],
            batch.to_string(),
        )
        .await;
    assert_eq!(batch_find.status, StatusCode::OK, "{}", batch_find.text());
    assert_eq!(entries(&node) - before, 0, "a find appended to the log on its path");

    // Both finds' records arrive later, in one entry.
    wait_for_provider(&node, &web, &provider).await;
    wait_for_provider(&node, &mobile, &provider).await;
    assert_eq!(entries(&node) - before, 1, "one batched write for both finds");

    // Known dependencies: nothing is queued, nothing written, now or later.
    let before = entries(&node);
    let again = node
        .send(
            Method::GET,
            &format!("{BASE}/instances?serviceName=hello-server"),
            &[("x-consumerid", web.as_str())],
            "",
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(entries(&node) - before, 0);
}

#[tokio::test]
async fn creating_a_service_in_a_new_tenant_with_tags_is_one_log_entry() {
    let node = Node::start().await;
    let before = node.node.log_counters();
    let body = json!({ "service": { "serviceName": "orders", "version": "1.0.0" }, "tags": { "team": "blue" } });
    let reply = node
        .send(
            Method::POST,
            "/v4/shop/registry/microservices",
            &[("content-type", "application/json"), ("x-domain-name", "acme")],
            body.to_string(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let after = node.node.log_counters();
    assert_eq!(
        (after.entries - before.entries, after.commands - before.commands),
        (1, 1),
        "tenant, service and tags in one entry"
    );
    let id = reply.json()["serviceId"].as_str().unwrap().to_string();
    let tags = node
        .send(
            Method::GET,
            &format!("/v4/shop/registry/microservices/{id}/tags"),
            &[("x-domain-name", "acme")],
            "",
        )
        .await;
    assert_eq!(tags.json()["tags"], json!({ "team": "blue" }));
}
