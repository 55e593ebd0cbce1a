//! Status overrides (§5.6) and how re-registrations and renewals meet them; the Netflix
//! server's exact rules for the status endpoints, each test naming the Java method it follows.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::instance;
use crate::support::orders_instance as one;
use crate::support::registered_orders as registered;
use crate::support::Node;
use crate::support::ORDERS_ID as ID;

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

/// Netflix: `InstanceResource.deleteStatusUpdate` answers 200 whenever the instance exists, and
/// `AbstractInstanceRegistry.deleteStatusOverride` only renews the lease when no override is in
/// its map (`overriddenInstanceStatusMap.remove(id)` is null): the record keeps its status.
#[tokio::test]
async fn deleting_an_override_that_does_not_exist_changes_nothing() {
    let node = registered().await;
    let before = node.node.revision();
    for uri in [
        format!("/eureka/apps/ORDERS/{ID}/status"),
        format!("/eureka/apps/ORDERS/{ID}/status?value=DOWN"),
    ] {
        let reply = node.delete(&uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
    }
    assert_eq!(node.node.revision(), before, "no log entry");
    let got = one(&node).await;
    assert_eq!(
        (got["status"].as_str(), got["overriddenStatus"].as_str()),
        (Some("UP"), Some("UNKNOWN"))
    );
    assert_eq!(
        node.put(&format!("/eureka/apps/ORDERS/{ID}")).await.status,
        StatusCode::OK,
        "still renewable (it was not made UNKNOWN)"
    );
}

/// Netflix: `AbstractInstanceRegistry.statusUpdate` renews the lease and changes the record only
/// `if (!info.getStatus().equals(newStatus))`: the same status sets no override, no
/// `MODIFIED`, nothing in the delta queue. `InstanceResource.statusUpdate` still answers 200.
#[tokio::test]
async fn setting_the_status_an_instance_already_has_records_nothing() {
    let node = registered().await;
    let before = node.node.revision();
    let reply = node.put(&format!("/eureka/apps/ORDERS/{ID}/status?value=UP")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(node.node.revision(), before, "no log entry");
    assert_eq!(one(&node).await["overriddenStatus"], "UNKNOWN");
    assert_eq!(
        node.get_json("/eureka/serverinfo/statusoverrides").await.json(),
        json!({})
    );

    node.put(&format!("/eureka/apps/ORDERS/{ID}/status?value=OUT_OF_SERVICE"))
        .await;
    let changed = node.node.revision();
    assert!(changed > before);
    let reply = node
        .put(&format!("/eureka/apps/ORDERS/{ID}/status?value=OUT_OF_SERVICE"))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(node.node.revision(), changed, "the same status again: no log entry");
}

/// Netflix: `InstanceResource.statusUpdate` and `deleteStatusUpdate` look the instance up first
/// (404), then call `InstanceStatus.valueOf(value)` (not the lenient `toEnum`): a missing,
/// unknown or lower-case value throws, which the handler's `catch (Throwable)` turns into
/// `Response.serverError()`, a 500. Nothing changes.
#[tokio::test]
async fn unknown_instances_are_404_before_the_value_is_checked_and_bad_values_500() {
    let node = registered().await;
    for uri in [
        "/eureka/apps/ORDERS/nope/status",
        "/eureka/apps/ORDERS/nope/status?value=SIDEWAYS",
        "/eureka/apps/NOPE/nope/status?value=UP",
    ] {
        assert_eq!(node.put(uri).await.status, StatusCode::NOT_FOUND, "PUT {uri}");
    }
    assert_eq!(
        node.delete("/eureka/apps/ORDERS/nope/status?value=SIDEWAYS")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let before = node.node.revision();
    for value in ["", "?value=SIDEWAYS", "?value=up", "?value="] {
        let uri = format!("/eureka/apps/ORDERS/{ID}/status{value}");
        assert_eq!(
            node.put(&uri).await.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "PUT {uri}"
        );
    }
    node.put(&format!("/eureka/apps/ORDERS/{ID}/status?value=DOWN")).await;
    let with_override = node.node.revision();
    assert!(with_override > before);
    let uri = format!("/eureka/apps/ORDERS/{ID}/status?value=SIDEWAYS");
    assert_eq!(node.delete(&uri).await.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(node.node.revision(), with_override, "a refused value changes nothing");
    assert_eq!(one(&node).await["overriddenStatus"], "DOWN");
}
