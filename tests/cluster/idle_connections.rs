//! Idle connections cannot lock a node out (issue 19, attack 3): 10,000 TCP connections from one
//! address that never send a byte, on a node with the default connection limits. Another
//! client's `/health` still answers at once; the attacker's connections beyond its per-address
//! share are refused, and those it holds are closed when they send no request in time. And
//! idle ServiceCenter watchers, which a node must hold open, cost it a few KiB each.

use std::net::SocketAddr;
use std::time::Duration;
use std::time::Instant;

use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;
use tokio::net::TcpStream;

use crate::metrics::scrape;
use crate::metrics::value;
use crate::support::send_json;
use crate::support::Cluster;
use crate::ws_events::next_event;

/// A connection to `to` from the loopback address `from` (127.0.0.0/8 is all ours).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(to).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_from_one_address_do_not_lock_a_node_out() {
    let cluster = Cluster::start(1, &["--header-read-timeout-secs", "5"]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let node: SocketAddr = cluster.nodes[0].http.parse().unwrap();

    let mut idle = Vec::new();
    for _ in 0..10_000 {
        match tokio::time::timeout(Duration::from_secs(5), connect_from([127, 0, 0, 1], node)).await {
            Ok(Ok(stream)) => idle.push(stream),
            // Refused, or not accepted in time: either way not a lock-out of others.
            Ok(Err(_)) | Err(_) => break,
        }
    }
    assert!(idle.len() >= 1_000, "the attacker got {} connections", idle.len());

    // Another client, from another address, is answered while the attacker holds on.
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let health = other
        .get(format!("http://{node}/health"))
        .send()
        .await
        .expect("/health answers another client while 10,000 idle connections are open");
    assert_eq!(health.status(), 200);

    // The attacker's connections are closed: beyond its share at once, the rest when they send
    // no request within the header-read timeout.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut closed = 0;
    for stream in &mut idle {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut buf = [0u8; 64];
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(left, stream.read(&mut buf)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, idle.len(), "every idle connection is closed in time");
}

/// What a node's memory may grow by per open watcher: its task, its subscription and its
/// socket's buffers. A read buffer of tungstenite's default 128 KiB, zeroed on every read,
/// costs 128 KiB per watcher, 1.3 GB for the 10,000 watchers of `benches/quick --only scale`
/// (tried: the node grew by 137 KiB a watcher; 9 KiB with a 4 KiB buffer).
const MAX_KIB_PER_WATCHER: u64 = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_watchers_cost_a_node_a_few_kib_each_and_still_hear_of_changes() {
    let cluster = Cluster::start(1, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let node = &cluster.nodes[0];
    let base = node.url("/v4/default/registry");
    let create = |name: &str| {
        let body = serde_json::json!({ "service": { "appId": "idle", "serviceName": name, "version": "1.0.0" } });
        send_json(cluster.client.post(format!("{base}/microservices")).json(&body))
    };
    let provider = create("provider").await["serviceId"].as_str().unwrap().to_string();
    let consumer = create("consumer").await["serviceId"].as_str().unwrap().to_string();
    // The consumer's find records its dependency on the provider.
    let found = cluster
        .client
        .get(format!(
            "{base}/instances?appId=idle&serviceName=provider&version=latest"
        ))
        .header("X-ConsumerId", &consumer)
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), 200);

    // The node's resident memory, as its /metrics reports it (`VmRSS`), in KiB.
    let rss_kib = || async {
        let scraped = scrape(&cluster, 0).await;
        value(&scraped, "process_resident_memory_bytes", &[]).expect("the node reports its memory") as u64 / 1024
    };
    let before = rss_kib().await;
    let url = format!(
        "ws://{}/v4/default/registry/microservices/{consumer}/watcher",
        node.http
    );
    let mut watchers = Vec::new();
    for _ in 0..500 {
        let (ws, _) = tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(url.as_str()))
            .await
            .expect("a watcher connects in time")
            .expect("a watcher connects");
        watchers.push(ws);
    }
    // Each watcher's task has started reading its socket.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let grown = rss_kib().await.saturating_sub(before);
    assert!(
        grown <= MAX_KIB_PER_WATCHER * watchers.len() as u64,
        "{} watchers grew the node by {grown} KiB ({} KiB each)",
        watchers.len(),
        grown / watchers.len() as u64
    );

    // They still hear of a new instance of the provider.
    let body = serde_json::json!({ "instance": { "instanceId": "idle-1", "hostName": "h", "endpoints": ["rest://10.1.0.1:80"] } });
    send_json(
        cluster
            .client
            .post(format!("{base}/microservices/{provider}/instances"))
            .json(&body),
    )
    .await;
    let last = watchers.len() - 1;
    for n in [0, last] {
        let event = next_event(&mut watchers[n]).await;
        assert_eq!(event["action"], "CREATE", "{event}");
        assert_eq!(event["instance"]["instanceId"], "idle-1", "{event}");
    }
}
