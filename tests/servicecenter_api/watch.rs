//! WebSockets on a real loopback socket: the watcher's CREATE / UPDATE / DELETE (unregister)
//! / DELETE (lease expiry) events, and the heartbeat socket; what a hostile client cannot do
//! with them (renew with the read role, flood frames past its rate, send large frames).

use std::time::Duration;

use axum::http::Method;
use futures::StreamExt;
use registry_http::servicecenter::mapping::LeaseLimits;
use registry_http::servicecenter::ScSettings;
use registry_http::ApiSettings;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::flow::call;
use crate::flow::wait_for_provider;
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
        ..ScSettings::default()
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
    // The dependency that routes the provider's events here is written off the find's path.
    wait_for_provider(&node, &consumer, &provider).await;
    let url = format!("ws://{addr}{BASE}/microservices/{consumer}/watcher");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();

    register(&node, &provider, "inst-2", 30).await;
    let created = next_event(&mut ws).await;
    assert_eq!(created["action"], "CREATE", "{created}");
    assert_eq!(created["instance"]["instanceId"], "inst-2");
    // The empty environment is omitted, as Go's `omitempty` does in ServiceCenter's events.
    assert_eq!(
        created["key"],
        json!({ "tenant": "default/default", "appId": "default", "serviceName": "hello-server", "version": "1.0.0" })
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
    // ServiceCenter's plain text (`server/pubsub/ws/common.go` `SendEstablishError`), then a close.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let first = tokio::time::timeout_at(deadline, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first, Message::Text("service does not exist".into()));
    let second = tokio::time::timeout_at(deadline, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(second, Message::Close(_)), "{second:?}");
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

/// A node with users (a reader and a writer) and a rate limit of 5 requests a second.
async fn guarded_node() -> Node {
    use registry_http::auth::users::Role;
    use registry_http::auth::users::UserFile;
    use registry_http::auth::AuthFile;
    use registry_http::auth::AuthSettings;
    let user = |name: &str, role| UserFile {
        name: name.into(),
        password: Some(format!("{name}-password")),
        password_argon2: None,
        password_sha256: None,
        role,
        tenants: vec!["default/default".into()],
    };
    let file = AuthFile {
        cluster_secret: None,
        token_ttl_secs: None,
        users: vec![user("reader", Role::Read), user("writer", Role::Write)],
    };
    let apis = ApiSettings {
        auth: AuthSettings::from_file(&file, Some("a-cluster-secret-of-some-length")).unwrap(),
        limits: registry_http::limits::LimitSettings {
            rate_per_client: std::num::NonZeroU32::new(5),
            rate_burst: std::num::NonZeroU32::new(5),
            ..Default::default()
        },
        ..Default::default()
    };
    Node::start_custom(apis, |_| {}).await
}

fn upgrade(url: &str, user: &str) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    use base64::Engine;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().unwrap();
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{user}-password"));
    request
        .headers_mut()
        .insert("authorization", format!("Basic {pair}").parse().unwrap());
    request
}

/// Reads until the socket closes (bounded); the close code, if the server sent one.
async fn close_code<S>(ws: &mut S) -> Option<u16>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            _ => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_socket_needs_the_write_role_and_counts_every_frame() {
    use futures::SinkExt;
    let node = guarded_node().await;
    let addr = node.serve().await;
    let writer = reqwest::Client::new();
    let sc = |path: &str| format!("http://{addr}{BASE}{path}");
    let created: serde_json::Value = writer
        .post(sc("/microservices"))
        .basic_auth("writer", Some("writer-password"))
        .json(&json!({ "service": { "serviceName": "guarded", "version": "1.0.0" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let service = created["serviceId"].as_str().unwrap().to_string();
    let instance = json!({ "instance": { "instanceId": "g-1", "hostName": "h" } });
    let registered = writer
        .post(sc(&format!("/microservices/{service}/instances")))
        .basic_auth("writer", Some("writer-password"))
        .json(&instance)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 200);
    let url = format!("ws://{addr}{BASE}/microservices/{service}/instances/g-1/heartbeat");

    // A reader may not renew leases: refused before the upgrade, in ServiceCenter's format.
    let refused = tokio_tungstenite::connect_async(upgrade(&url, "reader")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
            assert!(body.contains("403001"), "{body}");
        }
        other => panic!("a reader's heartbeat socket must be refused, got {other:?}"),
    }

    // A writer may; but frames past its rate close the socket (1008).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(upgrade(&url, "writer")).await.unwrap();
    for _ in 0..50 {
        if ws.send(Message::Pong(Default::default())).await.is_err() {
            break;
        }
    }
    assert_eq!(close_code(&mut ws).await, Some(1008));

    // A frame larger than any a client needs ends the socket too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(upgrade(&url, "writer")).await.unwrap();
    let _ = ws.send(Message::Text("x".repeat(100_000).into())).await;
    let code = close_code(&mut ws).await;
    assert!(matches!(code, None | Some(1009)), "{code:?}");
}
