//! The Eureka and ServiceCenter routers over the in-memory fake registry
//! (`registry_store::testing::FakeRegistry`): no Raft, no disk, no sockets. The fake counts
//! writes and renewals, so these tests also say what each request proposed, and that a find
//! writes nothing on its path.

use std::time::Duration;
use std::time::Instant;

use axum::body::Body;
use axum::http::Method;
use axum::http::StatusCode;
use registry_store::command::Command;
use registry_store::worker::Workers;
use serde_json::json;
use serde_json::Value;

mod front;

use front::Front;

impl Front {
    async fn create_service(&self, name: &str) -> String {
        let service = json!({ "service": { "appId": "default", "serviceName": name, "version": "1.0.0" } });
        let reply = self.sc(Method::POST, "/microservices", Some(service)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()["serviceId"].as_str().unwrap().to_string()
    }

    async fn register_sc(&self, service: &str, id: &str) {
        let instance = json!({ "instance": {
            "instanceId": id, "hostName": "host-1", "endpoints": ["rest://10.1.0.1:9090"],
            "healthCheck": { "mode": "push", "interval": 30, "times": 3 }
        }});
        let reply = self
            .sc(
                Method::POST,
                &format!("/microservices/{service}/instances"),
                Some(instance),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.json()["instanceId"], id);
    }

    /// Registers `app` at `ip:8080` through Eureka (Spring's body).
    async fn register_eureka(&self, app: &str, ip: &str) {
        let reply = self
            .eureka(
                Method::POST,
                &format!("/apps/{app}"),
                Some(eureka_instance(app, ip, 8080)),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    }
}

/// A Spring-style Eureka registration of `app` at `ip:port`.
fn eureka_instance(app: &str, ip: &str, port: u16) -> Value {
    let lower = app.to_ascii_lowercase();
    json!({ "instance": {
        "instanceId": format!("{ip}:{lower}:{port}"),
        "hostName": ip,
        "app": app,
        "ipAddr": ip,
        "status": "UP",
        "overriddenStatus": "UNKNOWN",
        "port": { "$": port, "@enabled": "true" },
        "securePort": { "$": 443, "@enabled": "false" },
        "dataCenterInfo": { "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn" },
        "leaseInfo": { "renewalIntervalInSecs": 30, "durationInSecs": 90 },
        "vipAddress": lower,
        "lastDirtyTimestamp": "1700000000000"
    }})
}

/// The host names an `/apps` or `/apps/delta` JSON answer lists, sorted.
fn hosts(reply: &front::Reply) -> Vec<String> {
    let body = reply.json();
    let mut hosts: Vec<String> = body["applications"]["application"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .flat_map(|app| app["instance"].as_array().cloned().unwrap_or_default())
        .map(|i| i["hostName"].as_str().unwrap_or_default().to_string())
        .collect();
    hosts.sort();
    hosts
}

/// A Front whose Eureka routes keep full fetches by `keeping` and a delta window of
/// `retention`, the window fed by its follower on `workers` (subscribed when this returns).
async fn eureka_front(
    keeping: registry_http::eureka::keeper::Keeping,
    retention: Duration,
    workers: &Workers,
) -> Front {
    use registry_http::eureka::delta::DeltaWindow;
    use registry_http::eureka::full_fetch::FullFetch;
    use registry_http::eureka::ops::Eureka;

    let mut front = Front::new();
    let delta = DeltaWindow::new(retention);
    workers.start(delta.follower(front.registry.clone()));
    // The follower subscribes from the registry's revision when it first runs: let it, on this
    // test's single thread, before anything is written.
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
    let eureka = Eureka {
        registry: front.registry.clone(),
        settings: Default::default(),
        delta,
        cache: Default::default(),
        full_fetch: FullFetch::new(keeping),
        started: Instant::now(),
    };
    front.router = registry_http::eureka::routes_of(std::sync::Arc::new(eureka));
    front
}

/// Polls `fetch` every 10 ms until `done` holds of its answer, at most 10 s; the last answer.
async fn fetch_until(fetch: impl AsyncFn() -> front::Reply, done: impl Fn(&front::Reply) -> bool) -> front::Reply {
    let started = Instant::now();
    let mut reply = fetch().await;
    while !done(&reply) && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        reply = fetch().await;
    }
    reply
}

/// An instance leaves `/apps/delta` once its change is older than the window's retention
/// (on the window's one-second grid), with no new change to make the delta rebuild: the
/// payload kept for the window's earlier content is not served past it.
#[tokio::test]
async fn a_change_leaves_the_delta_when_it_leaves_the_window_with_nothing_new_written() {
    let workers = Workers::new();
    let front = eureka_front(Default::default(), Duration::from_secs(1), &workers).await;
    front.register_eureka("DEMO", "10.0.0.9").await;
    let delta = || front.eureka(Method::GET, "/apps/delta", None);
    let shown = fetch_until(delta, |r| hosts(r) == ["10.0.0.9"]).await;
    assert_eq!(hosts(&shown), ["10.0.0.9"], "{}", shown.text());
    let writes = front.fake.writes();
    // Gone within retention (1 s) plus the grid's step (1 s), and a margin.
    let gone = fetch_until(delta, |r| hosts(r).is_empty()).await;
    assert!(hosts(&gone).is_empty(), "{}", gone.text());
    assert_eq!(front.fake.writes(), writes, "nothing new was written meanwhile");
    // The full registry still lists it.
    assert_eq!(hosts(&front.eureka(Method::GET, "/apps", None).await), ["10.0.0.9"]);
    workers.stop_all(Duration::from_secs(5)).await;
}

/// When builds are expensive, `/apps` answers with the payload of an older revision while the
/// current one is built, and its `X-Registry-Revision` says which revision it shows (a client
/// that compares it with the delta's must not take the older payload for the current one).
#[tokio::test]
async fn an_older_full_registry_says_its_own_revision_and_the_current_one_follows() {
    use registry_http::eureka::keeper::Keeping;

    let workers = Workers::new();
    // Every build counts as expensive: an older payload answers while the next is built.
    let keeping = Keeping {
        older_from: Duration::ZERO,
        ..Keeping::default()
    };
    let front = eureka_front(keeping, registry_http::eureka::delta::DELTA_RETENTION, &workers).await;

    front.register_eureka("DEMO", "10.0.0.1").await;
    let old = front.eureka(Method::GET, "/apps", None).await;
    let old_revision = front.registry.revision();
    assert_eq!(old.header("x-registry-revision"), old_revision.to_string());
    assert_eq!(hosts(&old), ["10.0.0.1"]);

    front.register_eureka("DEMO", "10.0.0.2").await;
    let current = front.registry.revision();
    assert!(current > old_revision);
    let stale = front.eureka(Method::GET, "/apps", None).await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(
        stale.header("x-registry-revision"),
        old_revision.to_string(),
        "the older payload says its own revision"
    );
    assert_eq!(hosts(&stale), ["10.0.0.1"]);

    // The current payload is built behind it.
    let fresh = fetch_until(
        || front.eureka(Method::GET, "/apps", None),
        |r| r.header("x-registry-revision") == current.to_string(),
    )
    .await;
    assert_eq!(fresh.header("x-registry-revision"), current.to_string());
    assert_eq!(hosts(&fresh), ["10.0.0.1", "10.0.0.2"]);
    workers.stop_all(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn eureka_register_read_renew_override_and_cancel() {
    let front = Front::new();
    let id = "10.0.0.7:demo:8080";
    let reply = front
        .eureka(
            Method::POST,
            "/apps/DEMO",
            Some(eureka_instance("DEMO", "10.0.0.7", 8080)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
    assert_eq!(front.fake.writes(), 1, "one registration, one write");

    let app = front.eureka(Method::GET, "/apps/DEMO", None).await;
    assert_eq!(app.status, StatusCode::OK, "{}", app.text());
    assert_eq!(app.header("x-registry-revision"), front.registry.revision().to_string());
    let app = app.json();
    assert_eq!(app["application"]["name"], "DEMO");
    assert_eq!(app["application"]["instance"][0]["instanceId"], id);
    assert_eq!(app["application"]["instance"][0]["status"], "UP");

    let xml = front
        .send(
            Method::GET,
            "/eureka/apps/DEMO",
            &[("accept", "application/xml")],
            Body::empty(),
        )
        .await;
    assert_eq!(xml.status, StatusCode::OK);
    let xml = xml.text();
    assert!(xml.contains("<name>DEMO</name>"), "{xml}");
    assert!(xml.contains(&format!("<instanceId>{id}</instanceId>")), "{xml}");

    let all = front.eureka(Method::GET, "/apps", None).await.json();
    assert_eq!(all["applications"]["application"][0]["name"], "DEMO", "{all}");

    let renewals = front.fake.renewals();
    let renew = front.eureka(Method::PUT, &format!("/apps/DEMO/{id}"), None).await;
    assert_eq!(renew.status, StatusCode::OK, "{}", renew.text());
    assert_eq!(front.fake.renewals(), renewals + 1);
    assert_eq!(front.fake.writes(), 1, "a renewal never writes");

    let status = front
        .eureka(
            Method::PUT,
            &format!("/apps/DEMO/{id}/status?value=OUT_OF_SERVICE"),
            None,
        )
        .await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text());
    let info = front
        .eureka(Method::GET, &format!("/apps/DEMO/{id}"), None)
        .await
        .json();
    assert_eq!(info["instance"]["status"], "OUT_OF_SERVICE", "{info}");
    assert_eq!(info["instance"]["overriddenStatus"], "OUT_OF_SERVICE", "{info}");
    let overrides = front
        .send(Method::GET, "/eureka/serverinfo/statusoverrides", &[], Body::empty())
        .await
        .json();
    assert_eq!(overrides, json!({ id: "OUT_OF_SERVICE" }));

    let cancel = front.eureka(Method::DELETE, &format!("/apps/DEMO/{id}"), None).await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.text());
    assert_eq!(front.fake.writes(), 3, "register, status, cancel");
    assert_eq!(
        front.eureka(Method::GET, "/apps/DEMO", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        front
            .eureka(Method::PUT, &format!("/apps/DEMO/{id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        front
            .eureka(Method::DELETE, &format!("/apps/DEMO/{id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        front.fake.writes(),
        3,
        "cancelling an unknown instance proposes nothing"
    );
}

#[tokio::test]
async fn servicecenter_create_register_find_heartbeat_and_unregister() {
    let front = Front::new();
    let service = front.create_service("hello-server").await;
    front.register_sc(&service, "inst-1").await;

    let find = "/instances?appId=default&serviceName=hello-server&version=1.0.0";
    let found = front.sc(Method::GET, find, None).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text());
    let rev = found.header("x-resource-revision").to_string();
    assert!(!rev.is_empty());
    let body = found.json();
    assert_eq!(body["instances"][0]["instanceId"], "inst-1", "{body}");
    assert_eq!(body["instances"][0]["endpoints"], json!(["rest://10.1.0.1:9090"]));
    let again = front.sc(Method::GET, &format!("{find}&rev={rev}"), None).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    let writes = front.fake.writes();
    let heartbeat = format!("/microservices/{service}/instances/inst-1/heartbeat");
    let beat = front.sc(Method::PUT, &heartbeat, None).await;
    assert_eq!(beat.status, StatusCode::OK, "{}", beat.text());
    assert_eq!(front.fake.writes(), writes, "a heartbeat never writes");
    assert!(front.fake.renewals() >= 1);

    let gone = front
        .sc(
            Method::DELETE,
            &format!("/microservices/{service}/instances/inst-1"),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.text());
    assert_eq!(front.fake.writes(), writes + 1);
    let empty = front.sc(Method::GET, find, None).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.json(), json!({}));
    let beat = front.sc(Method::PUT, &heartbeat, None).await;
    assert_eq!(beat.status, StatusCode::BAD_REQUEST, "{}", beat.text());
    assert_eq!(beat.json()["errorCode"], "400017");
}

/// A find large enough that its body is kept for the next finds: each later find shows the
/// same until an instance changes, and the change at once.
#[tokio::test]
async fn a_large_find_answers_the_same_until_an_instance_changes_then_shows_the_change() {
    let front = Front::new();
    let service = front.create_service("big-server").await;
    for n in 0..100 {
        front.register_sc(&service, &format!("inst-{n:03}")).await;
    }
    let find = "/instances?appId=default&serviceName=big-server&version=1.0.0";
    let first = front.sc(Method::GET, find, None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert!(first.body.len() > 16 * 1024, "kept from 16 KB: {}", first.body.len());
    assert_eq!(first.json()["instances"].as_array().map(Vec::len), Some(100));
    let again = front.sc(Method::GET, find, None).await;
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("x-resource-revision"), first.header("x-resource-revision"));

    let status = format!("/microservices/{service}/instances/inst-042/status?value=DOWN");
    let down = front.sc(Method::PUT, &status, None).await;
    assert_eq!(down.status, StatusCode::OK, "{}", down.text());
    let changed = front.sc(Method::GET, find, None).await;
    assert_ne!(
        changed.header("x-resource-revision"),
        first.header("x-resource-revision")
    );
    let statuses: Vec<Value> = changed.json()["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["instanceId"] == "inst-042")
        .map(|i| i["status"].clone())
        .collect();
    assert_eq!(statuses, vec![json!("DOWN")]);

    front.register_sc(&service, "inst-new").await;
    let grown = front.sc(Method::GET, find, None).await;
    assert_eq!(grown.json()["instances"].as_array().map(Vec::len), Some(101));
    // The same body through the service's own instance list, and 304 to the known revision.
    let listed = front
        .sc(Method::GET, &format!("/microservices/{service}/instances"), None)
        .await;
    assert_eq!(listed.body, grown.body);
    let rev = grown.header("x-resource-revision");
    let known = front.sc(Method::GET, &format!("{find}&rev={rev}"), None).await;
    assert_eq!(known.status, StatusCode::NOT_MODIFIED);
    assert!(known.body.is_empty());
}

#[tokio::test]
async fn an_instance_registered_through_eureka_is_found_through_servicecenter() {
    let front = Front::new();
    front.register_eureka("ACCOUNT-SERVER", "10.0.0.7").await;
    let found = front
        .sc(
            Method::GET,
            "/instances?appId=eureka&serviceName=account-server&version=0%2B",
            None,
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text());
    let found = found.json();
    let instances = found["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{found}");
    assert_eq!(instances[0]["endpoints"], json!(["rest://10.0.0.7:8080"]));
    assert_eq!(instances[0]["status"], "UP");
}

#[tokio::test]
async fn a_find_writes_nothing_on_its_path() {
    let front = Front::new();
    let consumer = front.create_service("consumer").await;
    let provider = front.create_service("provider").await;
    let other = front.create_service("other").await;
    front.register_sc(&provider, "p-1").await;
    front.register_sc(&other, "o-1").await;
    let writes = front.fake.writes();

    let find = "/instances?appId=default&serviceName=provider";
    let found = front.sc_as(Some(&consumer), Method::GET, find, None).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text());
    assert_eq!(found.json()["instances"][0]["instanceId"], "p-1");
    let batch = json!({
        "services": [
            { "service": { "appId": "default", "serviceName": "provider" }, "rev": "" },
            { "service": { "appId": "default", "serviceName": "other" }, "rev": "" },
        ],
        "instances": [{ "instance": { "serviceId": provider, "instanceId": "p-1" }, "rev": "" }]
    });
    let batch = front
        .sc_as(
            Some(&consumer),
            Method::POST,
            "/instances/action?type=query",
            Some(batch),
        )
        .await;
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.text());
    let body = batch.json();
    assert_eq!(
        body["services"]["updated"][1]["instances"][0]["instanceId"], "o-1",
        "{body}"
    );
    assert_eq!(body["instances"]["updated"][0]["instances"][0]["instanceId"], "p-1");

    assert_eq!(front.fake.writes(), writes, "neither find proposed a write");
    assert_eq!(
        front.dependencies.held(),
        2,
        "the two dependency records wait in the queue"
    );

    // Off the read path, the queue's flusher writes both records as one command.
    let workers = Workers::new();
    workers.start(
        front
            .dependencies
            .flusher(front.registry.clone(), Duration::from_millis(1)),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while front.dependencies.held() > 0 {
        assert!(Instant::now() < deadline, "the dependency records were never written");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(front.fake.writes(), writes + 1);
    let last = front.fake.commands().pop();
    assert!(
        matches!(&last, Some(Command::PutDependencies(p)) if p.dependencies.len() == 2),
        "{last:?}"
    );
    let providers = front
        .sc(Method::GET, &format!("/microservices/{consumer}/providers"), None)
        .await
        .json();
    let mut listed: Vec<&str> = providers["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["serviceName"].as_str().unwrap())
        .collect();
    listed.sort();
    assert_eq!(listed, vec!["other", "provider"]);

    // Known records are not queued again: a later find neither writes nor queues.
    front.sc_as(Some(&consumer), Method::GET, find, None).await;
    assert_eq!(front.dependencies.held(), 0);
    assert_eq!(front.fake.writes(), writes + 1);
    workers.stop_all(Duration::from_secs(5)).await;
}

/// ServiceCenter clients (java-chassis's auto-discovery) list the registry's own instances with
/// `GET /registry/health`. A node lists itself from its own settings even before its address
/// announcement is applied (right after a cluster forms it is not yet), so the list is never
/// empty on a serving node.
#[tokio::test]
async fn the_health_listing_names_this_node_before_its_announcement_applies() {
    let front = Front::new();
    let reply = front.sc(Method::GET, "/health", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let listed = reply.json();
    let instances = listed["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{listed}");
    assert_eq!(instances[0]["instanceId"], "registry-node-1", "{listed}");
    let own = registry_store::testing::FakeRegistry::HTTP_ADDR;
    assert_eq!(instances[0]["endpoints"], json!([format!("rest://{own}/")]), "{listed}");
}
