//! Eureka reads shared by import and export.

use registry_store::protocol::eureka::json;
use registry_store::protocol::eureka::wire::Applications;
use reqwest::Method;

use super::http::RemoteHttp;
use crate::error::SyncError;

/// `GET {base}{path}` (`/apps` or `/apps/delta`) as JSON.
pub async fn fetch_apps(http: &RemoteHttp, path: &str) -> Result<Applications, SyncError> {
    let request = http.request(Method::GET, path).header("Accept", "application/json");
    let body = http.send(request).await?.success_body(path)?;
    json::decode_applications(&body).map_err(|e| SyncError::BadBody(format!("{path}: {e}")))
}
