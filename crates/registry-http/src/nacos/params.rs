//! A Nacos request's parameters, as a servlet's `getParameter` reads them: the query string
//! first, then an `application/x-www-form-urlencoded` body (Nacos's Java client sends writes as
//! forms, the Python client as query strings). The first value of a name wins; a blank value
//! counts as absent where Nacos's `WebUtils.optional` says so.

use axum::body::Bytes;
use axum::extract::FromRequest;
use axum::extract::Request;
use axum::http::header;
use axum::response::IntoResponse;
use axum::response::Response;
use percent_encoding::percent_decode_str;

/// The parameters of one request, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// `name=value&...` decoded (`+` is a space, `%XX` a byte; invalid UTF-8 is replaced).
fn decode(text: &str, into: &mut Vec<(String, String)>) {
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let unescape = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        into.push((unescape(name), unescape(value)));
    }
}

impl Params {
    /// The query string's parameters, then the body's if it is a form (or has no type).
    pub fn new(query: Option<&str>, content_type: Option<&str>, body: &[u8]) -> Self {
        let mut pairs = Vec::new();
        if let Some(query) = query {
            decode(query, &mut pairs);
        }
        let is_form = content_type.is_none_or(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
        if is_form && !body.is_empty() {
            decode(&String::from_utf8_lossy(body), &mut pairs);
        }
        Self { pairs }
    }

    /// The first value of `name`, as given (perhaps empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The first value of `name` unless it is blank (`WebUtils.optional`).
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    /// The first value of `name`; a missing or empty one is Nacos's
    /// `Param 'NAME' is required.` (`WebUtils.required`).
    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("Param '{name}' is required."))
    }
}

/// A handler's parameters, read from the request: the query string and a form body. A body
/// axum refuses (over the size limit) keeps axum's answer, which the limits layer words in the
/// protocol's format.
impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let query = request.uri().query().map(str::to_owned);
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Params::new(query.as_deref(), content_type.as_deref(), &body))
    }
}

/// Nacos's `ConvertUtils.toBoolean`: `true`, `on`, `yes`, `y`, `t` (any case) are true,
/// anything else false; `default` when absent or blank.
pub fn boolean(value: Option<&str>, default: bool) -> bool {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => default,
        Some(v) => ["true", "on", "yes", "y", "t"]
            .iter()
            .any(|t| v.eq_ignore_ascii_case(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_comes_before_a_form_body() {
        let p = Params::new(
            Some("serviceName=a%40%40b&ip=1.2.3.4&metadata=%7B%22k%22%3A%22v+w%22%7D"),
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            b"ip=9.9.9.9&port=80&empty=",
        );
        assert_eq!(p.get("serviceName"), Some("a@@b"));
        assert_eq!(p.get("ip"), Some("1.2.3.4"));
        assert_eq!(p.get("port"), Some("80"));
        assert_eq!(p.get("metadata"), Some("{\"k\":\"v w\"}"));
        assert_eq!(p.get("empty"), Some(""));
        assert_eq!(p.optional("empty"), None);
        assert_eq!(p.required("empty").unwrap_err(), "Param 'empty' is required.");
        assert_eq!(p.required("nothing").unwrap_err(), "Param 'nothing' is required.");
    }

    #[test]
    fn other_bodies_are_not_parameters() {
        let p = Params::new(None, Some("application/json"), b"ip=1");
        assert_eq!(p.get("ip"), None);
        let p = Params::new(None, None, b"ip=1");
        assert_eq!(p.get("ip"), Some("1"));
    }

    #[test]
    fn booleans_read_as_nacos_reads_them() {
        assert!(boolean(Some("True"), false));
        assert!(boolean(Some("yes"), false));
        assert!(!boolean(Some("False"), true));
        assert!(!boolean(Some("nonsense"), true));
        assert!(boolean(None, true));
        assert!(boolean(Some(" "), true));
    }
}
