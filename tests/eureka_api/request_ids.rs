//! Every response carries the request's id: the client's `X-Request-Id` echoed, else a new
//! UUID (the node's log lines about the request carry the same id in their span).

use axum::body::Body;
use axum::http::Method;

use crate::support::Node;

#[tokio::test]
async fn responses_echo_the_request_id_or_carry_a_new_one() {
    let node = Node::start().await;
    let given = node
        .send(
            Method::GET,
            "/eureka/apps",
            &[("x-request-id", "trace-42")],
            Body::empty(),
        )
        .await;
    assert_eq!(given.headers["x-request-id"], "trace-42");

    let first = node.send(Method::GET, "/health", &[], Body::empty()).await;
    let second = node.send(Method::GET, "/health", &[], Body::empty()).await;
    let id = |r: &crate::support::Reply| r.headers["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id(&first).len(), 36, "a UUID: {}", id(&first));
    assert_ne!(id(&first), id(&second));
    // Refusals carry it too.
    let refused = node.send(Method::GET, "/eureka/apps/NOPE", &[], Body::empty()).await;
    assert_eq!(refused.status, 404);
    assert_eq!(id(&refused).len(), 36);
}
