//! ServiceCenter's error responses (§1): `{"errorCode":"400012","errorMessage":"...","detail":"..."}`
//! with HTTP status = code / 1000, mapped in one place.

use axum::http::header;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use registry_store::command::Rejection;
use registry_store::node::NodeError;
use serde_json::json;

/// The content type of every ServiceCenter answer, refusals included, charset too
/// (`pkg/rest/common.go`).
pub const JSON_UTF8: &str = "application/json; charset=UTF-8";

/// An error and the detail that explains it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {}: {detail}", .code.code(), .code.message())]
pub struct ScError {
    pub code: ErrorCode,
    pub detail: String,
}

/// The codes of cari's `discovery/error.go` this server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidParams,
    Unhealthy,
    ServiceAlreadyExists,
    ServiceNotExists,
    DeployedInstance,
    SchemaNotExists,
    InstanceNotExists,
    TagNotExists,
    DependedOnConsumer,
    ServiceVersionNotExists,
    Unauthorized,
    Forbidden,
    TooManyRequests,
    Internal,
    Unavailable,
}

impl ErrorCode {
    pub fn code(self) -> u32 {
        match self {
            ErrorCode::InvalidParams => 400001,
            ErrorCode::Unhealthy => 400002,
            ErrorCode::ServiceAlreadyExists => 400010,
            ErrorCode::ServiceNotExists => 400012,
            ErrorCode::DeployedInstance => 400013,
            ErrorCode::SchemaNotExists => 400016,
            ErrorCode::InstanceNotExists => 400017,
            ErrorCode::TagNotExists => 400018,
            ErrorCode::DependedOnConsumer => 400023,
            ErrorCode::ServiceVersionNotExists => 400026,
            ErrorCode::Unauthorized => 401002,
            ErrorCode::Forbidden => 403001,
            ErrorCode::TooManyRequests => 429001,
            ErrorCode::Internal => 500003,
            ErrorCode::Unavailable => 500011,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::InvalidParams => "Invalid parameter(s)",
            ErrorCode::Unhealthy => "Server is Unhealthy",
            ErrorCode::ServiceAlreadyExists => "Micro-service already exists",
            ErrorCode::ServiceNotExists => "Micro-service does not exist",
            ErrorCode::DeployedInstance => "Micro-service has deployed instance(s)",
            ErrorCode::SchemaNotExists => "Schema does not exist",
            ErrorCode::InstanceNotExists => "Instance does not exist",
            ErrorCode::TagNotExists => "Tag does not exist",
            ErrorCode::DependedOnConsumer => "Consumer(s) depends on this micro-service",
            ErrorCode::ServiceVersionNotExists => "Micro-service version does not exist",
            ErrorCode::Unauthorized => "Request unauthorized",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::TooManyRequests => "Too many requests",
            ErrorCode::Internal => "Internal server error",
            ErrorCode::Unavailable => "Registry service is unavailable",
        }
    }
}

impl ScError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParams, detail)
    }
}

impl From<NodeError> for ScError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::Invalid(v) => ScError::invalid(v.to_string()),
            other => ScError::new(ErrorCode::Unavailable, other.to_string()),
        }
    }
}

impl From<Rejection> for ScError {
    fn from(r: Rejection) -> Self {
        let detail = r.to_string();
        let code = match r {
            Rejection::ServiceNotFound(_) | Rejection::UnknownTenant(_) => ErrorCode::ServiceNotExists,
            Rejection::InstanceNotFound(_) => ErrorCode::InstanceNotExists,
            Rejection::ServiceIdTaken(_) => ErrorCode::ServiceAlreadyExists,
            Rejection::ServiceHasInstances(_) => ErrorCode::DeployedInstance,
            Rejection::ServiceHasConsumers(_) => ErrorCode::DependedOnConsumer,
            Rejection::SchemaNotFound(_) => ErrorCode::SchemaNotExists,
            Rejection::TagNotFound(_) => ErrorCode::TagNotExists,
            Rejection::OriginMismatch(_) | Rejection::Invalid(_) | Rejection::NotEmpty { .. } => {
                ErrorCode::InvalidParams
            }
        };
        ScError::new(code, detail)
    }
}

impl IntoResponse for ScError {
    fn into_response(self) -> Response {
        let code = self.code.code();
        let status = StatusCode::from_u16((code / 1000) as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = json!({ "errorCode": code.to_string(), "errorMessage": self.code.message() });
        if !self.detail.is_empty() {
            body["detail"] = json!(self.detail);
        }
        (status, [(header::CONTENT_TYPE, JSON_UTF8)], body.to_string()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_carry_a_string_code_and_the_status_is_the_code_over_1000() {
        let response = ScError::new(ErrorCode::ServiceNotExists, "service x").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            json!({"errorCode": "400012", "errorMessage": "Micro-service does not exist", "detail": "service x"})
        );
        let response = ScError::new(ErrorCode::Unavailable, "").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        assert!(
            !String::from_utf8_lossy(&body).contains("detail"),
            "an empty detail is omitted"
        );
    }
}
