//! One error type for the node and native APIs, mapped to status and JSON body in one match.

use axum::http::header;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use registry_store::command::Rejection;
use registry_store::node::ErrorClass;
use registry_store::node::NodeError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The body is over the node's size limit.
    #[error("{0}")]
    TooLarge(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, retryable) = match &self {
            ApiError::Node(e) => match e.class() {
                ErrorClass::Invalid => (StatusCode::BAD_REQUEST, false),
                ErrorClass::Retryable => (StatusCode::SERVICE_UNAVAILABLE, true),
                ErrorClass::Fatal => (StatusCode::SERVICE_UNAVAILABLE, false),
                ErrorClass::Refused => (StatusCode::CONFLICT, false),
            },
            ApiError::Rejected(r) => match r {
                Rejection::ServiceNotFound(_)
                | Rejection::InstanceNotFound(_)
                | Rejection::SchemaNotFound(_)
                | Rejection::TagNotFound(_) => (StatusCode::NOT_FOUND, false),
                Rejection::ServiceIdTaken(_)
                | Rejection::ServiceHasInstances(_)
                | Rejection::ServiceHasConsumers(_)
                | Rejection::OriginMismatch(_)
                | Rejection::NotEmpty { .. } => (StatusCode::CONFLICT, false),
                Rejection::UnknownTenant(_) | Rejection::Invalid(_) => (StatusCode::BAD_REQUEST, false),
            },
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, false),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, false),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, false),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, false),
        };
        let body = Json(json!({ "error": self.to_string(), "retryable": retryable }));
        if retryable {
            (status, [(header::RETRY_AFTER, "1")], body).into_response()
        } else {
            (status, body).into_response()
        }
    }
}

/// A JSON body whose parse errors answer in [`ApiError`]'s format (400 with `error`), not axum's
/// plain-text 400/422.
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    Json<T>: axum::extract::FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::TooLarge(rejection.body_text()))
            }
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}
