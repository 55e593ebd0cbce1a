//! Eureka's error responses: status codes and texts as the Netflix server gives them, mapped in
//! one match.

use axum::http::header;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use registry_store::command::Rejection;
use registry_store::node::NodeError;

use super::format::Format;
use super::DecodeError;

#[derive(Debug, thiserror::Error)]
pub enum EurekaError {
    /// A registration failed validation: 400 with Eureka's text (`Missing hostname`, ...).
    #[error("{0}")]
    Invalid(String),
    /// The body could not be parsed: 400 with `cannot parse request body` in the client's format.
    #[error("cannot parse request body")]
    Unparseable(Format),
    /// A body neither `application/json` nor `application/xml`: 415, empty (Jersey's answer).
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// Unknown app or instance: 404 with an empty body.
    #[error("not found")]
    NotFound,
    /// A status change without a valid `value`: Eureka answers 500.
    #[error("{0}")]
    BadStatusValue(String),
    /// The cluster could not take the write now: 503, so clients retry elsewhere.
    #[error("{0}")]
    Unavailable(String),
}

impl EurekaError {
    /// A body that could not be read: one past a decoder's cap (too many attributes, elements,
    /// metadata entries, or too deep) is 400 with the reason as plain text, like [`Self::Invalid`];
    /// anything else is [`Self::Unparseable`] in the client's format.
    pub fn from_decode(format: Format, err: DecodeError) -> Self {
        match err {
            DecodeError::OverLimit { .. } => EurekaError::Invalid(err.to_string()),
            _ => EurekaError::Unparseable(format),
        }
    }
}

impl From<NodeError> for EurekaError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::Invalid(v) => EurekaError::Invalid(v.to_string()),
            other => EurekaError::Unavailable(other.to_string()),
        }
    }
}

impl From<Rejection> for EurekaError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::InstanceNotFound(_) | Rejection::ServiceNotFound(_) => EurekaError::NotFound,
            other => EurekaError::Invalid(other.to_string()),
        }
    }
}

impl IntoResponse for EurekaError {
    fn into_response(self) -> Response {
        let text = |status: StatusCode, body: String| {
            (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
        };
        match self {
            EurekaError::Invalid(message) => text(StatusCode::BAD_REQUEST, message),
            EurekaError::Unparseable(Format::Json) => (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"error":"cannot parse request body"}"#,
            )
                .into_response(),
            EurekaError::Unparseable(Format::Xml) => (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/xml")],
                "<error><message>cannot parse request body</message></error>",
            )
                .into_response(),
            EurekaError::NotFound => StatusCode::NOT_FOUND.into_response(),
            EurekaError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response(),
            EurekaError::BadStatusValue(message) => text(StatusCode::INTERNAL_SERVER_ERROR, message),
            EurekaError::Unavailable(message) => {
                (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], message).into_response()
            }
        }
    }
}
