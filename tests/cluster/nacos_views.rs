//! What the Nacos client tests check the other protocols with: an instance registered through
//! a Nacos client as Eureka's and ServiceCenter's APIs show it, and a Eureka registration for the
//! Nacos client to find.

use std::time::Duration;
use std::time::Instant;

use serde_json::json;
use serde_json::Value;

use crate::support::Cluster;

/// `path` on node `i` as JSON once `done` holds for it (bounded).
pub async fn get_until(cluster: &Cluster, i: usize, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = cluster.get_json(i, path).await {
            if done(&v) {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "node {} never showed {path} as wanted",
            i + 1
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asserts that the Nacos service `orders` (group `DEFAULT_GROUP`, so Eureka's app `ORDERS` and
/// ServiceCenter's `eureka/orders`) holds `ip:8080` in zone `zone-a` with metadata `team=core`,
/// UP, as Eureka shows it on node `eureka_at` and ServiceCenter on node `sc_at`.
pub async fn assert_orders_seen_by_eureka_and_servicecenter(
    cluster: &Cluster,
    eureka_at: usize,
    sc_at: usize,
    ip: &str,
) {
    let has_ip = |v: &Value| {
        v["application"]["instance"]
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i["ipAddr"] == ip))
    };
    let app = get_until(cluster, eureka_at, "/eureka/apps/ORDERS", has_ip).await;
    let instances = app["application"]["instance"].as_array().unwrap();
    let instance = instances.iter().find(|i| i["ipAddr"] == ip).unwrap();
    assert_eq!(instance["port"]["$"], 8080, "{app}");
    assert_eq!(instance["status"], "UP", "{app}");
    assert_eq!(instance["metadata"]["zone"], "zone-a", "{app}");
    assert_eq!(instance["metadata"]["team"], "core", "{app}");

    let endpoint = json!([format!("rest://{ip}:8080")]);
    let find = "/v4/default/registry/instances?appId=eureka&serviceName=orders&version=0%2B";
    let found = get_until(cluster, sc_at, find, |v| {
        v["instances"]
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i["endpoints"] == endpoint))
    })
    .await;
    let instances = found["instances"].as_array().unwrap();
    let instance = instances.iter().find(|i| i["endpoints"] == endpoint).unwrap();
    assert_eq!(instance["dataCenterInfo"]["availableZone"], "zone-a", "{found}");
    assert_eq!(instance["properties"]["team"], "core", "{found}");
    assert_eq!(instance["status"], "UP", "{found}");
}

/// Registers Eureka app `BILLING`'s instance `ip:9090` (zone `zone-b`, metadata `owner=eureka`)
/// through node `i`, as Eureka's Java client sends it.
pub async fn register_eureka_billing(cluster: &Cluster, i: usize, ip: &str) {
    let billing = json!({ "instance": {
        "instanceId": format!("{ip}:billing:9090"),
        "hostName": ip,
        "app": "BILLING",
        "ipAddr": ip,
        "status": "UP",
        "port": { "$": 9090, "@enabled": "true" },
        "securePort": { "$": 443, "@enabled": "false" },
        "dataCenterInfo": { "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn" },
        "leaseInfo": { "renewalIntervalInSecs": 30, "durationInSecs": 900 },
        "metadata": { "zone": "zone-b", "owner": "eureka" }
    }});
    let status = cluster
        .client
        .post(cluster.nodes[i].url("/eureka/apps/BILLING"))
        .json(&billing)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
}

/// The hosts of a Nacos client script's `list` answer.
pub fn hosts(answer: &Value) -> Vec<Value> {
    answer["result"]["hosts"].as_array().cloned().unwrap_or_default()
}
