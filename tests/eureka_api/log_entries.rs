//! One client request, one log entry: a Eureka registration is one command, whatever it
//! implies (the configured tenant on first use, the app's service, the removal of its copy
//! under another version), counted in the node's log counters.

use axum::http::StatusCode;
use registry_http::eureka::mapping::EurekaSettings;
use registry_store::model::Tenant;
use registry_store::storage::LogTotals;
use serde_json::Value;

use crate::support::instance;
use crate::support::Node;

/// The entries and commands appended to the log by running `request`.
async fn appended<F: std::future::Future<Output = ()>>(node: &Node, request: F) -> (u64, u64) {
    let before: LogTotals = node.node.log_counters();
    request.await;
    let after = node.node.log_counters();
    (after.entries - before.entries, after.commands - before.commands)
}

async fn registered(node: &Node, app: &str, body: &Value) {
    let reply = node.register_json(app, body).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text());
}

/// `body` with `metadata.version` set, so it registers under that version's service.
fn of_version(mut body: Value, version: &str) -> Value {
    body["metadata"]["version"] = version.into();
    body
}

#[tokio::test]
async fn a_registration_is_one_log_entry() {
    let shop = Tenant::new("shop", "eureka");
    let node = Node::start_with(EurekaSettings {
        tenant: shop.clone(),
        ..Default::default()
    })
    .await;
    assert!(!node.node.read().state.tenant_exists(&shop));

    // The first registration creates the tenant and the app's service: still one entry.
    let first = instance("ORDERS", "10.0.0.11", 8080);
    let counted = appended(&node, registered(&node, "ORDERS", &first)).await;
    assert_eq!(counted, (1, 1), "(entries, commands) of a first registration");
    assert!(node.node.read().state.tenant_exists(&shop));

    // Another instance of a known app, and the same instance again.
    let second = instance("ORDERS", "10.0.0.12", 8080);
    assert_eq!(appended(&node, registered(&node, "ORDERS", &second)).await, (1, 1));
    assert_eq!(appended(&node, registered(&node, "ORDERS", &first)).await, (1, 1));

    // Under another version of the app: its service is created and the older copy removed,
    // in the same entry.
    let moved = of_version(instance("ORDERS", "10.0.0.11", 8080), "2.0.0");
    assert_eq!(appended(&node, registered(&node, "ORDERS", &moved)).await, (1, 1));
    let app = node.get_json("/eureka/apps/ORDERS").await.json();
    let mut ids: Vec<&str> = app["application"]["instance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instanceId"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["10.0.0.11:orders:8080", "10.0.0.12:orders:8080"], "one copy each");
    let state = &node.node.read().state;
    let copies = state.instances().filter(|i| i.id == "10.0.0.11:orders:8080").count();
    assert_eq!(copies, 1, "the copy under the old version is gone");
}

/// A Netflix peer's batch of registrations: different instances' writes share log entries
/// (before, each item was its own entry and its own round trip), and one instance's items
/// still apply in the batch's order.
#[tokio::test]
async fn a_peer_batch_shares_log_entries_and_keeps_each_instances_order() {
    let node = Node::start().await;
    let items = 40u16;
    let mut list: Vec<Value> = (0..items)
        .map(|n| {
            let one = instance("ORDERS", &format!("10.0.1.{n}"), 8080);
            serde_json::json!({
                "appName": "ORDERS", "id": one["instanceId"], "status": "UP",
                "action": "Register", "instanceInfo": one,
            })
        })
        .collect();
    // The first instance is registered, cancelled and registered again; the second
    // registered and cancelled: what stays is what the last item of each says.
    let first = list[0].clone();
    let second = list[1].clone();
    list.push(serde_json::json!({ "appName": "orders", "id": first["id"], "action": "Cancel" }));
    list.push(first);
    list.push(serde_json::json!({ "appName": "ORDERS", "id": second["id"], "action": "Cancel" }));
    let body = serde_json::to_vec(&serde_json::json!({ "replicationList": list })).unwrap();
    let send = async {
        let reply = node.peer_batch(body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let codes = reply.batch_codes();
        assert_eq!(codes, vec![200; usize::from(items) + 3], "in the batch's order");
    };
    let (entries, commands) = appended(&node, send).await;
    assert_eq!(commands, u64::from(items) + 3, "one command per item");
    assert!(
        entries <= commands / 2,
        "{entries} entries for {commands} commands: the items were written one by one"
    );
    let state = &node.node.read().state;
    let present = |id: &Value| state.instances().any(|i| i.id == id.as_str().unwrap());
    assert!(present(&list_id(0)), "registered again after its cancel");
    assert!(!present(&list_id(1)), "cancelled after its registration");
    assert_eq!(state.instances().count(), usize::from(items) - 1);
}

fn list_id(n: u16) -> Value {
    instance("ORDERS", &format!("10.0.1.{n}"), 8080)["instanceId"].clone()
}
