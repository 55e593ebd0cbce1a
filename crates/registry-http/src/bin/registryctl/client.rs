//! The node's HTTP API as registryctl uses it: JSON or bytes in, JSON or bytes out, and the
//! node's own error message when it refuses; the next server given when one cannot be reached.

use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::anyhow;
use anyhow::Context;
use serde_json::Value;

pub struct Client {
    /// The servers, tried in turn when one cannot be reached (`--server A,B,C`).
    bases: Vec<String>,
    /// The server that answered last: tried first.
    current: AtomicUsize,
    http: reqwest::Client,
    /// Basic credentials (`--user`, or a server URL's `user:password@`).
    credentials: Option<(String, String)>,
}

/// How long to wait for a server to accept a connection before trying the next.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// `text` as a base URL without credentials (`http://` assumed when no scheme is given), and
/// the credentials it held.
fn parse_base(text: &str) -> anyhow::Result<(String, Option<(String, String)>)> {
    let text = text.trim();
    let full = match text.contains("://") {
        true => text.to_string(),
        false => format!("http://{text}"),
    };
    let mut url = reqwest::Url::parse(&full).with_context(|| format!("{text} is not a server address"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(anyhow!("{text} names no host"));
    }
    let in_url = (!url.username().is_empty()).then(|| {
        let name = url.username().to_string();
        (name, url.password().unwrap_or_default().to_string())
    });
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok((url.as_str().trim_end_matches('/').to_string(), in_url))
}

impl Client {
    /// A client for `servers` (one base URL or several separated by commas; `host:port` alone
    /// means `http://host:port`); `user` is `NAME:PASSWORD`, else credentials in a server URL
    /// are used; `ca` (PEM) is trusted for HTTPS besides the usual roots.
    pub fn new(servers: &str, user: Option<&str>, ca: Option<&Path>) -> anyhow::Result<Self> {
        let mut bases = Vec::new();
        let mut in_urls = None;
        for text in servers.split(',').filter(|t| !t.trim().is_empty()) {
            let (base, credentials) = parse_base(text)?;
            bases.push(base);
            in_urls = in_urls.or(credentials);
        }
        if bases.is_empty() {
            return Err(anyhow!("--server names no server"));
        }
        let credentials = match user {
            Some(pair) => {
                let (name, password) = pair
                    .split_once(':')
                    .ok_or_else(|| anyhow!("--user takes NAME:PASSWORD"))?;
                Some((name.to_string(), password.to_string()))
            }
            None => in_urls,
        };
        let mut http = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
        if let Some(path) = ca {
            let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            for root in reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("{} holds no PEM certificate", path.display()))?
            {
                http = http.add_root_certificate(root);
            }
        }
        Ok(Self {
            bases,
            current: AtomicUsize::new(0),
            http: http.build()?,
            credentials,
        })
    }

    /// A client for another node at `addr` (`host:port`), with the same scheme, credentials and
    /// trusted roots.
    pub fn for_node(&self, addr: &str) -> Self {
        let scheme = if self.base().starts_with("https:") {
            "https"
        } else {
            "http"
        };
        Self {
            bases: vec![format!("{scheme}://{addr}")],
            current: AtomicUsize::new(0),
            http: self.http.clone(),
            credentials: self.credentials.clone(),
        }
    }

    /// The server that answered last (the first, before any request).
    pub fn base(&self) -> &str {
        &self.bases[self.current.load(Ordering::Relaxed)]
    }

    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        self.get_json_with(path, &[]).await
    }

    /// GET with a query string (the client encodes it).
    pub async fn get_json_with(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Value> {
        let response = self
            .send(|base| self.http.get(format!("{base}{path}")).query(query), path)
            .await?;
        Ok(response.json().await?)
    }

    /// GET of `path`, with its status: used for health, where 503 is an answer.
    pub async fn probe(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let response = self.reach(|base| self.http.get(format!("{base}{path}"))).await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .send(|base| self.http.post(format!("{base}{path}")).json(body), path)
            .await?;
        Ok(response.json().await?)
    }

    pub async fn delete_json(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .send(|base| self.http.delete(format!("{base}{path}")), path)
            .await?;
        Ok(response.json().await?)
    }

    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let response = self.send(|base| self.http.get(format!("{base}{path}")), path).await?;
        Ok(response.bytes().await?.to_vec())
    }

    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> anyhow::Result<Value> {
        let request = |base: &str| {
            self.http
                .post(format!("{base}{path}"))
                .header("Content-Type", "application/octet-stream")
                .body(body.clone())
        };
        let response = self.send(request, path).await?;
        Ok(response.json().await?)
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credentials {
            Some((name, password)) => request.basic_auth(name, Some(password)),
            None => request,
        }
    }

    /// Sends the request `build` makes for a server's base URL to the servers in turn, starting
    /// with the one that answered last, until one answers (whatever its status).
    async fn reach(&self, build: impl Fn(&str) -> reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let first = self.current.load(Ordering::Relaxed);
        let mut unreachable = Vec::new();
        for n in 0..self.bases.len() {
            let at = (first + n) % self.bases.len();
            let base = &self.bases[at];
            match self.authorized(build(base)).send().await {
                Ok(response) => {
                    self.current.store(at, Ordering::Relaxed);
                    return Ok(response);
                }
                Err(e) if e.is_connect() || e.is_timeout() => unreachable.push(format!("{base} ({e})")),
                Err(e) => return Err(e).with_context(|| format!("request to {base} failed")),
            }
        }
        Err(anyhow!("cannot reach {}", unreachable.join(", nor ")))
    }

    /// [`Self::reach`], then the node's own reason if it refused.
    async fn send(
        &self,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
        path: &str,
    ) -> anyhow::Result<reqwest::Response> {
        let response = self.reach(build).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let reason = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().or(v["reason"].as_str()).map(str::to_string))
            .unwrap_or(body);
        Err(anyhow!("{path}: {status}: {reason}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_without_a_scheme_are_http_and_credentials_come_out() {
        assert_eq!(parse_base("127.0.0.1:8761").unwrap().0, "http://127.0.0.1:8761");
        assert_eq!(
            parse_base(" https://reg.example:443/ ").unwrap().0,
            "https://reg.example"
        );
        let (base, credentials) = parse_base("http://ops:secret@10.0.0.1:8761").unwrap();
        assert_eq!(base, "http://10.0.0.1:8761");
        assert_eq!(credentials, Some(("ops".into(), "secret".into())));
        assert!(parse_base("http://").is_err());
        let client = Client::new("a:1, b:2,,", None, None).unwrap();
        assert_eq!(client.bases, ["http://a:1", "http://b:2"]);
        assert!(Client::new(" , ", None, None).is_err());
    }
}
