//! Issue 19, attack 2 ("Quadratic XML"): a registration built to make the decoder work hard (an
//! `<instance>` with 100,000 attributes took 10 s on the threads that drive Raft) is refused at
//! one of the decoders' caps with 400 and the reason as plain text, as Eureka's other
//! bad-request answers are; real clients' bodies and a Netflix peer's 1,000-instance batch pass.
//! Only statuses and messages are asserted; the decoders' unit tests count their work.

use axum::http::Method;
use axum::http::StatusCode;
use serde_json::json;

use crate::support::instance;
use crate::support::listed;
use crate::support::Node;

const N: usize = 100_000;

/// What a Java client configured for XML sends (XStream, as `InstanceInfo` is written): AWS
/// data-center metadata, a lease, a dozen metadata entries, URLs.
const SPRING_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<instance>
  <instanceId>10.0.0.21:billing:8080</instanceId>
  <hostName>ip-10-0-0-21.ec2.internal</hostName>
  <app>BILLING</app>
  <ipAddr>10.0.0.21</ipAddr>
  <status>UP</status>
  <overriddenstatus>UNKNOWN</overriddenstatus>
  <port enabled="true">8080</port>
  <securePort enabled="false">443</securePort>
  <countryId>1</countryId>
  <dataCenterInfo class="com.netflix.appinfo.AmazonInfo">
    <name>Amazon</name>
    <metadata>
      <ami-id>ami-0abc</ami-id><instance-id>i-0abc</instance-id><instance-type>m5.large</instance-type>
      <local-ipv4>10.0.0.21</local-ipv4><local-hostname>ip-10-0-0-21.ec2.internal</local-hostname>
      <availability-zone>eu-west-1a</availability-zone><public-hostname>ec2-1.compute.amazonaws.com</public-hostname>
      <public-ipv4>54.0.0.21</public-ipv4><mac>0a:1b:2c:3d:4e:5f</mac><vpc-id>vpc-1</vpc-id>
      <accountId>123456789012</accountId>
    </metadata>
  </dataCenterInfo>
  <leaseInfo>
    <renewalIntervalInSecs>30</renewalIntervalInSecs><durationInSecs>90</durationInSecs>
    <registrationTimestamp>0</registrationTimestamp><lastRenewalTimestamp>0</lastRenewalTimestamp>
    <evictionTimestamp>0</evictionTimestamp><serviceUpTimestamp>0</serviceUpTimestamp>
  </leaseInfo>
  <metadata class="java.util.HashMap">
    <management.port>8081</management.port><zone>zone-a</zone><version>1.4.2</version>
    <git.commit>9f1c2e</git.commit><profile>prod</profile><startup>2024-01-01T00:00:00Z</startup>
    <weight>100</weight><region>eu-west-1</region><team>payments</team><tier>backend</tier>
    <protocol>http</protocol><context-path>/billing</context-path>
  </metadata>
  <appGroupName>PAYMENTS</appGroupName>
  <homePageUrl>http://ip-10-0-0-21.ec2.internal:8080/</homePageUrl>
  <statusPageUrl>http://ip-10-0-0-21.ec2.internal:8081/actuator/info</statusPageUrl>
  <healthCheckUrl>http://ip-10-0-0-21.ec2.internal:8081/actuator/health</healthCheckUrl>
  <vipAddress>billing</vipAddress>
  <secureVipAddress>billing</secureVipAddress>
  <isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>
  <lastUpdatedTimestamp>1700000000000</lastUpdatedTimestamp>
  <lastDirtyTimestamp>1700000000000</lastDirtyTimestamp>
</instance>"#;

/// An `<instance>` with a valid registration's elements and `extra` after them.
fn xml_with(extra: &str) -> String {
    format!(
        "<instance><hostName>h</hostName><app>EVIL</app><ipAddr>10.0.0.66</ipAddr>\
         <dataCenterInfo><name>MyOwn</name></dataCenterInfo>{extra}</instance>"
    )
}

async fn refused(node: &Node, content_type: &str, body: String, reason: &str) {
    let reply = node
        .send(
            Method::POST,
            "/eureka/apps/EVIL",
            &[("content-type", content_type)],
            body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reason}: {}", reply.text());
    assert_eq!(reply.headers["content-type"], "text/plain; charset=utf-8", "{reason}");
    assert_eq!(reply.text(), reason);
}

#[tokio::test]
async fn attack_bodies_are_400_with_the_reason_in_plain_text() {
    let node = Node::start().await;
    let attributes: String = (0..N).map(|i| format!(" a{i}=\"x\"")).collect();
    let entries: String = (0..N).map(|i| format!("<k{i}>v</k{i}>")).collect();
    let xml = [
        (
            format!("<instance{attributes}><hostName>h</hostName></instance>"),
            "XML body refused: element <instance> has more than 64 attributes",
        ),
        (
            xml_with(&format!("<port{attributes}>80</port>")),
            "XML body refused: element <port> has more than 64 attributes",
        ),
        (
            xml_with(&format!("{}{}", "<a>".repeat(N), "</a>".repeat(N))),
            "XML body refused: elements nested deeper than 32",
        ),
        (
            xml_with(&format!("<metadata>{entries}</metadata>")),
            "XML body refused: more than 1000 metadata entries",
        ),
        (
            xml_with(&"<metadata/>".repeat(N)),
            "XML body refused: more than 10000 elements",
        ),
        (
            xml_with(&"<x>1</x>".repeat(N)),
            "XML body refused: more than 10000 elements",
        ),
    ];
    for (body, reason) in xml {
        refused(&node, "application/xml", body, reason).await;
    }

    let mut deep = instance("EVIL", "10.0.0.66", 8080);
    deep["x"] = serde_json::from_str(&format!("{}{}", "[".repeat(64), "]".repeat(64))).unwrap();
    let mut wide = instance("EVIL", "10.0.0.66", 8080);
    wide["metadata"] = (0..1_001).map(|i| (format!("k{i}"), json!("v"))).collect();
    let mut many = instance("EVIL", "10.0.0.66", 8080);
    many["x"] = json!(vec![0; N]);
    let body = |value: &serde_json::Value| json!({ "instance": value }).to_string();
    let json_bodies = [
        (body(&wide), "JSON body refused: more than 1000 metadata entries"),
        (body(&many), "JSON body refused: more than 10000 values"),
    ];
    for (body, reason) in json_bodies {
        refused(&node, "application/json", body, reason).await;
    }
    // Deeper than serde_json's own limit (128) too: our cap answers first.
    let too_deep = format!(
        r#"{{"instance":{{"hostName":"h","x":{}{}}}}}"#,
        "[".repeat(N),
        "]".repeat(N)
    );
    refused(
        &node,
        "application/json",
        too_deep,
        "JSON body refused: nested deeper than 32",
    )
    .await;
    refused(
        &node,
        "application/json",
        body(&deep),
        "JSON body refused: nested deeper than 32",
    )
    .await;

    // Nothing was registered, and the node goes on taking ordinary registrations.
    assert!(listed(&node.get_json("/eureka/apps").await.json()).is_empty());
    let reply = node.register_xml("BILLING", SPRING_XML).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
}

#[tokio::test]
async fn broken_bodies_keep_their_answer_in_the_clients_format() {
    let node = Node::start().await;
    let reply = node
        .register_xml("EVIL", "<instance><hostName>h</app></instance>")
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.headers["content-type"], "application/xml");
    assert_eq!(
        reply.text(),
        "<error><message>cannot parse request body</message></error>"
    );
}

#[tokio::test]
async fn a_spring_style_xml_registration_still_registers() {
    let node = Node::start().await;
    let reply = node.register_xml("BILLING", SPRING_XML).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    let got = node
        .get_json("/eureka/apps/BILLING/10.0.0.21:billing:8080")
        .await
        .json();
    assert_eq!(got["instance"]["metadata"]["management.port"], "8081");
    assert_eq!(got["instance"]["metadata"].as_object().unwrap().len(), 12);
    assert_eq!(
        got["instance"]["dataCenterInfo"]["metadata"]["availability-zone"],
        "eu-west-1a"
    );
}

/// Netflix's `PeerEurekaNode` batches up to 250 tasks per `/peerreplication/batch` by default
/// (`batchSize`); four times that, each with a full instance, is read and applied.
#[tokio::test]
async fn a_thousand_instance_peer_batch_is_applied() {
    let node = Node::start().await;
    let items: Vec<_> = (0..1_000)
        .map(|i| {
            let ip = format!("10.1.{}.{}", i / 250, i % 250);
            let mut info = instance("ORDERS", &ip, 8080);
            info["metadata"] = (0..20).map(|k| (format!("k{k}"), json!("v"))).collect();
            json!({
                "appName": "ORDERS",
                "id": info["instanceId"],
                "lastDirtyTimestamp": 1700000000000u64,
                "status": "UP",
                "action": "Register",
                "instanceInfo": info,
            })
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "replicationList": items })).unwrap();
    let reply = node
        .send(
            Method::POST,
            "/eureka/peerreplication/batch",
            &[("content-type", "application/json")],
            body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let codes = reply.json()["responseList"].as_array().unwrap().clone();
    assert_eq!(codes.len(), 1_000);
    assert!(codes.iter().all(|c| c["statusCode"] == 200), "{codes:?}");
    assert_eq!(listed(&node.get_json("/eureka/apps").await.json()).len(), 1_000);
}
