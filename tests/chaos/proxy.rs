//! Delay and jitter between nodes, without `tc netem` (not in every kernel): a TCP proxy of the
//! suite's own in front of every node's Raft port.
//!
//! Node `j` listens for Raft on its own address, port [`crate::net::RAFT_PORT`], but advertises
//! port [`crate::net::PROXY_PORT`] on the same address, so every peer's Raft and gRPC traffic to
//! it is addressed to the proxy. The proxy's listener lives inside node `j`'s namespace (a thread
//! enters it with `setns` to bind, then leaves): peers still reach it over their own veth link,
//! so cuts, packet loss and one-way drops apply to that traffic as before. It forwards each
//! connection to node `j`'s real port from the test's namespace, over the client link.
//!
//! Every chunk read from one side is held until `base + a random share of jitter` after it
//! arrived, then written to the other side. Chunks of one direction leave in the order they came
//! and never earlier than the one before (a chunk's release time is at least its predecessor's),
//! so jitter spreads the timing of a TCP stream but never reorders its bytes. With no delay set
//! a chunk is written at once.
//!
//! The proxy runs on a runtime of its own (one thread), so the suite's blocking steps (filling a
//! disk, copying a data directory) never hold node-to-node traffic. Dropping [`Proxies`] stops
//! every listener and connection.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::sync::watch;
use tokio::time::Instant;

/// Largest chunk read at once (one delay decision each).
const CHUNK: usize = 16 * 1024;
/// Chunks queued per direction before the reader waits (backpressure: 4 MiB at most).
const QUEUED: usize = 256;
/// How long the connection to the real node may take.
const CONNECT_WITHIN: Duration = Duration::from_secs(1);
/// A direction silent this long ends its connection. Raft heartbeats every 50 ms and gRPC pings
/// every 10 s, so only a connection hung behind a cut link goes this quiet.
const IDLE: Duration = Duration::from_secs(30);
/// Connections accepted per listener at most over a run (a bound on the accept loop; a long run
/// opens a few per fault).
const MAX_CONNECTIONS: usize = 1_000_000;

/// The delay every proxy applies now, shared with their connections.
#[derive(Default)]
struct Latency {
    base_us: AtomicU64,
    jitter_us: AtomicU64,
}

impl Latency {
    /// When a chunk read `now` may leave: `now + base + random jitter`, never before `after`.
    fn release(&self, now: Instant, after: Instant, rng: &mut fastrand::Rng) -> Instant {
        let base = self.base_us.load(Ordering::Relaxed);
        let jitter = self.jitter_us.load(Ordering::Relaxed);
        let extra = if jitter == 0 { 0 } else { rng.u64(0..=jitter) };
        (now + Duration::from_micros(base + extra)).max(after)
    }
}

/// One proxy per node, all sharing one delay setting.
pub struct Proxies {
    runtime: Option<tokio::runtime::Runtime>,
    latency: Arc<Latency>,
    stop: watch::Sender<bool>,
    /// Where each route's listener is bound (its port known when asked for port 0).
    bound: Vec<SocketAddr>,
}

/// Where one proxy listens (inside `namespace`, or this process's own when `None`) and where it
/// forwards to.
pub struct Route {
    pub namespace: Option<String>,
    pub listen: SocketAddr,
    pub upstream: SocketAddr,
}

impl Proxies {
    /// Starts one listener per route. Needs root (`setns`).
    pub fn start(routes: Vec<Route>) -> Proxies {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("chaos-proxy")
            .enable_all()
            .build()
            .expect("proxy runtime");
        let latency = Arc::new(Latency::default());
        let (stop, _) = watch::channel(false);
        let mut bound = Vec::new();
        for (n, route) in routes.into_iter().enumerate() {
            let listener = match &route.namespace {
                Some(namespace) => bind_in(namespace, route.listen),
                None => std::net::TcpListener::bind(route.listen).expect("bind proxy"),
            };
            listener.set_nonblocking(true).unwrap();
            bound.push(listener.local_addr().unwrap());
            let (latency, stop) = (latency.clone(), stop.subscribe());
            runtime.spawn(accept_loop(listener, route.upstream, latency, stop, n as u64));
        }
        Proxies {
            runtime: Some(runtime),
            latency,
            stop,
            bound,
        }
    }

    /// Where each route's proxy listens, in the order of the routes.
    pub fn bound(&self) -> &[SocketAddr] {
        &self.bound
    }

    /// From now on, every chunk in either direction waits `base` plus up to `jitter`.
    pub fn set_delay(&self, base: Duration, jitter: Duration) {
        self.latency.base_us.store(base.as_micros() as u64, Ordering::Relaxed);
        self.latency
            .jitter_us
            .store(jitter.as_micros() as u64, Ordering::Relaxed);
    }

    /// Back to no delay (chunks already held still leave at their time).
    pub fn clear(&self) {
        self.set_delay(Duration::ZERO, Duration::ZERO);
    }
}

impl Drop for Proxies {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(runtime) = self.runtime.take() {
            // Allowed inside the test's own runtime, unlike a blocking shutdown.
            runtime.shutdown_background();
        }
    }
}

/// Binds `addr` inside network namespace `namespace`: a short-lived thread enters it (a socket
/// stays in the namespace it was made in) and hands the listener back.
fn bind_in(namespace: &str, addr: SocketAddr) -> std::net::TcpListener {
    let path = format!("/var/run/netns/{namespace}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            // SAFETY: setns takes a valid descriptor (held open by `ns`) and changes only this
            // thread's network namespace; the thread ends right after binding.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns into {namespace}: {}", std::io::Error::last_os_error());
            std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr} in {namespace}: {e}"))
        })
        .join()
        .expect("bind thread")
    })
}

async fn accept_loop(
    listener: std::net::TcpListener,
    upstream: SocketAddr,
    latency: Arc<Latency>,
    mut stop: watch::Receiver<bool>,
    seed: u64,
) {
    let listener = TcpListener::from_std(listener).expect("proxy listener");
    for n in 0..MAX_CONNECTIONS as u64 {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let Ok((downstream, _)) = accepted else {
            // Out of descriptors or the like: try again shortly.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let seed = seed << 32 | n;
        tokio::spawn(connection(downstream, upstream, latency.clone(), stop.clone(), seed));
    }
}

/// Forwards one connection both ways until either side closes, a direction idles, or the
/// proxies stop. The real node down: the accepted connection is closed at once.
async fn connection(
    downstream: TcpStream,
    upstream: SocketAddr,
    latency: Arc<Latency>,
    mut stop: watch::Receiver<bool>,
    seed: u64,
) {
    let Ok(Ok(up)) = tokio::time::timeout(CONNECT_WITHIN, TcpStream::connect(upstream)).await else {
        return;
    };
    let _ = downstream.set_nodelay(true);
    let _ = up.set_nodelay(true);
    let (down_read, down_write) = downstream.into_split();
    let (up_read, up_write) = up.into_split();
    let to_node = direction(down_read, up_write, latency.clone(), seed * 2);
    let to_peer = direction(up_read, down_write, latency, seed * 2 + 1);
    // The first direction to end takes the connection with it, as a reset would.
    tokio::select! {
        _ = to_node => {}
        _ = to_peer => {}
        _ = stop.changed() => {}
    }
}

/// Copies `from` to `to`, each chunk held until its release time, in order.
async fn direction(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, latency: Arc<Latency>, seed: u64) {
    let (queue, mut held) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUED);
    let reader = async move {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut last = Instant::now();
        loop {
            let mut chunk = vec![0u8; CHUNK];
            let n = match tokio::time::timeout(IDLE, from.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => break,
            };
            chunk.truncate(n);
            last = latency.release(Instant::now(), last, &mut rng);
            if queue.send((last, chunk)).await.is_err() {
                break;
            }
        }
        // Dropping the queue lets the writer finish what is held, then close.
    };
    let writer = async move {
        while let Some((due, chunk)) = held.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_times_never_go_backwards() {
        let latency = Latency::default();
        latency.base_us.store(30_000, Ordering::Relaxed);
        latency.jitter_us.store(50_000, Ordering::Relaxed);
        let mut rng = fastrand::Rng::with_seed(7);
        let start = Instant::now();
        let mut last = start;
        for k in 0..1_000u64 {
            let now = start + Duration::from_micros(k * 100);
            let due = latency.release(now, last, &mut rng);
            assert!(due >= last, "chunk {k} would overtake the one before");
            assert!(due >= now + Duration::from_millis(30), "chunk {k} left early");
            last = due;
        }
        // Back to zero: what comes next leaves at once, or right after what is still held.
        latency.base_us.store(0, Ordering::Relaxed);
        latency.jitter_us.store(0, Ordering::Relaxed);
        let later = last + Duration::from_secs(1);
        assert_eq!(latency.release(later, last, &mut rng), later);
        assert_eq!(latency.release(start, last, &mut rng), last);
    }

    /// A byte pattern no reordering or loss could keep: byte `i` is `i * 7 mod 251`.
    fn pattern(from: usize, len: usize) -> Vec<u8> {
        (from..from + len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_arrives_whole_in_order_and_late_under_jitter() {
        let sink = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = sink.local_addr().unwrap();
        let received = tokio::spawn(async move {
            let (mut s, _) = sink.accept().await.unwrap();
            let mut first = [0u8; 1];
            s.read_exact(&mut first).await.unwrap();
            let first_at = Instant::now();
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).await.unwrap();
            rest.insert(0, first[0]);
            (first_at, rest)
        });
        let proxies = Proxies::start(vec![Route {
            namespace: None,
            listen: "127.0.0.1:0".parse().unwrap(),
            upstream,
        }]);
        proxies.set_delay(Duration::from_millis(20), Duration::from_millis(15));
        let mut client = TcpStream::connect(proxies.bound()[0]).await.unwrap();
        let sent_at = Instant::now();
        let mut rng = fastrand::Rng::with_seed(3);
        let mut written = 0;
        // Writes of every size, some a few milliseconds apart, so chunks get different jitter.
        for k in 0..400 {
            let len = rng.usize(1..8_000);
            client.write_all(&pattern(written, len)).await.unwrap();
            written += len;
            if k % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        }
        client.shutdown().await.unwrap();
        let (first_at, got) = tokio::time::timeout(Duration::from_secs(30), received)
            .await
            .expect("the stream ends")
            .unwrap();
        assert!(
            first_at - sent_at >= Duration::from_millis(20),
            "the first byte was not held"
        );
        assert_eq!(got.len(), written);
        assert!(got == pattern(0, written), "bytes reordered or changed");
    }
}
