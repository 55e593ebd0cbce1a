//! Meta endpoints (§3.1) and the governance app list (§3.9).

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::Query;
use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use super::core::collection;
use super::core::done;
use super::core::json;
use super::core::Sc;
use super::error::ErrorCode;
use super::error::ScError;
use super::registry_service;
use super::tenant::ScTenant;

type Shared = State<Arc<Sc>>;

pub async fn version() -> Response {
    json(&json!({
        "version": env!("CARGO_PKG_VERSION"),
        "buildTag": "",
        "goVersion": "",
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "apiVersion": "4.0.0",
    }))
}

/// The cluster's own members as instances of `SERVICECENTER`: clients use them to find every
/// node.
pub async fn health(State(sc): Shared) -> Result<Response, ScError> {
    sc.registry
        .health()
        .map_err(|reason| ScError::new(ErrorCode::Unhealthy, reason))?;
    let instances = registry_service::instances(&*sc.registry, sc.settings.tls);
    Ok(json(&json!({ "instances": instances })))
}

pub async fn readiness() -> Response {
    done()
}

/// `GET /v4/{project}/govern/apps[?env=E]`: the appIds of the tenant's services in one
/// environment (none given: the empty one), as ServiceCenter lists them (`etcd/ms.go` `ListApp`).
pub async fn apps(
    State(sc): Shared,
    ScTenant(tenant): ScTenant,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, ScError> {
    let env = q.get("env").map(String::as_str).unwrap_or("");
    let apps: BTreeSet<String> = sc.registry.read(|applied| {
        applied
            .state
            .services()
            .filter(|s| s.tenant == tenant && s.environment == env)
            .map(|s| s.app.clone())
            .collect()
    });
    Ok(collection("appIds", &apps))
}
