//! Content negotiation (`Accept` containing `json` → JSON, anything else → XML) and request
//! body decoding by `Content-Type`: `application/json` or `application/xml` (charset UTF-8 or
//! ISO-8859-1, if any), as the Netflix server's `@Consumes` and `DiscoveryJerseyProvider.isReadable`
//! take them; anything else (no content type included) is 415.

use axum::http::header;
use axum::http::HeaderMap;
use axum::http::HeaderValue;

use super::json;
use super::wire::Application;
use super::wire::Applications;
use super::wire::Detail;
use super::wire::InstanceInfo;
use super::xml;
use super::DecodeError;

/// Netflix's `EurekaAccept.HTTP_X_EUREKA_ACCEPT`.
pub const EUREKA_ACCEPT: &str = "x-eureka-accept";

/// The wire format of a response or a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// What the client accepts: JSON if `Accept` mentions it, XML otherwise (py-eureka-client
    /// sends no `Accept` and parses XML).
    pub fn of_response(headers: &HeaderMap) -> Format {
        Self::mentions_json(headers.get(header::ACCEPT))
    }

    /// What the client sent: `None` for a media type Java's Jersey answers with 415.
    pub fn of_request(headers: &HeaderMap) -> Option<Format> {
        let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let mut parts = value.split(';');
        let format = match parts.next()?.trim().to_ascii_lowercase().as_str() {
            "application/json" => Format::Json,
            "application/xml" => Format::Xml,
            _ => return None,
        };
        for parameter in parts {
            let Some((name, charset)) = parameter.split_once('=') else {
                continue;
            };
            let charset = charset.trim().trim_matches('"');
            let readable = ["utf-8", "iso-8859-1"].iter().any(|c| charset.eq_ignore_ascii_case(c));
            if name.trim().eq_ignore_ascii_case("charset") && !readable {
                return None;
            }
        }
        Some(format)
    }

    fn mentions_json(value: Option<&HeaderValue>) -> Format {
        match value.and_then(|v| v.to_str().ok()) {
            Some(v) if v.to_ascii_lowercase().contains("json") => Format::Json,
            _ => Format::Xml,
        }
    }

    /// How much of each instance the client wants (`X-Eureka-Accept: full|compact`).
    pub fn detail(headers: &HeaderMap) -> Detail {
        Detail::from_header(headers.get(EUREKA_ACCEPT).and_then(|v| v.to_str().ok()))
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml",
        }
    }

    pub fn decode_instance(self, body: &[u8]) -> Result<InstanceInfo, DecodeError> {
        match self {
            Format::Json => json::decode_instance(body),
            Format::Xml => xml::decode_instance(body),
        }
    }

    pub fn encode_applications(self, apps: &Applications, detail: Detail) -> Vec<u8> {
        match self {
            Format::Json => json::encode_applications_as(apps, detail),
            Format::Xml => xml::encode_applications_as(apps, detail),
        }
    }

    pub fn encode_application(self, app: &Application, detail: Detail) -> Vec<u8> {
        match self {
            Format::Json => json::encode_application_as(app, detail),
            Format::Xml => xml::encode_application_as(app, detail),
        }
    }

    /// The full registry's opening, through the start of its application list (see
    /// [`json::applications_head`] for how the parts fit together).
    pub fn applications_head(self, out: &mut Vec<u8>, versions_delta: &str, apps_hashcode: &str) {
        match self {
            Format::Json => json::applications_head(out, versions_delta, apps_hashcode),
            Format::Xml => xml::applications_head(out, versions_delta, apps_hashcode),
        }
    }

    pub fn applications_tail(self) -> &'static [u8] {
        match self {
            Format::Json => json::APPLICATIONS_TAIL,
            Format::Xml => xml::APPLICATIONS_TAIL,
        }
    }

    pub fn application_head(self, out: &mut Vec<u8>, name: &str) {
        match self {
            Format::Json => json::application_head(out, name),
            Format::Xml => xml::application_head(out, name),
        }
    }

    pub fn application_tail(self) -> &'static [u8] {
        match self {
            Format::Json => json::APPLICATION_TAIL,
            Format::Xml => xml::APPLICATION_TAIL,
        }
    }

    /// Between applications, and between runs of one application's instances.
    pub fn separator(self) -> &'static [u8] {
        match self {
            Format::Json => json::SEPARATOR,
            Format::Xml => xml::SEPARATOR,
        }
    }

    /// A run of an application's instances.
    pub fn encode_instances(self, out: &mut Vec<u8>, infos: &[InstanceInfo], detail: Detail) {
        match self {
            Format::Json => json::encode_instances(out, infos, detail),
            Format::Xml => xml::encode_instances(out, infos, detail),
        }
    }

    pub fn encode_instance(self, info: &InstanceInfo) -> Vec<u8> {
        match self {
            Format::Json => json::encode_instance(info),
            Format::Xml => xml::encode_instance(info),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_only_when_asked_for() {
        let mut h = HeaderMap::new();
        assert_eq!(Format::of_response(&h), Format::Xml);
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert_eq!(Format::of_response(&h), Format::Xml);
        h.insert(header::ACCEPT, HeaderValue::from_static("application/JSON;q=0.9, */*"));
        assert_eq!(Format::of_response(&h), Format::Json);
    }

    #[test]
    fn bodies_only_in_json_or_xml() {
        let of = |content_type: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            Format::of_request(&h)
        };
        assert_eq!(Format::of_request(&HeaderMap::new()), None);
        assert_eq!(of("application/json"), Some(Format::Json));
        assert_eq!(of("Application/JSON; charset=\"UTF-8\""), Some(Format::Json));
        assert_eq!(of("application/xml;charset=iso-8859-1"), Some(Format::Xml));
        for refused in [
            "text/xml",
            "text/plain",
            "application/vnd.api+json",
            "application/json; charset=utf-16",
        ] {
            assert_eq!(of(refused), None, "{refused}");
        }
    }
}
