//! Status overrides (§5.6) and how re-registrations and renewals meet them.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::instance;
use crate::support::Node;

const ID: &str = "10.0.0.11:orders:8080";

async fn status_of(node: &Node) -> (String, String) {
    let got = node.get_json(&format!("/eureka/apps/ORDERS/{ID}")).await.json();
    (
        got["instance"]["status"].as_str().unwrap().to_string(),
        got["instance"]["overriddenStatus"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn an_override_wins_over_re_registration_until_removed() {
    let node = Node::start().await;
    node.register_json("ORDERS", &instance("ORDERS", "10.0.0.11", 8080))
        .await;
    let reply = node
        .put(&format!("/eureka/apps/ORDERS/{ID}/status?value=OUT_OF_SERVICE"))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        status_of(&node).await,
        ("OUT_OF_SERVICE".into(), "OUT_OF_SERVICE".into())
    );
    let mut again = instance("ORDERS", "10.0.0.11", 8080);
    again["lastDirtyTimestamp"] = json!("1700000001000");
    node.register_json("ORDERS", &again).await;
    assert_eq!(
        status_of(&node).await,
        ("OUT_OF_SERVICE".into(), "OUT_OF_SERVICE".into())
    );
    let overrides = node.get_json("/eureka/serverinfo/statusoverrides").await.json();
    assert_eq!(overrides, json!({ ID: "OUT_OF_SERVICE" }));

    let reply = node.delete(&format!("/eureka/apps/ORDERS/{ID}/status?value=UP")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(status_of(&node).await, ("UP".into(), "UNKNOWN".into()));
}

#[tokio::test]
async fn removing_an_override_without_a_value_makes_the_next_renewal_ask_for_registration() {
    let node = Node::start().await;
    node.register_json("ORDERS", &instance("ORDERS", "10.0.0.11", 8080))
        .await;
    node.put(&format!("/eureka/apps/ORDERS/{ID}/status?value=DOWN")).await;
    assert_eq!(
        node.delete(&format!("/eureka/apps/ORDERS/{ID}/status")).await.status,
        StatusCode::OK
    );
    assert_eq!(status_of(&node).await.0, "UNKNOWN");
    assert_eq!(
        node.put(&format!("/eureka/apps/ORDERS/{ID}")).await.status,
        StatusCode::NOT_FOUND
    );
    node.register_json("ORDERS", &instance("ORDERS", "10.0.0.11", 8080))
        .await;
    assert_eq!(
        node.put(&format!("/eureka/apps/ORDERS/{ID}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn status_changes_need_a_valid_value_and_an_existing_instance() {
    let node = Node::start().await;
    node.register_json("ORDERS", &instance("ORDERS", "10.0.0.11", 8080))
        .await;
    assert_eq!(
        node.put(&format!("/eureka/apps/ORDERS/{ID}/status")).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        node.put(&format!("/eureka/apps/ORDERS/{ID}/status?value=SIDEWAYS"))
            .await
            .status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        node.put("/eureka/apps/ORDERS/nope/status?value=UP").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        node.delete("/eureka/apps/ORDERS/nope/status").await.status,
        StatusCode::NOT_FOUND
    );
    // A client that reports itself OUT_OF_SERVICE is believed (no override set).
    let mut oos = instance("ORDERS", "10.0.0.11", 8080);
    oos["status"] = json!("OUT_OF_SERVICE");
    oos["lastDirtyTimestamp"] = json!("1700000002000");
    node.register_json("ORDERS", &oos).await;
    assert_eq!(status_of(&node).await, ("OUT_OF_SERVICE".into(), "UNKNOWN".into()));
}
