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

#[tokio::test]
async fn a_eureka_metadata_version_becomes_the_service_version() {
    let node = Node::start().await;
    let mut v1 = instance("ACCOUNT-SERVER", "10.0.0.7", 8080);
    v1["metadata"] = json!({ "version": "1.2.0" });
    node.register_json("ACCOUNT-SERVER", &v1).await;
    let found = call(
        &node,
        Method::GET,
        "/instances?appId=eureka&serviceName=account-server&version=1.2.0",
        None,
    )
    .await
    .json();
    assert_eq!(found["instances"][0]["version"], "1.2.0", "{found}");
    // The same instance re-registered as 1.3.0 moves: one instance, under the new version.
    let mut v2 = v1.clone();
    v2["metadata"] = json!({ "version": "1.3.0" });
    v2["lastDirtyTimestamp"] = json!("1700000009000");
    node.register_json("ACCOUNT-SERVER", &v2).await;
    let all = call(
        &node,
        Method::GET,
        "/instances?appId=eureka&serviceName=account-server",
        None,
    )
    .await
    .json();
    let versions: Vec<&str> = all["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, vec!["1.3.0"], "{all}");
    assert_eq!(listed(&node.get_json("/eureka/apps").await.json()).len(), 1);
    // Renewals and cancels find it under its versioned service.
    assert_eq!(
        node.put("/eureka/apps/ACCOUNT-SERVER/10.0.0.7:account-server:8080")
            .await
            .status,
        200
    );
    assert_eq!(
        node.delete("/eureka/apps/ACCOUNT-SERVER/10.0.0.7:account-server:8080")
            .await
            .status,
        200
    );
    // An invalid version falls back to 0.0.1.
    let mut odd = instance("BILLING", "10.0.0.8", 8080);
    odd["metadata"] = json!({ "version": "v2-beta" });
    node.register_json("BILLING", &odd).await;
    let found = call(&node, Method::GET, "/instances?appId=eureka&serviceName=billing", None)
        .await
        .json();
    assert_eq!(found["instances"][0]["version"], "0.0.1");
}
