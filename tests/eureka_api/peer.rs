//! What Netflix peers send (`/peerreplication/batch`), `/status` and the AWS-only ASG endpoint.

use axum::http::Method;
use axum::http::StatusCode;
use serde_json::json;

use crate::support::instance;
use crate::support::Node;

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
    assert_eq!(codes, vec![200, 200, 409, 404, 404, 200, 500]);
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
    let reply = node
        .send(
            Method::POST,
            "/eureka/peerreplication/batch",
            &[("content-type", "application/json")],
            serde_json::to_vec(&batch).unwrap(),
        )
        .await;
    let codes: Vec<u64> = reply.json()["responseList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["statusCode"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, vec![200, 200, 404]);
    let reply = node
        .send(
            Method::POST,
            "/eureka/peerreplication/batch",
            &[("content-type", "application/json")],
            "nonsense".to_string(),
        )
        .await;
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
