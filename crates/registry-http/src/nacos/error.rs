//! Nacos's error answers, as its naming `ResponseExceptionHandler` gives them: the status
//! (`NacosException`'s code, 400 for an illegal argument) and the message as plain text.

use axum::http::header;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use registry_store::command::Rejection;
use registry_store::node::ErrorClass;
use registry_store::node::NodeError;
use registry_store::protocol::nacos::mapping::MappingError;

/// The content type of Nacos's text answers (`ok`, error messages), spelt as its server sends it.
pub const TEXT_UTF8: &str = "text/plain;charset=UTF-8";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NacosError {
    /// A missing or illegal parameter: 400.
    #[error("{0}")]
    BadRequest(String),
    /// No such instance (`GET /nacos/v1/ns/instance`): 404.
    #[error("{0}")]
    NotFound(String),
    /// The cluster cannot take the write now (no leader, no quorum in time): 503, which
    /// Nacos clients answer by trying the next server.
    #[error("{0}")]
    Unavailable(String),
    /// This node cannot serve: 500.
    #[error("{0}")]
    Server(String),
}

impl NacosError {
    pub fn status(&self) -> StatusCode {
        match self {
            NacosError::BadRequest(_) => StatusCode::BAD_REQUEST,
            NacosError::NotFound(_) => StatusCode::NOT_FOUND,
            NacosError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            NacosError::Server(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for NacosError {
    fn into_response(self) -> Response {
        (self.status(), [(header::CONTENT_TYPE, TEXT_UTF8)], self.to_string()).into_response()
    }
}

impl From<MappingError> for NacosError {
    fn from(e: MappingError) -> Self {
        NacosError::BadRequest(e.0)
    }
}

impl From<NodeError> for NacosError {
    fn from(e: NodeError) -> Self {
        match e.class() {
            ErrorClass::Invalid => NacosError::BadRequest(e.to_string()),
            ErrorClass::Retryable => NacosError::Unavailable(e.to_string()),
            ErrorClass::Refused | ErrorClass::Fatal => NacosError::Server(e.to_string()),
        }
    }
}

impl From<Rejection> for NacosError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::InstanceNotFound(_) | Rejection::ServiceNotFound(_) => NacosError::NotFound(r.to_string()),
            other => NacosError::BadRequest(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_class_of_the_failure() {
        assert_eq!(
            NacosError::from(NodeError::NoLeader).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            NacosError::from(NodeError::Stopped("x".into())).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            NacosError::from(MappingError("Param 'ip' is required.".into())).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            NacosError::from(Rejection::InstanceNotFound("i".into())).status(),
            StatusCode::NOT_FOUND
        );
    }
}
