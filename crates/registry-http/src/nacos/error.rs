//! Nacos's error answers. The v1 API answers as its naming `ResponseExceptionHandler` does: the
//! status (`NacosException`'s code, 400 for an illegal argument) and the message as plain text.
//! The v2 API answers as `NacosApiExceptionHandler` does: the same status with the
//! `{"code":…,"message":…,"data":…}` envelope of `api/model/v2/Result.java`, whose `code` is an
//! [`ErrorCode`] (`api/model/v2/ErrorCode.java`), `message` its text and `data` the detail.

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

/// The v2 API's error codes (`api/model/v2/ErrorCode.java`) this registry answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ParameterMissing,
    AccessDenied,
    ParameterValidateError,
    ResourceNotFound,
    WeightError,
    InstanceNotFound,
    InstanceError,
    SelectorError,
    ServiceAlreadyExist,
    ServiceNotExist,
    ServiceDeleteFailure,
    ServerError,
}

impl ErrorCode {
    /// The number and the text Nacos gives the code.
    pub fn code_and_text(self) -> (u32, &'static str) {
        match self {
            ErrorCode::ParameterMissing => (10000, "parameter missing"),
            ErrorCode::AccessDenied => (10001, "access denied"),
            ErrorCode::ParameterValidateError => (20002, "parameter validate error"),
            ErrorCode::ResourceNotFound => (20004, "resource not found"),
            ErrorCode::WeightError => (21001, "weight error"),
            ErrorCode::InstanceNotFound => (21003, "instance not found"),
            ErrorCode::InstanceError => (21004, "instance error"),
            ErrorCode::SelectorError => (21006, "selector error"),
            ErrorCode::ServiceAlreadyExist => (21007, "service already exist"),
            ErrorCode::ServiceNotExist => (21008, "service not exist"),
            ErrorCode::ServiceDeleteFailure => (21009, "service delete failure"),
            ErrorCode::ServerError => (30000, "server error"),
        }
    }
}

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
    /// A refusal Nacos raises as a `NacosApiException`: its status (400 or 404) and, for v2,
    /// its own code.
    #[error("{message}")]
    Api {
        status: StatusCode,
        code: ErrorCode,
        message: String,
    },
}

impl NacosError {
    pub fn status(&self) -> StatusCode {
        match self {
            NacosError::BadRequest(_) => StatusCode::BAD_REQUEST,
            NacosError::NotFound(_) => StatusCode::NOT_FOUND,
            NacosError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            NacosError::Server(_) => StatusCode::INTERNAL_SERVER_ERROR,
            NacosError::Api { status, .. } => *status,
        }
    }

    /// A 400 with its v2 code.
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> Self {
        NacosError::Api {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    /// A 404 with its v2 code (`NacosException.NOT_FOUND`).
    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        NacosError::Api {
            status: StatusCode::NOT_FOUND,
            code,
            message: message.into(),
        }
    }

    /// The v2 code: the one given, else the code of the failure's class (an illegal argument
    /// is `PARAMETER_VALIDATE_ERROR`, as `NacosApiExceptionHandler` answers it).
    pub fn code(&self) -> ErrorCode {
        match self {
            NacosError::BadRequest(_) => ErrorCode::ParameterValidateError,
            NacosError::NotFound(_) => ErrorCode::ResourceNotFound,
            NacosError::Unavailable(_) | NacosError::Server(_) => ErrorCode::ServerError,
            NacosError::Api { code, .. } => *code,
        }
    }

    /// The v2 answer: the status and `{"code":…,"message":…,"data":"detail"}`.
    pub fn into_v2_response(self) -> Response {
        let (code, text) = self.code().code_and_text();
        let body = serde_json::json!({ "code": code, "message": text, "data": self.to_string() });
        (self.status(), axum::Json(body)).into_response()
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
    fn v2_answers_carry_the_code_its_text_and_the_detail() {
        let response = NacosError::invalid(ErrorCode::ServiceNotExist, "service G@@S not found!").into_v2_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            NacosError::BadRequest("x".into()).code(),
            ErrorCode::ParameterValidateError
        );
        assert_eq!(NacosError::from(NodeError::NoLeader).code(), ErrorCode::ServerError);
        assert_eq!(ErrorCode::ServiceDeleteFailure.code_and_text().0, 21009);
    }

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
