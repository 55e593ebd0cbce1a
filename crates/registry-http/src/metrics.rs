//! `GET /metrics`: Prometheus text exposition (OpenMetrics), built fresh on each scrape from
//! the node's own reports: the process (`process_*`, unprefixed, see [`crate::process`]) and
//! `registry_build_info`, Raft (term, leader, log and applied indexes, leader changes, flush
//! and apply latency, the log's flushes and entries; on the leader, each member's replication
//! lag and reachability), the registry (instances by tenant, status and origin; leases,
//! renewals in the last minute and the self-preservation threshold, evictions by protocol;
//! change-feed subscribers), HTTP latency by route, method and status (long polls
//! apart), refusals by reason, writes by protocol and operation (register, renew, cancel, ...),
//! and the federation's per peer (whether its last round succeeded, lag, mirrored and exported
//! instances, the import and export counts).

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use registry_store::model::InstanceStatus;
use registry_store::model::Tenant;
use registry_store::node::RegistryNode;
use registry_sync::status::PeerState;
use registry_sync::Federation;
use smol_str::SmolStr;

use crate::process::ProcessStats;
use crate::request_metrics::RequestMetrics;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    peer: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemberLabels {
    /// The member's node id.
    member: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    tenant: String,
    status: String,
    /// `local`, or the name of the peer it is mirrored from.
    origin: String,
}

use crate::nacos::push_udp::UdpPush;

#[derive(Clone)]
struct Sources {
    node: RegistryNode,
    federation: Arc<Federation>,
    requests: Arc<RequestMetrics>,
    nacos_push: Arc<UdpPush>,
}

/// The `/metrics` route.
pub fn routes(
    node: RegistryNode,
    federation: Arc<Federation>,
    requests: Arc<RequestMetrics>,
    nacos_push: Arc<UdpPush>,
) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(Sources {
        node,
        federation,
        requests,
        nacos_push,
    })
}

async fn scrape(State(sources): State<Sources>) -> Response {
    let mut root = Registry::default();
    process_metrics(&mut root, &ProcessStats::read());
    let registry = root.sub_registry_with_prefix("registry");
    build_info(registry);
    raft_metrics(registry, &sources.node);
    member_metrics(registry, &sources.node);
    log_metrics(registry, &sources.node);
    registry_metrics(registry, &sources.node);
    registry.register(
        "http_request_duration_seconds",
        "HTTP requests but long polls, by route pattern, method and status",
        sources.requests.durations.clone(),
    );
    registry.register(
        "http_long_poll_duration_seconds",
        "Long polls (Eureka delta with waitRevision) by route pattern, method and status",
        sources.requests.long_polls.clone(),
    );
    registry.register(
        "http_refusals",
        "Requests refused: unauthorized (401), forbidden (403), payload_too_large (413), rate_limited (429)",
        sources.requests.refusals.clone(),
    );
    registry.register(
        "operations",
        "Writes to the registry answered with success, by protocol and operation (register, renew, cancel, status, metadata, ...)",
        sources.requests.operations.clone(),
    );
    sync_metrics(registry, &sources.federation);
    crate::nacos::push_udp::metrics::register(registry, &sources.nacos_push);
    let mut body = String::new();
    if let Err(e) = encode(&mut body, &root) {
        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

/// A counter family and a gauge family, registered under `name`.
fn counters(registry: &mut Registry, name: &str, help: &str) -> Family<PeerLabels, Counter> {
    let family = Family::<PeerLabels, Counter>::default();
    registry.register(name, help, family.clone());
    family
}

fn gauges(registry: &mut Registry, name: &str, help: &str) -> Family<PeerLabels, Gauge> {
    let family = Family::<PeerLabels, Gauge>::default();
    registry.register(name, help, family.clone());
    family
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let gauge = Gauge::<i64>::default();
    gauge.set(value);
    registry.register(name, help, gauge);
}

/// `registry_build_info{version}`: always 1, so a query can join the version onto other series.
fn build_info(registry: &mut Registry) {
    let info = Family::<BuildLabels, Gauge>::default();
    info.get_or_create(&BuildLabels {
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
    .set(1);
    registry.register("build_info", "1, labelled with the version of registryd", info);
}

/// The standard `process_*` series, unprefixed, as Prometheus users and dashboards expect them.
fn process_metrics(registry: &mut Registry, stats: &ProcessStats) {
    if let Some(seconds) = stats.cpu_seconds {
        let cpu = Counter::<f64, AtomicU64>::default();
        cpu.inc_by(seconds);
        registry.register("process_cpu_seconds", "User and system CPU time spent, in seconds", cpu);
    }
    let float = |registry: &mut Registry, name: &str, help: &str, value: Option<f64>| {
        if let Some(value) = value {
            let gauge = Gauge::<f64, AtomicU64>::default();
            gauge.set(value);
            registry.register(name, help, gauge);
        }
    };
    let as_f64 = |v: Option<u64>| v.map(|v| v as f64);
    float(
        registry,
        "process_resident_memory_bytes",
        "Resident memory size in bytes",
        as_f64(stats.resident_bytes),
    );
    float(
        registry,
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes",
        as_f64(stats.virtual_bytes),
    );
    float(
        registry,
        "process_open_fds",
        "Open file descriptors",
        as_f64(stats.open_fds),
    );
    float(
        registry,
        "process_max_fds",
        "The soft limit on open file descriptors",
        as_f64(stats.max_fds),
    );
    float(
        registry,
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch, in seconds",
        stats.start_time_seconds,
    );
}

fn raft_metrics(registry: &mut Registry, node: &RegistryNode) {
    let status = node.status();
    gauge(registry, "raft_term", "The current Raft term", status.term as i64);
    gauge(
        registry,
        "raft_leader_id",
        "The leader's node id as this node knows it (0: none)",
        status.leader_id.unwrap_or(0) as i64,
    );
    gauge(
        registry,
        "raft_is_leader",
        "1 while this node is the leader",
        i64::from(status.role == "leader"),
    );
    gauge(
        registry,
        "raft_last_log_index",
        "Index of the last entry in this node's log",
        status.last_log_index as i64,
    );
    gauge(
        registry,
        "raft_last_applied_index",
        "Index of the last entry applied here (the registry's revision)",
        status.last_applied as i64,
    );
    let meters = node.meters();
    registry.register(
        "raft_leader_changes",
        "Times this node saw the leader change (the first leader it learns counts)",
        meters.leader_changes.clone(),
    );
    registry.register(
        "raft_log_flush_seconds",
        "Flushes (fsyncs) of the Raft log",
        meters.log_flush_seconds.clone(),
    );
    registry.register(
        "raft_apply_seconds",
        "Applies of committed entries to the registry state",
        meters.apply_seconds.clone(),
    );
    registry.register(
        "wake_lateness_seconds",
        "How late this process woke from a timer, on the async runtime and on a plain thread: \
         stalls past the election timeout start elections",
        meters.wake_lateness_seconds.clone(),
    );
    registry.register(
        "raft_append_gap_seconds",
        "Time between consecutive AppendEntries (heartbeats included) this node received",
        meters.append_gap_seconds.clone(),
    );
    registry.register(
        "raft_append_seconds",
        "Time this node's Raft took to answer one AppendEntries",
        meters.append_seconds.clone(),
    );
}

/// Each member's replication lag and reachability as the leader sees them (`/admin/cluster`'s
/// `lag` and `reachable`). Only the leader exports them (other nodes do not call the members),
/// so `max by (member)` over every node is the leader's view, and a member's reachability is
/// left out while it is too soon to tell (the leader has called it for less than the limit).
fn member_metrics(registry: &mut Registry, node: &RegistryNode) {
    let status = node.status();
    if status.role != "leader" {
        return;
    }
    let lag = Family::<MemberLabels, Gauge>::default();
    registry.register(
        "member_replication_lag_entries",
        "Log entries each member's log trails the leader's by, as the leader sees it (exported by the leader only)",
        lag.clone(),
    );
    let reachable = Family::<MemberLabels, Gauge>::default();
    registry.register(
        "member_reachable",
        "1 if the member answered the leader lately, 0 if not (exported by the leader only; absent while too soon to tell)",
        reachable.clone(),
    );
    for member in &status.members {
        let labels = MemberLabels {
            member: member.id.to_string(),
        };
        if let Some(entries) = member.lag {
            lag.get_or_create(&labels).set(entries as i64);
        }
        if let Some(answers) = member.reachable {
            reachable.get_or_create(&labels).set(i64::from(answers));
        }
    }
}

fn registry_metrics(registry: &mut Registry, node: &RegistryNode) {
    let instances = Family::<InstanceLabels, Gauge>::default();
    registry.register(
        "instances",
        "Registered instances by tenant, status and origin",
        instances.clone(),
    );
    // Counted under the state lock with cheap clones (short strings are inline), labelled after.
    let mut counts: HashMap<(Tenant, InstanceStatus, Option<SmolStr>), i64> = HashMap::new();
    for i in node.read().state.instances() {
        let origin = i.origin.source().map(SmolStr::from);
        *counts.entry((i.tenant.clone(), i.status, origin)).or_default() += 1;
    }
    for ((tenant, status, origin), count) in counts {
        let labels = InstanceLabels {
            tenant: tenant.to_string(),
            status: status.as_str().to_string(),
            origin: origin.map_or_else(|| "local".to_string(), |o| o.to_string()),
        };
        instances.get_or_create(&labels).set(count);
    }
    registry.register(
        "evicted_instances",
        "Instances removed because their lease expired, by the protocol that registered them (counted on every node as the eviction applies)",
        node.meters().evicted_instances.clone(),
    );
    gauge(
        registry,
        "change_feed_subscribers",
        "Live subscriptions to the change feed: watchers and the node's own followers",
        node.feed_subscribers() as i64,
    );
    // Leases live on the leader only.
    if let Some(stats) = node.leases().stats() {
        gauge(registry, "leases", "Instances holding a lease", stats.leases as i64);
        gauge(
            registry,
            "lease_renewals_last_window",
            "Renewals in the last window, one minute by default (extrapolated while the leader is younger)",
            stats.renewals_last_window as i64,
        );
        gauge(
            registry,
            "lease_renewal_threshold",
            "Renewals per window below which self-preservation stops evictions",
            stats.threshold as i64,
        );
        gauge(
            registry,
            "lease_expiry_enabled",
            "1 while expired leases are evicted (0: self-preservation holds them)",
            i64::from(stats.expiry_enabled),
        );
    }
}

fn log_metrics(registry: &mut Registry, node: &RegistryNode) {
    let totals = node.log_counters();
    let total = |registry: &mut Registry, name: &str, help: &str, value: u64| {
        let counter = Counter::<u64>::default();
        counter.inc_by(value);
        registry.register(name, help, counter);
    };
    total(
        registry,
        "raft_log_flushes",
        "Appends to the Raft log made durable (one fsync each)",
        totals.flushes,
    );
    total(
        registry,
        "raft_log_entries_appended",
        "Raft log entries made durable by those flushes",
        totals.entries,
    );
    total(
        registry,
        "raft_log_commands_appended",
        "Registry commands made durable by those flushes (an entry carries a batch of them)",
        totals.commands,
    );
}

fn sync_metrics(registry: &mut Registry, federation: &Federation) {
    let report = federation.report();
    let leading = Gauge::<i64>::default();
    leading.set(i64::from(report.leading));
    registry.register(
        "sync_workers_running",
        "1 when this node (the leader) runs the sync workers",
        leading,
    );
    let up = gauges(registry, "sync_peer_up", "1 when the peer's last round succeeded");
    let lag = gauges(
        registry,
        "sync_lag_seconds",
        "Seconds since the peer's last successful round",
    );
    let mirrored = gauges(registry, "sync_mirrored_instances", "Instances mirrored from the peer");
    let exported = gauges(
        registry,
        "sync_exported_instances",
        "Instances kept registered at the peer",
    );
    let upserted = counters(
        registry,
        "sync_imported_upserts",
        "Mirrored instances created or changed",
    );
    let deleted = counters(registry, "sync_imported_deletes", "Mirrored instances deleted");
    let expired = counters(
        registry,
        "sync_expired_instances",
        "Instances removed after the grace period",
    );
    let loops = counters(
        registry,
        "sync_loops_skipped",
        "Records skipped because their hop path names this cluster",
    );
    let registered = counters(registry, "sync_export_registrations", "Registrations sent to the peer");
    let heartbeats = counters(registry, "sync_export_heartbeats", "Heartbeats sent to the peer");
    let unregistered = counters(registry, "sync_export_deletes", "Copies removed from the peer");
    for p in report.peers {
        let labels = PeerLabels {
            peer: p.name.clone(),
            kind: p.kind.as_str().to_string(),
        };
        up.get_or_create(&labels).set(i64::from(p.state == PeerState::Syncing));
        if let Some(ms) = p.lag_ms {
            lag.get_or_create(&labels).set((ms / 1000) as i64);
        }
        mirrored.get_or_create(&labels).set(p.imported.mirrored as i64);
        exported.get_or_create(&labels).set(p.exported.exported as i64);
        upserted.get_or_create(&labels).inc_by(p.imported.upserted);
        deleted.get_or_create(&labels).inc_by(p.imported.deleted);
        expired.get_or_create(&labels).inc_by(p.imported.expired);
        loops.get_or_create(&labels).inc_by(p.imported.loops_skipped);
        registered.get_or_create(&labels).inc_by(p.exported.registered);
        heartbeats.get_or_create(&labels).inc_by(p.exported.heartbeats);
        unregistered.get_or_create(&labels).inc_by(p.exported.deleted);
    }
}
