//! Refusals made before a request reaches its handler (authentication, authorisation, rate and
//! size limits). Each protocol's endpoint type renders them in its own format
//! ([`crate::endpoint::Endpoint::refuse`]); this module holds what they share: the reason, its
//! status and message, the headers every format carries (`WWW-Authenticate` on a 401,
//! `Retry-After` on a 429) and the node's own `{"error","retryable"}` format.

use std::time::Duration;

use axum::http::header;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use serde_json::json;

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
    /// The HTTP status of the refusal (a protocol may answer another, see its endpoint type).
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Refusal::Forbidden(_) => StatusCode::FORBIDDEN,
            Refusal::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::Unauthenticated(m) | Refusal::Forbidden(m) => m.clone(),
            Refusal::TooManyRequests { .. } => "too many requests from this client: slow down".into(),
            Refusal::TooLarge => "the request body is larger than this node accepts".into(),
        }
    }

    /// `response` (the refusal in some protocol's format) with the headers the refusal needs:
    /// a Basic challenge on a 401, `Retry-After` on a 429.
    pub fn with_headers(&self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        match self {
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

    /// The refusal as a plain-text answer of `content_type` (each protocol spells its own), with
    /// the headers it needs: how Eureka and Nacos refuse.
    pub fn as_text(&self, content_type: &'static str) -> Response {
        let response = (self.status(), [(header::CONTENT_TYPE, content_type)], self.message()).into_response();
        self.with_headers(response)
    }
}

/// `refusal` in the node's own format: its status and `{"error": message, "retryable": bool}`.
pub fn node_refusal(refusal: &Refusal) -> Response {
    let retryable = matches!(refusal, Refusal::TooManyRequests { .. });
    let body = json!({ "error": refusal.message(), "retryable": retryable });
    refusal.with_headers((refusal.status(), axum::Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_refusals_carry_their_headers() {
        let r = node_refusal(&Refusal::Unauthenticated("who?".into()));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], CHALLENGE);
        let r = node_refusal(&Refusal::TooManyRequests {
            retry_after: Duration::from_millis(200),
        });
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(node_refusal(&Refusal::TooLarge).status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
