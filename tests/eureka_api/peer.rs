//! What Netflix peers send (`/peerreplication/batch`, single renewals marked as replication),
//! `/status` and the AWS-only ASG endpoint.

use axum::body::Body;
use axum::http::Method;
use axum::http::StatusCode;
use serde_json::json;

use crate::support::instance;
use crate::support::orders_instance as one;
use crate::support::registered_orders as registered;
use crate::support::Node;
use crate::support::ORDERS_ID as ID;

const REPLICATION: (&str, &str) = ("x-netflix-discovery-replication", "true");
const JSON: (&str, &str) = ("accept", "application/json");

#[tokio::test]
async fn a_peer_batch_is_applied_item_by_item_with_eurekas_codes() {
    let node = Node::start().await;
    let id = "10.0.0.11:orders:8080";
    let registered = instance("ORDERS", "10.0.0.11", 8080);
    let batch = json!({ "replicationList": [
        { "appName": "ORDERS", "id": id, "lastDirtyTimestamp": 1700000000000u64, "status": "UP", "action": "Register", "instanceInfo": registered },
        { "appName": "ORDERS", "id": id, "lastDirtyTimestamp": 1700000000000u64, "status": "UP", "action": "Heartbeat" },
        { "appName": "ORDERS", "id": id, "lastDirtyTimestamp": 1600000000000u64, "status": "UP", "action": "Heartbeat" },
        { "appName": "ORDERS", "id": id, "lastDirtyTimestamp": 1800000000000u64, "status": "UP", "action": "Heartbeat" },
        { "appName": "ORDERS", "id": "nope", "status": "UP", "action": "Heartbeat" },
        { "appName": "ORDERS", "id": id, "status": "OUT_OF_SERVICE", "action": "StatusUpdate" },
        { "appName": "ORDERS", "id": id, "status": "SIDEWAYS", "action": "StatusUpdate" },
        { "appName": "ORDERS", "id": "nope", "status": "SIDEWAYS", "action": "StatusUpdate" },
    ]});
    let body = serde_json::to_vec(&batch).unwrap();
    let reply = node
        .send(
            Method::POST,
            "/eureka/peerreplication/batch/",
            &[("content-type", "application/json")],
            body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let list = reply.json()["responseList"].as_array().unwrap().clone();
    let codes: Vec<u64> = list.iter().map(|r| r["statusCode"].as_u64().unwrap()).collect();
    // An unknown instance is 404 before its status is read (`InstanceResource.statusUpdate`).
    assert_eq!(codes, vec![200, 200, 409, 404, 404, 200, 500, 404]);
    assert_eq!(
        list[2]["responseEntity"]["instanceId"], id,
        "409 carries the stored instance"
    );
    let got = node.get_json(&format!("/eureka/apps/ORDERS/{id}")).await.json();
    assert_eq!(got["instance"]["overriddenStatus"], "OUT_OF_SERVICE");

    let batch = json!({ "replicationList": [
        { "appName": "ORDERS", "id": id, "status": "UP", "action": "DeleteStatusOverride" },
        { "appName": "ORDERS", "id": id, "action": "Cancel" },
        { "appName": "ORDERS", "id": id, "action": "Cancel" },
    ]});
    let reply = node.peer_batch(serde_json::to_vec(&batch).unwrap()).await;
    assert_eq!(reply.batch_codes(), vec![200, 200, 404]);
    let reply = node.peer_batch("nonsense".to_string()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn status_reports_the_node_in_json_and_xml() {
    let node = Node::start().await;
    let status = node.get_json("/eureka/status").await;
    assert_eq!(status.status, StatusCode::OK);
    let doc = status.json();
    assert_eq!(doc["isHeathly"], "true");
    assert!(
        doc["generalStats"]["num-of-cpus"]
            .as_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            >= 1
    );
    assert!(doc["generalStats"]["server-uptime"].as_str().unwrap().contains(':'));
    assert_eq!(doc["instanceInfo"]["app"], "REGISTRY");
    let xml = node.get_xml("/eureka/v2/status").await.text();
    assert!(xml.starts_with("<status><generalStats><environment>"), "{xml}");
    assert!(
        xml.contains("<instanceInfo><instanceId>registry-node-1</instanceId>"),
        "{xml}"
    );
    assert!(xml.ends_with("<isHeathly>true</isHeathly></status>"), "{xml}");
}

#[tokio::test]
async fn asg_changes_are_refused_off_aws() {
    let node = Node::start().await;
    assert_eq!(
        node.put("/eureka/asg/my-asg/status?value=ENABLED").await.status,
        StatusCode::BAD_REQUEST
    );
}

/// Netflix: `InstanceResource.renewLease` → `validateDirtyTimestamp`: when the stored
/// `lastDirtyTimestamp` is newer than the renewal's, a replication (`isReplication`) gets
/// `Response.status(CONFLICT).entity(appInfo)` (the stored instance, in the negotiated format);
/// a client gets 200.
#[tokio::test]
async fn a_stale_replicated_renewal_is_409_with_the_stored_instance() {
    let node = registered().await;
    let stale = format!("/eureka/apps/ORDERS/{ID}?status=UP&lastDirtyTimestamp=1600000000000");
    let reply = node
        .send(Method::PUT, &stale, &[REPLICATION, JSON], Body::empty())
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["instance"]["instanceId"], ID);
    assert_eq!(body["instance"]["lastDirtyTimestamp"], "1700000000000");
    let xml = node.send(Method::PUT, &stale, &[REPLICATION], Body::empty()).await;
    assert_eq!(xml.status, StatusCode::CONFLICT);
    assert!(xml.text().starts_with("<instance><instanceId>"), "{}", xml.text());

    assert_eq!(node.put(&stale).await.status, StatusCode::OK, "a client is not told");
    let same = format!("/eureka/apps/ORDERS/{ID}?lastDirtyTimestamp=1700000000000");
    let reply = node.send(Method::PUT, &same, &[REPLICATION], Body::empty()).await;
    assert_eq!(reply.status, StatusCode::OK);
}

/// Netflix: `InstanceResource.renewLease`: when `validateDirtyTimestamp` answers 404 (the
/// renewal knows a newer version), a replication carrying `overriddenstatus` other than
/// `UNKNOWN` makes `AbstractInstanceRegistry.storeOverriddenStatusIfRequired` store that
/// override; the answer stays 404. Not for clients, not for `UNKNOWN`.
#[tokio::test]
async fn a_newer_replicated_renewal_stores_its_override() {
    let node = registered().await;
    let newer = |extra: &str| format!("/eureka/apps/ORDERS/{ID}?status=UP&lastDirtyTimestamp=1800000000000{extra}");
    let client = node.put(&newer("&overriddenstatus=OUT_OF_SERVICE")).await;
    assert_eq!(client.status, StatusCode::NOT_FOUND);
    let unknown = node
        .send(
            Method::PUT,
            &newer("&overriddenstatus=UNKNOWN"),
            &[REPLICATION],
            Body::empty(),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(one(&node).await["overriddenStatus"], "UNKNOWN");

    let peer = node
        .send(
            Method::PUT,
            &newer("&overriddenstatus=OUT_OF_SERVICE"),
            &[REPLICATION],
            Body::empty(),
        )
        .await;
    assert_eq!(peer.status, StatusCode::NOT_FOUND);
    let got = one(&node).await;
    assert_eq!(got["overriddenStatus"], "OUT_OF_SERVICE");
    assert_eq!(
        got["lastDirtyTimestamp"], "1700000000000",
        "the record's version is kept"
    );
    assert_eq!(
        node.get_json("/eureka/serverinfo/statusoverrides").await.json(),
        json!({ ID: "OUT_OF_SERVICE" })
    );
}
