//! Meta endpoints (§3.1) and the governance app list (§3.9).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::Path;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use super::core::collection;
use super::core::done;
use super::core::json;
use super::core::tenant;
use super::core::Sc;
use super::error::ErrorCode;
use super::error::ScError;
use super::wire::MicroServiceInstance;

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

/// The cluster's own members as ServiceCenter instances: clients use them to find every node.
pub async fn health(State(sc): Shared) -> Result<Response, ScError> {
    sc.node
        .health()
        .map_err(|reason| ScError::new(ErrorCode::Unhealthy, reason))?;
    let status = sc.node.status();
    let instances: Vec<MicroServiceInstance> = status
        .members
        .iter()
        .filter_map(|m| {
            let addr = m.http_addr.as_ref()?;
            Some(MicroServiceInstance {
                instance_id: format!("registry-node-{}", m.id),
                service_id: "registry".into(),
                endpoints: vec![format!("rest://{addr}")],
                host_name: addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h).to_string(),
                status: "UP".into(),
                ..MicroServiceInstance::default()
            })
        })
        .collect();
    Ok(json(&json!({ "instances": instances })))
}

pub async fn readiness() -> Response {
    done()
}

/// `GET /v4/{project}/govern/apps`: every appId in the tenant.
pub async fn apps(State(sc): Shared, Path(project): Path<String>, headers: HeaderMap) -> Result<Response, ScError> {
    let tenant = tenant(&headers, &project)?;
    let applied = sc.node.read();
    let apps: BTreeSet<&str> = applied
        .state
        .services()
        .filter(|s| s.tenant == tenant)
        .map(|s| s.app.as_str())
        .collect();
    Ok(collection("appIds", &apps))
}
