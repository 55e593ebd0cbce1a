//! The Nacos UDP push over the in-memory fake registry, with real UDP sockets on 127.0.0.1 as
//! the subscriber: who a list request subscribes (and who it does not: bad or hostile
//! `udpPort`, `clientIP`, agents, thousands of subscriptions), and what the `nacos-udp-push`
//! worker sends on a change, how it reads acks and retries (issue 22).

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Method;
use axum::http::Request;
use axum::http::StatusCode;
use axum::Extension;
use axum::Router;
use registry_http::connections::ClientAddr;
use registry_http::nacos;
use registry_http::nacos::push_udp::worker::PushLimits;
use registry_http::nacos::push_udp::UdpPush;
use registry_store::registry::Registry;
use registry_store::testing::FakeRegistry;
use registry_store::worker::Worker;
use registry_store::worker::WorkerStatus;
use serde_json::Value;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tower::ServiceExt;

const NODE_SDK: &str = "Nacos-Java-Client:v1.0.0";

struct Setup {
    registry: Arc<dyn Registry>,
    push: Arc<UdpPush>,
    router: Router,
}

fn setup() -> Setup {
    let registry: Arc<dyn Registry> = FakeRegistry::new();
    let push = UdpPush::new(Default::default());
    let router = nacos::routes(registry.clone(), Default::default()).layer(Extension(push.clone()));
    Setup { registry, push, router }
}

/// `method path?query` from `source` with `agent` (none: no `User-Agent`); status and body.
async fn call(
    router: &Router,
    method: Method,
    path_and_query: &str,
    source: Option<SocketAddr>,
    agent: Option<&str>,
) -> (StatusCode, String) {
    let mut request = Request::builder().method(method).uri(path_and_query);
    if let Some(agent) = agent {
        request = request.header("user-agent", agent);
    }
    let mut request = request.body(Body::empty()).unwrap();
    if let Some(source) = source {
        request.extensions_mut().insert(ConnectInfo(ClientAddr(source)));
    }
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn local(port: u16) -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], port)))
}

async fn list(router: &Router, query: &str, agent: Option<&str>) -> (StatusCode, String) {
    let uri = format!("/nacos/v1/ns/instance/list?serviceName=orders&{query}");
    call(router, Method::GET, &uri, local(40000), agent).await
}

#[tokio::test]
async fn a_list_with_udp_port_subscribes_its_source_and_bad_ones_do_not() {
    let s = setup();
    // Not a number: Nacos's Integer.parseInt answer.
    let (status, body) = list(&s.router, "udpPort=x", Some(NODE_SDK)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, "For input string: \"x\"");
    let (status, _) = list(&s.router, "udpPort=99999999999", Some(NODE_SDK)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Out of range, zero, absent: answered, nobody subscribed.
    for query in ["udpPort=70000", "udpPort=-5", "udpPort=0", "udpPort=", ""] {
        let (status, body) = list(&s.router, query, Some(NODE_SDK)).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
    }
    assert_eq!(s.push.subscribers(), 0);
    // A client that takes no push (no agent, a browser, the PHP client): answered only.
    for agent in [None, Some("Mozilla/5.0"), Some("Nacos-Php-Client:v1.0.0")] {
        let (status, _) = list(&s.router, "udpPort=5000", agent).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(s.push.subscribers(), 0);
    // No client address (a router without one): answered only.
    let uri = "/nacos/v1/ns/instance/list?serviceName=orders&udpPort=5000";
    let (status, _) = call(&s.router, Method::GET, uri, None, Some(NODE_SDK)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.push.subscribers(), 0);
    // The SDK: subscribed once, however often it lists; a huge clientIP changes nothing.
    let huge = "9".repeat(50_000);
    for query in [
        "udpPort=5000&clientIP=203.0.113.9",
        &format!("udpPort=5000&clientIP={huge}"),
    ] {
        let (status, _) = list(&s.router, query, Some(NODE_SDK)).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(s.push.subscribers(), 1);
    // Client-Version stands in for a missing User-Agent (WebUtils.getUserAgent).
    let request = Request::builder()
        .uri("/nacos/v1/ns/instance/list?serviceName=orders&udpPort=5001")
        .header("client-version", "Nacos-Go-Client:v2.0.0")
        .body(Body::empty())
        .map(|mut r| {
            r.extensions_mut()
                .insert(ConnectInfo(ClientAddr(local(40000).unwrap())));
            r
        })
        .unwrap();
    assert_eq!(
        s.router.clone().oneshot(request).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(s.push.subscribers(), 2);
}

#[tokio::test]
async fn thousands_of_subscriptions_from_one_address_are_capped_and_all_answered() {
    let s = setup();
    for port in 1..=2000u16 {
        let (status, _) = list(&s.router, &format!("udpPort={port}"), Some(NODE_SDK)).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(s.push.subscribers(), 256);
    assert_eq!(s.push.counters.refused.load(Ordering::Relaxed), 2000 - 256);
    // An overlong service name is answered, not subscribed.
    let long = "s".repeat(600);
    let uri = format!("/nacos/v1/ns/instance/list?serviceName={long}&udpPort=7");
    let (status, _) = call(&s.router, Method::GET, &uri, local(1), Some(NODE_SDK)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.push.subscribers(), 256);
}

/// Starts the push worker over `s`; stops when the sender drops.
fn start_worker(s: &Setup, limits: PushLimits) -> watch::Sender<bool> {
    let (stop, stop_rx) = watch::channel(false);
    let worker = s.push.worker(s.registry.clone(), Default::default(), limits);
    let status = WorkerStatus::detached(worker.name());
    tokio::spawn(Box::new(worker).run(stop_rx, status));
    stop
}

/// The next datagram on `socket` (bounded), as JSON (gunzipped if it is gzip, as the SDK's
/// `tryDecompress` does), and where it came from.
async fn next_push(socket: &UdpSocket) -> (Value, SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    let (n, from) = tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buf))
        .await
        .expect("a push within 10 s")
        .unwrap();
    let mut bytes = buf[..n].to_vec();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut plain)
            .unwrap();
        bytes = plain;
    }
    (serde_json::from_slice(&bytes).expect("a JSON push"), from)
}

async fn register(router: &Router, ip: &str) {
    let uri = format!("/nacos/v1/ns/instance?serviceName=orders&ip={ip}&port=8080");
    let (status, body) = call(router, Method::POST, &uri, local(40001), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn a_change_is_pushed_to_the_subscriber_and_its_ack_ends_it() {
    let s = setup();
    let _stop = start_worker(&s, PushLimits::default());
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = client.local_addr().unwrap().port();
    // The subscriber names another host as clientIP: pushes still go to where it listed from.
    let uri =
        format!("/nacos/v1/ns/instance/list?serviceName=orders&clusters=DEFAULT&udpPort={port}&clientIP=203.0.113.9");
    let (status, _) = call(&s.router, Method::GET, &uri, local(40000), Some(NODE_SDK)).await;
    assert_eq!(status, StatusCode::OK);

    register(&s.router, "10.0.0.1").await;
    let (push, from) = next_push(&client).await;
    assert_eq!(push["type"], "dom", "{push}");
    let info: Value = serde_json::from_str(push["data"].as_str().unwrap()).unwrap();
    assert_eq!(info["name"], "DEFAULT_GROUP@@orders");
    assert_eq!(
        info["clusters"], "DEFAULT",
        "the subscriber's clusters, for its cache key"
    );
    assert_eq!(info["hosts"][0]["ip"], "10.0.0.1", "{info}");
    // The SDK's ack, from the port that was pushed to.
    let ack = serde_json::json!({"type": "push-ack", "lastRefTime": push["lastRefTime"], "data": ""});
    client.send_to(ack.to_string().as_bytes(), from).await.unwrap();
    let counters = &s.push.counters;
    for _ in 0..100 {
        if counters.acks.load(Ordering::Relaxed) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counters.acks.load(Ordering::Relaxed), 1);
    assert_eq!(counters.pushes.load(Ordering::Relaxed), 1);
    // An ack for no push, or from elsewhere, counts nothing.
    let stray = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    stray.send_to(ack.to_string().as_bytes(), from).await.unwrap();
    client
        .send_to(b"{\"type\":\"push-ack\",\"lastRefTime\":1}", from)
        .await
        .unwrap();
    client.send_to(&[0xff; 4000], from).await.unwrap();

    // The next change: the new list.
    register(&s.router, "10.0.0.2").await;
    let (push, _) = next_push(&client).await;
    let info: Value = serde_json::from_str(push["data"].as_str().unwrap()).unwrap();
    assert_eq!(info["hosts"].as_array().unwrap().len(), 2, "{info}");
    assert!(push.to_string().len() >= 1024, "this one was gzipped");
    assert_eq!(counters.acks.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn an_unacknowledged_push_is_sent_once_more_then_given_up() {
    let s = setup();
    let limits = PushLimits {
        ack_timeout: Duration::from_millis(300),
        ..PushLimits::default()
    };
    let _stop = start_worker(&s, limits);
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = client.local_addr().unwrap().port();
    let uri = format!("/nacos/v1/ns/instance/list?serviceName=orders&udpPort={port}");
    call(&s.router, Method::GET, &uri, local(40000), Some(NODE_SDK)).await;

    register(&s.router, "10.0.0.1").await;
    let (first, _) = next_push(&client).await;
    let (again, _) = next_push(&client).await;
    assert_eq!(first, again, "the same datagram, same lastRefTime");
    let counters = &s.push.counters;
    for _ in 0..100 {
        if counters.unacknowledged.load(Ordering::Relaxed) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counters.unacknowledged.load(Ordering::Relaxed), 1);
    assert_eq!(counters.retries.load(Ordering::Relaxed), 1);
    assert_eq!(counters.pushes.load(Ordering::Relaxed), 2);
    // Nothing more comes.
    let mut buf = [0u8; 16];
    let more = tokio::time::timeout(Duration::from_millis(800), client.recv_from(&mut buf)).await;
    assert!(more.is_err(), "a third send");
}
