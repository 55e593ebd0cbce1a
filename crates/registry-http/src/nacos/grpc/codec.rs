//! Payloads: the JSON body in `Payload.body.value` and its type in `Payload.metadata.type`,
//! read into the request it names and written from a response, and Nacos's `ErrorResponse`
//! (`api/.../remote/response/ErrorResponse.java`, `core/.../remote/grpc/GrpcRequestAcceptor.java`).

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::proto::Body;
use super::proto::Metadata;
use super::proto::Payload;

/// `ResponseCode.SUCCESS` / `FAIL`: a response's `resultCode`.
pub const SUCCESS: i32 = 200;
pub const FAIL: i32 = 500;
/// `NacosException` codes a response's `errorCode` carries.
pub const INVALID_PARAM: i32 = 400;
pub const NOT_FOUND: i32 = 404;
pub const SERVER_ERROR: i32 = 500;
pub const BAD_GATEWAY: i32 = 502;
pub const UN_REGISTER: i32 = 301;
pub const NO_HANDLER: i32 = 302;
/// `NacosException.OVER_THRESHOLD`: a limit refused the request.
pub const OVER_THRESHOLD: i32 = 503;

/// Why a payload was refused, as the `ErrorResponse` answering it says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (error code {code})")]
pub struct GrpcError {
    /// The `errorCode` (a `NacosException` code).
    pub code: i32,
    /// The `resultCode`: `FAIL` for the acceptor's refusals, the error code for a handler's
    /// (`ErrorResponse.build(Throwable)`).
    pub result_code: i32,
    pub message: String,
}

impl GrpcError {
    /// A refusal before any handler ran (unregistered connection, unknown type, bad body).
    pub fn refused(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            result_code: FAIL,
            message: message.into(),
        }
    }

    /// A handler's failure.
    pub fn failed(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            result_code: code,
            message: message.into(),
        }
    }

    /// A request missing a field Nacos needs (`Param 'x' is required.`).
    pub fn missing(field: &str) -> Self {
        Self::failed(INVALID_PARAM, format!("Param '{field}' is required."))
    }
}

/// The fields every response carries (`Response.java`). `message` is never null: the Python
/// client reads it as a string.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseBase {
    pub result_code: i32,
    pub error_code: i32,
    pub message: String,
    pub request_id: String,
    pub success: bool,
}

impl ResponseBase {
    pub fn ok(request_id: &str) -> Self {
        Self {
            result_code: SUCCESS,
            error_code: 0,
            message: String::new(),
            request_id: request_id.to_string(),
            success: true,
        }
    }

    pub fn error(e: &GrpcError, request_id: &str) -> Self {
        Self {
            result_code: e.result_code,
            error_code: e.code,
            message: e.message.clone(),
            request_id: request_id.to_string(),
            success: false,
        }
    }
}

/// A payload's type and its body, not yet read as that type.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    pub kind: &'a str,
    pub body: &'a [u8],
}

impl<'a> Incoming<'a> {
    pub fn of(payload: &'a Payload) -> Self {
        Self {
            kind: payload.metadata.as_ref().map_or("", |m| m.r#type.as_str()),
            body: payload.body.as_ref().map_or(&[][..], |b| b.value.as_slice()),
        }
    }

    /// The body as `T`; a body that is no JSON object of that shape is `BAD_GATEWAY`, as Nacos
    /// answers a payload it cannot parse.
    pub fn read<T: DeserializeOwned>(&self) -> Result<T, GrpcError> {
        serde_json::from_slice(self.body)
            .map_err(|e| GrpcError::refused(BAD_GATEWAY, format!("cannot read {} body: {e}", self.kind)))
    }

    /// The `requestId` of the body, if it has one (answers echo it).
    pub fn request_id(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Id {
            #[serde(rename = "requestId", default)]
            request_id: Option<String>,
        }
        serde_json::from_slice::<Id>(self.body)
            .ok()
            .and_then(|i| i.request_id)
            .unwrap_or_default()
    }
}

/// A payload of type `kind` whose body is `body` as JSON.
pub fn encode(kind: &str, body: &impl Serialize) -> Payload {
    let value = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    Payload {
        metadata: Some(Metadata {
            r#type: kind.to_string(),
            client_ip: String::new(),
            headers: Default::default(),
        }),
        body: Some(Body {
            type_url: String::new(),
            value,
        }),
    }
}

/// Nacos's `ErrorResponse` for `e`, answering the request `request_id`.
pub fn error_payload(e: &GrpcError, request_id: &str) -> Payload {
    encode("ErrorResponse", &ResponseBase::error(e, request_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_read_as_its_type_and_refused_with_bad_gateway_otherwise() {
        #[derive(serde::Deserialize)]
        struct R {
            a: u32,
        }
        let p = encode("X", &serde_json::json!({ "a": 1, "requestId": "7" }));
        let incoming = Incoming::of(&p);
        assert_eq!(incoming.kind, "X");
        assert_eq!(incoming.read::<R>().unwrap().a, 1);
        assert_eq!(incoming.request_id(), "7");
        let bad = Payload::default();
        let err = Incoming::of(&bad).read::<R>().err().unwrap();
        assert_eq!((err.code, err.result_code), (BAD_GATEWAY, FAIL));
    }

    #[test]
    fn an_error_response_never_has_a_null_message() {
        let p = error_payload(&GrpcError::missing("instance"), "1");
        let body: serde_json::Value = serde_json::from_slice(&p.body.unwrap().value).unwrap();
        assert_eq!(p.metadata.unwrap().r#type, "ErrorResponse");
        assert_eq!(body["errorCode"], 400);
        assert_eq!(body["resultCode"], 400);
        assert_eq!(body["message"], "Param 'instance' is required.");
        assert_eq!(body["success"], false);
    }
}
