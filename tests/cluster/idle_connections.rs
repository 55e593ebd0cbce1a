//! Idle connections cannot lock a node out (issue 19, attack 3): 10,000 TCP connections from one
//! address that never send a byte, on a node with the default connection limits. Another
//! client's `/health` still answers at once; the attacker's connections beyond its per-address
//! share are refused, and those it holds are closed when they send no request in time.

use std::net::SocketAddr;
use std::time::Duration;
use std::time::Instant;

use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;
use tokio::net::TcpStream;

use crate::support::Cluster;

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
