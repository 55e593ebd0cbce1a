//! The node's HTTP API as registryctl uses it: JSON or bytes in, JSON or bytes out, and the
//! node's own error message when it refuses.

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
    /// A client for `base`; `user` is `NAME:PASSWORD`, else credentials in `base` are used.
    pub fn new(base: &str, user: Option<&str>) -> anyhow::Result<Self> {
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
        Ok(Self {
            base: url.as_str().trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            credentials,
        })
    }

    /// A client for another node, with the same credentials.
    pub fn for_node(&self, base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
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

    /// GET of `url` (another node's), with its status: used for health, where 503 is an answer.
    pub async fn probe(&self, url: &str) -> anyhow::Result<(u16, Value)> {
        let response = self.authorized(self.http.get(url)).send().await?;
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
