//! Authentication and authorisation on one node: Eureka clients with HTTP Basic, ServiceCenter
//! clients with bearer tokens from `POST /v4/token`, the read / write / admin roles, tenants kept
//! apart, and refusals in each protocol's own format. Without users, nothing is asked.

use axum::body::Body;
use axum::http::Method;
use axum::http::StatusCode;
use base64::Engine;
use registry_http::auth::users::Role;
use registry_http::auth::users::UserFile;
use registry_http::auth::AuthFile;
use registry_http::auth::AuthSettings;
use registry_http::ApiSettings;
use serde_json::json;

use crate::support::instance;
use crate::support::Node;

const SECRET: &str = "a-cluster-secret-of-some-length";

fn user(name: &str, role: Role, tenants: &[&str]) -> UserFile {
    UserFile {
        name: name.into(),
        password: Some(format!("{name}-password")),
        password_argon2: None,
        password_sha256: None,
        role,
        tenants: tenants.iter().map(|t| t.to_string()).collect(),
    }
}

async fn secured() -> Node {
    let file = AuthFile {
        cluster_secret: None,
        token_ttl_secs: None,
        users: vec![
            user("reader", Role::Read, &[]),
            user("writer", Role::Write, &["default/default"]),
            user("shop", Role::Write, &["shop/prod"]),
            user("admin", Role::Admin, &["*"]),
        ],
    };
    let apis = ApiSettings {
        auth: AuthSettings::from_file(&file, Some(SECRET)).unwrap(),
        ..Default::default()
    };
    Node::start_custom(apis, |_| {}).await
}

fn basic(name: &str, password: &str) -> String {
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"));
    format!("Basic {pair}")
}

fn as_user(name: &str) -> String {
    basic(name, &format!("{name}-password"))
}

async fn eureka_register(node: &Node, authorization: Option<&str>) -> crate::support::Reply {
    let body = serde_json::to_vec(&json!({ "instance": instance("ORDERS", "10.0.0.1", 8080) })).unwrap();
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = authorization {
        headers.push(("authorization", a));
    }
    node.send(Method::POST, "/eureka/apps/ORDERS", &headers, body).await
}

#[tokio::test]
async fn eureka_clients_need_basic_credentials_with_the_right_role() {
    let node = secured().await;
    let missing = eureka_register(&node, None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert!(missing.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic realm="));
    let wrong = eureka_register(&node, Some(&basic("writer", "nope"))).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.text(), "wrong user name or password");
    let garbage = eureka_register(&node, Some("Basic !!!")).await;
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);

    // A reader may not register; a writer may; both may read.
    let reader = as_user("reader");
    let refused = eureka_register(&node, Some(&reader)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.text().contains("needs write"), "{}", refused.text());
    assert_eq!(
        eureka_register(&node, Some(&as_user("writer"))).await.status,
        StatusCode::NO_CONTENT
    );
    let apps = node
        .send(
            Method::GET,
            "/eureka/apps",
            &[("accept", "application/json"), ("authorization", &reader)],
            Body::empty(),
        )
        .await;
    assert_eq!(apps.status, StatusCode::OK);
    assert_eq!(crate::support::listed(&apps.json()).len(), 1);
    let anonymous = node.get_json("/eureka/apps").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // A user of another tenant cannot reach Eureka's.
    let other = eureka_register(&node, Some(&as_user("shop"))).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert!(other.text().contains("tenant default/default"), "{}", other.text());
}

async fn token(node: &Node, name: &str, password: &str) -> crate::support::Reply {
    let body = serde_json::to_vec(&json!({ "name": name, "password": password })).unwrap();
    node.send(Method::POST, "/v4/token", &[("content-type", "application/json")], body)
        .await
}

async fn create_service(
    node: &Node,
    project: &str,
    domain: &str,
    authorization: Option<&str>,
) -> crate::support::Reply {
    let body =
        serde_json::to_vec(&json!({ "service": { "serviceName": "cart", "appId": "shop", "version": "1.0.0" } }))
            .unwrap();
    let mut headers = vec![("content-type", "application/json"), ("x-domain-name", domain)];
    if let Some(a) = authorization {
        headers.push(("authorization", a));
    }
    node.send(
        Method::POST,
        &format!("/v4/{project}/registry/microservices"),
        &headers,
        body,
    )
    .await
}

#[tokio::test]
async fn servicecenter_clients_use_tokens_and_stay_in_their_tenant() {
    let node = secured().await;
    let refused = token(&node, "shop", "wrong").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.json()["errorCode"], "401002");
    assert_eq!(refused.json()["errorMessage"], "Request unauthorized");

    let issued = token(&node, "shop", "shop-password").await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.text());
    let bearer = format!("Bearer {}", issued.json()["token"].as_str().unwrap());

    let created = create_service(&node, "prod", "shop", Some(&bearer)).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    // Without the token, with a forged one, or in another tenant: refused in SC's format.
    let anonymous = create_service(&node, "prod", "shop", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.json()["errorCode"], "401002");
    let forged = create_service(&node, "prod", "shop", Some("Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln")).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    for (project, domain) in [("default", "default"), ("prod", "default"), ("other", "shop")] {
        let elsewhere = create_service(&node, project, domain, Some(&bearer)).await;
        assert_eq!(elsewhere.status, StatusCode::FORBIDDEN, "{project} {domain}");
        assert_eq!(elsewhere.json()["errorCode"], "403001");
    }
    let look = |domain: &'static str, project: &'static str, who: String| {
        let node = &node;
        async move {
            node.send(
                Method::GET,
                &format!("/v4/{project}/registry/microservices"),
                &[("x-domain-name", domain), ("authorization", &who)],
                Body::empty(),
            )
            .await
        }
    };
    assert_eq!(look("shop", "prod", bearer.clone()).await.status, StatusCode::OK);
    assert_eq!(
        look("default", "default", bearer.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    // A reader of every tenant sees the shop's service, through Basic too.
    let seen = look("shop", "prod", as_user("reader")).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert_eq!(seen.json()["services"][0]["serviceName"], "cart");
    // A tenant's user cannot use the node's endpoints, which span every tenant.
    let cluster = node
        .send(
            Method::GET,
            "/admin/cluster",
            &[("authorization", &bearer)],
            Body::empty(),
        )
        .await;
    assert_eq!(cluster.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn node_operations_need_the_admin_role() {
    let node = secured().await;
    let send = |method: Method, path: &'static str, who: Option<String>| {
        let node = &node;
        async move {
            let headers: Vec<(&str, &str)> = who.as_deref().map(|w| vec![("authorization", w)]).unwrap_or_default();
            node.send(method, path, &headers, Body::empty()).await
        }
    };
    assert_eq!(send(Method::GET, "/health", None).await.status, StatusCode::OK);
    let anonymous = send(Method::GET, "/admin/cluster", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.json()["retryable"], false);
    assert_eq!(
        send(Method::GET, "/admin/cluster", Some(as_user("reader")))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send(Method::GET, "/metrics", Some(as_user("reader"))).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(Method::GET, "/", Some(as_user("reader"))).await.status,
        StatusCode::OK
    );
    assert_eq!(send(Method::GET, "/", None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(Method::GET, "/admin/backup", Some(as_user("reader"))).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(Method::GET, "/admin/backup", Some(as_user("admin"))).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(Method::POST, "/admin/snapshot", Some(as_user("writer")))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(Method::POST, "/admin/snapshot", Some(as_user("admin")))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn without_users_nothing_is_asked_and_no_token_is_issued() {
    let node = Node::start().await;
    assert_eq!(eureka_register(&node, None).await.status, StatusCode::NO_CONTENT);
    let refused = token(&node, "anyone", "anything").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.json()["errorCode"], "400001");
}

#[test]
fn users_without_a_cluster_secret_or_with_a_short_one_are_refused() {
    let file = AuthFile {
        users: vec![user("admin", Role::Admin, &[])],
        ..AuthFile::default()
    };
    assert!(AuthSettings::from_file(&file, None)
        .unwrap_err()
        .contains("cluster secret"));
    assert!(AuthSettings::from_file(&file, Some("short"))
        .unwrap_err()
        .contains("16 characters"));
    assert!(AuthSettings::from_file(&file, Some(SECRET)).unwrap().enabled());
}
