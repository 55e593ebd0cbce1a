//! Federation between registries, all real `registryd` processes on loopback:
//! - two clusters of ours (three nodes and one) following each other's change feeds
//!   (`kind = "cluster"`): propagation of registrations and deletions, 1,000 instances each way,
//!   then 30 s with no duplicate and no loop;
//! - a hub importing from a `registryd` used only as a plain Eureka server and exporting to one
//!   used only as a plain ServiceCenter, with py-eureka-client as account-server and a
//!   ServiceCenter client as hello-server;
//! - the hub's leader killed with -9 during a sync: the mirror ends equal to the source;
//! - a peer that goes dark: its instances stay through the grace period, then go, and
//!   `/admin/sync` says why;
//! - a hub that follows a cluster directly and through another cluster: each record mirrored
//!   once, nothing written again round after round, deletions not undone, and the second path
//!   taking over when the first goes dark.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::time::Duration;
use std::time::Instant;

use futures::StreamExt;
use serde_json::json;
use serde_json::Value;

use crate::client_driver::clients_dir;
use crate::client_driver::python;
use crate::client_driver::Client;
use crate::support::eureka_register;
use crate::support::send_json;
use crate::support::Cluster;

/// A `[[sync]]` table.
fn peer(name: &str, kind: &str, url: &str, direction: &str, extra: &str) -> String {
    format!(
        "[[sync]]\nname = \"{name}\"\nkind = \"{kind}\"\nurl = \"{url}\"\ndirection = \"{direction}\"\ninterval_ms = 200\n{extra}\n"
    )
}

async fn eureka_cancel(client: &reqwest::Client, base: &str, app: &str, id: &str) -> Result<(), String> {
    let resp = client
        .delete(format!("{base}/eureka/apps/{app}/{id}"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match resp.status().as_u16() {
        200 => Ok(()),
        s => Err(format!("cancel {app}/{id}: {s}")),
    }
}

/// Every `(APP, instanceId)` a node lists in `/eureka/apps`, counted (a duplicate counts 2).
async fn eureka_listing(client: &reqwest::Client, base: &str) -> BTreeMap<(String, String), usize> {
    let apps: Value = client
        .get(format!("{base}/eureka/apps"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("GET /eureka/apps")
        .json()
        .await
        .expect("apps JSON");
    let mut out = BTreeMap::new();
    for app in apps["applications"]["application"].as_array().into_iter().flatten() {
        for i in app["instance"].as_array().into_iter().flatten() {
            let key = (
                app["name"].as_str().unwrap().to_string(),
                i["instanceId"].as_str().unwrap().to_string(),
            );
            *out.entry(key).or_default() += 1;
        }
    }
    out
}

/// The ids of `app`'s instances in a listing.
fn ids_of(listing: &BTreeMap<(String, String), usize>, app: &str) -> BTreeSet<String> {
    listing
        .keys()
        .filter(|(a, _)| a == app)
        .map(|(_, id)| id.clone())
        .collect()
}

async fn has_instance(client: &reqwest::Client, base: &str, app: &str, id: &str) -> bool {
    client
        .get(format!("{base}/eureka/apps/{app}/{id}"))
        .header("accept", "application/json")
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

async fn revision(client: &reqwest::Client, base: &str) -> u64 {
    let status: Value = send_json(client.get(format!("{base}/admin/cluster"))).await;
    status["last_log_index"].as_u64().expect("last_log_index")
}

async fn sync_report(client: &reqwest::Client, base: &str) -> Value {
    client
        .get(format!("{base}/admin/sync"))
        .send()
        .await
        .expect("GET /admin/sync")
        .json()
        .await
        .expect("sync report JSON")
}

/// Polls `check` every 5 ms until it holds; returns how long that took (bounded by `timeout`).
async fn time_until<F, Fut>(timeout: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report_latencies(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what}: n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
        samples.len(),
        percentile(&samples, 50.0).as_secs_f64() * 1e3,
        percentile(&samples, 99.0).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
    );
}

/// Registers `count` instances of `app` through the nodes at `bases`, 32 at a time.
async fn register_many(client: &reqwest::Client, bases: &[String], app: &str, count: usize) {
    let results: Vec<Result<(), String>> = futures::stream::iter(0..count)
        .map(|n| {
            let base = bases[n % bases.len()].clone();
            async move {
                let id = format!("{}-{n}", app.to_ascii_lowercase());
                let mut last = Err(String::new());
                for _ in 0..20 {
                    last = eureka_register(client, &base, app, &id).await;
                    if last.is_ok() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                last
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failed.is_empty(), "registrations failed: {failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_clusters_follow_each_other_without_loops_or_duplicates() {
    let mut a = Cluster::new(3, &[]);
    let mut b = Cluster::new(1, &[]);
    let a_urls: Vec<String> = a.nodes.iter().map(|n| n.url("")).collect();
    let b_url = b.nodes[0].url("");
    a.use_config(&format!(
        "cluster_name = \"dc-a\"\n{}",
        peer("dc-b", "cluster", &b_url, "import", "full_sync_secs = 10")
    ));
    b.use_config(&format!(
        "cluster_name = \"dc-b\"\n{}",
        peer("dc-a", "cluster", &a_urls[0], "import", "full_sync_secs = 10")
    ));
    a.start_all();
    b.start_all();
    a.wait_healthy(Duration::from_secs(20)).await;
    b.wait_healthy(Duration::from_secs(20)).await;
    a.leader(Duration::from_secs(20)).await;
    let client = a.client.clone();

    // Propagation A → B of a registration through Eureka, and of its deletion.
    let mut registered = Vec::new();
    let mut deleted = Vec::new();
    for n in 0..100 {
        let id = format!("lat-{n}");
        let base = &a_urls[n % a_urls.len()];
        eureka_register(&client, base, "LATENCY", &id).await.unwrap();
        let start = Instant::now();
        time_until(Duration::from_secs(20), "registration reaches B", || {
            has_instance(&client, &b_url, "LATENCY", &id)
        })
        .await;
        registered.push(start.elapsed());
    }
    for n in 0..100 {
        let id = format!("lat-{n}");
        eureka_cancel(&client, &a_urls[n % a_urls.len()], "LATENCY", &id)
            .await
            .unwrap();
        let start = Instant::now();
        time_until(Duration::from_secs(20), "deletion reaches B", || async {
            !has_instance(&client, &b_url, "LATENCY", &id).await
        })
        .await;
        deleted.push(start.elapsed());
    }
    report_latencies("A→B registration (register acknowledged → visible on B)", registered);
    report_latencies("A→B deletion (cancel acknowledged → gone on B)", deleted);

    // 1,000 instances each way, at once.
    let b_urls = vec![b_url.clone()];
    tokio::join!(
        register_many(&client, &a_urls, "BULK-A", 1000),
        register_many(&client, &b_urls, "BULK-B", 1000),
    );
    let everything = |listing: &BTreeMap<(String, String), usize>| {
        ids_of(listing, "BULK-A").len() == 1000 && ids_of(listing, "BULK-B").len() == 1000
    };
    time_until(Duration::from_secs(90), "1,000 instances each way", || async {
        everything(&eureka_listing(&client, &a_urls[1]).await) && everything(&eureka_listing(&client, &b_url).await)
    })
    .await;

    // 30 s of stability: same records everywhere, each once, and no churn (a loop would write
    // without end). Only checkpoint records and periodic full comparisons may move revisions.
    let before = (revision(&client, &a_urls[0]).await, revision(&client, &b_url).await);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        for base in a_urls.iter().chain([&b_url]) {
            let listing = eureka_listing(&client, base).await;
            assert!(everything(&listing), "{base} lost instances");
            assert_eq!(
                listing.len(),
                2000,
                "{base} lists other instances: {:?}",
                listing.keys().take(5).collect::<Vec<_>>()
            );
            let dups: Vec<_> = listing.iter().filter(|(_, n)| **n > 1).collect();
            assert!(dups.is_empty(), "{base} lists duplicates: {dups:?}");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let after = (revision(&client, &a_urls[0]).await, revision(&client, &b_url).await);
    println!(
        "revisions during 30 s of stability: A {} → {}, B {} → {}",
        before.0, after.0, before.1, after.1
    );
    assert!(
        after.0 - before.0 <= 20 && after.1 - before.1 <= 20,
        "registries kept changing: {before:?} → {after:?}"
    );

    // Every node of A answers /admin/sync (followers with the leader's report).
    for base in &a_urls {
        let report = sync_report(&client, base).await;
        assert_eq!(report["cluster_name"], "dc-a");
        assert_eq!(report["leading"], true, "{base}: {report}");
        let p = &report["peers"][0];
        assert_eq!(p["state"], "syncing", "{report}");
        assert_eq!(p["imported"]["mirrored"], 1000, "{report}");
    }
    let report = sync_report(&client, &b_url).await;
    assert_eq!(report["peers"][0]["imported"]["mirrored"], 1000, "{report}");

    // The ServiceCenter API of B finds A's instances too: one registry, every protocol.
    let found: Value = send_json(client.get(format!(
        "{b_url}/v4/default/registry/instances?appId=eureka&serviceName=bulk-a&version=0%2B"
    )))
    .await;
    assert_eq!(found["instances"].as_array().map(Vec::len), Some(1000));
}

/// ServiceCenter calls as an SDK makes them.
async fn sc(client: &reqwest::Client, method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let mut request = client.request(method, url).header("X-Domain-Name", "default");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The endpoints a ServiceCenter `find` answers for `consumer`.
async fn found_endpoints(client: &reqwest::Client, find: &str, consumer: &str) -> Vec<Value> {
    let resp = client.get(find).header("X-ConsumerId", consumer).send().await.unwrap();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    body["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["endpoints"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hub_joins_a_eureka_data_center_and_a_servicecenter_data_center() {
    let python = python();
    // Data center A: a registryd used only as a Eureka server. B: one used only as ServiceCenter.
    let eureka = Cluster::start(1, &[]);
    let servicecenter = Cluster::start(1, &[]);
    let mut hub = Cluster::new(1, &[]);
    let eureka_url = eureka.nodes[0].url("");
    let sc_url = servicecenter.nodes[0].url("");
    hub.use_config(&format!(
        "cluster_name = \"hub\"\n{}{}",
        peer("dc-a", "eureka", &format!("{eureka_url}/eureka/"), "both", ""),
        peer("dc-b", "servicecenter", &sc_url, "both", ""),
    ));
    hub.start_all();
    for c in [&eureka, &servicecenter, &hub] {
        c.wait_healthy(Duration::from_secs(20)).await;
    }
    let client = hub.client.clone();

    // account-server: an unmodified py-eureka-client registered in data center A.
    let port = crate::support::free_port();
    let script = clients_dir().join("py_client.py").display().to_string();
    let mut account = Client::spawn(
        "py-eureka-client",
        python,
        &[
            script,
            format!("{eureka_url}/eureka/"),
            "account-server".into(),
            port.to_string(),
        ],
    );
    let started = account.next_event(Duration::from_secs(30));
    assert_eq!(started["event"], "started", "{started}");

    // hello-server: a ServiceCenter client in data center B, creating its service and instance.
    let v4 = format!("{sc_url}/v4/default/registry");
    let (status, created) = sc(
        &client,
        reqwest::Method::POST,
        format!("{v4}/microservices"),
        Some(json!({ "service": { "appId": "hello", "serviceName": "hello-server", "version": "1.0.0" } })),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let hello_id = created["serviceId"].as_str().unwrap().to_string();
    let (status, registered) = sc(
        &client,
        reqwest::Method::POST,
        format!("{v4}/microservices/{hello_id}/instances"),
        Some(json!({ "instance": {
            "hostName": "hello-host",
            "endpoints": ["rest://127.0.0.1:9090"],
            "status": "UP",
            "healthCheck": { "mode": "push", "interval": 30, "times": 3 }
        }})),
    )
    .await;
    assert_eq!(status, 200, "{registered}");
    let hello_instance = registered["instanceId"].as_str().unwrap().to_string();

    // hello-server finds account-server (appId `eureka`) in its own ServiceCenter.
    let find = format!("{v4}/instances?appId=eureka&serviceName=account-server&version=0%2B");
    time_until(Duration::from_secs(30), "hello-server finds account-server", || async {
        !found_endpoints(&client, &find, &hello_id).await.is_empty()
    })
    .await;
    assert_eq!(
        found_endpoints(&client, &find, &hello_id).await,
        vec![json!(format!("rest://127.0.0.1:{port}"))]
    );

    // Every registry lists every instance: hello-server reached the Eureka side too, and the
    // Eureka client itself sees it.
    time_until(Duration::from_secs(30), "hello-server reaches data center A", || {
        has_instance(&client, &eureka_url, "HELLO-SERVER", &hello_instance)
    })
    .await;
    account.discover_until("HELLO-SERVER", &["UP"], Duration::from_secs(30));

    // No loop and no duplicate: each side lists each instance exactly once, and the copies
    // carry their hop path.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let a_listing = eureka_listing(&client, &eureka_url).await;
    assert_eq!(a_listing.len(), 2, "{a_listing:?}");
    assert!(a_listing.values().all(|n| *n == 1), "{a_listing:?}");
    let copy: Value = send_json(
        client
            .get(format!("{eureka_url}/eureka/apps/HELLO-SERVER/{hello_instance}"))
            .header("accept", "application/json"),
    )
    .await;
    assert_eq!(copy["instance"]["metadata"]["sync.hops"], "hub", "{copy}");
    let (_, services) = sc(&client, reqwest::Method::GET, format!("{v4}/microservices"), None).await;
    let names: BTreeSet<&str> = services["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["serviceName"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["account-server", "hello-server"]));
    let report = sync_report(&client, &hub.nodes[0].url("")).await;
    for p in report["peers"].as_array().unwrap() {
        assert_eq!(p["state"], "syncing", "{report}");
        assert_eq!(p["imported"]["mirrored"], 1, "{report}");
        assert_eq!(p["exported"]["exported"], 1, "{report}");
    }
    let metrics = hub.metrics_text(0).await;
    for line in [
        r#"registry_sync_mirrored_instances{peer="dc-a",kind="eureka"} 1"#,
        r#"registry_sync_exported_instances{peer="dc-b",kind="servicecenter"} 1"#,
        r#"registry_sync_peer_up{peer="dc-a",kind="eureka"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "no {line:?} in\n{metrics}");
    }

    // account-server stops: its deletion reaches data center B.
    assert_eq!(account.ask("stop")["event"], "stopped");
    time_until(
        Duration::from_secs(30),
        "account-server's deletion reaches B",
        || async { found_endpoints(&client, &find, &hello_id).await.is_empty() },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_hubs_leader_during_sync_leaves_an_exact_mirror() {
    let source = Cluster::start(1, &[]);
    let mut hub = Cluster::new(3, &[]);
    let source_url = source.nodes[0].url("");
    hub.use_config(&format!(
        "cluster_name = \"hub\"\n{}",
        peer("dc-a", "eureka", &format!("{source_url}/eureka"), "import", "")
    ));
    hub.start_all();
    source.wait_healthy(Duration::from_secs(20)).await;
    hub.wait_healthy(Duration::from_secs(20)).await;
    let leader = hub.leader(Duration::from_secs(20)).await;
    let client = hub.client.clone();

    // Registrations and cancellations at the source while the hub's leader is killed.
    let churn = {
        let client = client.clone();
        let source_url = source_url.clone();
        tokio::spawn(async move {
            for n in 0..400 {
                let id = format!("chaos-{n}");
                eureka_register(&client, &source_url, "CHAOS", &id).await.unwrap();
                if n % 4 == 3 {
                    eureka_cancel(&client, &source_url, "CHAOS", &format!("chaos-{}", n - 2))
                        .await
                        .unwrap();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    time_until(Duration::from_secs(30), "the hub starts mirroring", || async {
        !ids_of(&eureka_listing(&client, &hub.nodes[leader].url("")).await, "CHAOS").is_empty()
    })
    .await;
    hub.nodes[leader].kill9();
    churn.await.unwrap();

    let want = ids_of(&eureka_listing(&client, &source_url).await, "CHAOS");
    assert_eq!(want.len(), 300);
    let survivor = hub.running()[0];
    let survivor_url = hub.nodes[survivor].url("");
    time_until(Duration::from_secs(60), "the mirror equals the source", || async {
        ids_of(&eureka_listing(&client, &survivor_url).await, "CHAOS") == want
    })
    .await;
    for i in hub.running() {
        let listing = eureka_listing(&client, &hub.nodes[i].url("")).await;
        assert!(listing.values().all(|n| *n == 1), "duplicates on node {}", i + 1);
    }
    let report = sync_report(&client, &survivor_url).await;
    assert_eq!(report["leading"], true, "{report}");
    assert_eq!(report["peers"][0]["imported"]["mirrored"], 300, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_peer_keeps_its_instances_through_the_grace_period_then_loses_them() {
    let mut source = Cluster::start(1, &[]);
    let mut hub = Cluster::new(1, &[]);
    let source_url = source.nodes[0].url("");
    hub.use_config(&format!(
        "cluster_name = \"hub\"\n{}",
        peer(
            "dc-a",
            "eureka",
            &format!("{source_url}/eureka"),
            "import",
            "grace_period_secs = 8"
        )
    ));
    hub.start_all();
    source.wait_healthy(Duration::from_secs(20)).await;
    hub.wait_healthy(Duration::from_secs(20)).await;
    let client = hub.client.clone();
    let hub_url = hub.nodes[0].url("");
    for n in 0..3 {
        eureka_register(&client, &source_url, "QUIET", &format!("quiet-{n}"))
            .await
            .unwrap();
    }
    time_until(Duration::from_secs(20), "mirrored", || async {
        ids_of(&eureka_listing(&client, &hub_url).await, "QUIET").len() == 3
    })
    .await;

    source.nodes[0].kill9();
    let dark = Instant::now();
    // Within the grace period: kept, and the report says the peer is failing and why.
    time_until(Duration::from_secs(10), "the report shows the failure", || async {
        sync_report(&client, &hub_url).await["peers"][0]["state"] == "failing"
    })
    .await;
    assert_eq!(ids_of(&eureka_listing(&client, &hub_url).await, "QUIET").len(), 3);
    let report = sync_report(&client, &hub_url).await;
    assert!(
        report["peers"][0]["last_error"].as_str().unwrap().contains("reach"),
        "{report}"
    );
    assert!(dark.elapsed() < Duration::from_secs(8));

    // After it: removed, counted, and explained.
    time_until(Duration::from_secs(30), "the silent peer's instances go", || async {
        ids_of(&eureka_listing(&client, &hub_url).await, "QUIET").is_empty()
    })
    .await;
    // The grace period counts from the last successful round, up to one interval before `dark`.
    assert!(
        dark.elapsed() >= Duration::from_secs(7),
        "removed before the grace period ended"
    );
    // The worker updates its report once the removal is applied, which the listing may see first.
    time_until(Duration::from_secs(10), "the report shows the expiry", || async {
        sync_report(&client, &hub_url).await["peers"][0]["state"] == "expired"
    })
    .await;
    let report = sync_report(&client, &hub_url).await;
    let p = &report["peers"][0];
    assert_eq!(p["imported"]["expired"], 3, "{report}");
    assert!(p["reason"].as_str().unwrap().contains("grace period"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ring_of_three_clusters_neither_loops_nor_duplicates() {
    // ring-1 follows ring-3, ring-2 follows ring-1, ring-3 follows ring-2.
    let mut ring: Vec<Cluster> = (0..3).map(|_| Cluster::new(1, &[])).collect();
    let urls: Vec<String> = ring.iter().map(|c| c.nodes[0].url("")).collect();
    for (n, cluster) in ring.iter_mut().enumerate() {
        let followed = (n + 2) % 3;
        cluster.use_config(&format!(
            "cluster_name = \"ring-{}\"\n{}",
            n + 1,
            peer(
                &format!("ring-{}", followed + 1),
                "cluster",
                &urls[followed],
                "import",
                ""
            )
        ));
        cluster.start_all();
    }
    for c in &ring {
        c.wait_healthy(Duration::from_secs(20)).await;
    }
    let client = ring[0].client.clone();
    for (n, url) in urls.iter().enumerate() {
        register_many(&client, std::slice::from_ref(url), &format!("RING-{}", n + 1), 50).await;
    }
    let complete = |listing: &BTreeMap<(String, String), usize>| {
        (1..=3).all(|n| ids_of(listing, &format!("RING-{n}")).len() == 50)
            && listing.len() == 150
            && listing.values().all(|c| *c == 1)
    };
    time_until(Duration::from_secs(30), "every instance around the ring", || async {
        let mut all = true;
        for url in &urls {
            all &= complete(&eureka_listing(&client, url).await);
        }
        all
    })
    .await;

    // Quiet: nothing circulates.
    let mut before = Vec::new();
    for url in &urls {
        before.push(revision(&client, url).await);
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    for (n, url) in urls.iter().enumerate() {
        let listing = eureka_listing(&client, url).await;
        assert!(complete(&listing), "ring-{}: {listing:?}", n + 1);
        let grew = revision(&client, url).await - before[n];
        assert!(grew <= 6, "ring-{} kept writing: {grew} entries in 8 s", n + 1);
    }

    // Deletions travel the whole ring.
    for k in 0..10 {
        eureka_cancel(&client, &urls[0], "RING-1", &format!("ring-1-{k}"))
            .await
            .unwrap();
    }
    time_until(Duration::from_secs(30), "deletions around the ring", || async {
        let mut all = true;
        for url in &urls {
            all &= ids_of(&eureka_listing(&client, url).await, "RING-1").len() == 40;
        }
        all
    })
    .await;
}

/// The hop path (`sync.hops`) of each instance of `app` a node lists, by instance id.
async fn hop_paths(client: &reqwest::Client, base: &str, app: &str) -> BTreeMap<String, String> {
    crate::support::eureka_app(client, base, app)
        .await
        .into_iter()
        .map(|(id, metadata)| (id, metadata["sync.hops"].as_str().unwrap_or_default().to_string()))
        .collect()
}

/// A hub's import counts for one peer: (upserted, deleted, shadowed).
async fn import_counts(client: &reqwest::Client, base: &str, peer: &str) -> (u64, u64, u64) {
    let report = sync_report(client, base).await;
    let p = report["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == peer)
        .cloned()
        .unwrap_or_default();
    let count = |field: &str| p["imported"][field].as_u64().unwrap_or_default();
    (count("upserted"), count("deleted"), count("shadowed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_reached_through_two_peers_is_mirrored_once_without_churn() {
    // The hub follows dc-a directly and through dc-b, which follows dc-a too. dc-b starts
    // after the hub, so the direct copy is written first and holds every key.
    let mut a = Cluster::new(1, &[]);
    let mut b = Cluster::new(1, &[]);
    let mut hub = Cluster::new(1, &[]);
    let (a_url, b_url, hub_url) = (a.nodes[0].url(""), b.nodes[0].url(""), hub.nodes[0].url(""));
    a.use_config("cluster_name = \"dc-a\"\n");
    b.use_config(&format!(
        "cluster_name = \"dc-b\"\n{}",
        peer("dc-a", "cluster", &a_url, "import", "")
    ));
    // Complete listings every second: each one would write the records again if they churned.
    hub.use_config(&format!(
        "cluster_name = \"hub\"\n{}{}",
        peer(
            "dc-a",
            "cluster",
            &a_url,
            "import",
            "full_sync_secs = 1\ngrace_period_secs = 3"
        ),
        peer("dc-b", "cluster", &b_url, "import", "full_sync_secs = 1")
    ));
    a.start_all();
    hub.start_all();
    a.wait_healthy(Duration::from_secs(20)).await;
    hub.wait_healthy(Duration::from_secs(20)).await;
    let client = hub.client.clone();
    const N: usize = 20;
    register_many(&client, std::slice::from_ref(&a_url), "TWICE", N).await;
    time_until(Duration::from_secs(20), "the hub mirrors dc-a", || async {
        hop_paths(&client, &hub_url, "TWICE").await.len() == N
    })
    .await;
    b.start_all();
    b.wait_healthy(Duration::from_secs(20)).await;
    time_until(Duration::from_secs(20), "dc-b mirrors dc-a", || async {
        hop_paths(&client, &b_url, "TWICE").await.len() == N
    })
    .await;
    time_until(Duration::from_secs(30), "the hub follows dc-b", || async {
        let report = sync_report(&client, &hub_url).await;
        let peers = report["peers"].as_array().cloned().unwrap_or_default();
        peers.iter().any(|p| p["name"] == "dc-b" && p["state"] == "syncing")
    })
    .await;
    // A complete listing from dc-b at least.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let paths = hop_paths(&client, &hub_url, "TWICE").await;
    assert_eq!(paths.len(), N);
    assert!(
        paths.values().all(|h| h == "dc-a,hub"),
        "the direct copies hold: {paths:?}"
    );

    // Converged: several complete listings from both peers write nothing.
    let before = (
        import_counts(&client, &hub_url, "dc-a").await,
        import_counts(&client, &hub_url, "dc-b").await,
        revision(&client, &hub_url).await,
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = (
        import_counts(&client, &hub_url, "dc-a").await,
        import_counts(&client, &hub_url, "dc-b").await,
        revision(&client, &hub_url).await,
    );
    println!("hub over 6 s of complete listings: {before:?} → {after:?}");
    assert_eq!(
        (before.0, before.1),
        (after.0, after.1),
        "an import wrote records again"
    );
    assert!(after.2 - before.2 <= 6, "the hub kept writing: {before:?} → {after:?}");
    assert_eq!(eureka_listing(&client, &hub_url).await.len(), N, "each record once");
    assert_eq!(after.1 .2, N as u64, "dc-b's copies wait in its shadow");

    // A deletion reaches the hub through both peers and is not brought back by the second.
    for n in 0..3 {
        eureka_cancel(&client, &a_url, "TWICE", &format!("twice-{n}"))
            .await
            .unwrap();
    }
    time_until(Duration::from_secs(20), "deletions reach the hub and dc-b", || async {
        hop_paths(&client, &hub_url, "TWICE").await.len() == N - 3
            && hop_paths(&client, &b_url, "TWICE").await.len() == N - 3
    })
    .await;
    time_until(Duration::from_secs(20), "dc-b's shadow follows", || async {
        import_counts(&client, &hub_url, "dc-b").await.2 == (N - 3) as u64
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        hop_paths(&client, &hub_url, "TWICE").await.len(),
        N - 3,
        "a deletion was undone"
    );

    // dc-a goes dark: past the hub's grace period its direct copies go, and dc-b (which keeps
    // them through its own, longer grace period) takes each over with one write.
    a.nodes[0].kill9();
    time_until(Duration::from_secs(40), "the copies through dc-b take over", || async {
        let paths = hop_paths(&client, &hub_url, "TWICE").await;
        paths.len() == N - 3 && paths.values().all(|h| h == "dc-a,dc-b,hub")
    })
    .await;
    // The report is updated once the write is applied, which the listing may see first.
    time_until(Duration::from_secs(10), "the report counts the take-over", || async {
        import_counts(&client, &hub_url, "dc-b").await.2 == 0
    })
    .await;
    let (upserted, _, _) = import_counts(&client, &hub_url, "dc-b").await;
    assert_eq!(upserted, (N - 3) as u64, "one write per record taken over");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(import_counts(&client, &hub_url, "dc-b").await.0, (N - 3) as u64);
    assert_eq!(eureka_listing(&client, &hub_url).await.len(), N - 3);
}
