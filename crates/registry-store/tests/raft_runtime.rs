//! Raft keeps its leader while the runtime that serves the leader's clients is blocked.
//!
//! At a million instances, the scale benchmark's nodes woke from timers seconds late on their
//! shared runtime while a plain thread woke on time, and each stall past the election timeout
//! was an election (13 in one minute of full-registry reads). Here three nodes run in this
//! process over real sockets, each started on a runtime of its own (as each registryd has
//! one): the leader's has both its workers blocked for three seconds, ten times the longest
//! election timeout. With Raft on that runtime, the followers elected another leader; on a
//! runtime of its own, no election happens.

use std::collections::BTreeMap;
use std::time::Duration;
use std::time::Instant;

use openraft::ServerState;
use registry_store::node::NodeConfig;
use registry_store::node::RegistryNode;
use tokio::runtime::Runtime;

/// A node and the runtime it was started on (which serves its clients).
struct Member {
    runtime: Runtime,
    node: RegistryNode,
}

fn start_three(dir: &std::path::Path) -> Vec<Member> {
    let listeners: Vec<std::net::TcpListener> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("binds loopback"))
        .collect();
    let peers: BTreeMap<u64, String> = listeners
        .iter()
        .zip(1u64..)
        .map(|(l, id)| (id, l.local_addr().expect("bound").to_string()))
        .collect();
    listeners
        .into_iter()
        .zip(peers.clone())
        .map(|(listener, (id, addr))| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            let mut config = NodeConfig::new(id, dir.join(format!("n{id}")), addr);
            config.peers = peers.clone();
            let node = runtime.block_on(async {
                listener.set_nonblocking(true).expect("non-blocking");
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                RegistryNode::start(config, listener).await.expect("node starts")
            });
            Member { runtime, node }
        })
        .collect()
}

/// Every node's (term, leader), once all three agree on a leader.
fn agreed_leader(members: &[Member]) -> Vec<(u64, Option<u64>)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen: Vec<(u64, Option<u64>)> = members
            .iter()
            .map(|m| {
                let metrics = m.node.metrics();
                (metrics.current_term, metrics.current_leader)
            })
            .collect();
        let leads = members.iter().any(|m| m.node.metrics().state == ServerState::Leader);
        if leads && seen[0].1.is_some() && seen.iter().all(|s| *s == seen[0]) {
            return seen;
        }
        assert!(Instant::now() < deadline, "no agreed leader in 30 s: {seen:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_blocked_client_runtime_on_the_leader_starts_no_election() {
    let dir = tempfile::tempdir().expect("temp dir");
    let members = start_three(dir.path());
    agreed_leader(&members);
    // Let the cluster settle: a first election can still be in flight right after agreement.
    std::thread::sleep(Duration::from_millis(500));
    let before = agreed_leader(&members);
    let leader = before[0].1.expect("agreed") as usize - 1;

    // Four blockers on the leader's two workers: both are held for at least three seconds.
    let blockers: Vec<_> = (0..4)
        .map(|_| {
            members[leader]
                .runtime
                .spawn(async { std::thread::sleep(Duration::from_millis(1_500)) })
        })
        .collect();
    for b in blockers {
        members[leader].runtime.block_on(b).expect("blocker ends");
    }

    let after = agreed_leader(&members);
    assert_eq!(
        before, after,
        "(term, leader) of each node before and after the leader's client runtime was blocked"
    );
    for m in &members {
        m.runtime.block_on(m.node.shutdown());
    }
}
