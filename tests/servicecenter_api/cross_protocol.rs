//! One registry, two views: a Eureka app is a ServiceCenter service with appId `eureka` and a
//! lower-cased name; a ServiceCenter instance is listed by Eureka's `/apps`.

use axum::http::Method;
use serde_json::json;

use crate::flow::call;
use crate::flow::create_hello;
use crate::flow::register;
use crate::support::instance;
use crate::support::listed;
use crate::support::Node;

#[tokio::test]
async fn a_eureka_app_is_found_through_servicecenter() {
    let node = Node::start().await;
    node.register_json("ACCOUNT-SERVER", &instance("ACCOUNT-SERVER", "10.0.0.7", 8080))
        .await;
    let found = call(
        &node,
        Method::GET,
        "/instances?appId=eureka&serviceName=account-server&version=0%2B",
        None,
    )
    .await
    .json();
    let instances = found["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{found}");
    assert_eq!(instances[0]["endpoints"], json!(["rest://10.0.0.7:8080"]));
    assert_eq!(instances[0]["status"], "UP");
    assert_eq!(instances[0]["version"], "0.0.1");
    let existence = "/existence?type=microservice&appId=eureka&serviceName=account-server&version=0.0.1";
    assert_eq!(
        call(&node, Method::GET, existence, None).await.json()["serviceId"],
        "eureka.account-server"
    );
}

#[tokio::test]
async fn a_servicecenter_instance_is_listed_by_eureka() {
    let node = Node::start().await;
    let id = create_hello(&node).await;
    register(&node, &id, "hello-1", 9090).await;
    let apps = node.get_json("/eureka/apps").await.json();
    assert_eq!(
        listed(&apps),
        vec![("HELLO-SERVER".to_string(), "hello-1".to_string(), "UP".to_string())]
    );
    let info = node.get_json("/eureka/apps/HELLO-SERVER/hello-1").await.json();
    assert_eq!(info["instance"]["ipAddr"], "10.1.0.1");
    assert_eq!(info["instance"]["port"], json!({ "$": 9090, "@enabled": "true" }));
    let xml = node.get_xml("/eureka/apps/").await.text();
    assert!(xml.contains("<name>HELLO-SERVER</name>"), "{xml}");
}
