//! The go-chassis / java-chassis flow of `../shared/specs/servicecenter.md` §4 against a
//! three-node cluster, each step on a different node: existence → create (twice: same id) →
//! schema → register → heartbeats → find (`rev`, then 304) → a watcher on a third node receives
//! CREATE, UPDATE (status), DELETE (unregister) and DELETE (lease expiry).

use std::time::Duration;

use serde_json::json;
use serde_json::Value;

use crate::support::Cluster;
use crate::ws_events::next_event;

const BASE: &str = "/v4/default/registry";

struct Sc<'a> {
    cluster: &'a Cluster,
}

impl Sc<'_> {
    async fn call(
        &self,
        node: usize,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        consumer: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self
            .cluster
            .client
            .request(method, self.cluster.nodes[node].url(&format!("{BASE}{path}")));
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(c) = consumer {
            request = request.header("x-consumerid", c);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json, headers)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_flow_across_three_nodes_with_a_watcher() {
    let extra = [
        "--servicecenter-min-interval",
        "1",
        "--self-preservation",
        "false",
        "--lease-tick-ms",
        "100",
    ];
    let cluster = Cluster::start(3, &extra);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let sc = Sc { cluster: &cluster };
    use reqwest::Method;

    let existence = "/existence?type=microservice&appId=default&serviceName=hello-server&version=1.0.0&env=";
    let (status, body, _) = sc.call(0, Method::GET, existence, None, None).await;
    assert_eq!((status, body["errorCode"].as_str()), (400, Some("400012")));
    let service = json!({ "service": { "appId": "default", "serviceName": "hello-server", "version": "1.0.0" } });
    let (status, created, _) = sc
        .call(1, Method::POST, "/microservices", Some(service.clone()), None)
        .await;
    assert_eq!(status, 200, "{created}");
    let provider = created["serviceId"].as_str().unwrap().to_string();
    cluster.wait_converged(Duration::from_secs(10)).await;
    assert_eq!(
        sc.call(2, Method::POST, "/microservices", Some(service), None).await.1["serviceId"],
        provider.as_str()
    );
    let schema = json!({ "schema": "openapi: 3.0.0", "summary": "s1" });
    assert_eq!(
        sc.call(
            0,
            Method::PUT,
            &format!("/microservices/{provider}/schemas/hello"),
            Some(schema),
            None
        )
        .await
        .0,
        200
    );
    let instance = |id: &str, interval: u32| {
        json!({ "instance": { "instanceId": id, "hostName": "hello-host", "endpoints": ["rest://10.2.0.1:8080"],
            "healthCheck": { "mode": "push", "interval": interval, "times": 0 } } })
    };
    let (status, reg, _) = sc
        .call(
            1,
            Method::POST,
            &format!("/microservices/{provider}/instances"),
            Some(instance("inst-1", 1)),
            None,
        )
        .await;
    assert_eq!((status, reg["instanceId"].as_str()), (200, Some("inst-1")));
    cluster.wait_converged(Duration::from_secs(10)).await;
    let hb = json!({ "instances": [{ "serviceId": provider, "instanceId": "inst-1" }] });
    let (status, beats, _) = sc.call(2, Method::PUT, "/heartbeats", Some(hb), None).await;
    assert_eq!(status, 200);
    assert!(beats["instances"][0].get("errMessage").is_none(), "{beats}");

    let consumer_body = json!({ "service": { "serviceName": "web-ui", "version": "1.0.0" } });
    let consumer = sc
        .call(1, Method::POST, "/microservices", Some(consumer_body), None)
        .await
        .1["serviceId"]
        .as_str()
        .unwrap()
        .to_string();
    cluster.wait_converged(Duration::from_secs(10)).await;
    let find = "/instances?appId=default&serviceName=hello-server&version=0%2B";
    let (status, found, headers) = sc.call(0, Method::GET, find, None, Some(&consumer)).await;
    assert_eq!(status, 200);
    assert_eq!(found["instances"][0]["instanceId"], "inst-1");
    let rev = headers["x-resource-revision"].to_str().unwrap().to_string();
    cluster.wait_converged(Duration::from_secs(10)).await;
    let (status, _, headers) = sc
        .call(1, Method::GET, &format!("{find}&rev={rev}"), None, Some(&consumer))
        .await;
    assert_eq!(status, 304, "the same revision on another node");
    assert_eq!(headers["x-resource-revision"], rev.as_str());

    // The find's dependency record, written off its path, routes the provider's events.
    cluster
        .wait_depends(2, &consumer, &provider, Duration::from_secs(10))
        .await;
    let url = format!("ws://{}{BASE}/microservices/{consumer}/watcher", cluster.nodes[2].http);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    sc.call(
        0,
        Method::POST,
        &format!("/microservices/{provider}/instances"),
        Some(instance("inst-2", 30)),
        None,
    )
    .await;
    let created = next_event(&mut ws).await;
    assert_eq!(
        (created["action"].as_str(), created["instance"]["instanceId"].as_str()),
        (Some("CREATE"), Some("inst-2")),
        "{created}"
    );
    sc.call(
        1,
        Method::PUT,
        &format!("/microservices/{provider}/instances/inst-2/status?value=DOWN"),
        None,
        None,
    )
    .await;
    let updated = next_event(&mut ws).await;
    assert_eq!(
        (updated["action"].as_str(), updated["instance"]["status"].as_str()),
        (Some("UPDATE"), Some("DOWN")),
        "{updated}"
    );
    sc.call(
        0,
        Method::DELETE,
        &format!("/microservices/{provider}/instances/inst-2"),
        None,
        None,
    )
    .await;
    let deleted = next_event(&mut ws).await;
    assert_eq!(
        (deleted["action"].as_str(), deleted["instance"]["instanceId"].as_str()),
        (Some("DELETE"), Some("inst-2")),
        "{deleted}"
    );
    // inst-1 stops heartbeating: the leader evicts it through the log; the watcher sees DELETE.
    let expired = next_event(&mut ws).await;
    assert_eq!(
        (expired["action"].as_str(), expired["instance"]["instanceId"].as_str()),
        (Some("DELETE"), Some("inst-1")),
        "{expired}"
    );
    let (status, body, _) = sc
        .call(
            1,
            Method::GET,
            &format!("/microservices/{provider}/instances/inst-1/heartbeat"),
            None,
            None,
        )
        .await;
    assert!(status == 400 || status == 405, "{status} {body}");
    let (_, body, _) = sc
        .call(
            1,
            Method::PUT,
            &format!("/microservices/{provider}/instances/inst-1/heartbeat"),
            None,
            None,
        )
        .await;
    assert_eq!(
        body["errorCode"], "400017",
        "an expired instance's heartbeat asks for registration"
    );
}
