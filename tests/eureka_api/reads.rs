//! Reads: formats, one app, instances by id, VIPs, hashcodes, gzip, trailing slashes.

use std::io::Read;

use axum::body::Body;
use axum::http::Method;
use axum::http::StatusCode;
use serde_json::json;
use serde_json::Value;

use crate::support::instance;
use crate::support::listed;
use crate::support::Node;

async fn three_instances(node: &Node) {
    node.register_json("ORDERS", &instance("ORDERS", "10.0.0.11", 8080))
        .await;
    node.register_json("ORDERS", &instance("ORDERS", "10.0.0.12", 8080))
        .await;
    let mut billing = instance("BILLING", "10.0.0.21", 9090);
    billing["status"] = json!("DOWN");
    billing["vipAddress"] = json!("billing,payments");
    node.register_json("BILLING", &billing).await;
}

#[tokio::test]
async fn apps_are_listed_in_json_and_xml_with_the_hashcode() {
    let node = Node::start().await;
    three_instances(&node).await;
    let json_apps = node.get_json("/eureka/apps").await;
    assert_eq!(json_apps.headers["content-type"], "application/json");
    let apps = json_apps.json();
    assert_eq!(apps["applications"]["apps__hashcode"], "DOWN_1_UP_2_");
    assert_eq!(apps["applications"]["versions__delta"], "1");
    assert_eq!(listed(&apps).len(), 3);
    let xml = node.get_xml("/eureka/v2/apps/").await;
    assert_eq!(xml.headers["content-type"], "application/xml");
    let text = xml.text();
    assert!(text.starts_with("<applications>"), "{text}");
    assert!(text.contains("<apps__hashcode>DOWN_1_UP_2_</apps__hashcode>"), "{text}");
    assert!(text.contains(r#"<port enabled="true">9090</port>"#), "{text}");
    assert!(xml.headers.contains_key("x-registry-revision"));
}

#[tokio::test]
async fn one_app_and_single_instances() {
    let node = Node::start().await;
    three_instances(&node).await;
    let app = node.get_json("/eureka/apps/orders").await.json();
    assert_eq!(app["application"]["name"], "ORDERS");
    assert_eq!(app["application"]["instance"].as_array().unwrap().len(), 2);
    let one = node
        .get_json("/eureka/apps/BILLING/10.0.0.21:billing:9090")
        .await
        .json();
    assert_eq!(one["instance"]["status"], "DOWN");
    let by_id = node.get_json("/eureka/instances/10.0.0.12:orders:8080").await.json();
    assert_eq!(by_id["instance"]["app"], "ORDERS");
    assert_eq!(node.get_json("/eureka/apps/NOPE").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        node.get_json("/eureka/apps/ORDERS/nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        node.get_json("/eureka/instances/nope").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn vips_match_comma_separated_addresses_exactly() {
    let node = Node::start().await;
    three_instances(&node).await;
    let payments = node.get_json("/eureka/vips/payments").await.json();
    assert_eq!(listed(&payments).len(), 1);
    let orders = node.get_json("/eureka/vips/orders").await.json();
    assert_eq!(listed(&orders).len(), 2);
    let secure = node.get_json("/eureka/svips/orders").await.json();
    assert_eq!(listed(&secure).len(), 2);
    let none = node.get_json("/eureka/vips/pay").await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.json()["applications"]["versions__delta"], "-1");
    assert!(listed(&none.json()).is_empty());
}

/// The full registry and the delta, gzip'd once per payload (one gzip member put together from
/// pieces): what a client that asks for gzip decodes is what one that does not reads, and both
/// come with their exact `Content-Length`.
#[tokio::test]
async fn gzip_is_used_when_asked_for() {
    let node = Node::start().await;
    three_instances(&node).await;
    let headers = [("accept", "application/json"), ("accept-encoding", "gzip")];
    // The delta window follows the change feed: wait (bounded) until it has all three.
    for _ in 0..500 {
        let delta = node.get_json("/eureka/apps/delta").await.json();
        if listed(&delta).len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for path in ["/eureka/apps/", "/eureka/apps/delta"] {
        let reply = node.send(Method::GET, path, &headers, Body::empty()).await;
        assert_eq!(reply.headers["content-encoding"], "gzip", "{path}");
        assert_eq!(reply.headers["content-length"], reply.body.len().to_string().as_str());
        let mut text = String::new();
        flate2::read::GzDecoder::new(&reply.body[..])
            .read_to_string(&mut text)
            .unwrap();
        let plain = node.send(Method::GET, path, &headers[..1], Body::empty()).await;
        assert!(!plain.headers.contains_key("content-encoding"), "{path}");
        assert_eq!(plain.headers["content-length"], plain.body.len().to_string().as_str());
        assert_eq!(text.as_bytes(), &plain.body[..], "{path}");
        let apps: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(listed(&apps).len(), 3, "{path}");
    }
}

#[tokio::test]
async fn single_instance_apps_are_arrays() {
    let node = Node::start().await;
    node.register_json("SOLO", &instance("SOLO", "10.0.0.31", 7000)).await;
    let apps = node.get_json("/eureka/apps").await.json();
    assert!(apps["applications"]["application"].is_array());
    assert!(apps["applications"]["application"][0]["instance"].is_array());
    let empty = Node::start().await;
    let apps = empty.get_json("/eureka/apps").await.json();
    assert_eq!(apps["applications"]["application"], json!([]));
    assert_eq!(apps["applications"]["apps__hashcode"], "");
}

/// Netflix: `ResponseCacheImpl.getApplicationsForVip` builds `new Applications()`, whose
/// constructor sets `versionDelta` to -1, and never sets it: every VIP reply says `-1`.
#[tokio::test]
async fn vip_replies_say_versions_delta_minus_one() {
    let node = Node::start().await;
    three_instances(&node).await;
    for uri in ["/eureka/vips/orders", "/eureka/svips/orders", "/eureka/vips/none"] {
        let apps = node.get_json(uri).await.json();
        assert_eq!(apps["applications"]["versions__delta"], "-1", "{uri}");
    }
    assert_eq!(listed(&node.get_json("/eureka/vips/orders").await.json()).len(), 2);
}

/// Netflix: every resource of the Netflix server is mounted at `@Path("/{version}/…")` (for example
/// `ApplicationsResource`, `VIPResource`, `PeerReplicationResource`): `/eureka/v1/…` is served as
/// `/eureka/v2/…` is.
#[tokio::test]
async fn the_v1_prefix_is_served_like_v2() {
    let node = Node::start().await;
    let body = serde_json::to_vec(&json!({ "instance": instance("ORDERS", "10.0.0.11", 8080) })).unwrap();
    let reply = node
        .send(
            Method::POST,
            "/eureka/v1/apps/ORDERS",
            &[("content-type", "application/json")],
            body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        node.put("/eureka/v1/apps/ORDERS/10.0.0.11:orders:8080").await.status,
        StatusCode::OK
    );
    assert_eq!(listed(&node.get_json("/eureka/v1/apps/").await.json()).len(), 1);
    assert_eq!(listed(&node.get_json("/eureka/v1/vips/orders").await.json()).len(), 1);
    assert_eq!(node.get_json("/eureka/v1/status").await.status, StatusCode::OK);
    assert_eq!(
        node.delete("/eureka/v1/apps/ORDERS/10.0.0.11:orders:8080").await.status,
        StatusCode::OK
    );
}

/// Netflix: `ApplicationsResource.getContainers` / `getContainerDifferential` (and
/// `ApplicationResource.getApplication`, `AbstractVIPResource.getVipResponse`) key the cache by
/// `EurekaAccept.fromString(X-Eureka-Accept)`; `compact` picks `CodecWrappers.JacksonJsonMini` /
/// `JacksonXmlMini`, whose `MiniInstanceInfoMixIn` drops appGroupName, overriddenStatus, sid,
/// countryId, the URLs, isCoordinatingDiscoveryServer, lastDirtyTimestamp, leaseInfo and
/// metadata, and whose `AbstractEurekaJacksonCodec.addMiniConfig` keeps five AWS keys.
#[tokio::test]
async fn x_eureka_accept_compact_drops_the_mini_codecs_fields() {
    let node = Node::start().await;
    node.register_json("ORDERS", &instance("ORDERS", "10.0.0.11", 8080))
        .await;
    let mut aws = instance("BILLING", "10.0.0.21", 9090);
    aws["dataCenterInfo"] = json!({
        "@class": "com.netflix.appinfo.AmazonInfo", "name": "Amazon",
        "metadata": { "instance-id": "i-1", "availability-zone": "us-east-1a", "ami-id": "ami-1",
                      "local-ipv4": "10.0.0.21", "instance-type": "m5.large" }
    });
    aws["sid"] = json!("sid-1");
    aws["appGroupName"] = json!("GROUP");
    node.register_json("BILLING", &aws).await;
    let compact = ("x-eureka-accept", "compact");
    const JSON: (&str, &str) = ("accept", "application/json");
    let kept = [
        "instanceId",
        "hostName",
        "app",
        "ipAddr",
        "status",
        "port",
        "securePort",
        "dataCenterInfo",
        "vipAddress",
        "secureVipAddress",
        "lastUpdatedTimestamp",
        "actionType",
    ];
    let check = |apps: &Value| {
        for app in apps["applications"]["application"].as_array().unwrap() {
            for i in app["instance"].as_array().unwrap() {
                let mut keys: Vec<&str> = i.as_object().unwrap().keys().map(String::as_str).collect();
                keys.sort();
                let mut want = kept.to_vec();
                want.sort();
                assert_eq!(keys, want, "{i}");
                if i["app"] == "BILLING" {
                    assert_eq!(
                        i["dataCenterInfo"]["metadata"],
                        json!({ "instance-id": "i-1", "availability-zone": "us-east-1a", "local-ipv4": "10.0.0.21" })
                    );
                }
            }
        }
    };
    for uri in ["/eureka/apps", "/eureka/v2/apps/", "/eureka/vips/orders"] {
        let reply = node.send(Method::GET, uri, &[JSON, compact], Body::empty()).await;
        assert_eq!(reply.status, StatusCode::OK);
        check(&reply.json());
    }
    let app = node
        .send(
            Method::GET,
            "/eureka/apps/BILLING",
            &[JSON, ("x-eureka-accept", "COMPACT")],
            Body::empty(),
        )
        .await
        .json();
    check(&json!({ "applications": { "application": [app["application"]] } }));
    // The delta window follows the change feed asynchronously: wait for both registrations.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let delta = node
            .send(Method::GET, "/eureka/apps/delta", &[JSON, compact], Body::empty())
            .await
            .json();
        if listed(&delta).len() == 2 {
            check(&delta);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{delta}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let xml = node
        .send(Method::GET, "/eureka/apps", &[compact], Body::empty())
        .await
        .text();
    assert!(xml.contains("<port enabled=\"true\">8080</port>"), "{xml}");
    for gone in [
        "<leaseInfo>",
        "<zone>",
        "<overriddenstatus>",
        "<countryId>",
        "<lastDirtyTimestamp>",
        "<ami-id>",
    ] {
        assert!(!xml.contains(gone), "{gone} in {xml}");
    }
    // Full (the default, and for an unknown value) still has everything, from its own cache slot.
    for accept in [("x-eureka-accept", "full"), ("x-eureka-accept", "tiny")] {
        let full = node
            .send(Method::GET, "/eureka/apps", &[JSON, accept], Body::empty())
            .await
            .json();
        let first = &full["applications"]["application"][0]["instance"][0];
        assert!(
            first["leaseInfo"].is_object() && first["metadata"].is_object(),
            "{first}"
        );
    }
}
