//! HTTP to one federation remote: its base URL, credentials and timeouts in one place, answers
//! as bytes.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use reqwest::RequestBuilder;

use crate::config::Credentials;
use crate::config::RemoteConfig;
use crate::error::SyncError;

/// Longest a single request to a peer may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One answer from a peer.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// This answer as an error about `what`.
    pub fn error(&self, what: &str) -> SyncError {
        SyncError::Status {
            what: what.to_string(),
            status: self.status,
            body: String::from_utf8_lossy(&self.body).chars().take(300).collect(),
        }
    }

    /// The body, if the answer is a success.
    pub fn success_body(self, what: &str) -> Result<Vec<u8>, SyncError> {
        if self.is_success() {
            Ok(self.body)
        } else {
            Err(self.error(what))
        }
    }
}

/// A client for one federation remote's HTTP API.
#[derive(Clone)]
pub struct RemoteHttp {
    client: reqwest::Client,
    base: String,
    credentials: Option<Credentials>,
}

impl RemoteHttp {
    pub fn new(peer: &RemoteConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(32)
            .build()
            .unwrap_or_default();
        Self {
            client,
            base: peer.url.clone(),
            credentials: peer.credentials.clone(),
        }
    }

    /// A request to `path` under the peer's base URL, with its credentials.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.base));
        match &self.credentials {
            None => builder,
            Some(Credentials::Basic { username, password }) => builder.basic_auth(username, Some(password)),
            Some(Credentials::Bearer(token)) => builder.bearer_auth(token),
        }
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(&self, request: RequestBuilder) -> Result<Answer, SyncError> {
        let response = request
            .send()
            .await
            .map_err(|e| SyncError::Unreachable(format!("{}: {e}", self.base)))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| SyncError::Unreachable(format!("{}: {e}", self.base)))?
            .to_vec();
        Ok(Answer { status, headers, body })
    }
}
