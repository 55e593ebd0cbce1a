//! Register, renew, cancel and metadata, with Eureka's response codes.

use axum::http::StatusCode;
use serde_json::json;
use serde_json::Value;

use crate::support::instance;
use crate::support::listed;
use crate::support::Node;

#[tokio::test]
async fn register_renew_and_cancel_follow_eurekas_codes() {
    let node = Node::start().await;
    let reply = node
        .register_json("orders", &instance("ORDERS", "10.0.0.11", 8080))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    let apps = node.get_json("/eureka/apps/").await;
    assert_eq!(apps.status, StatusCode::OK);
    assert_eq!(
        listed(&apps.json()),
        vec![("ORDERS".into(), "10.0.0.11:orders:8080".into(), "UP".into())]
    );
    assert_eq!(apps.json()["applications"]["apps__hashcode"], "UP_1_");

    let id = "10.0.0.11:orders:8080";
    assert_eq!(
        node.put(&format!("/eureka/apps/ORDERS/{id}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        node.put(&format!(
            "/eureka/v2/apps/orders/{id}?status=UP&lastDirtyTimestamp=1700000000000"
        ))
        .await
        .status,
        StatusCode::OK
    );
    // The client knows a newer version than the server: re-register.
    assert_eq!(
        node.put(&format!("/eureka/apps/ORDERS/{id}?lastDirtyTimestamp=1800000000000"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        node.put("/eureka/apps/ORDERS/unknown-id").await.status,
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        node.delete(&format!("/eureka/apps/ORDERS/{id}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        node.delete(&format!("/eureka/apps/ORDERS/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        node.put(&format!("/eureka/apps/ORDERS/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(listed(&node.get_json("/eureka/apps").await.json()).is_empty());
}

#[tokio::test]
async fn a_stale_registration_keeps_the_newer_record() {
    let node = Node::start().await;
    let mut newer = instance("ORDERS", "10.0.0.11", 8080);
    newer["lastDirtyTimestamp"] = json!("1700000000500");
    newer["metadata"] = json!({ "v": "new" });
    node.register_json("ORDERS", &newer).await;
    let mut stale = instance("ORDERS", "10.0.0.11", 8080);
    stale["metadata"] = json!({ "v": "old" });
    assert_eq!(
        node.register_json("ORDERS", &stale).await.status,
        StatusCode::NO_CONTENT
    );
    let got = node.get_json("/eureka/apps/ORDERS/10.0.0.11:orders:8080").await.json();
    assert_eq!(got["instance"]["metadata"]["v"], "new");
}

#[tokio::test]
async fn metadata_updates_merge_into_the_instance() {
    let node = Node::start().await;
    node.register_json("ORDERS", &instance("ORDERS", "10.0.0.11", 8080))
        .await;
    let id = "10.0.0.11:orders:8080";
    let reply = node
        .put(&format!("/eureka/apps/ORDERS/{id}/metadata?weight=5&zone=zone-b"))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let got = node.get_json(&format!("/eureka/apps/ORDERS/{id}")).await.json();
    assert_eq!(got["instance"]["metadata"], json!({ "weight": "5", "zone": "zone-b" }));
    assert_eq!(
        node.put("/eureka/apps/ORDERS/nope/metadata?a=b").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn xml_registrations_are_read_like_python_clients_send_them() {
    let node = Node::start().await;
    let xml = r#"<instance><instanceId>py-1</instanceId><hostName>py-host</hostName><app>PYAPP</app>
        <ipAddr>10.0.0.9</ipAddr><status>UP</status><overriddenstatus>UNKNOWN</overriddenstatus>
        <port enabled="true">9090</port><securePort enabled="false">443</securePort><countryId>1</countryId>
        <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name></dataCenterInfo>
        <leaseInfo><renewalIntervalInSecs>30</renewalIntervalInSecs><durationInSecs>90</durationInSecs></leaseInfo>
        <metadata><a__b>1</a__b></metadata><vipAddress>pyapp</vipAddress></instance>"#;
    let reply = node.register_xml("PYAPP", xml).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    let got = node.get_json("/eureka/apps/PYAPP/py-1").await.json();
    assert_eq!(got["instance"]["port"], json!({ "$": 9090, "@enabled": "true" }));
    assert_eq!(got["instance"]["metadata"], json!({ "a_b": "1" }));
    let xml_reply = node.get_xml("/eureka/apps/PYAPP/py-1").await;
    assert_eq!(xml_reply.headers["content-type"], "application/xml");
    assert!(xml_reply.text().contains("<a__b>1</a__b>"), "{}", xml_reply.text());
}

#[tokio::test]
async fn a_configured_tenant_and_app_id_are_used_and_the_tenant_created() {
    let settings = registry_http::eureka::mapping::EurekaSettings {
        tenant: registry_store::model::Tenant::new("acme", "shop"),
        app_id: "legacy".into(),
    };
    let node = Node::start_with(settings).await;
    let reply = node
        .register_json("ORDERS", &instance("ORDERS", "10.0.0.11", 8080))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert_eq!(listed(&node.get_json("/eureka/apps").await.json()).len(), 1);
    let applied = node.node.read();
    let stored = applied.state.instances().next().unwrap();
    assert_eq!(stored.tenant.to_string(), "acme/shop");
    let service = applied.state.service(&stored.service_ref()).unwrap();
    assert_eq!((service.app.as_str(), service.name.as_str()), ("legacy", "orders"));
}

/// Netflix: `InstanceInfo.Builder` starts from `port = DEFAULT_PORT` (7001) with
/// `isUnsecurePortEnabled = true` and `securePort = DEFAULT_SECURE_PORT` (7002) with
/// `isSecurePortEnabled = false`; `EurekaJacksonCodec.InstanceInfoDeserializer` (and XStream's
/// `Converters.InstanceInfoConverter`) only change them for a `port` / `securePort` present and
/// not null.
#[tokio::test]
async fn a_registration_without_ports_gets_the_builders_defaults() {
    let node = Node::start().await;
    let mut bare = instance("ORDERS", "10.0.0.11", 8080);
    let fields = bare.as_object_mut().unwrap();
    fields.remove("port");
    fields.insert("securePort".into(), Value::Null);
    assert_eq!(node.register_json("ORDERS", &bare).await.status, StatusCode::NO_CONTENT);
    let got = node.get_json("/eureka/apps/ORDERS/10.0.0.11:orders:8080").await.json()["instance"].clone();
    assert_eq!(got["port"], json!({ "$": 7001, "@enabled": "true" }));
    assert_eq!(got["securePort"], json!({ "$": 7002, "@enabled": "false" }));

    let xml = r#"<instance><instanceId>x-1</instanceId><hostName>h</hostName><app>XAPP</app>
        <ipAddr>10.0.0.9</ipAddr><dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo">
        <name>MyOwn</name></dataCenterInfo></instance>"#;
    assert_eq!(node.register_xml("XAPP", xml).await.status, StatusCode::NO_CONTENT);
    let got = node.get_json("/eureka/apps/XAPP/x-1").await.json();
    assert_eq!(got["instance"]["port"], json!({ "$": 7001, "@enabled": "true" }));
    assert_eq!(got["instance"]["securePort"], json!({ "$": 7002, "@enabled": "false" }));
}

/// Netflix: `InstanceResource.updateMetadata` answers 404 for an unknown instance; otherwise it
/// puts every query parameter's first value into the instance's metadata (the other keys stay)
/// and calls `registry.register(instanceInfo, false)`: a new lease, `ADDED` in the delta, the
/// same `lastDirtyTimestamp` and override; 200.
#[tokio::test]
async fn a_metadata_update_merges_first_values_and_registers_again() {
    let node = Node::start().await;
    node.register_json("ORDERS", &instance("ORDERS", "10.0.0.11", 8080))
        .await;
    let id = "10.0.0.11:orders:8080";
    let uri = format!("/eureka/apps/ORDERS/{id}");
    assert_eq!(
        node.put("/eureka/apps/ORDERS/nope/metadata?a=b").await.status,
        StatusCode::NOT_FOUND
    );
    node.put(&format!("{uri}/status?value=OUT_OF_SERVICE")).await;
    let before = node.get_json(&uri).await.json()["instance"].clone();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let reply = node.put(&format!("{uri}/metadata?weight=5&weight=9&flag")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let got = node.get_json(&uri).await.json()["instance"].clone();
    assert_eq!(got["metadata"], json!({ "flag": "", "weight": "5", "zone": "zone-a" }));
    assert_eq!(got["lastDirtyTimestamp"], before["lastDirtyTimestamp"]);
    assert_eq!(
        (got["status"].as_str(), got["overriddenStatus"].as_str()),
        (Some("OUT_OF_SERVICE"), Some("OUT_OF_SERVICE"))
    );
    assert_eq!(got["actionType"], "ADDED");
    assert!(
        got["leaseInfo"]["registrationTimestamp"].as_i64() > before["leaseInfo"]["registrationTimestamp"].as_i64(),
        "a new lease: {got}"
    );
    // The delta follows the change feed asynchronously.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let delta = node.get_json("/eureka/apps/delta").await.json();
        let entry = &delta["applications"]["application"][0]["instance"][0];
        if entry["metadata"]["weight"] == "5" {
            assert_eq!(entry["actionType"], "ADDED", "{delta}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never in the delta: {delta}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
