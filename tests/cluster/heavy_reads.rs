//! Heavy reads do not starve Raft (issue 19, attacks 2 and 5): 16 clients fetching the full
//! registry gzip'd at once, again and again, at 50,000 instances, while two others post the XML
//! attribute bomb (one `<instance>` with 100,000 attributes) as registrations, cost the cluster
//! no election, the bombs are refused with 400, and `/health` keeps answering. (How fast
//! `/health` answers meanwhile is the quick suite's `heavy_reads` stage to measure, not a
//! test's.)

use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use registry_store::backup::Backup;
use registry_store::model::Instance;
use registry_store::model::Service;
use registry_store::model::Tenant;
use registry_store::record::Entity;

use crate::support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_full_gzip_fetchers_and_two_attribute_bombers_cost_no_election() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    // 50,000 instances by restore (the quickest way to a big registry).
    let tenant = Tenant::default();
    let mut records = vec![Entity::Service(Arc::new(Service::new(
        tenant.clone(),
        "bulk",
        "bulk",
        "bulk",
    )))];
    records.extend((0..50_000).map(|n| {
        let mut i = Instance::new(
            tenant.clone(),
            "bulk",
            format!("bulk-{n}"),
            format!("10.1.{}.{}", n / 250, n % 250),
        );
        i.endpoints = vec![format!("rest://10.1.{}.{}:8080", n / 250, n % 250).into()];
        Entity::Instance(Arc::new(i))
    }));
    let backup = Backup {
        revision: 1,
        taken_at_ms: 1,
        records,
    };
    let restored = cluster
        .client
        .post(cluster.nodes[leader].url("/admin/restore"))
        .body(backup.encode().unwrap())
        .send()
        .await
        .unwrap();
    let status = restored.status();
    assert_eq!(status, 200, "{}", restored.text().await.unwrap());
    cluster.wait_converged(Duration::from_secs(60)).await;
    let term = cluster.status(leader).await["term"].as_u64().unwrap();

    let until = Instant::now() + Duration::from_secs(15);
    let url = cluster.nodes[leader].url("/eureka/apps");
    let fetchers: Vec<_> = (0..16)
        .map(|_| {
            let (client, url) = (cluster.client.clone(), url.clone());
            tokio::spawn(async move {
                let mut fetched = 0u32;
                while Instant::now() < until {
                    let response = client
                        .get(&url)
                        .header("accept", "application/json")
                        .header("accept-encoding", "gzip")
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                    assert_eq!(response.headers()["content-encoding"], "gzip");
                    let body = response.bytes().await.unwrap();
                    assert!(body.len() > 1_000);
                    fetched += 1;
                }
                fetched
            })
        })
        .collect();
    // Two bombers: one at the leader, one at a follower.
    let attributes: String = (0..100_000).map(|i| format!(" a{i}=\"x\"")).collect();
    let bomb = format!("<instance{attributes}><hostName>h</hostName></instance>");
    let bombers: Vec<_> = [leader, (leader + 1) % 3]
        .into_iter()
        .map(|node| {
            let (client, url, bomb) = (
                cluster.client.clone(),
                cluster.nodes[node].url("/eureka/apps/EVIL"),
                bomb.clone(),
            );
            tokio::spawn(async move {
                let mut refused = 0u32;
                while Instant::now() < until {
                    let response = client
                        .post(&url)
                        .header("content-type", "application/xml")
                        .body(bomb.clone())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 400, "{}", response.text().await.unwrap());
                    refused += 1;
                }
                refused
            })
        })
        .collect();
    let mut health_answers = 0;
    while Instant::now() < until {
        for node in 0..3 {
            let health = cluster
                .client
                .get(cluster.nodes[node].url("/health"))
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            assert!(health.is_ok_and(|h| h.status() == 200), "node {node} health");
            health_answers += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut fetched = 0;
    for f in fetchers {
        fetched += f.await.unwrap();
    }
    assert!(fetched >= 16, "{fetched} fetches");
    let mut refused = 0;
    for b in bombers {
        refused += b.await.unwrap();
    }
    assert!(refused >= 2, "{refused} bombs refused");
    assert!(health_answers > 0);
    for node in 0..3 {
        let status = cluster.status(node).await;
        assert_eq!(status["term"].as_u64(), Some(term), "an election happened: {status}");
    }
    eprintln!(
        "{fetched} full gzip fetches of 50,000 instances and {refused} attribute bombs refused in 15 s; \
         {health_answers} health answers"
    );
}
