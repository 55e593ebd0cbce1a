//! `POST /v4/token`: a bearer token for a user's name and password (ServiceCenter clients
//! authenticate so; the token is checked by [`crate::auth`] like Basic credentials). Every
//! request here is a password check, limited per client address.

use std::sync::Arc;

use axum::extract::Request;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use super::core::body;
use super::endpoint::sc_refusal;
use super::error::ErrorCode;
use super::error::ScError;
use crate::auth::client_of;
use crate::auth::too_many_attempts;
use crate::auth::AuthSettings;
use crate::auth::LoginLimit;

#[derive(Deserialize)]
struct TokenRequest {
    name: String,
    password: String,
}

/// What `POST /v4/token` needs: the users, and a limit on password checks per client.
struct TokenIssuer {
    settings: AuthSettings,
    logins: LoginLimit,
}

/// `POST /v4/token`: a bearer token for a user's name and password.
pub fn routes(settings: AuthSettings) -> Router {
    let issuer = TokenIssuer {
        settings,
        logins: LoginLimit::start(),
    };
    Router::new()
        .route("/v4/token", post(issue_token))
        .with_state(Arc::new(issuer))
}

/// The largest token request read (a name and a password).
const MAX_TOKEN_REQUEST_BYTES: usize = 64 * 1024;

async fn issue_token(State(issuer): State<Arc<TokenIssuer>>, request: Request) -> Response {
    let settings = &issuer.settings;
    let client = client_of(&request);
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), MAX_TOKEN_REQUEST_BYTES).await else {
        return ScError::invalid("the token request is not readable or too large").into_response();
    };
    let Some(keys) = settings.tokens.as_ref().filter(|_| settings.enabled()) else {
        return ScError::invalid("authentication is not enabled on this registry: no token is needed").into_response();
    };
    let request: TokenRequest = match body(&bytes) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    // Every request here is a password check, remembered or not: each counts.
    if !issuer.logins.admits(client) {
        let refusal = too_many_attempts();
        return refusal.with_headers(sc_refusal(&refusal).into_response());
    }
    if settings
        .users
        .check(&request.name, &request.password, || true)
        .await
        .principal()
        .is_none()
    {
        return ScError::new(ErrorCode::Unauthorized, "wrong user name or password").into_response();
    }
    match keys.issue(&request.name) {
        Ok(token) => axum::Json(json!({ "token": token })).into_response(),
        Err(e) => ScError::new(ErrorCode::Internal, e).into_response(),
    }
}
