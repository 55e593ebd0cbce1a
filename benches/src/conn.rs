//! One HTTP/1.1 keep-alive connection to a target, owned by one load worker: the cheapest client
//! there is, so the load generator spends as little of the shared CPU as possible.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderValue;
use hyper::Request;
use hyper::Response;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::BenchError;

/// Where a workload sends its requests: `http://host:port` plus an optional path prefix.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: HeaderValue,
    /// Path prefix without a trailing slash (e.g. "" or "/eureka").
    pub prefix: String,
}

impl Target {
    /// Parses `http://127.0.0.1:8761[/prefix]`.
    pub fn parse(url: &str) -> Result<Target, BenchError> {
        let bad = |why: &str| BenchError::Target(format!("{url}: {why}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// targets are supported"))?;
        let (authority, prefix) = match rest.find('/') {
            Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)
            .map_err(|e| bad(&e.to_string()))?
            .next()
            .ok_or_else(|| bad("the host resolves to no address"))?;
        Ok(Target {
            addr,
            host: HeaderValue::from_str(authority).map_err(|e| bad(&e.to_string()))?,
            prefix: prefix.to_string(),
        })
    }

    /// `http://host:port` without the prefix.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A response with its whole body read.
pub type Answer = Response<Bytes>;

/// A lazily (re)connected HTTP/1.1 connection.
pub struct Conn {
    target: Target,
    sender: Option<SendRequest<Full<Bytes>>>,
    timeout: Duration,
}

impl Conn {
    pub fn new(target: Target) -> Conn {
        Conn {
            target,
            sender: None,
            timeout: Duration::from_secs(10),
        }
    }

    /// The same connection with another limit on each exchange (10 s by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Conn {
        self.timeout = timeout;
        self
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, BenchError> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(self.target.addr).await?;
            stream.set_nodelay(true)?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("connected above"))
    }

    /// Sends `request` (its path is joined to the target's prefix) and reads the whole answer.
    /// A failed connection is dropped so the next call reconnects.
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> Result<Answer, BenchError> {
        Ok(self.exchange(request, true).await?.0)
    }

    /// Like [`send`](Self::send), but the body is dropped as it arrives and only its length
    /// kept: clients of megabyte answers would otherwise spend the shared cores copying them.
    pub async fn send_discarding_body(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<(Response<()>, u64), BenchError> {
        let (answer, length) = self.exchange(request, false).await?;
        Ok((answer.map(|_| ()), length))
    }

    /// One request and its answer, with the body (`keep_body`) or without; and the body's length.
    async fn exchange(
        &mut self,
        mut request: Request<Full<Bytes>>,
        keep_body: bool,
    ) -> Result<(Answer, u64), BenchError> {
        let host = self.target.host.clone();
        request.headers_mut().insert(hyper::header::HOST, host);
        if !self.target.prefix.is_empty() {
            let joined = format!("{}{}", self.target.prefix, request.uri());
            *request.uri_mut() = joined
                .parse()
                .map_err(|e| BenchError::Target(format!("{joined}: {e}")))?;
        }
        let timeout = self.timeout;
        let exchange = async {
            let sender = self.connect().await?;
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let (parts, mut body) = response.into_parts();
            if keep_body {
                let body = body.collect().await?.to_bytes();
                let length = body.len() as u64;
                return Ok::<_, BenchError>((Response::from_parts(parts, body), length));
            }
            let mut length = 0;
            while let Some(frame) = body.frame().await {
                length += frame?.data_ref().map_or(0, |d| d.len() as u64);
            }
            Ok((Response::from_parts(parts, Bytes::new()), length))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(BenchError::Timeout(timeout))
            }
        }
    }
}

impl Conn {
    /// Like [`send`](Self::send), but an answer whose status `ok` refuses is an error naming
    /// `what`, with the start of the body.
    pub async fn send_expecting(
        &mut self,
        request: Request<Full<Bytes>>,
        what: &str,
        ok: impl Fn(hyper::StatusCode) -> bool,
    ) -> Result<Answer, BenchError> {
        let answer = self.send(request).await?;
        if !ok(answer.status()) {
            return Err(BenchError::Status {
                what: what.to_string(),
                status: answer.status().as_u16(),
                body: String::from_utf8_lossy(answer.body()).chars().take(300).collect(),
            });
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets_with_and_without_prefix() {
        let t = Target::parse("http://127.0.0.1:8761/eureka/").unwrap();
        assert_eq!(t.addr.port(), 8761);
        assert_eq!(t.prefix, "/eureka");
        assert_eq!(t.base(), "http://127.0.0.1:8761");
        assert_eq!(Target::parse("http://127.0.0.1:1").unwrap().prefix, "");
        assert!(Target::parse("https://127.0.0.1:1").is_err());
        assert!(Target::parse("http://").is_err());
    }
}
