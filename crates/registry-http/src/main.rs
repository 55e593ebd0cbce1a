//! `registryd`: runs one registry node. With no arguments, a single-node cluster with data in
//! `./data`, serving HTTP on 127.0.0.1:8761, 127.0.0.1:30100 and 127.0.0.1:8848 (Nacos 2.x gRPC beside each,
//! at its port + 1000) and Raft on 127.0.0.1:7100.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use registry_http::config::LogFormat;
use registry_http::config::Options;
use registry_http::config::Settings;
use registry_http::nacos::grpc::NacosGrpc;
use registry_store::node::RegistryNode;
use registry_store::worker::Workers;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

/// jemalloc rather than glibc's malloc: at 100k instances the node's RSS is about a quarter
/// lower (glibc's heap fragments between the long-lived records and the write path's batch
/// buffers) at the same throughput.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options (its `malloc_conf`, read at start): a background thread returns freed
/// pages to the system once their decay time (10 s) has passed, even when the thread that freed
/// them sleeps; without it, what the payload builder freed after building a million instances
/// stayed resident until that thread built again.
#[cfg(feature = "jemalloc")]
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8; 23] = b"background_thread:true\0";

/// How long each background worker has to end once told to stop.
const WORKER_STOP: std::time::Duration = std::time::Duration::from_secs(2);

fn main() -> ExitCode {
    let settings = match Settings::load(Options::parse()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("registryd: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&settings);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("registryd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registryd: {e:#}");
            ExitCode::from(1)
        }
    };
    // Background threads (sled's flusher, idle connections) need not hold the exit up.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}

fn init_logging(settings: &Settings) {
    let filter = EnvFilter::try_new(&settings.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_ansi(ansi)
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Says loudly when a listener others can reach has no authentication: anyone who reaches an
/// HTTP listener could then read and change the registry, or a Raft listener join the cluster.
fn warn_if_exposed(settings: &Settings, raft: &TcpListener, http: &[TcpListener]) {
    let exposed = |l: &TcpListener| l.local_addr().is_ok_and(|a| !a.ip().is_loopback());
    if !settings.apis.auth.enabled() {
        for l in http.iter().filter(|l| exposed(l)) {
            tracing::warn!(
                listener = ?l.local_addr().ok(),
                "HTTP LISTENER REACHABLE FROM OTHER HOSTS WITHOUT AUTHENTICATION: anyone who reaches it can read \
                 and change the registry; configure [[auth.users]] and a cluster secret"
            );
        }
    }
    if settings.node.cluster_secret.is_none() && exposed(raft) {
        tracing::warn!(
            listener = ?raft.local_addr().ok(),
            "RAFT LISTENER REACHABLE FROM OTHER HOSTS WITHOUT A CLUSTER SECRET: any host that reaches it can \
             take part in the cluster; set --cluster-secret (the same on every node)"
        );
    }
}

async fn run(mut settings: Settings) -> anyhow::Result<()> {
    let raft_listener = TcpListener::bind(&settings.raft_listen)
        .await
        .with_context(|| format!("cannot listen for Raft on {}", settings.raft_listen))?;
    let mut http_listeners = Vec::new();
    for addr in &settings.http {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen for HTTP on {addr}"))?;
        settings.node.http_addrs.push(listener.local_addr()?.to_string());
        http_listeners.push(listener);
    }
    warn_if_exposed(&settings, &raft_listener, &http_listeners);
    let nacos_grpc_listeners = bind_nacos_grpc(&settings, &http_listeners).await;
    // The parts, composed here in order: the node (Raft, storage), its workers (lease keeper,
    // announcer), the HTTP front's parts and theirs (federation, change-feed followers), the
    // router over them, and the listeners. Shutdown goes the other way.
    let node = RegistryNode::start(settings.node.clone(), raft_listener).await?;
    let workers = Workers::new();
    for worker in node.workers() {
        workers.start_boxed(worker);
    }
    let parts = registry_http::Parts::start(node.clone(), settings.apis.clone(), &workers);
    let app = registry_http::router(parts);
    let (stop_http, _) = watch::channel(false);
    let mut servers = Vec::new();
    for listener in http_listeners {
        let mut stop = stop_http.subscribe();
        let router = app.clone();
        let listening = registry_http::Listening {
            tls: settings.http_tls.clone(),
            connections: settings.apis.limits.connections,
        };
        servers.push(tokio::spawn(registry_http::serve(
            listener,
            listening,
            router,
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )));
    }
    if !nacos_grpc_listeners.is_empty() {
        let registry: std::sync::Arc<dyn registry_store::registry::Registry> = std::sync::Arc::new(node.clone());
        let grpc = NacosGrpc::start(registry, settings.apis.nacos.clone(), &workers);
        for listener in nacos_grpc_listeners {
            let mut stop = stop_http.subscribe();
            let served = grpc.clone().serve(listener, async move {
                let _ = stop.wait_for(|s| *s).await;
            });
            servers.push(tokio::spawn(async move { served.await.map_err(std::io::Error::other) }));
        }
    }
    tracing::info!(
        node_id = settings.node.node_id,
        http = ?settings.node.http_addrs,
        raft = %settings.node.raft_addr,
        data_dir = %settings.node.data_dir.display(),
        "registryd started"
    );
    let failure = tokio::select! {
        signal = wait_for_signal() => {
            signal?;
            None
        }
        failure = node.raft_failure() => Some(failure),
    };
    if let Some(failure) = &failure {
        tracing::error!(
            error = %failure,
            "Raft stopped (a storage failure, e.g. a full disk); exiting so a supervisor restarts this node \
             once the cause is fixed: what it acknowledged is durable, the rest it catches up from the leader"
        );
    }
    tracing::info!("shutting down");
    let _ = stop_http.send(true);
    workers.stop_all(WORKER_STOP).await;
    node.shutdown().await;
    for s in servers {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s).await;
    }
    tracing::info!("stopped");
    match failure {
        Some(failure) => {
            // Not dropped: dropping the store flushes it, and after a failed write sled's flush
            // can wait forever, which would keep this process up instead of restarting it.
            std::mem::forget(node);
            Err(anyhow::anyhow!("Raft stopped: {failure}"))
        }
        None => Ok(()),
    }
}

/// The Nacos 2.x gRPC listeners, beside each HTTP listener at its port + the offset. A derived
/// port that cannot be bound is logged and skipped (the HTTP listener serves on). None while
/// users or TLS are configured: the gRPC front checks no credentials and speaks no TLS yet.
async fn bind_nacos_grpc(settings: &Settings, http: &[TcpListener]) -> Vec<TcpListener> {
    let offset = settings.nacos_grpc_offset;
    if offset == 0 {
        return Vec::new();
    }
    if settings.apis.auth.enabled() || settings.http_tls.is_some() {
        tracing::warn!("Nacos gRPC listeners not started: they check no credentials and speak no TLS");
        return Vec::new();
    }
    let mut listeners = Vec::new();
    for l in http {
        let Ok(mut addr) = l.local_addr() else { continue };
        let Some(port) = addr.port().checked_add(offset) else {
            tracing::error!(http = %addr, offset, "no Nacos gRPC listener: the port would pass 65535");
            continue;
        };
        addr.set_port(port);
        match TcpListener::bind(addr).await {
            Ok(listener) => listeners.push(listener),
            Err(e) => tracing::error!(%addr, error = %e, "cannot listen for Nacos gRPC; skipped"),
        }
    }
    listeners
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        r = tokio::signal::ctrl_c() => r?,
    }
    Ok(())
}
