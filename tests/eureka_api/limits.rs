//! Limits on one node: bodies over the size limit, clients over their rate (429 with
//! `Retry-After`), each in the protocol's format, and a listener refusing connections past its
//! limit and past a client's share, and closing idle ones after the header-read timeout.

use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::Method;
use axum::http::StatusCode;
use registry_http::connections::ConnectionLimits;
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
    // `/health` is exempt: a probe learns how the node is, whatever its address's rate.
    for _ in 0..20 {
        let health = client.get(format!("http://{addr}/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
    }
    // The bucket refills.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = client.get(format!("http://{addr}/eureka/apps")).send().await.unwrap();
    assert_eq!(again.status(), 200);
}

/// Password guessing is limited per client address, whatever the general rate limit (none
/// here): through `POST /v4/token` and through Basic credentials on any route; a password
/// verified once is not checked (nor counted) again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guesses_are_limited_per_client() {
    use registry_http::auth::users::Role;
    use registry_http::auth::users::UserFile;
    use registry_http::auth::AuthFile;
    use registry_http::auth::AuthSettings;
    let file = AuthFile {
        cluster_secret: None,
        token_ttl_secs: None,
        users: vec![UserFile {
            name: "orders".into(),
            password: Some("right".into()),
            password_argon2: None,
            password_sha256: None,
            role: Role::Write,
            tenants: Vec::new(),
        }],
    };
    let apis = ApiSettings {
        auth: AuthSettings::from_file(&file, Some("a-cluster-secret-of-some-length")).unwrap(),
        ..Default::default()
    };
    let node = Node::start_custom(apis, |_| {}).await;
    let addr = node.serve().await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for n in 0..40 {
        let guess = json!({ "name": "orders", "password": format!("guess-{n}") });
        let r = client
            .post(format!("http://{addr}/v4/token"))
            .json(&guess)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert!(statuses.contains(&401), "{statuses:?}");
    assert!(
        statuses.contains(&429),
        "guesses past the limit are refused unchecked: {statuses:?}"
    );

    let mut basic = Vec::new();
    for n in 0..40 {
        let r = client
            .get(format!("http://{addr}/eureka/apps"))
            .basic_auth("orders", Some(format!("guess-{n}")))
            .send()
            .await
            .unwrap();
        basic.push(r.status().as_u16());
    }
    assert!(basic.contains(&429), "{basic:?}");
    // Once the right password was verified, using it again is not counted.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for _ in 0..40 {
        let r = client
            .get(format!("http://{addr}/eureka/apps"))
            .basic_auth("orders", Some("right"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
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
async fn a_listener_refuses_connections_past_its_limits() {
    let node = Node::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listening = Listening {
        connections: ConnectionLimits {
            max_connections: 3,
            max_per_client: 2,
            header_read_timeout: Duration::from_secs(1),
        },
        ..Listening::default()
    };
    tokio::spawn(registry_http::serve(
        listener,
        listening,
        node.router(),
        std::future::pending(),
    ));
    let from = |ip: [u8; 4]| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::from((ip, 0))).unwrap();
        socket.connect(addr).await.unwrap()
    };
    let mut first = from([127, 0, 0, 1]).await;
    let mut second = from([127, 0, 0, 1]).await;
    assert_eq!(health_on(&mut first).await.as_deref(), Some("HTTP/1.1 200 OK"));
    assert_eq!(health_on(&mut second).await.as_deref(), Some("HTTP/1.1 200 OK"));
    // A third from the same address is past its share: closed at once, not left waiting.
    let mut third = from([127, 0, 0, 1]).await;
    assert_eq!(health_on(&mut third).await, None);
    // Another address still gets in, up to the listener's limit; past it, refused too.
    let mut other = from([127, 0, 0, 2]).await;
    assert_eq!(health_on(&mut other).await.as_deref(), Some("HTTP/1.1 200 OK"));
    let mut fourth = from([127, 0, 0, 3]).await;
    assert_eq!(health_on(&mut fourth).await, None);
    // An idle keep-alive connection is closed after the header-read timeout, freeing its slot.
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(5), first.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = from([127, 0, 0, 1]).await;
    assert_eq!(health_on(&mut again).await.as_deref(), Some("HTTP/1.1 200 OK"));
}
