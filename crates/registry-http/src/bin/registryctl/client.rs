//! The node's HTTP API as registryctl uses it: JSON or bytes in, JSON or bytes out, and the
//! node's own error message when it refuses.

use std::path::Path;

use anyhow::anyhow;
use anyhow::Context;
use serde_json::Value;

pub struct Client {
    base: String,
    http: reqwest::Client,
    /// Basic credentials (`--user`, or the server URL's `user:password@`).
    credentials: Option<(String, String)>,
}

impl Client {
    /// A client for `base`; `user` is `NAME:PASSWORD`, else credentials in `base` are used;
    /// `ca` (PEM) is trusted for HTTPS besides the usual roots.
    pub fn new(base: &str, user: Option<&str>, ca: Option<&Path>) -> anyhow::Result<Self> {
        let mut url = reqwest::Url::parse(base).with_context(|| format!("{base} is not a URL"))?;
        let in_url = (!url.username().is_empty()).then(|| {
            let name = url.username().to_string();
            (name, url.password().unwrap_or_default().to_string())
        });
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let credentials = match user {
            Some(pair) => {
                let (name, password) = pair
                    .split_once(':')
                    .ok_or_else(|| anyhow!("--user takes NAME:PASSWORD"))?;
                Some((name.to_string(), password.to_string()))
            }
            None => in_url,
        };
        let mut http = reqwest::Client::builder();
        if let Some(path) = ca {
            let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            for root in reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("{} holds no PEM certificate", path.display()))?
            {
                http = http.add_root_certificate(root);
            }
        }
        Ok(Self {
            base: url.as_str().trim_end_matches('/').to_string(),
            http: http.build()?,
            credentials,
        })
    }

    /// A client for another node at `addr` (`host:port`), with the same scheme, credentials and
    /// trusted roots.
    pub fn for_node(&self, addr: &str) -> Self {
        let scheme = if self.base.starts_with("https:") {
            "https"
        } else {
            "http"
        };
        Self {
            base: format!("{scheme}://{addr}"),
            http: self.http.clone(),
            credentials: self.credentials.clone(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        self.get_json_with(path, &[]).await
    }

    /// GET with a query string (the client encodes it).
    pub async fn get_json_with(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Value> {
        let response = self.send(self.http.get(self.url(path)).query(query), path).await?;
        Ok(response.json().await?)
    }

    /// GET of `path`, with its status: used for health, where 503 is an answer.
    pub async fn probe(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let response = self.authorized(self.http.get(self.url(path))).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self.send(self.http.post(self.url(path)).json(body), path).await?;
        Ok(response.json().await?)
    }

    pub async fn delete_json(&self, path: &str) -> anyhow::Result<Value> {
        let response = self.send(self.http.delete(self.url(path)), path).await?;
        Ok(response.json().await?)
    }

    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let response = self.send(self.http.get(self.url(path)), path).await?;
        Ok(response.bytes().await?.to_vec())
    }

    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> anyhow::Result<Value> {
        let request = self
            .http
            .post(self.url(path))
            .header("Content-Type", "application/octet-stream")
            .body(body);
        let response = self.send(request, path).await?;
        Ok(response.json().await?)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credentials {
            Some((name, password)) => request.basic_auth(name, Some(password)),
            None => request,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, path: &str) -> anyhow::Result<reqwest::Response> {
        let response = self
            .authorized(request)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
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
