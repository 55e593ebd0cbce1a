//! The registry's HTTP front and the `registryd` binary.
//!
//! - [`node_api`]: node endpoints every listener serves: `/health`, `/admin/cluster`,
//!   `/admin/members`, `/admin/snapshot`, `/admin/backup`, `/admin/restore`.
//! - [`dashboard`]: the dashboard page at `/` and the overview and events it reads.
//! - [`lease_api`]: `/admin/leases`, the leader's leases and self-preservation state.
//! - [`registry_api`]: the native JSON API on the unified model (`/admin/registry/...`), for
//!   operators, tools and tests.
//! - [`eureka`]: the Eureka REST API under `/eureka`, `/eureka/v1` and `/eureka/v2`.
//! - [`servicecenter`]: the ServiceCenter v4 API under `/v4`.
//! - [`nacos`]: the Nacos naming Open API v1 (instances) under `/nacos/v1/ns`.
//! - [`metrics`]: `/metrics` in Prometheus text; [`request_metrics`] times every request for it
//!   and counts refusals; [`process`] reads the process's own resources for it.
//! - [`sync_api`]: `/admin/sync` and the gRPC `Follow` stream of the federation
//!   (`registry_sync`).
//! - [`worker_api`]: `/admin/workers`, the background workers [`Parts::start`] and the node
//!   started, and their states.
//! - [`member_http`]: calls to the other members' HTTP listeners; [`instance_feed`]: the workers
//!   following the change feed for in-memory views.
//! - [`endpoint`]: each request parsed once by its protocol (Eureka, ServiceCenter, or
//!   [`node_endpoint`] for the node's own routes) into an endpoint that says what it needs;
//!   auth, limits, the audit trail and the request metrics act on it.
//! - [`auth`]: who may call what (users, roles, tenants, tokens), checked on every route.
//! - [`tls`]: TLS for the HTTP listeners.
//! - [`limits`]: body size, connections and per-client rate; [`refusal`]: refusals in each
//!   protocol's format; [`audit`]: the audit trail of writes.
//! - [`error`]: one error type for the node and native APIs, mapped to HTTP in one place.
//! - [`config`]: flags, environment and TOML file merged into validated settings (binary only).

pub mod audit;
pub mod auth;
pub mod config;
pub mod connections;
pub mod dashboard;
pub mod endpoint;
pub mod error;
pub mod eureka;
pub mod instance_feed;
pub mod lease_api;
pub mod limits;
pub mod member_http;
pub mod metrics;
pub mod nacos;
pub mod node_api;
pub mod node_endpoint;
pub mod process;
pub mod refusal;
pub mod registry_api;
pub mod request_metrics;
pub mod servicecenter;
pub mod sync_api;
pub mod tls;
pub mod worker_api;

use std::future::Future;
use std::sync::Arc;

use auth::AuthSettings;
use axum::extract::DefaultBodyLimit;
use axum::serve::ListenerExt;
use axum::Router;
use connections::ConnectionLimits;
use dashboard::recent::RecentActivity;
use eureka::delta::DeltaWindow;
use eureka::mapping::EurekaSettings;
use limits::LimitSettings;
use nacos::mapping::NacosSettings;
use registry_store::node::RegistryNode;
use registry_store::registry::Registry;
use registry_store::worker::Workers;
use registry_sync::Federation;
use registry_sync::SyncSettings;
use servicecenter::DependencyQueue;
use servicecenter::ScSettings;
use tokio::net::TcpListener;
use tower::Layer;
use tower_http::normalize_path::NormalizePath;
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::request_id::MakeRequestUuid;
use tower_http::request_id::PropagateRequestIdLayer;
use tower_http::request_id::SetRequestIdLayer;
use tower_http::trace::TraceLayer;

/// How the protocol APIs map onto the unified registry, and the federation.
#[derive(Debug, Clone, Default)]
pub struct ApiSettings {
    pub eureka: EurekaSettings,
    pub servicecenter: ScSettings,
    pub nacos: NacosSettings,
    pub sync: SyncSettings,
    pub auth: AuthSettings,
    /// The listeners serve HTTPS: members call each other with `https://`.
    pub tls: bool,
    /// The cluster's CA (PEM), trusted when members call each other's HTTPS listeners.
    pub peer_tls: Option<Vec<u8>>,
    pub limits: LimitSettings,
}

/// How a listener serves: over TLS or not, and its connection limits.
#[derive(Debug, Clone, Default)]
pub struct Listening {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub connections: ConnectionLimits,
}

/// What the router serves from: the node, the settings, and the front's parts that need
/// background work, each already fed by a worker under `workers`.
pub struct Parts {
    pub node: RegistryNode,
    pub apis: ApiSettings,
    pub federation: Arc<Federation>,
    /// What the Eureka endpoints share: its delta window and full-fetch payloads are kept by
    /// workers.
    pub eureka: Arc<eureka::ops::Eureka>,
    pub recent: Arc<RecentActivity>,
    /// The dependency records ServiceCenter finds imply, waiting to be written.
    pub dependencies: DependencyQueue,
    /// Nacos's v1 subscribers, pushed to over UDP.
    pub nacos_push: Arc<nacos::push_udp::UdpPush>,
    /// The supervisor, for `/admin/workers`.
    pub workers: Workers,
}

impl Parts {
    /// Builds the front's parts on `node` and starts their workers under `workers`: the
    /// federation (which runs the sync workers while this node leads), the Eureka delta window's
    /// follower and full-fetch keeper, the dashboard's recent activity and the writer of ServiceCenter's dependency
    /// records, and the Nacos UDP push. The node's own workers
    /// ([`RegistryNode::workers`]) are the caller's to start.
    pub fn start(node: RegistryNode, apis: ApiSettings, workers: &Workers) -> Self {
        let mut sync = apis.sync.clone();
        sync.eureka_app_id = apis.eureka.app_id.clone();
        let federation = Federation::new(node.clone(), sync);
        workers.start(federation.worker(workers.clone()));
        let delta = DeltaWindow::new(eureka::delta::DELTA_RETENTION);
        let registry: Arc<dyn Registry> = Arc::new(node.clone());
        workers.start(delta.follower(registry.clone()));
        let eureka = eureka::shared(registry, apis.eureka.clone(), delta);
        workers.start(eureka::keeper::FullFetchKeeper::new(&eureka));
        let recent = Arc::new(RecentActivity::default());
        workers.start(recent.follower(node.clone()));
        let dependencies = DependencyQueue::new(servicecenter::dependency_queue::MAX_HELD);
        workers.start(dependencies.flusher(node.clone(), apis.servicecenter.dependency_flush_delay));
        let nacos_push = nacos::push_udp::UdpPush::new(Default::default());
        workers.start(nacos_push.worker(Arc::new(node.clone()), apis.nacos.clone(), Default::default()));
        Parts {
            node,
            apis,
            federation,
            eureka,
            recent,
            dependencies,
            nacos_push,
            workers: workers.clone(),
        }
    }
}

/// Every route a node serves, on every HTTP listener. Build it once and clone it per listener.
/// It starts nothing: the parts' workers run already.
pub fn router(parts: Parts) -> Router {
    let Parts {
        node,
        apis,
        federation,
        eureka: eureka_api,
        recent,
        dependencies,
        nacos_push,
        workers,
    } = parts;
    let requests = Arc::new(request_metrics::RequestMetrics::default());
    let peers = member_http::MemberHttp::new(
        node.clone(),
        apis.auth.tokens.clone(),
        apis.tls,
        apis.peer_tls.as_deref(),
    );
    let guard = apis
        .auth
        .enabled()
        .then(|| Arc::new(auth::Guard::new(apis.auth.clone())));
    // Each request is parsed once, by the first protocol that claims its path.
    let endpoints = Arc::new(endpoint::Endpoints::new(vec![
        eureka::endpoint::parser(apis.eureka.tenant.clone()),
        servicecenter::endpoint::parser(),
        nacos::endpoint::parser(),
        node_endpoint::parser(),
    ]));
    let routes = Router::new()
        .merge(node_api::routes())
        .merge(registry_api::routes())
        .with_state(node.clone())
        .merge(eureka::routes_of(eureka_api.clone()))
        .merge(nacos::routes(Arc::new(node.clone()), apis.nacos).layer(axum::Extension(nacos_push.clone())))
        .merge(metrics::routes(
            node.clone(),
            federation.clone(),
            requests.clone(),
            nacos_push,
        ))
        .merge(lease_api::routes(node.clone(), peers.clone()))
        .merge(dashboard::routes(
            node.clone(),
            federation.clone(),
            peers.clone(),
            recent,
            workers.clone(),
        ))
        .merge(worker_api::routes(workers))
        .merge(sync_api::routes(federation, peers))
        .merge(servicecenter::routes(Arc::new(node), apis.servicecenter, dependencies))
        .merge(servicecenter::token::routes(apis.auth));
    // Refusals are timed, traced and audited like every other answer: the guard and the
    // limits sit inside the request metrics, the audit trail and the request ids; all of them
    // read the request's endpoint, parsed outside them.
    // Heartbeats and one-app reads skip the router's layers when none of them could refuse one.
    let lean = (guard.is_none() && apis.limits.rate_per_client.is_none())
        .then(|| eureka::lean::Lean::new(eureka_api, requests.clone()));
    let routes = match guard {
        Some(guard) => routes.layer(axum::middleware::from_fn_with_state(guard, auth::check)),
        None => routes,
    };
    let routes = routes
        .layer(axum::middleware::from_fn(limits::explain_too_large))
        .layer(DefaultBodyLimit::max(apis.limits.max_body_bytes));
    let routes = match apis.limits.rate_per_client {
        Some(rate) => {
            let limit = limits::RateLimit::start(rate, apis.limits.rate_burst);
            routes.layer(axum::middleware::from_fn_with_state(limit, limits::limit_rate))
        }
        None => routes,
    };
    let routes = routes
        .layer(axum::middleware::from_fn(audit::record))
        .layer(axum::middleware::from_fn_with_state(requests, request_metrics::record))
        .layer(axum::middleware::from_fn_with_state(endpoints, endpoint::classify))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_failure(log_failure),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    match lean {
        Some(lean) => lean.in_front_of(routes),
        None => routes,
    }
}

/// A request that failed on the server's side: a 503 (no leader yet, no quorum in time, health
/// while electing) is an expected, retryable answer, logged at DEBUG; anything else at WARN.
/// (tower-http's default logs every 5xx at ERROR, so an election filled the log with errors.)
pub(crate) fn log_failure(
    failure: tower_http::classify::ServerErrorsFailureClass,
    latency: std::time::Duration,
    _span: &tracing::Span,
) {
    use tower_http::classify::ServerErrorsFailureClass;
    match failure {
        ServerErrorsFailureClass::StatusCode(axum::http::StatusCode::SERVICE_UNAVAILABLE) => {
            tracing::debug!(?latency, "answered 503 (retryable)")
        }
        other => tracing::warn!(?latency, failure = %other, "request failed"),
    }
}

/// Every request's span: its id (the client's `X-Request-Id`, else a new UUID, echoed in the
/// response), method and path, so the node's log lines about a request can be found by its id.
fn request_span(request: &axum::extract::Request) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!("request", id, method = %request.method(), path = request.uri().path())
}

/// The router as served: a trailing slash is ignored (every Eureka client fetches `.../apps/`).
pub fn app(router: Router) -> NormalizePath<Router> {
    NormalizePathLayer::trim_trailing_slash().layer(router)
}

/// Serves `router` on `listener` as `listening` says until `shutdown` resolves, then finishes
/// in-flight requests. Handlers see the client's address (`ConnectInfo<connections::ClientAddr>`).
pub async fn serve(
    listener: TcpListener,
    listening: Listening,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Some(config) = listening.tls {
        let listener =
            connections::LimitedListener::new(tls::TlsListener::new(listener, config)?, listening.connections);
        return connections::run(listener, app(router), shutdown).await;
    }
    // Replies and event streams go out at once instead of waiting for the client's ACK.
    let listener = listener.tap_io(|conn| {
        if let Err(e) = conn.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let listener = connections::LimitedListener::new(listener, listening.connections);
    connections::run(listener, app(router), shutdown).await
}
