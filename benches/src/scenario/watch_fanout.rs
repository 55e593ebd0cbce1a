//! Watch latency with many watchers (issue 23): thousands of ServiceCenter watchers (WebSockets
//! on `/v4/default/registry/microservices/{consumer}/watcher`), spread over every node and over
//! a hundred consumers that depend on one provider, while one client registers the provider's
//! instances one by one at another node. Every watcher must see every registration's CREATE
//! event; the latency of each (watcher, event) pair counts from the registration's sending.
//!
//! A registry limits connections per client address, as it should, so the watchers come from
//! several loopback source addresses (127.0.0.2, 127.0.0.3, ...), as they would from many hosts.

use std::net::Ipv4Addr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tokio::net::TcpSocket;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::Samples;
use crate::conn::Conn;
use crate::conn::Target;
use crate::driver::bodiless;
use crate::driver::with_body;
use crate::error::BenchError;
use crate::report::Summary;

const ROOT: &str = "/v4/default/registry";

/// How many watchers and events.
#[derive(Debug, Clone, Copy)]
pub struct FanoutSpec {
    pub watchers: usize,
    /// Consumers the watchers are spread over (each depends on the provider).
    pub consumers: usize,
    /// Registrations measured (after one that proves every watcher is subscribed).
    pub events: usize,
    /// Pause between two registrations.
    pub every: Duration,
    /// Watchers per source address (below the registry's per-client connection limit).
    pub per_address: usize,
    /// Names this run's services and instances apart from another run's on the same registry.
    pub tag: u32,
}

impl Default for FanoutSpec {
    fn default() -> Self {
        FanoutSpec {
            watchers: 10_000,
            consumers: 100,
            events: 20,
            every: Duration::from_millis(250),
            per_address: 600,
            tag: 0,
        }
    }
}

/// What the fan-out measured.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutReport {
    pub watchers: usize,
    pub events: usize,
    /// (watcher, event) pairs delivered.
    pub deliveries: u64,
    /// Pairs not delivered within the wait.
    pub missed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// p50 and p99 of the watchers of each node, in the nodes' order (where a tail comes from).
    pub per_node_ms: Vec<(f64, f64)>,
    /// p50 and p99 of each event over its watchers, in the events' order.
    pub per_event_ms: Vec<(f64, f64)>,
    /// Seconds to connect every watcher.
    pub connect_s: f64,
    #[serde(skip)]
    pub summary: Option<Summary>,
}

async fn post(conn: &mut Conn, path: &str, body: String) -> Result<(), BenchError> {
    let request = with_body("POST", path, "application/json", body.into_bytes());
    conn.send_expecting(request, &format!("POST {path}"), |s| s.is_success())
        .await?;
    Ok(())
}

fn service(id: &str, app: &str, name: &str) -> String {
    format!(r#"{{"service":{{"serviceId":"{id}","appId":"{app}","serviceName":"{name}","version":"1.0.0"}}}}"#)
}

/// Runs the fan-out: registrations sent to `writer` (a node's root), watchers on `nodes`.
pub async fn watch_fanout(writer: &Target, nodes: &[Target], spec: FanoutSpec) -> Result<FanoutReport, BenchError> {
    if nodes.is_empty() || spec.consumers == 0 {
        return Err(BenchError::Setup("the fan-out needs nodes and consumers".into()));
    }
    // A node busy building a million-instance payload may take a while to answer.
    let mut conn = Conn::new(writer.clone()).with_timeout(Duration::from_secs(60));
    let app = format!("fanout{}", spec.tag);
    let provider = format!("{app}-provider");
    post(
        &mut conn,
        &format!("{ROOT}/microservices"),
        service(&provider, &app, "provider"),
    )
    .await?;
    let consumer = |c: usize| format!("{app}-consumer-{c}");
    for c in 0..spec.consumers {
        let id = consumer(c);
        post(&mut conn, &format!("{ROOT}/microservices"), service(&id, &app, &id)).await?;
        // A find with X-ConsumerId records the dependency the consumer's watchers follow.
        let mut find = bodiless(
            "GET",
            &format!("{ROOT}/instances?appId={app}&serviceName=provider&version=latest"),
            "application/json",
        );
        find.headers_mut().insert(
            "X-ConsumerId",
            hyper::header::HeaderValue::from_str(&id).expect("ascii"),
        );
        conn.send(find).await?;
    }

    // Event 0 proves the subscriptions; events 1..=spec.events are measured.
    let total = spec.events + 1;
    let sent: Arc<Vec<OnceLock<Instant>>> = Arc::new((0..total).map(|_| OnceLock::new()).collect());
    let connecting = Instant::now();
    let watchers = futures::stream::iter(0..spec.watchers)
        .map(|i| {
            let node = &nodes[i % nodes.len()];
            let source = Ipv4Addr::new(127, 0, 0, 2 + (i / spec.per_address.max(1)) as u8);
            connect(node.addr, source, consumer(i % spec.consumers))
        })
        .buffer_unordered(200)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let connect_s = connecting.elapsed().as_secs_f64();
    let listeners: Vec<_> = watchers
        .into_iter()
        .map(|ws| tokio::spawn(listen(ws, format!("{app}-"), sent.clone(), total)))
        .collect();

    let register = |n: usize| {
        format!(
            r#"{{"instance":{{"instanceId":"{app}-{n}","hostName":"{app}-{n}","endpoints":["rest://10.9.0.{}:80"]}}}}"#,
            n % 250 + 1
        )
    };
    let path = format!("{ROOT}/microservices/{provider}/instances");
    // Give the dependency records time to apply before the subscription check.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = sent[0].set(Instant::now());
    post(&mut conn, &path, register(0)).await?;
    for n in 1..total {
        tokio::time::sleep(spec.every).await;
        let _ = sent[n].set(Instant::now());
        post(&mut conn, &path, register(n)).await?;
    }

    let mut samples = Samples::new();
    // Sockets are closed once every watcher is done: a close while others still wait for the
    // last event would delay them (the closes cost the shared cores too).
    let mut done = Vec::with_capacity(spec.watchers);
    let mut per_node: Vec<Samples> = nodes.iter().map(|_| Samples::new()).collect();
    let mut per_event: Vec<Samples> = (1..total).map(|_| Samples::new()).collect();
    let (mut deliveries, mut missed) = (0, 0);
    let mut unsubscribed = 0;
    for (i, listener) in listeners.into_iter().enumerate() {
        let (got, ws) = listener
            .await
            .map_err(|e| BenchError::Setup(format!("a watcher failed: {e}")))?;
        done.push(ws);
        if got[0].is_none() {
            unsubscribed += 1;
        }
        for (n, latency) in got[1..].iter().enumerate() {
            match latency {
                Some(l) => {
                    samples.record(*l);
                    per_event[n].record(*l);
                    per_node[i % nodes.len()].record(*l);
                    deliveries += 1;
                }
                None => {
                    samples.error("no event");
                    missed += 1;
                }
            }
        }
    }
    futures::stream::iter(done)
        .for_each_concurrent(200, |mut ws| async move {
            let _ = ws.close(None).await;
        })
        .await;
    if unsubscribed == spec.watchers {
        return Err(BenchError::Setup("no watcher received the first event".into()));
    }
    let per_node_ms = p50_and_p99(per_node, "the watchers of node");
    let per_event_ms = p50_and_p99(per_event, "event");
    let summary = samples.summary(&format!("watch: register -> event, {} watchers", spec.watchers));
    Ok(FanoutReport {
        watchers: spec.watchers,
        events: spec.events,
        deliveries,
        missed,
        p50_ms: summary.p50_ms,
        p99_ms: summary.p99_ms,
        max_ms: summary.max_ms,
        per_node_ms,
        per_event_ms,
        connect_s,
        summary: Some(summary),
    })
}

/// The p50 and p99 of each group of samples (named `{what} {n}` from 1).
fn p50_and_p99(groups: Vec<Samples>, what: &str) -> Vec<(f64, f64)> {
    groups
        .into_iter()
        .enumerate()
        .map(|(n, group)| {
            let summary = group.summary(&format!("watch: {what} {}", n + 1));
            (summary.p50_ms, summary.p99_ms)
        })
        .collect()
}

/// `n` of the instance id `{prefix}{n}` in an event's text.
fn created_number(text: &str, prefix: &str) -> Option<usize> {
    let marker = format!(r#""instanceId":"{prefix}"#);
    let at = text.find(&marker)? + marker.len();
    let digits: &str = &text[at..];
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse().ok()
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Each watcher's read buffer (an event is a few hundred bytes; a larger one still arrives whole).
const READ_BUFFER: usize = 4 * 1024;

/// One watcher of `consumer` at `node`, from `source`.
async fn connect(node: SocketAddr, source: Ipv4Addr, consumer: String) -> Result<Socket, BenchError> {
    let failed = |e: &dyn std::fmt::Display| BenchError::Setup(format!("watcher from {source} to {node}: {e}"));
    let socket = TcpSocket::new_v4().map_err(|e| failed(&e))?;
    socket.bind(SocketAddr::new(source.into(), 0)).map_err(|e| failed(&e))?;
    let stream = tokio::time::timeout(Duration::from_secs(10), socket.connect(node))
        .await
        .map_err(|e| failed(&e))?
        .map_err(|e| failed(&e))?;
    let url = format!("ws://{node}{ROOT}/microservices/{consumer}/watcher");
    // A watcher reads events of a few hundred bytes: tungstenite's default read buffer (128 KiB,
    // zeroed on every read) would spend the shared cores on memset, inside the latency measured.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let connecting = tokio_tungstenite::client_async_with_config(url, stream, Some(config));
    let (ws, _) = tokio::time::timeout(Duration::from_secs(10), connecting)
        .await
        .map_err(|e| failed(&e))?
        .map_err(|e| failed(&e))?;
    Ok(ws)
}

/// Reads `ws` until it has seen the CREATE of every one of `total` registrations (instance ids
/// `{prefix}{n}`) or 15 s pass without one: each event's latency from its sending, and the
/// socket (closed by the caller once every watcher is done).
async fn listen(
    mut ws: Socket,
    prefix: String,
    sent: Arc<Vec<OnceLock<Instant>>>,
    total: usize,
) -> (Vec<Option<Duration>>, Socket) {
    let mut got: Vec<Option<Duration>> = vec![None; total];
    let mut seen = 0;
    while seen < total {
        let message = match tokio::time::timeout(Duration::from_secs(15), ws.next()).await {
            Ok(Some(Ok(message))) => message,
            _ => break,
        };
        let Message::Text(text) = message else { continue };
        let arrived = Instant::now();
        // Ten thousand watchers parse every event: a substring search keeps the client's share
        // of the shared cores (and so of the latency) small.
        if !text.contains(r#""action":"CREATE""#) {
            continue;
        }
        let Some(n) = created_number(&text, &prefix).filter(|n| *n < total) else {
            continue;
        };
        if got[n].is_none() {
            if let Some(at) = sent[n].get() {
                got[n] = Some(arrived.saturating_duration_since(*at));
                seen += 1;
            }
        }
    }
    (got, ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_number_is_read_from_the_event_text() {
        let event = r#"{"action":"CREATE","key":{},"instance":{"instanceId":"fanout1-17","hostName":"h"}}"#;
        assert_eq!(created_number(event, "fanout1-"), Some(17));
        assert_eq!(created_number(event, "fanout2-"), None);
    }
}
