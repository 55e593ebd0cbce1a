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

use serde_json::json;
use serde_json::Value;

use crate::auth::client_as;
use crate::auth::SECRET;
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
    // This node's workers, as its supervisor reports them: all running.
    let workers: Vec<(&str, &str)> = o["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["name"].as_str().unwrap(), w["state"].as_str().unwrap()))
        .collect();
    for name in ["lease-keeper", "announcer", "federation", "eureka-delta"] {
        assert!(workers.contains(&(name, "running")), "{name} in {workers:?}");
    }

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
    seen(page.ask("wait-text [data-worker=lease-keeper] running"));
    seen(page.ask("wait-text [data-instance=order-2] OUT_OF_SERVICE"));
    // A mirrored instance is changed at its origin: no actions on the page, 409 from the API.
    seen(page.ask("wait-text [data-instance=inventory-1] at its origin"));
    let o = cluster
        .get_json(follower, "/admin/dashboard?q=inventory-1")
        .await
        .unwrap();
    let mirrored = o["services"][0]["id"].as_str().unwrap().to_string();
    let refused = http
        .put(cluster.nodes[follower].url(&format!("/admin/registry/instances/{mirrored}/inventory-1/status")))
        .json(&json!({ "status": "OUT_OF_SERVICE" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);

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

/// An admin and a read-only user.
const USERS: &str = r#"
[[auth.users]]
name = "admin"
password = "admin-password"
role = "admin"

[[auth.users]]
name = "viewer"
password = "viewer-password"
role = "read"
"#;

/// Where the layout screenshots go: `$DASHBOARD_SCREENSHOTS` (created), else `target/tmp`.
fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("DASHBOARD_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The dashboard of `url` in Chromium, signed in as `user` (`name:password`).
fn open_page(url: String, user: &str) -> Client {
    let script = clients_dir().join("dashboard_check.js").display().to_string();
    let page = Client::spawn_with_env(
        "chromium",
        "node".into(),
        &[script, url, chromium()],
        &[("DASHBOARD_USER", user)],
    );
    let started = page.next_event(Duration::from_secs(60));
    assert_eq!(started["event"], "started", "{started}");
    page
}

fn answer(page: &mut Client, command: &str, event: &str) -> Value {
    let reply = page.ask(command);
    assert_eq!(reply["event"], event, "{command}: {reply}");
    reply
}

/// The Eureka view of `app/id` through node `i`, once `check` holds of it (`None`: gone).
async fn eureka_until(
    cluster: &Cluster,
    i: usize,
    app: &str,
    id: &str,
    check: impl Fn(Option<&Value>) -> bool,
) -> Option<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let resp = cluster
            .client
            .get(cluster.nodes[i].url(&format!("/eureka/apps/{app}/{id}")))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        let found = match resp.status().as_u16() {
            200 => Some(resp.json::<Value>().await.unwrap()["instance"].clone()),
            404 => None,
            s => panic!("GET {app}/{id}: {s}"),
        };
        if check(found.as_ref()) {
            return found;
        }
        assert!(Instant::now() < deadline, "{app}/{id} never as expected: {found:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn instance_order(page: &mut Client) -> Vec<String> {
    let reply = answer(page, "attrs tr[data-instance^=inv-] data-instance", "attrs");
    serde_json::from_value(reply["values"].clone()).unwrap()
}

/// At `width` px: a screenshot (returned), then nothing wider than the window and no table
/// wider than its container.
fn check_layout(page: &mut Client, width: u32) -> PathBuf {
    answer(page, &format!("viewport {width} 1000"), "resized");
    // Let the page lay out again at the new size.
    std::thread::sleep(Duration::from_millis(300));
    let path = screenshot_dir().join(format!("dashboard-{width}.png"));
    answer(page, &format!("screenshot {}", path.display()), "saved");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "screenshot {} is {size} bytes", path.display());
    let layout = answer(page, "layout", "layout");
    assert!(
        layout["scroll_width"].as_u64().unwrap() <= layout["inner_width"].as_u64().unwrap(),
        "{width} px: {layout}"
    );
    assert_eq!(layout["overflowing"], Value::Array(vec![]), "{width} px: {layout}");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_actions_are_writes_an_admin_may_make_and_a_reader_may_not() {
    installed("node_modules/playwright-core");
    let mut cluster = Cluster::new(3, &["--cluster-secret", SECRET]);
    cluster.use_config(USERS);
    cluster.start_all();
    cluster.wait_healthy(Duration::from_secs(30)).await;
    cluster.client = client_as("admin", "admin-password");
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;
    let base = cluster.nodes[leader].url("");
    for id in ["inv-10", "inv-2", "inv-1"] {
        eureka_register(&cluster.client, &base, "INVENTORY", id).await.unwrap();
    }
    // Long ids, hosts and endpoints: cut to their column, whole in the tooltip.
    let long = json!({
        "service": "catalog-service-with-a-rather-long-name",
        "id": "catalog-7f9c2d4e-1b3a-4c5d-9e8f-0a1b2c3d4e5f-replica-0001",
        "host": "ip-10-20-30-40.eu-west-1.compute.internal.example.com",
        "endpoints": ["rest://10.20.30.40:8080/api/v1/catalog?timeout=30s&retries=3", "grpc://10.20.30.40:9090"],
        "zone": "eu-west-1a-availability-zone",
        "region": "eu-west-1",
        "metadata": { "team": "catalog" }
    });
    let resp = cluster
        .client
        .post(cluster.nodes[leader].url("/admin/registry/instances"))
        .json(&long)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // One heartbeat each: the leader's lease times (shown per instance) start at the first.
    for id in ["inv-10", "inv-2", "inv-1"] {
        let renewed = cluster
            .client
            .put(format!("{base}/eureka/apps/INVENTORY/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(renewed.status(), 200, "{id}");
    }
    let found = cluster
        .renew(
            leader,
            long["service"].as_str().unwrap(),
            &[long["id"].as_str().unwrap().to_string()],
        )
        .await
        .unwrap();
    assert_eq!(found, [true]);
    cluster.wait_converged(Duration::from_secs(20)).await;

    // The overview carries each member's reachability and lag as the leader sees them (once it
    // has been calling them long enough to tell), and each instance's lease times.
    let deadline = Instant::now() + Duration::from_secs(20);
    let o = loop {
        let o = cluster.get_json(follower, "/admin/dashboard").await.unwrap();
        let members = o["members"].as_array().unwrap();
        let leased = o["services"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["instances"].as_array().unwrap())
            .all(|i| i["last_renewal_ms"].is_u64() && i["lease_expires_ms"].is_u64());
        if leased && members.iter().all(|m| m["reachable"] == true && m["lag"].is_u64()) {
            break o;
        }
        assert!(Instant::now() < deadline, "{o}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(o["replication_seen_by"], cluster.nodes[leader].id);
    assert_eq!(o["viewer"]["name"], "admin");
    let inventory = o["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "inventory")
        .unwrap();
    let ids: Vec<&str> = inventory["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["inv-1", "inv-2", "inv-10"], "natural order");

    let mut page = open_page(cluster.nodes[follower].url("/"), "admin:admin-password");
    let seen = |page: &mut Client, command: &str| answer(page, command, "seen");
    seen(&mut page, "wait-text #viewer admin");
    seen(&mut page, "wait-text #services inv-10");
    seen(&mut page, "wait-text #cluster reachable");
    assert_eq!(instance_order(&mut page), ["inv-1", "inv-2", "inv-10"]);
    // Per instance: its last heartbeat and when its lease expires.
    seen(&mut page, "wait-text tr[data-instance=inv-1]>td:nth-child(6) in");
    let expires = answer(&mut page, "text tr[data-instance=inv-1] td:nth-child(6)", "text");
    assert!(expires["text"].as_str().unwrap().starts_with("in "), "{expires}");
    let heartbeat = answer(&mut page, "text tr[data-instance=inv-1] td:nth-child(5)", "text");
    assert!(heartbeat["text"].as_str().unwrap().ends_with(" ago"), "{heartbeat}");
    // Sortable: the id column descending, then ascending again.
    answer(&mut page, "click th button[data-sort=id]", "clicked");
    assert_eq!(instance_order(&mut page), ["inv-10", "inv-2", "inv-1"]);
    answer(&mut page, "click th button[data-sort=id]", "clicked");
    assert_eq!(instance_order(&mut page), ["inv-1", "inv-2", "inv-10"]);

    let shots = [check_layout(&mut page, 1400), check_layout(&mut page, 1920)];

    // Out of service, through the page; seen by a Eureka GET.
    answer(
        &mut page,
        "click tr[data-instance=inv-2] button[data-action=out-of-service]",
        "clicked",
    );
    seen(&mut page, "wait-text #notice inv-2 taken out of service");
    eureka_until(&cluster, leader, "INVENTORY", "inv-2", |i| {
        i.is_some_and(|i| i["status"] == "OUT_OF_SERVICE")
    })
    .await;
    seen(&mut page, "wait-text tr[data-instance=inv-2] OUT_OF_SERVICE");
    let acted = screenshot_dir().join("dashboard-1920-out-of-service.png");
    answer(&mut page, &format!("screenshot {}", acted.display()), "saved");
    // The service's badges follow the status filter.
    answer(&mut page, "select #status OUT_OF_SERVICE", "selected");
    seen(&mut page, "wait-text .service-head of 3");
    let chips = answer(&mut page, "text .service-head:has-text('inventory') .chips", "text");
    let chips = chips["text"].as_str().unwrap().to_string();
    assert!(!chips.contains("UP"), "{chips}");
    assert!(chips.contains("of 3"), "{chips}");
    answer(&mut page, "select #status -", "selected");
    seen(&mut page, "wait-text .service-head UP 2");

    // Back in service.
    answer(
        &mut page,
        "click tr[data-instance=inv-2] button[data-action=in-service]",
        "clicked",
    );
    seen(&mut page, "wait-text #notice inv-2 put back in service");
    eureka_until(&cluster, leader, "INVENTORY", "inv-2", |i| {
        i.is_some_and(|i| i["status"] == "UP")
    })
    .await;

    // Metadata edited in the dialog.
    answer(
        &mut page,
        "click tr[data-instance=inv-1] button[data-action=metadata]",
        "clicked",
    );
    answer(&mut page, "fill #dialog-area owner=team-a\\nzone=zone-1", "filled");
    let dialog = screenshot_dir().join("dashboard-1920-metadata-dialog.png");
    answer(&mut page, &format!("screenshot {}", dialog.display()), "saved");
    answer(&mut page, "click #dialog-ok", "clicked");
    seen(&mut page, "wait-text #notice Metadata of inv-1 saved");
    eureka_until(&cluster, leader, "INVENTORY", "inv-1", |i| {
        i.is_some_and(|i| i["metadata"]["owner"] == "team-a")
    })
    .await;

    // Deregistered, after confirming.
    answer(
        &mut page,
        "click tr[data-instance=inv-10] button[data-action=deregister]",
        "clicked",
    );
    answer(&mut page, "click #dialog-ok", "clicked");
    answer(&mut page, "wait-gone tr[data-instance=inv-10]", "gone");
    eureka_until(&cluster, leader, "INVENTORY", "inv-10", |i| i.is_none()).await;

    // The native endpoints behind the actions answer bad requests clearly.
    let service = inventory["id"].as_str().unwrap();
    let status_of = |id: &str| cluster.nodes[follower].url(&format!("/admin/registry/instances/{service}/{id}/status"));
    let gone = cluster
        .client
        .put(status_of("inv-10"))
        .json(&json!({ "status": "UP" }))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let why: Value = gone.json().await.unwrap();
    assert!(why["error"].as_str().unwrap().contains("inv-10"), "{why}");
    let unknown = cluster
        .client
        .put(status_of("inv-1"))
        .json(&json!({ "status": "SLEEPING" }))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);

    let report = answer(&mut page, "report", "report");
    assert_eq!(report["errors"], Value::Array(vec![]), "{report}");
    drop(page);

    // A read-only user sees the page, and each action refused with the node's reason.
    let mut page = open_page(cluster.nodes[follower].url("/"), "viewer:viewer-password");
    seen(&mut page, "wait-text #viewer viewer");
    seen(&mut page, "wait-text #services inv-1");
    answer(
        &mut page,
        "click tr[data-instance=inv-1] button[data-action=out-of-service]",
        "clicked",
    );
    seen(&mut page, "wait-text #notice Refused (403)");
    answer(&mut page, "viewport 1400 1000", "resized");
    let refused = screenshot_dir().join("dashboard-1400-read-only-refused.png");
    answer(&mut page, &format!("screenshot {}", refused.display()), "saved");
    let notice = answer(&mut page, "text #notice", "text");
    assert!(
        notice["text"].as_str().unwrap().contains("viewer has the read role"),
        "{notice}"
    );
    answer(
        &mut page,
        "click tr[data-instance=inv-1] button[data-action=metadata]",
        "clicked",
    );
    answer(&mut page, "fill #dialog-area owner=someone-else", "filled");
    answer(&mut page, "click #dialog-ok", "clicked");
    seen(&mut page, "wait-text #dialog-error Refused (403)");
    answer(&mut page, "click #dialog-cancel", "clicked");
    answer(
        &mut page,
        "click tr[data-instance=inv-2] button[data-action=deregister]",
        "clicked",
    );
    answer(&mut page, "click #dialog-ok", "clicked");
    seen(&mut page, "wait-text #dialog-error Refused (403)");
    let inv1 = eureka_until(&cluster, leader, "INVENTORY", "inv-1", |i| i.is_some())
        .await
        .unwrap();
    assert_eq!(inv1["status"], "UP");
    assert_eq!(inv1["metadata"]["owner"], "team-a");
    eureka_until(&cluster, leader, "INVENTORY", "inv-2", |i| i.is_some()).await;
    // The browser logs each refused request; nothing else went wrong.
    let report = answer(&mut page, "report", "report");
    let errors: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .filter(|e| !e.contains("403"))
        .collect();
    assert!(errors.is_empty(), "{report}");
    for shot in shots {
        println!("screenshot: {}", shot.display());
    }
}
