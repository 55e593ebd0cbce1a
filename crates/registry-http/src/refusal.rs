//! Refusals made before a request reaches its handler (authentication, authorisation, rate and
//! size limits), answered in the protocol's own format: Eureka's plain text and status codes,
//! ServiceCenter's `{"errorCode","errorMessage","detail"}`, and the node's `{"error","retryable"}`.

use std::time::Duration;

use axum::http::header;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use serde_json::json;

use crate::auth::policy::Protocol;
use crate::servicecenter::error::ErrorCode;
use crate::servicecenter::error::ScError;

/// `WWW-Authenticate` of a 401, so browsers and curl know to send Basic credentials.
const CHALLENGE: &str = "Basic realm=\"registry\", charset=\"UTF-8\"";

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub enum Refusal {
    /// No credential, or one that is not valid: 401.
    Unauthenticated(String),
    /// A valid credential that may not do this: 403.
    Forbidden(String),
    /// The client's rate is exceeded: 429, retry after the wait.
    TooManyRequests { retry_after: Duration },
    /// The body is over the node's limit: 413 (ServiceCenter: 400001).
    TooLarge,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Refusal::Forbidden(_) => StatusCode::FORBIDDEN,
            Refusal::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    fn message(&self) -> String {
        match self {
            Refusal::Unauthenticated(m) | Refusal::Forbidden(m) => m.clone(),
            Refusal::TooManyRequests { .. } => "too many requests from this client: slow down".into(),
            Refusal::TooLarge => "the request body is larger than this node accepts".into(),
        }
    }
}

/// `refusal` in `protocol`'s format.
pub fn refusal(protocol: Protocol, refusal: &Refusal) -> Response {
    let message = refusal.message();
    let status = refusal.status();
    let mut response = match protocol {
        Protocol::ServiceCenter => match refusal {
            Refusal::Unauthenticated(_) => ScError::new(ErrorCode::Unauthorized, message).into_response(),
            Refusal::Forbidden(_) => ScError::new(ErrorCode::Forbidden, message).into_response(),
            Refusal::TooManyRequests { .. } => ScError::new(ErrorCode::TooManyRequests, message).into_response(),
            Refusal::TooLarge => ScError::invalid(message).into_response(),
        },
        Protocol::Eureka => (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message).into_response(),
        Protocol::Node => {
            let retryable = matches!(refusal, Refusal::TooManyRequests { .. });
            (status, axum::Json(json!({ "error": message, "retryable": retryable }))).into_response()
        }
    };
    let headers = response.headers_mut();
    match refusal {
        Refusal::Unauthenticated(_) => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
        }
        Refusal::TooManyRequests { retry_after } => {
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        _ => {}
    }
    response
}
