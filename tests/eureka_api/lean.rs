//! Heartbeats and one-app reads take the lean path (`registry_http::eureka::lean`) in front of
//! the router: each answer must be the router's own, byte for byte and header for header, and
//! count in the metrics the same. A percent-encoded path segment (decoded by the router, never
//! claimed by the lean path) gives the routed answer to compare with.

use axum::body::Body;
use axum::http::Method;

use crate::support::instance;
use crate::support::Node;
use crate::support::Reply;

/// `reply`'s headers but its request id (checked to be there) and date, sorted.
fn headers_of(reply: &Reply) -> Vec<(String, Vec<u8>)> {
    assert!(reply.headers.contains_key("x-request-id"), "{:?}", reply.headers);
    let mut headers: Vec<(String, Vec<u8>)> = reply
        .headers
        .iter()
        .filter(|(name, _)| *name != "x-request-id" && *name != "date")
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect();
    headers.sort();
    headers
}

async fn same_answer(node: &Node, method: Method, lean: &str, routed: &str, headers: &[(&str, &str)]) -> Reply {
    let a = node.send(method.clone(), lean, headers, Body::empty()).await;
    let b = node.send(method.clone(), routed, headers, Body::empty()).await;
    assert_eq!(
        a.status,
        b.status,
        "{method} {lean} {headers:?}: {} vs {}",
        a.text(),
        b.text()
    );
    assert_eq!(headers_of(&a), headers_of(&b), "{method} {lean} {headers:?}");
    assert_eq!(a.body, b.body, "{method} {lean} {headers:?}");
    a
}

#[tokio::test]
async fn lean_answers_are_the_routers() {
    let node = Node::start().await;
    let orders = instance("ORDERS", "10.0.0.11", 8080);
    assert_eq!(node.register_json("ORDERS", &orders).await.status, 204);
    let id = orders["instanceId"].as_str().unwrap();
    let json = [("accept", "application/json")];
    let gzip_json = [("accept", "application/json"), ("accept-encoding", "gzip")];
    let identity = [("accept-encoding", "identity")];
    let full = [("accept", "application/json"), ("x-eureka-accept", "full")];
    for prefix in ["/eureka", "/eureka/v1", "/eureka/v2"] {
        for headers in [&[][..], &json, &gzip_json, &identity, &full] {
            let app = format!("{prefix}/apps/ORDERS");
            let read = same_answer(&node, Method::GET, &app, &format!("{prefix}/apps/%4FRDERS"), headers).await;
            assert_eq!(read.status, 200);
            let lost = format!("{prefix}/apps/NOPE");
            let lost = same_answer(&node, Method::GET, &lost, &format!("{prefix}/apps/N%4FPE"), headers).await;
            assert_eq!(lost.status, 404);
            let beat = format!("{prefix}/apps/ORDERS/{id}?status=UP&lastDirtyTimestamp=1");
            let routed = format!("{prefix}/apps/%4FRDERS/{id}?status=UP&lastDirtyTimestamp=1");
            assert_eq!(
                same_answer(&node, Method::PUT, &beat, &routed, headers).await.status,
                200
            );
            let unknown = format!("{prefix}/apps/ORDERS/i-none");
            let routed = format!("{prefix}/apps/%4FRDERS/i-none");
            assert_eq!(
                same_answer(&node, Method::PUT, &unknown, &routed, headers).await.status,
                404
            );
        }
    }
    // A peer's renewal knowing an older record than ours: 409 with ours.
    let peer = [
        ("accept", "application/json"),
        ("x-netflix-discovery-replication", "true"),
        ("accept-encoding", "gzip"),
    ];
    let beat = format!("/eureka/apps/ORDERS/{id}?lastDirtyTimestamp=1");
    let routed = format!("/eureka/apps/%4FRDERS/{id}?lastDirtyTimestamp=1");
    let conflict = same_answer(&node, Method::PUT, &beat, &routed, &peer).await;
    assert_eq!(conflict.status, 409);

    // The client's request id is echoed, a new one made otherwise.
    let given = [("x-request-id", "trace-7")];
    let echoed = node
        .send(Method::GET, "/eureka/apps/ORDERS", &given, Body::empty())
        .await;
    assert_eq!(echoed.headers["x-request-id"], "trace-7");
    let made = node.put(&format!("/eureka/apps/ORDERS/{id}")).await;
    assert_eq!(made.headers["x-request-id"].len(), 36);

    // Both paths count under the same series.
    let metrics = node.send(Method::GET, "/metrics", &[], Body::empty()).await.text();
    let count = |series: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    let renewals =
        r#"registry_http_request_duration_seconds_count{route="/eureka/v1/apps/{app}/{id}",method="PUT",status="200"}"#;
    assert_eq!(count(renewals), 10, "5 kinds of headers, lean and routed");
    let reads =
        r#"registry_http_request_duration_seconds_count{route="/eureka/v2/apps/{app}",method="GET",status="404"}"#;
    assert_eq!(count(reads), 10);
    // 30 heartbeats answered 200 on the three prefixes, the conflict's 409 and one more.
    assert_eq!(
        count(r#"registry_operations_total{protocol="eureka",operation="renew"}"#),
        31
    );
    assert!(!metrics.contains("route=\"unmatched\""), "{metrics}");
}
