//! The audit trail: one `registry::audit` log line per write request (every method but GET,
//! HEAD and OPTIONS; heartbeats, which change no record, are left out), after it is answered: who (the authenticated user, or `anonymous`), what
//! (method and path), from where (the client's address and the protocol), the outcome (status)
//! and the request id. Which requests renew leases and which protocol they speak is their
//! endpoint's ([`crate::endpoint`]). With `--log-format json` each line is one JSON object, so the trail can
//! be queried with the usual tools (`jq 'select(.target == "registry::audit")'`). Writes the
//! federation's workers make are logged by them with their peer as origin.

use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

use crate::auth::policy::is_read;
use crate::auth::users::Principal;
use crate::connections::ClientAddr;
use crate::endpoint::RequestEndpoint;

/// Logs each write request once answered.
pub async fn record(request: Request, next: Next) -> Response {
    let endpoint = RequestEndpoint::of(request.extensions());
    if is_read(request.method()) || endpoint.is_renewal() {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let client = request
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map(|c| c.0 .0.to_string())
        .unwrap_or_default();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let response = next.run(request).await;
    let who = response
        .extensions()
        .get::<Principal>()
        .map_or("anonymous", |p| p.name.as_str());
    tracing::info!(
        target: "registry::audit",
        who,
        method = %method,
        path,
        client,
        protocol = endpoint.protocol(),
        status = response.status().as_u16(),
        request_id,
        "write"
    );
    response
}
