//! What each subcommand does and prints: a table (comfy-table) for people, JSON for scripts.

use std::path::Path;

use anyhow::Context;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::Table;
use registry_http::member_http::reachable;
use registry_store::backup::Backup;
use serde_json::json;
use serde_json::Value;

use crate::client::Client;

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header.iter().copied());
    t
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// The cluster as the leader sees it (asked of the node answering when the leader does not
/// answer): only the leader knows each member's reachability and replication lag.
async fn leader_view(client: &Client) -> anyhow::Result<Value> {
    let cluster = client.get_json("/admin/cluster").await?;
    let leader = &cluster["leader_id"];
    if leader.is_null() || *leader == cluster["node_id"] {
        return Ok(cluster);
    }
    let member = cluster["members"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["id"] == *leader);
    let Some(addr) = member.and_then(|m| m["http_addr"].as_str()) else {
        return Ok(cluster);
    };
    let leader_client = client.for_node(&reachable(addr, member.and_then(|m| m["raft_addr"].as_str())));
    match leader_client.get_json("/admin/cluster").await {
        Ok(view) if view["leader_id"] == view["node_id"] => Ok(view),
        _ => Ok(cluster),
    }
}

/// A member's reachability as the leader sees it, for people.
fn reach_text(member: &Value) -> String {
    match member["reachable"].as_bool() {
        Some(true) => "yes".into(),
        Some(false) => match member["last_answer_ms"].as_u64() {
            Some(ms) => format!("UNREACHABLE (no answer for {:.1} s)", ms as f64 / 1000.0),
            None => "UNREACHABLE (never answered)".into(),
        },
        None => "-".into(),
    }
}

/// The cluster as the node answering sees it, each member's own health, and each member's
/// reachability and lag as the leader sees them.
pub async fn status(client: &Client, json: bool) -> anyhow::Result<()> {
    let cluster = leader_view(client).await?;
    let mut members = Vec::new();
    for m in cluster["members"].as_array().cloned().unwrap_or_default() {
        let http_addr = m["http_addr"].as_str().map(|a| reachable(a, m["raft_addr"].as_str()));
        let (health, revision) = match &http_addr {
            Some(addr) => match client.for_node(addr).probe("/health").await {
                Ok((200, body)) if body["drained"] == true => ("UP (drained)".to_string(), body["revision"].clone()),
                Ok((200, body)) => ("UP".to_string(), body["revision"].clone()),
                Ok((_, body)) => (format!("DOWN: {}", text(&body["reason"])), Value::Null),
                Err(e) => (format!("unreachable: {e}"), Value::Null),
            },
            None => ("unknown (no HTTP address announced)".to_string(), Value::Null),
        };
        members.push(json!({
            "id": m["id"], "role": m["role"], "raft_addr": m["raft_addr"],
            "http_addr": m["http_addr"], "health": health, "revision": revision,
            "reachable": m["reachable"], "last_answer_ms": m["last_answer_ms"], "lag": m["lag"],
            "reach": reach_text(&m),
        }));
    }
    let report = json!({
        "server": client.base(),
        "seen_by": cluster["node_id"],
        "leader_id": cluster["leader_id"],
        "term": cluster["term"],
        "revision": cluster["last_applied"],
        "members": members,
    });
    if json {
        print_json(&report);
        return Ok(());
    }
    println!(
        "leader {}, term {}, revision {} (as node {} sees it, asked through {})",
        text(&report["leader_id"]),
        text(&report["term"]),
        text(&report["revision"]),
        text(&report["seen_by"]),
        client.base()
    );
    let mut t = table(&["ID", "ROLE", "RAFT", "HTTP", "HEALTH", "REVISION", "REACHABLE", "LAG"]);
    for m in &members {
        t.add_row(
            [
                "id",
                "role",
                "raft_addr",
                "http_addr",
                "health",
                "revision",
                "reach",
                "lag",
            ]
            .map(|k| text(&m[k])),
        );
    }
    println!("{t}");
    Ok(())
}

fn print_members(cluster: &Value, json: bool) {
    if json {
        print_json(&cluster["members"]);
        return;
    }
    let mut t = table(&["ID", "ROLE", "RAFT", "HTTP", "REACHABLE", "LAG"]);
    for m in cluster["members"].as_array().into_iter().flatten() {
        let [id, role, raft, http, lag] = ["id", "role", "raft_addr", "http_addr", "lag"].map(|k| text(&m[k]));
        t.add_row([id, role, raft, http, reach_text(m), lag]);
    }
    println!("{t}");
}

/// The background workers of the node asked (`GET /admin/workers`).
pub async fn workers(client: &Client, json: bool) -> anyhow::Result<()> {
    let report = client.get_json("/admin/workers").await?;
    if json {
        print_json(&report["workers"]);
        return Ok(());
    }
    let mut t = table(&["WORKER", "STATE", "LAST ERROR"]);
    for w in report["workers"].as_array().into_iter().flatten() {
        t.add_row(["name", "state", "last_error"].map(|k| text(&w[k])));
    }
    println!("{t}");
    Ok(())
}

/// The members as the leader sees them, with each one's reachability and replication lag.
pub async fn members(client: &Client, json: bool) -> anyhow::Result<()> {
    print_members(&leader_view(client).await?, json);
    Ok(())
}

pub async fn add_member(client: &Client, id: u64, raft_addr: &str, learner: bool, json: bool) -> anyhow::Result<()> {
    let cluster = client
        .post_json(
            "/admin/members",
            &json!({"id": id, "raft_addr": raft_addr, "learner": learner}),
        )
        .await?;
    print_members(&cluster, json);
    Ok(())
}

pub async fn promote_member(client: &Client, id: u64, json: bool) -> anyhow::Result<()> {
    let cluster = client
        .post_json(&format!("/admin/members/{id}/promote"), &json!({}))
        .await?;
    print_members(&cluster, json);
    Ok(())
}

/// A client for member `id`'s own HTTP API, found through the cluster as `client`'s node sees it.
async fn member_client(client: &Client, id: u64) -> anyhow::Result<Client> {
    let cluster = client.get_json("/admin/cluster").await?;
    let member = cluster["members"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["id"] == id)
        .ok_or_else(|| anyhow::anyhow!("node {id} is not a member"))?;
    let addr = member["http_addr"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("node {id} has not announced an HTTP address"))?;
    Ok(client.for_node(&reachable(addr, member["raft_addr"].as_str())))
}

/// Takes node `id` out of elections and moves leadership away from it (`undo`: back in).
pub async fn drain(client: &Client, id: u64, undo: bool, json: bool) -> anyhow::Result<()> {
    let node = member_client(client, id).await?;
    let report = if undo {
        node.delete_json("/admin/drain").await?
    } else {
        node.post_json("/admin/drain", &json!({})).await?
    };
    if json {
        print_json(&report);
    } else if undo {
        println!(
            "node {id} stands for election again; leader {}",
            text(&report["leader_id"])
        );
    } else {
        println!(
            "node {id} drained: it will not stand for election until undrained or restarted; leader {}",
            text(&report["leader_id"])
        );
    }
    Ok(())
}

pub async fn remove_member(client: &Client, id: u64, json: bool) -> anyhow::Result<()> {
    print_members(&client.delete_json(&format!("/admin/members/{id}")).await?, json);
    Ok(())
}

/// Filters of `instances list`, passed to the node's instance list.
#[derive(Debug, clap::Args)]
pub struct InstanceFilter {
    /// `domain/project`.
    #[arg(long)]
    tenant: Option<String>,
    /// A service's name or id.
    #[arg(long)]
    service: Option<String>,
    /// `UP`, `DOWN`, `STARTING`, `OUT_OF_SERVICE`, `TESTING` or `UNKNOWN`.
    #[arg(long)]
    status: Option<String>,
    /// `local`, or the federation peer the instances are mirrored from.
    #[arg(long)]
    origin: Option<String>,
}

/// The node's instance list with the given filters (a linearizable read).
async fn instance_list(client: &Client, filters: &[(&str, Option<&str>)]) -> anyhow::Result<Value> {
    let mut query: Vec<(&str, &str)> = filters.iter().filter_map(|(k, v)| v.map(|v| (*k, v))).collect();
    query.push(("consistent", "true"));
    client.get_json_with("/admin/registry/instances", &query).await
}

fn origin_of(i: &Value) -> String {
    match &i["origin"] {
        Value::String(local) => local.to_lowercase(),
        Value::Object(o) => o
            .get("Mirrored")
            .map_or_else(|| "-".to_string(), |m| text(&m["source"])),
        other => text(other),
    }
}

pub async fn list_instances(client: &Client, filter: &InstanceFilter, json: bool) -> anyhow::Result<()> {
    let list = instance_list(
        client,
        &[
            ("tenant", filter.tenant.as_deref()),
            ("service", filter.service.as_deref()),
            ("status", filter.status.as_deref()),
            ("origin", filter.origin.as_deref()),
        ],
    )
    .await?;
    let instances = list["instances"].as_array().cloned().unwrap_or_default();
    if json {
        print_json(&json!({"revision": list["revision"], "instances": instances}));
        return Ok(());
    }
    if instances.is_empty() {
        let given: Vec<String> = [
            ("tenant", &filter.tenant),
            ("service", &filter.service),
            ("status", &filter.status),
            ("origin", &filter.origin),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| format!("--{name} {v}")))
        .collect();
        match given.is_empty() {
            true => println!("no instances registered (revision {})", text(&list["revision"])),
            false => println!(
                "no instance matches {} (revision {})",
                given.join(" "),
                text(&list["revision"])
            ),
        }
        return Ok(());
    }
    let mut t = table(&[
        "TENANT",
        "SERVICE",
        "ID",
        "HOST",
        "ENDPOINTS",
        "STATUS",
        "REGION",
        "ZONE",
        "ORIGIN",
        "LAST HEARTBEAT",
        "LEASE EXPIRES",
    ]);
    let now = wall_clock_ms();
    for i in &instances {
        let tenant = format!("{}/{}", text(&i["tenant"]["domain"]), text(&i["tenant"]["project"]));
        let endpoints: Vec<String> = i["endpoints"].as_array().into_iter().flatten().map(text).collect();
        t.add_row([
            tenant,
            service_of(i),
            text(&i["id"]),
            text(&i["host_name"]),
            endpoints.join(" "),
            text(&i["status"]),
            text(&i["region"]),
            text(&i["zone"]),
            origin_of(i),
            relative(i["last_renewal_ms"].as_u64(), now),
            relative(i["lease_expires_ms"].as_u64(), now),
        ]);
    }
    println!("{t}");
    println!(
        "{} at revision {}",
        count(instances.len(), "instance", "instances"),
        text(&list["revision"])
    );
    Ok(())
}

/// `1 instance`, `2 instances`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The instance's service by name (its id when the name is unknown or the same).
fn service_of(i: &Value) -> String {
    let id = text(&i["service_id"]);
    match i["service_name"].as_str() {
        Some(name) if name != id => name.to_string(),
        _ => id,
    }
}

pub async fn get_instance(
    client: &Client,
    service: &str,
    id: &str,
    tenant: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let list = instance_list(
        client,
        &[("tenant", tenant), ("service", Some(service)), ("id", Some(id))],
    )
    .await?;
    let Some(instance) = list["instances"].as_array().and_then(|a| a.first()).cloned() else {
        anyhow::bail!("no instance {id} in service {service}");
    };
    if json {
        print_json(&instance);
        return Ok(());
    }
    println!("{}", instance_table(&instance, wall_clock_ms()));
    Ok(())
}

/// One instance as people read it: names before ids, times as dates and from now, metadata
/// and each protocol's own fields one per line.
fn instance_table(i: &Value, now: u64) -> Table {
    let when = |field: &str| match i[field].as_u64().filter(|ms| *ms > 0) {
        Some(ms) => format!("{} ({})", http_date(ms), relative(Some(ms), now)),
        None => "-".into(),
    };
    let lines = |object: &Value, render: &dyn Fn(&Value) -> String| {
        let lines: Vec<String> = object
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", render(v)))
            .collect();
        if lines.is_empty() {
            "-".to_string()
        } else {
            lines.join("\n")
        }
    };
    let service_id = text(&i["service_id"]);
    let service = match i["service_name"].as_str() {
        Some(name) if name != service_id => format!("{name} ({service_id})"),
        _ => service_id,
    };
    let endpoints: Vec<String> = i["endpoints"].as_array().into_iter().flatten().map(text).collect();
    let status = match i["status_override"].as_str() {
        Some(over) => format!("{} (override {over})", text(&i["status"])),
        None => text(&i["status"]),
    };
    // Protocol fields are kept as each protocol's own JSON text: shown parsed.
    let protocol = |v: &Value| {
        v.as_str()
            .and_then(|raw| serde_json::from_str::<Value>(raw).ok())
            .map_or_else(|| text(v), |parsed| parsed.to_string())
    };
    let lease = &i["lease"];
    let rows = [
        (
            "tenant",
            format!("{}/{}", text(&i["tenant"]["domain"]), text(&i["tenant"]["project"])),
        ),
        ("service", service),
        ("id", text(&i["id"])),
        ("host", text(&i["host_name"])),
        ("ip", text(&i["ip_addr"])),
        (
            "endpoints",
            if endpoints.is_empty() {
                "-".into()
            } else {
                endpoints.join("\n")
            },
        ),
        ("status", status),
        (
            "region / zone",
            format!("{} / {}", text(&i["region"]), text(&i["zone"])),
        ),
        ("origin", origin_of(i)),
        (
            "lease",
            format!(
                "renew every {} s, expires after {} s",
                text(&lease["renewal_interval_secs"]),
                text(&lease["duration_secs"])
            ),
        ),
        ("last heartbeat", when("last_renewal_ms")),
        ("lease expires", when("lease_expires_ms")),
        ("registered", when("registered_at_ms")),
        ("updated", when("updated_at_ms")),
        (
            "revisions",
            format!(
                "created {}, modified {}",
                text(&i["create_revision"]),
                text(&i["mod_revision"])
            ),
        ),
        ("metadata", lines(&i["metadata"], &text)),
        ("protocol fields", lines(&i["protocol_fields"], &protocol)),
    ];
    let mut t = table(&["FIELD", "VALUE"]);
    for (field, value) in rows {
        t.add_row([field.to_string(), value]);
    }
    t
}

/// A wall-clock time in ms as an HTTP date (`Sun, 06 Dec 2026 19:20:00 GMT`).
fn http_date(ms: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
}

/// Saves the backup to a file next to `file` first, then renames it: a failed save leaves no
/// half-written file behind.
pub async fn save(client: &Client, file: &Path, json: bool) -> anyhow::Result<()> {
    let bytes = client.get_bytes("/admin/backup").await?;
    let backup = Backup::decode(&bytes).context("the node sent something that is not a backup")?;
    let partial = file.with_extension("partial");
    std::fs::write(&partial, &bytes).with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, file).with_context(|| format!("cannot write {}", file.display()))?;
    let report = json!({
        "file": file.display().to_string(),
        "revision": backup.revision,
        "records": backup.records.len(),
        "bytes": bytes.len(),
    });
    if json {
        print_json(&report);
    } else {
        println!(
            "saved {} records at revision {} to {} ({} bytes)",
            backup.records.len(),
            backup.revision,
            file.display(),
            bytes.len()
        );
    }
    Ok(())
}

pub async fn restore(client: &Client, file: &Path, json: bool) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    Backup::decode(&bytes).with_context(|| format!("{} is not a registry backup", file.display()))?;
    let report = client.post_bytes("/admin/restore", bytes).await?;
    if json {
        print_json(&report);
    } else {
        println!(
            "restored {} records (backup revision {}) at revision {}",
            text(&report["records"]),
            text(&report["backup_revision"]),
            text(&report["revision"])
        );
    }
    Ok(())
}

/// The wall clock in ms since the epoch.
fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A moment as people read it next to now: `12 s ago`, `in 78 s`; `-` when unknown.
fn relative(ms: Option<u64>, now: u64) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms <= now => format!("{} s ago", (now - ms) / 1000),
        Some(ms) => format!("in {} s", (ms - now).div_ceil(1000)),
    }
}
