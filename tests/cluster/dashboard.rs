//! The dashboard at `/`, against a three-node cluster: its JSON overview (members and their
//! health, the leader's leases read from a follower, the registry narrowed by the search and
//! filters, recent activity), and the page itself in headless Chromium (Debian's `chromium`,
//! driven by playwright-core from `tests/clients/`): it lists a registered app and the three
//! nodes, shows an instance mirrored from another data center with its origin and the peer's
//! state, shows a newly registered instance without a reload, and raises no JavaScript error.
//! The screenshot is kept at `target/tmp/dashboard.png`.

use std::path::PathBuf;
use std::time::Duration;
use std::time::Instant;

use serde_json::Value;

use crate::client_driver::clients_dir;
use crate::client_driver::installed;
use crate::client_driver::Client;
use crate::support::eureka_register;
use crate::support::Cluster;

/// Where the screenshot is kept for people to look at.
fn screenshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png")
}

fn chromium() -> String {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: run `bash tests/run.sh`, which installs Debian's chromium"
    );
    path
}

/// The overview from node `i`, once every member reports UP (they announce their HTTP
/// addresses shortly after starting) and the leader holds `leases` leases (it takes new
/// instances on at its next lease round).
async fn overview_when_all_up(cluster: &Cluster, i: usize, leases: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let overview = cluster.get_json(i, "/admin/dashboard").await;
        if let Some(o) = &overview {
            let members = o["members"].as_array().unwrap();
            if members.len() == 3 && members.iter().all(|m| m["health"] == "UP") && o["leases"]["leases"] == leases {
                return overview.unwrap();
            }
        }
        assert!(Instant::now() < deadline, "members never all UP: {overview:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn service_names(overview: &Value) -> Vec<&str> {
    overview["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_shows_members_leases_and_the_registry_narrowed_by_filters() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;
    let http = reqwest::Client::new();
    let base = cluster.nodes[leader].url("");
    eureka_register(&http, &base, "ORDER-SERVICE", "order-1").await.unwrap();
    eureka_register(&http, &base, "ORDER-SERVICE", "order-2").await.unwrap();
    eureka_register(&http, &base, "PAYMENT-SERVICE", "payment-1")
        .await
        .unwrap();
    cluster.wait_converged(Duration::from_secs(20)).await;

    let o = overview_when_all_up(&cluster, follower, 3).await;
    assert_eq!(o["node"]["id"], cluster.nodes[follower].id);
    assert_eq!(o["node"]["role"], "follower");
    let members = o["members"].as_array().unwrap();
    assert_eq!(members.iter().filter(|m| m["role"] == "leader").count(), 1);
    assert_eq!(members.iter().filter(|m| m["this_node"] == true).count(), 1);
    // The leases live on the leader; the follower shows its report.
    assert_eq!(o["leases"]["node_id"], cluster.nodes[leader].id);
    assert_eq!(o["leases"]["leases"], 3);
    assert_eq!(o["leases"]["self_preservation"], true);
    // A young leader raises no alarm (its clients may not have renewed yet).
    assert_eq!(o["leases"]["banner"], Value::Null);
    assert_eq!(o["totals"]["instances"], 3);
    assert_eq!(o["totals"]["by_status"]["UP"], 3);
    // Eureka's app names are stored in lower case (one service for both protocols).
    assert_eq!(service_names(&o), ["order-service", "payment-service"]);
    let order = &o["services"][0];
    assert_eq!(order["tenant"], "default/default");
    assert_eq!(order["instances"].as_array().unwrap().len(), 2);
    assert_eq!(order["instances"][0]["id"], "order-1");
    assert_eq!(order["instances"][0]["status"], "UP");
    assert_eq!(order["instances"][0]["zone"], "zone-1");
    assert_eq!(order["instances"][0]["origin"], "local");
    let recent: Vec<&str> = o["recent_registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["instance_id"].as_str().unwrap())
        .collect();
    assert_eq!(recent, ["payment-1", "order-2", "order-1"]);

    // Search words match services and instances; filters narrow instances.
    let by_word = cluster.get_json(follower, "/admin/dashboard?q=payment").await.unwrap();
    assert_eq!(service_names(&by_word), ["payment-service"]);
    let by_instance = cluster.get_json(follower, "/admin/dashboard?q=order-2").await.unwrap();
    assert_eq!(service_names(&by_instance), ["order-service"]);
    assert_eq!(by_instance["matching_instances"], 1);
    let down = cluster
        .get_json(follower, "/admin/dashboard?status=DOWN")
        .await
        .unwrap();
    assert_eq!(down["services"], Value::Array(vec![]));
    assert_eq!(down["totals"]["instances"], 3, "totals ignore the filters");
    let limited = cluster.get_json(follower, "/admin/dashboard?limit=1").await.unwrap();
    assert_eq!(
        (
            limited["listed_instances"].clone(),
            limited["matching_instances"].clone()
        ),
        (1.into(), 3.into())
    );

    // A cancellation shows in the recent activity.
    let cancelled = http
        .delete(cluster.nodes[follower].url("/eureka/apps/ORDER-SERVICE/order-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    let o = cluster.get_json(follower, "/admin/dashboard").await.unwrap();
    assert_eq!(o["recent_cancellations"][0]["instance_id"], "order-2");
    assert_eq!(o["recent_cancellations"][0]["service"], "order-service");

    // The page and its assets come from the binary.
    for (path, kind) in [
        ("/", "text/html"),
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/app.css", "text/css"),
    ] {
        let resp = http.get(cluster.nodes[follower].url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_preservation_turned_off_shows_eurekas_banner() {
    let cluster = Cluster::start(1, &["--self-preservation", "false"]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let o = cluster.get_json(0, "/admin/dashboard").await.unwrap();
    assert_eq!(o["leases"]["self_preservation"], false);
    assert_eq!(o["leases"]["expiry_enabled"], true);
    assert_eq!(
        o["leases"]["banner"],
        "THE SELF PRESERVATION MODE IS TURNED OFF. THIS MAY NOT PROTECT INSTANCE EXPIRY IN CASE OF NETWORK/OTHER PROBLEMS."
    );
    let leases = cluster.get_json(0, "/admin/leases").await.unwrap();
    assert_eq!(leases["banner"], o["leases"]["banner"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_lists_the_cluster_and_shows_new_instances_live_in_chromium() {
    let chromium = chromium();
    installed("node_modules/playwright-core");
    // Another data center's Eureka (a registryd), mirrored into this cluster.
    let west = Cluster::start(1, &[]);
    let mut cluster = Cluster::new(3, &[]);
    cluster.use_config(&format!(
        "cluster_name = \"dc-east\"\n[[sync]]\nname = \"dc-west\"\nkind = \"eureka\"\nurl = \"{}\"\ndirection = \"import\"\ninterval_ms = 200\n",
        west.nodes[0].url("/eureka/")
    ));
    cluster.start_all();
    west.wait_healthy(Duration::from_secs(30)).await;
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;
    let http = reqwest::Client::new();
    let east = cluster.nodes[leader].url("");
    eureka_register(&http, &east, "ORDER-SERVICE", "order-1").await.unwrap();
    eureka_register(&http, &east, "ORDER-SERVICE", "order-2").await.unwrap();
    let out_of_service = http
        .put(format!(
            "{east}/eureka/apps/ORDER-SERVICE/order-2/status?value=OUT_OF_SERVICE"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(out_of_service.status(), 200);
    eureka_register(&http, &west.nodes[0].url(""), "INVENTORY-SERVICE", "inventory-1")
        .await
        .unwrap();
    overview_when_all_up(&cluster, follower, 2).await;

    let script = clients_dir().join("dashboard_check.js").display().to_string();
    let mut page = Client::spawn(
        "chromium",
        "node".into(),
        &[script, cluster.nodes[follower].url("/"), chromium],
    );
    let started = page.next_event(Duration::from_secs(60));
    assert_eq!(started["event"], "started", "{started}");

    let seen = |reply: Value| assert_eq!(reply["event"], "seen", "{reply}");
    seen(page.ask("wait-text #services order-service"));
    seen(page.ask("wait-text #services order-1"));
    seen(page.ask("wait-text #cluster leader"));
    assert_eq!(page.ask("count #cluster tr[data-node]")["count"], 3);
    seen(page.ask("wait-text #where revision"));
    // The mirrored instance shows where it came from, and the peer its state.
    seen(page.ask("wait-text #services inventory-1"));
    seen(page.ask("wait-text [data-instance=inventory-1] dc-west"));
    seen(page.ask("wait-text [data-peer=dc-west] syncing"));
    seen(page.ask("wait-text [data-instance=order-2] OUT_OF_SERVICE"));

    // Registered after the page loaded (through another node): it appears without a reload.
    eureka_register(&http, &cluster.nodes[leader].url(""), "PAYMENT-SERVICE", "payment-7")
        .await
        .unwrap();
    seen(page.ask("wait-text #services payment-service"));
    seen(page.ask("wait-text #services payment-7"));
    seen(page.ask("wait-text #recent payment-7"));

    let path = screenshot_path();
    let saved = page.ask(&format!("screenshot {}", path.display()));
    assert_eq!(saved["event"], "saved", "{saved}");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "screenshot {} is {size} bytes", path.display());

    let report = page.ask("report");
    assert_eq!(report["errors"], Value::Array(vec![]), "{report}");
    assert_eq!(report["reloaded"], false, "{report}");
}
