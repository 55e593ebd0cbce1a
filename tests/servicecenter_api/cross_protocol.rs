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

/// Region and zone, registered through each API, read through all three (the README's table):
/// Eureka `metadata.zone`/`region` (or AmazonInfo's `availability-zone`), ServiceCenter
/// `dataCenterInfo{region, availableZone}`, the native API's `zone`/`region`.
#[tokio::test]
async fn region_and_zone_mean_the_same_through_every_api() {
    let node = Node::start().await;
    let mut plain = instance("ZONED-EUREKA", "10.0.0.8", 8080);
    plain["metadata"] = json!({ "zone": "zone-e", "region": "region-e" });
    assert_eq!(node.register_json("ZONED-EUREKA", &plain).await.status, 204);
    let mut aws = instance("ZONED-AWS", "10.0.0.9", 8080);
    aws["metadata"] = json!({});
    aws["dataCenterInfo"] = json!({ "@class": "com.netflix.appinfo.AmazonInfo", "name": "Amazon",
        "metadata": { "availability-zone": "us-east-1a", "instance-id": "i-0abc" } });
    assert_eq!(node.register_json("ZONED-AWS", &aws).await.status, 204);
    let created = call(
        &node,
        Method::POST,
        "/microservices",
        Some(json!({ "service": { "appId": "zones", "serviceName": "zoned-sc", "version": "1.0.0" } })),
    )
    .await
    .json();
    let sc_service = created["serviceId"].as_str().unwrap().to_string();
    let sc_instance = json!({ "instance": { "instanceId": "sc-1", "hostName": "h", "endpoints": ["rest://10.0.0.10:8080"],
        "dataCenterInfo": { "name": "dc-1", "region": "region-s", "availableZone": "zone-s" } } });
    let path = format!("/microservices/{sc_service}/instances");
    assert_eq!(call(&node, Method::POST, &path, Some(sc_instance)).await.status, 200);
    let native = json!({ "service": "zoned-native", "app": "zones", "id": "n-1", "host": "10.0.0.11",
        "endpoints": ["rest://10.0.0.11:8080"], "zone": "zone-n", "region": "region-n" });
    let reply = node
        .send(
            Method::POST,
            "/admin/registry/instances",
            &[("content-type", "application/json")],
            native.to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    // (Eureka app, ServiceCenter appId and name, service id, region, zone)
    let expected = [
        (
            "ZONED-EUREKA",
            "eureka",
            "zoned-eureka",
            "eureka.zoned-eureka",
            "region-e",
            "zone-e",
        ),
        (
            "ZONED-AWS",
            "eureka",
            "zoned-aws",
            "eureka.zoned-aws",
            "us-east-1",
            "us-east-1a",
        ),
        (
            "ZONED-SC",
            "zones",
            "zoned-sc",
            sc_service.as_str(),
            "region-s",
            "zone-s",
        ),
        (
            "ZONED-NATIVE",
            "zones",
            "zoned-native",
            "zoned-native",
            "region-n",
            "zone-n",
        ),
    ];
    let listed = node.get_json("/admin/registry/instances").await.json();
    for (app, sc_app, name, service_id, region, zone) in expected {
        // Native API.
        let record = listed["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["service_id"] == service_id)
            .unwrap_or_else(|| panic!("{service_id} in {listed}"));
        assert_eq!(
            (record["region"].as_str(), record["zone"].as_str()),
            (Some(region), Some(zone)),
            "{name}"
        );
        // ServiceCenter.
        let find = format!("/instances?appId={sc_app}&serviceName={name}&version=0%2B");
        let found = call(&node, Method::GET, &find, None).await.json();
        let dc = &found["instances"][0]["dataCenterInfo"];
        assert_eq!(
            (dc["region"].as_str(), dc["availableZone"].as_str()),
            (Some(region), Some(zone)),
            "{name}: {found}"
        );
        // Eureka: metadata, or for an AWS instance its AmazonInfo as it was sent.
        let info = &node.get_json(&format!("/eureka/apps/{app}")).await.json()["application"]["instance"][0];
        if app == "ZONED-AWS" {
            assert_eq!(info["dataCenterInfo"]["metadata"]["availability-zone"], zone, "{info}");
        } else {
            assert_eq!(
                (info["metadata"]["region"].as_str(), info["metadata"]["zone"].as_str()),
                (Some(region), Some(zone)),
                "{app}: {info}"
            );
        }
    }
}
