//! `GET /status` (§6): the server's general and replica statistics and its own instance, and
//! `PUT /asg/{asg}/status` (auto-scaling groups exist only on AWS).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::Response;
use serde_json::json;
use serde_json::Map;
use serde_json::Value;

use super::error::EurekaError;
use super::format::Format;
use super::json;
use super::ops::Eureka;
use super::wire::InstanceInfo;
use super::wire::Port;
use super::xml;

fn meminfo_total_mb() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

fn rss_mb() -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// Ordered string pairs, rendered as a JSON object or as XML child elements.
type Stats = Vec<(&'static str, String)>;

fn general_stats(e: &Eureka) -> Stats {
    let total = meminfo_total_mb();
    let rss = rss_mb();
    let uptime = e.started.elapsed().as_secs();
    vec![
        ("environment", "default".to_string()),
        (
            "num-of-cpus",
            std::thread::available_parallelism().map_or(1, |n| n.get()).to_string(),
        ),
        ("total-avail-memory", format!("{total}mb")),
        (
            "current-memory-usage",
            format!("{rss}mb ({}%)", (rss * 100).checked_div(total).unwrap_or(0)),
        ),
        (
            "server-uptime",
            format!("{:02}:{:02}", uptime / 3600, (uptime / 60) % 60),
        ),
    ]
}

fn application_stats(e: &Eureka) -> Stats {
    let status = e.registry.status();
    let leading = status.role == "leader";
    let lagging = e.registry.lagging_followers();
    let mut registered = Vec::new();
    let mut available = Vec::new();
    let mut unavailable = Vec::new();
    for m in status.members.iter().filter(|m| m.id != status.node_id) {
        let Some(addr) = &m.http_addr else {
            unavailable.push(format!("raft://{}", m.raft_addr));
            continue;
        };
        let url = format!("http://{addr}/eureka/");
        registered.push(url.clone());
        // The leader knows how far each replica is; a follower only that the cluster has a leader.
        let up = if leading {
            !lagging.contains(&m.id)
        } else {
            status.leader_id.is_some()
        };
        if up {
            available.push(url)
        } else {
            unavailable.push(url)
        }
    }
    vec![
        ("registered-replicas", registered.join(", ")),
        (
            "available-replicas",
            available.iter().map(|u| format!("{u},")).collect(),
        ),
        (
            "unavailable-replicas",
            unavailable.iter().map(|u| format!("{u},")).collect(),
        ),
    ]
}

fn own_instance(e: &Eureka) -> InstanceInfo {
    let status = e.registry.status();
    let addr = status
        .members
        .iter()
        .find(|m| m.id == status.node_id)
        .and_then(|m| m.http_addr.clone());
    let (host, port) = addr
        .as_deref()
        .and_then(|a| a.rsplit_once(':'))
        .map_or(("127.0.0.1".to_string(), 8761), |(h, p)| {
            (h.to_string(), p.parse().unwrap_or(8761))
        });
    let mut info = InstanceInfo::new("REGISTRY", &host);
    info.instance_id = Some(format!("registry-node-{}", status.node_id));
    info.ip_addr = host;
    info.port = Port {
        number: port,
        enabled: true,
    };
    info.vip_address = Some("registry".into());
    info
}

fn stats_json(stats: &Stats) -> Value {
    Value::Object(
        stats
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

fn stats_xml(name: &str, stats: &Stats) -> String {
    let mut out = format!("<{name}>");
    for (k, v) in stats {
        out.push_str(&format!("<{k}>{}</{k}>", quick_xml::escape::escape(v.as_str())));
    }
    out.push_str(&format!("</{name}>"));
    out
}

pub async fn status(State(e): State<Arc<Eureka>>, headers: HeaderMap) -> Response {
    let format = Format::of_response(&headers);
    let general = general_stats(&e);
    let applications = application_stats(&e);
    let healthy = e.registry.health().is_ok().to_string();
    let instance = own_instance(&e);
    let body = match format {
        Format::Json => {
            let info: Value = serde_json::from_slice(&json::encode_instance(&instance)).unwrap_or(Value::Null);
            let doc = json!({
                "generalStats": stats_json(&general),
                "applicationStats": stats_json(&applications),
                "instanceInfo": info["instance"],
                "isHeathly": healthy,
            });
            serde_json::to_vec(&doc).unwrap_or_default()
        }
        Format::Xml => {
            let info = String::from_utf8_lossy(&xml::encode_instance(&instance)).into_owned();
            let info = info.replacen("<instance>", "<instanceInfo>", 1);
            let info = match info.rfind("</instance>") {
                Some(at) => format!("{}</instanceInfo>", &info[..at]),
                None => info,
            };
            format!(
                "<status>{}{}{info}<isHeathly>{healthy}</isHeathly></status>",
                stats_xml("generalStats", &general),
                stats_xml("applicationStats", &applications)
            )
            .into_bytes()
        }
    };
    super::handlers::respond(format, e.registry.revision(), body)
}

/// Auto-scaling groups exist only on AWS; this registry runs anywhere else.
pub async fn asg_status() -> Response {
    EurekaError::Invalid("ASG status changes are only supported for instances running on AWS".into()).into_response()
}
