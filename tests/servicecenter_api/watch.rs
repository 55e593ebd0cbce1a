//! WebSockets on a real loopback socket: the watcher's CREATE / UPDATE / DELETE (unregister)
//! / DELETE (lease expiry) events, and the heartbeat socket.

use std::time::Duration;

use axum::http::Method;
use futures::StreamExt;
use registry_http::servicecenter::mapping::LeaseLimits;
use registry_http::servicecenter::ScSettings;
use registry_http::ApiSettings;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::flow::call;
use crate::flow::BASE;
use crate::support::Node;
use crate::ws_events::next_event;

/// Short leases and pings so expiry happens within the test; self-preservation off (one
/// instance going silent is exactly what it would hold back).
async fn fast_node() -> Node {
    let servicecenter = ScSettings {
        lease_limits: LeaseLimits {
            min_interval_secs: 1,
            min_times: 0,
        },
        ping_interval: Duration::from_millis(200),
        tls: false,
    };
    let apis = ApiSettings {
        servicecenter,
        ..Default::default()
    };
    Node::start_custom(apis, |c| {
        c.lease_policy.self_preservation = false;
        c.lease_tick = Duration::from_millis(100);
    })
    .await
}

async fn create(node: &Node, name: &str) -> String {
    let body = json!({ "service": { "serviceName": name, "version": "1.0.0" } });
    call(node, Method::POST, "/microservices", Some(body)).await.json()["serviceId"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn register(node: &Node, service: &str, id: &str, interval: u32) {
    let body = json!({ "instance": { "instanceId": id, "hostName": "h", "endpoints": ["rest://10.0.0.1:80"],
        "healthCheck": { "mode": "push", "interval": interval, "times": 1 } } });
    let reply = call(
        node,
        Method::POST,
        &format!("/microservices/{service}/instances"),
        Some(body),
    )
    .await;
    assert_eq!(reply.json()["instanceId"], id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_pushes_create_update_and_both_kinds_of_delete() {
    let node = fast_node().await;
    let addr = node.serve().await;
    let provider = create(&node, "hello-server").await;
    let consumer = create(&node, "web-ui").await;
    register(&node, &provider, "expiring", 1).await;
    let find = node
        .send(
            Method::GET,
            &format!("{BASE}/instances?serviceName=hello-server"),
            &[("x-consumerid", consumer.as_str())],
            "",
        )
        .await;
    assert_eq!(find.status, 200);
    let url = format!("ws://{addr}{BASE}/microservices/{consumer}/watcher");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();

    register(&node, &provider, "inst-2", 30).await;
    let created = next_event(&mut ws).await;
    assert_eq!(created["action"], "CREATE", "{created}");
    assert_eq!(created["instance"]["instanceId"], "inst-2");
    assert_eq!(
        created["key"],
        json!({ "tenant": "default/default", "environment": "", "appId": "default", "serviceName": "hello-server", "version": "1.0.0" })
    );

    call(
        &node,
        Method::PUT,
        &format!("/microservices/{provider}/instances/inst-2/status?value=DOWN"),
        None,
    )
    .await;
    let updated = next_event(&mut ws).await;
    assert_eq!(
        (updated["action"].as_str(), updated["instance"]["status"].as_str()),
        (Some("UPDATE"), Some("DOWN"))
    );

    call(
        &node,
        Method::DELETE,
        &format!("/microservices/{provider}/instances/inst-2"),
        None,
    )
    .await;
    let deleted = next_event(&mut ws).await;
    assert_eq!(
        (deleted["action"].as_str(), deleted["instance"]["instanceId"].as_str()),
        (Some("DELETE"), Some("inst-2"))
    );

    // "expiring" never heartbeats: its 1 s lease runs out and it is evicted through the log.
    let expired = next_event(&mut ws).await;
    assert_eq!(
        (expired["action"].as_str(), expired["instance"]["instanceId"].as_str()),
        (Some("DELETE"), Some("expiring"))
    );
    ws.close(None).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_for_an_unknown_consumer_gets_an_error_and_is_closed() {
    let node = fast_node().await;
    let addr = node.serve().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}{BASE}/microservices/ghost/watcher"))
        .await
        .unwrap();
    let error = next_event(&mut ws).await;
    assert_eq!(error["errorCode"], "400012");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pongs_on_the_heartbeat_socket_keep_the_instance_and_4001_ends_it() {
    let node = fast_node().await;
    let addr = node.serve().await;
    let provider = create(&node, "hello-server").await;
    register(&node, &provider, "socketed", 1).await;
    let url = format!("ws://{addr}{BASE}/microservices/{provider}/instances/socketed/heartbeat");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // Three seconds of pings answered by pongs: well past the 1 s lease.
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(message)) = tokio::time::timeout_at(until, ws.next()).await {
        assert!(message.is_ok());
    }
    let alive = call(
        &node,
        Method::GET,
        &format!("/microservices/{provider}/instances/socketed"),
        None,
    )
    .await;
    assert_eq!(alive.status, 200, "{}", alive.text());
    call(
        &node,
        Method::DELETE,
        &format!("/microservices/{provider}/instances/socketed"),
        None,
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 4001);
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a 4001 close, got {other:?}"),
        }
    }
}
