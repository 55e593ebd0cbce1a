//! Three nodes started with the same peer list form one cluster; a write through any node is
//! applied on all three at the same revision.

use std::time::Duration;

use crate::support::send_json;
use crate::support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_form_a_cluster_and_apply_writes_at_the_same_revision() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let status = cluster.status(leader).await;
    assert_eq!(status["members"].as_array().unwrap().len(), 3, "{status}");
    assert_eq!(status["role"], "leader");

    for (n, node) in (0..3).enumerate() {
        let revision = cluster
            .register(node, "orders", &format!("via-node-{n}"), None)
            .await
            .unwrap();
        for other in 0..3 {
            // Every node reaches that revision and then holds the instance.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let d = cluster.digest(other).await.unwrap();
                if d["revision"].as_u64().unwrap() >= revision {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "node {other} stuck below {revision}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(cluster
                .instance_ids(other, "orders")
                .await
                .contains(&format!("via-node-{n}")));
        }
    }
    let digest = cluster.wait_converged(Duration::from_secs(10)).await;
    assert_eq!(digest["instances"], 3);

    // A linearizable read on a follower sees a write acknowledged by another node just before.
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for n in 0..20 {
        let id = format!("lin-{n}");
        cluster.register(followers[n % 2], "orders", &id, None).await.unwrap();
        let reader = followers[(n + 1) % 2];
        let url = cluster.nodes[reader].url("/admin/registry/instances?consistent=true");
        let list: serde_json::Value = cluster.client.get(url).send().await.unwrap().json().await.unwrap();
        let seen = list["instances"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == id.as_str());
        assert!(seen, "consistent read on node {} missed {id}", reader + 1);
    }

    // Every node shows every member with its HTTP address once announced.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = cluster.status(2).await;
        let addrs: Vec<_> = s["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["http_addr"].clone())
            .collect();
        if addrs.iter().all(|a| a.is_string()) {
            let mut want: Vec<String> = cluster.nodes.iter().map(|n| n.http.clone()).collect();
            let mut got: Vec<String> = addrs.iter().map(|a| a.as_str().unwrap().to_string()).collect();
            want.sort();
            got.sort();
            assert_eq!(got, want);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "members never announced: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_rejected_with_a_clear_error_and_changes_nothing() {
    let cluster = Cluster::start(1, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    cluster.register(0, "orders", "keep-me", None).await.unwrap();
    let before = cluster.digest(0).await.unwrap();
    let url = cluster.nodes[0].url("/admin/registry/instances");
    let cases = [
        (
            serde_json::json!({"service": "", "id": "x", "host": "h"}),
            "service id must not be empty",
        ),
        (
            serde_json::json!({"service": "s", "id": "x".repeat(300), "host": "h"}),
            "instance id is 300 bytes long",
        ),
        (
            serde_json::json!({"service": "s", "id": "x", "host": " "}),
            "host name must not be empty",
        ),
        (
            serde_json::json!({"tenant": "acme/shop", "service": "s", "id": "x", "host": "h"}),
            "unknown tenant acme/shop",
        ),
        (
            serde_json::json!({"tenant": "nodelimiter", "service": "s", "id": "x", "host": "h"}),
            "not domain/project",
        ),
    ];
    for (body, message) in cases {
        let resp = cluster.client.post(&url).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let err: serde_json::Value = resp.json().await.unwrap();
        assert!(
            err["error"].as_str().unwrap().contains(message),
            "{err} should say {message:?}"
        );
    }
    let resp = cluster
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = cluster
        .client
        .delete(cluster.nodes[0].url("/admin/registry/instances/orders/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        cluster.digest(0).await.unwrap()["digest"],
        before["digest"],
        "refused input changed nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_a_follower_is_visible_there_at_once() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;
    // An SDK creates its service through a follower and uses it right away on the same node.
    for n in 0..30 {
        let sc = |path: &str| cluster.nodes[follower].url(&format!("/v4/default/registry{path}"));
        let service = serde_json::json!({ "service": { "serviceName": format!("ryw-{n}"), "version": "1.0.0" } });
        let created: serde_json::Value = send_json(cluster.client.post(sc("/microservices")).json(&service)).await;
        let id = created["serviceId"].as_str().unwrap();
        let instance = serde_json::json!({ "instance": { "hostName": "h", "endpoints": ["rest://10.0.0.1:80"] } });
        let registered = cluster
            .client
            .post(sc(&format!("/microservices/{id}/instances")))
            .json(&instance)
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), 200, "round {n}: {:?}", registered.text().await);
        let found = cluster
            .client
            .get(sc(&format!("/instances?serviceName=ryw-{n}")))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = found.json().await.unwrap();
        assert_eq!(body["instances"].as_array().map(Vec::len), Some(1), "round {n}: {body}");
    }
}
