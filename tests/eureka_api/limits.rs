//! Limits on one node: bodies over the size limit, clients over their rate (429 with
//! `Retry-After`), each in the protocol's format, and a listener holding no more connections
//! than its limit (the next one is answered once another closes).

use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::Method;
use axum::http::StatusCode;
use registry_http::limits::LimitSettings;
use registry_http::ApiSettings;
use registry_http::Listening;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;

use crate::support::instance;
use crate::support::Node;

async fn limited(limits: LimitSettings) -> Node {
    let apis = ApiSettings {
        limits,
        ..Default::default()
    };
    Node::start_custom(apis, |_| {}).await
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_in_each_protocols_format() {
    let node = limited(LimitSettings {
        max_body_bytes: 4096,
        ..LimitSettings::default()
    })
    .await;
    let mut big = instance("ORDERS", "10.0.0.1", 8080);
    big["metadata"]["padding"] = json!("x".repeat(8192));
    let eureka = node.register_json("ORDERS", &big).await;
    assert_eq!(eureka.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        eureka.text().contains("larger than this node accepts"),
        "{}",
        eureka.text()
    );
    // Small enough: taken.
    let small = node
        .register_json("ORDERS", &instance("ORDERS", "10.0.0.1", 8080))
        .await;
    assert_eq!(small.status, StatusCode::NO_CONTENT);

    let body = serde_json::to_vec(&json!({ "service": { "serviceName": "x".repeat(8192) } })).unwrap();
    let sc = node
        .send(
            Method::POST,
            "/v4/default/registry/microservices",
            &[("content-type", "application/json")],
            body.clone(),
        )
        .await;
    assert_eq!(sc.status, StatusCode::BAD_REQUEST);
    assert_eq!(sc.json()["errorCode"], "400001");
    let native = node
        .send(
            Method::POST,
            "/admin/registry/instances",
            &[("content-type", "application/json")],
            body,
        )
        .await;
    assert_eq!(native.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(native.json()["retryable"], false);
}

#[tokio::test]
async fn clients_over_their_rate_get_429_then_may_go_on() {
    let node = limited(LimitSettings {
        rate_per_client: NonZeroU32::new(5),
        rate_burst: NonZeroU32::new(5),
        ..LimitSettings::default()
    })
    .await;
    let addr = node.serve().await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let r = client.get(format!("http://{addr}/eureka/apps")).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            assert!(r.text().await.unwrap().contains("too many requests"));
        }
    }
    assert!(statuses.iter().filter(|s| **s == 200).count() >= 5, "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    let sc = client
        .get(format!("http://{addr}/v4/default/registry/microservices"))
        .send()
        .await
        .unwrap();
    assert_eq!(sc.status(), 429);
    let body: serde_json::Value = sc.json().await.unwrap();
    assert_eq!(body["errorCode"], "429001");
    // The bucket refills.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = client.get(format!("http://{addr}/eureka/apps")).send().await.unwrap();
    assert_eq!(again.status(), 200);
}

/// Sends a bare HTTP/1.1 GET of `/health` on `stream` and reads the status line.
async fn health_on(stream: &mut tokio::net::TcpStream) -> Option<String> {
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .ok()?;
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_millis(700), stream.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines().next().map(str::to_string)
}

#[tokio::test]
async fn a_listener_holds_no_more_connections_than_its_limit() {
    let node = Node::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listening = Listening {
        max_connections: 2,
        ..Listening::default()
    };
    tokio::spawn(registry_http::serve(
        listener,
        listening,
        node.router(),
        std::future::pending(),
    ));
    let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert_eq!(health_on(&mut first).await.as_deref(), Some("HTTP/1.1 200 OK"));
    assert_eq!(health_on(&mut second).await.as_deref(), Some("HTTP/1.1 200 OK"));
    // A third waits in the backlog, unanswered...
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert_eq!(health_on(&mut third).await, None);
    // ...until another closes.
    drop(first);
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("answered once a connection closed")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200 OK"));
}
