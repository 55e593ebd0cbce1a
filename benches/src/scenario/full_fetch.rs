//! Full registry fetches (`GET /eureka/apps`), back to back from one client, in any of Eureka's
//! four shapes (JSON or XML, gzip'd or not): the heavy-reads stage's fetchers and the scale
//! stage's. Bodies are counted and dropped as they arrive, as a client that decodes while it
//! reads would: the client must not spend the shared cores copying megabytes.

use std::time::Duration;

use hyper::header::HeaderValue;
use serde::Serialize;
use tokio::time::Instant;

use super::Samples;
use crate::conn::Conn;
use crate::conn::Target;
use crate::driver::bodiless;

/// Which representation a fetcher asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FetchFormat {
    pub xml: bool,
    pub gzip: bool,
}

impl FetchFormat {
    pub const GZIP_JSON: FetchFormat = FetchFormat { xml: false, gzip: true };
    pub const ALL: [FetchFormat; 4] = [
        FetchFormat { xml: false, gzip: true },
        FetchFormat {
            xml: false,
            gzip: false,
        },
        FetchFormat { xml: true, gzip: true },
        FetchFormat { xml: true, gzip: false },
    ];

    /// `json_gzip`, `xml_plain`...
    pub fn name(self) -> String {
        format!(
            "{}_{}",
            if self.xml { "xml" } else { "json" },
            if self.gzip { "gzip" } else { "plain" }
        )
    }
}

/// Full fetches from `target` (a Eureka root) until `until`, each allowed `timeout`: their
/// latencies and the size of the last body. An answer in another encoding than asked is an error.
pub async fn fetch_until(target: Target, format: FetchFormat, until: Instant, timeout: Duration) -> (Samples, u64) {
    fetch_path_until(target, "/apps", format, until, timeout).await
}

/// Like [`fetch_until`], of `path` (`/apps/delta`...).
pub async fn fetch_path_until(
    target: Target,
    path: &str,
    format: FetchFormat,
    until: Instant,
    timeout: Duration,
) -> (Samples, u64) {
    let mut fetcher = Fetcher::new(target, path, format, timeout);
    let mut samples = Samples::new();
    let size = fetcher.until(until, &mut samples).await;
    (samples, size)
}

/// One client fetching one path in one format, on one connection.
pub struct Fetcher {
    conn: Conn,
    path: String,
    format: FetchFormat,
}

impl Fetcher {
    pub fn new(target: Target, path: &str, format: FetchFormat, timeout: Duration) -> Fetcher {
        Fetcher {
            conn: Conn::new(target).with_timeout(timeout),
            path: path.to_string(),
            format,
        }
    }

    /// Fetches back to back until `until`, into `samples`: the size of the last body.
    pub async fn until(&mut self, until: Instant, samples: &mut Samples) -> u64 {
        let mut size = 0;
        while Instant::now() < until {
            match self.fetch().await {
                Ok((latency, length)) => {
                    samples.record(latency);
                    size = length;
                }
                Err(e) => {
                    samples.error(e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        size
    }

    /// One fetch: its latency and body size. An answer in another encoding than asked is an
    /// error.
    pub async fn fetch(&mut self) -> Result<(Duration, u64), String> {
        let media = if self.format.xml {
            "application/xml"
        } else {
            "application/json"
        };
        let mut request = bodiless("GET", &self.path, media);
        if self.format.gzip {
            request
                .headers_mut()
                .insert(hyper::header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let sent = Instant::now();
        let gzipped = |answer: &hyper::Response<()>| {
            answer
                .headers()
                .get(hyper::header::CONTENT_ENCODING)
                .is_some_and(|e| e == "gzip")
        };
        match self.conn.send_discarding_body(request).await {
            Ok((answer, length)) if answer.status() == 200 && gzipped(&answer) == self.format.gzip => {
                Ok((sent.elapsed(), length))
            }
            Ok((answer, _)) => Err(format!(
                "HTTP {} ({:?})",
                answer.status(),
                answer.headers().get(hyper::header::CONTENT_ENCODING)
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}
