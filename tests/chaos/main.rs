//! The chaos suite: a cluster of three nodes, and one of five, each node in its own network
//! namespace, under register / cancel / read / heartbeat load while faults come and go: kill -9
//! of the leader and of a follower, a leader or a follower cut off from the others, the link
//! between the leader and one follower cut (a partial partition), a full disk under one node, a
//! node restarted on a stale copy of its data directory, a quarter of all packets between nodes
//! lost, the leader's packets to one follower dropped (a one-way cut), every byte between nodes
//! delayed with jitter (a proxy of the suite's own in front of each node's Raft port,
//! `proxy.rs`), a follower removed through the admin API and added back on an empty data
//! directory while links are delayed; on five nodes also the leader and a follower killed, or
//! cut off, together (three still make a majority).
//!
//! After every fault (once healed, the cluster settled and the key clients paused) the
//! invariants are checked: every node holds the same state at the same revision; every key's
//! history of registrations, cancellations and consistent reads is linearizable (so no
//! acknowledged write was lost); no instance that kept renewing was evicted; every such instance
//! is registered on every node. At the end, instances that stopped renewing are gone (evictions
//! work while none is false).
//!
//! Quick form (the test command): each fault of the three-node list once, and four on five
//! nodes, about two and a half minutes. `CHAOS_FAULTS=DelayedLinks,KillTwo` runs those instead
//! (each once, on each cluster that survives it). Longer run:
//! `CHAOS_SECS=1800 cargo test -p registry-http --test chaos -- --nocapture` injects random
//! faults for that long on each cluster, one after the other (`-- five_nodes` or
//! `-- the_registry` picks one), and prints the figures. Needs root (namespaces, tmpfs),
//! iproute2 and iptables.

#[allow(dead_code)]
#[path = "../cluster/support.rs"]
mod support;

mod disk;
mod faults;
mod linearizable;
mod net;
mod proxy;
mod wedged_leader;
mod workload;

use std::collections::BTreeMap;
use std::time::Duration;
use std::time::Instant;

use faults::Chaos;
use faults::Fault;
use linearizable::Outcome;
use linearizable::Verdict;
use workload::Shape;
use workload::Workload;

/// Leases checked often, nothing held back by self-preservation (a false eviction must show),
/// a short write timeout so cut-off nodes answer soon, snapshots often (lagging nodes catch up
/// from one).
const NODE_FLAGS: &[&str] = &[
    "--lease-tick-ms",
    "200",
    "--self-preservation",
    "false",
    "--write-timeout-ms",
    "3000",
    "--snapshot-every",
    "500",
    // Audit lines and openraft's retry chatter would bury the rest in the logs printed on failure.
    "--log-level",
    "info,openraft=off,registry::audit=warn,tower_http=off",
];

const SHAPE: Shape = Shape {
    key_clients: 6,
    keys: 8,
    heartbeaters: 3,
    instances_per_heartbeater: 10,
    mortals: 4,
};

/// States the checker may explore per key before giving up (a verdict it must reach).
const SEARCH_BUDGET: usize = 2_000_000;

/// One cluster size and the faults it runs.
struct Plan {
    nodes: usize,
    /// The quick form: each once, in this order.
    quick: &'static [Fault],
    /// What a long run draws from.
    long: &'static [Fault],
}

/// The two runs share the machine's cores and the suite's address block: one at a time.
static ONE_RUN_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_stays_correct_through_kills_partitions_full_disks_and_stale_data() {
    let plan = Plan {
        nodes: 3,
        quick: &Fault::THREE_NODES,
        long: &Fault::THREE_NODES,
    };
    run(plan).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_stay_correct_with_two_down_at_once() {
    let plan = Plan {
        nodes: 5,
        quick: &[
            Fault::KillTwo,
            Fault::IsolateTwo,
            Fault::DelayedLinks,
            Fault::RebuildFollower,
        ],
        long: &Fault::FIVE_NODES,
    };
    run(plan).await;
}

/// A leader wedged by its full disk acknowledges no renewal its successor will not honour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_wedged_by_a_full_disk_acknowledges_no_renewal_its_successor_misses() {
    let _alone = ONE_RUN_AT_A_TIME.lock().await;
    let anomalies = wedged_leader::run(NODE_FLAGS).await;
    assert!(anomalies.is_empty(), "{anomalies:#?}");
}

/// Starts the cluster in its namespaces, the proxies and the load, injects faults (the quick
/// form, `CHAOS_FAULTS`, or random ones for `CHAOS_SECS`), checks after each one and at the end.
async fn run(plan: Plan) {
    let _alone = ONE_RUN_AT_A_TIME.lock().await;
    let long_run = std::env::var("CHAOS_SECS").ok().and_then(|s| s.parse::<u64>().ok());
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    // A chosen list instead of the quick form's (names as printed, comma-separated), less what
    // this cluster's size cannot survive.
    let chosen: Option<Vec<Fault>> = std::env::var("CHAOS_FAULTS").ok().map(|names| {
        names
            .split(',')
            .map(|n| Fault::named(n.trim()).unwrap_or_else(|| panic!("CHAOS_FAULTS: no fault {n}")))
            .filter(|f| plan.long.contains(f))
            .collect()
    });
    let quick = chosen.as_deref().unwrap_or(plan.quick);
    eprintln!(
        "chaos: {} nodes, seed {seed} (CHAOS_SEED={seed} repeats the fault choices)",
        plan.nodes
    );

    let mesh = net::Mesh::new(plan.nodes);
    let proxies = proxy::Proxies::start(mesh.proxy_routes());
    let mut cluster = support::Cluster::on_hosts(mesh.hosts(), NODE_FLAGS);
    let disk_node = 2;
    let disk = disk::SmallDisk::mount(&cluster.nodes[disk_node].data_dir(), 256);
    cluster.start_all();
    cluster.wait_healthy(Duration::from_secs(60)).await;
    cluster.leader(Duration::from_secs(30)).await;
    let bases: Vec<String> = cluster.nodes.iter().map(|n| n.url("")).collect();
    let mut chaos = Chaos::new(cluster, proxies, mesh, disk, disk_node, seed);

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(8))
        .no_proxy()
        .build()
        .unwrap();
    let mut load = Workload::start(client.clone(), bases.clone(), &SHAPE).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let started = Instant::now();
    let mut injected: BTreeMap<Fault, usize> = BTreeMap::new();
    let mut round = 0;
    loop {
        let (fault, hold) = match long_run {
            None if round < quick.len() => (quick[round], quick_hold(quick[round])),
            None => break,
            Some(secs) if started.elapsed() < Duration::from_secs(secs) => {
                let fault = plan.long[chaos.rng.usize(..plan.long.len())];
                (fault, Duration::from_millis(chaos.rng.u64(1_000..12_000)))
            }
            Some(_) => break,
        };
        round += 1;
        chaos.inject(fault, hold).await;
        *injected.entry(fault).or_default() += 1;
        chaos.settle().await;
        load.pause().await;
        checkpoint(&chaos, &load, &client, &bases, &format!("after {fault}")).await;
        load.resume();
    }

    // The heartbeaters keep going through the last checkpoint: their instances must be there.
    load.pause().await;
    checkpoint(&chaos, &load, &client, &bases, "at the end").await;
    assert_mortals_evicted(&chaos, &load).await;
    load.stop().await;
    report(&chaos, &load, &injected, started.elapsed());
}

/// How long each fault lasts in the quick form: a cut-off leader longer than a lease, so a
/// renewal it takes alone would show as a false eviction.
fn quick_hold(fault: Fault) -> Duration {
    match fault {
        Fault::IsolateLeader
        | Fault::IsolateFollower
        | Fault::IsolateTwo
        | Fault::CutLeaderLink
        | Fault::LossyLinks
        | Fault::OneWayFromLeader
        | Fault::DelayedLinks => Duration::from_secs(9),
        _ => Duration::from_secs(4),
    }
}

/// The invariants, with the key clients quiet: every renewing instance registered on every
/// node, one state everywhere, linearizable histories, no false eviction.
async fn checkpoint(chaos: &Chaos, load: &Workload, client: &reqwest::Client, bases: &[String], when: &str) {
    let cluster = &chaos.cluster;
    // An instance whose lease honestly lapsed (no renewal got through for a whole lease, as
    // under long delays) is evicted once the cluster commits again, and registered again by its
    // heartbeater's next round: waited for (bounded). A false eviction shows as an anomaly.
    let deadline = Instant::now() + Duration::from_secs(20);
    for i in 0..cluster.nodes.len() {
        loop {
            let present = cluster.instance_ids(i, workload::SERVICE).await;
            let missing: Vec<&String> = load.heartbeated.iter().filter(|id| !present.contains(*id)).collect();
            if missing.is_empty() {
                break;
            }
            let anomalies = load.seen.anomalies.lock().unwrap().clone();
            assert!(
                Instant::now() < deadline,
                "{when}: node {} lacks renewing instances {missing:?}; anomalies: {anomalies:#?}",
                i + 1
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let digest = cluster.wait_converged(Duration::from_secs(60)).await;
    for (n, key) in load.keys().iter().enumerate() {
        let base = &bases[n % bases.len()];
        let deadline = Instant::now() + Duration::from_secs(30);
        while !load.final_read(client, base, key).await {
            assert!(Instant::now() < deadline, "no consistent read of {key} through {base}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let history = load.seen.history.lock().unwrap().clone();
    for (key, ops) in &history {
        match linearizable::check(ops, SEARCH_BUDGET) {
            Verdict::Linearizable => {}
            verdict => panic!("{when}: history of {key} is not linearizable ({verdict:?}):\n{ops:#?}"),
        }
    }
    let anomalies = load.seen.anomalies.lock().unwrap().clone();
    assert!(anomalies.is_empty(), "{when}: {anomalies:#?}");
    eprintln!(
        "chaos: {when}: converged at revision {}, {} keys linearizable, no false eviction",
        digest["revision"],
        history.len()
    );
}

/// Instances nobody renews are evicted on every node (bounded wait: a leader change restarts
/// their lease).
async fn assert_mortals_evicted(chaos: &Chaos, load: &Workload) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 0..chaos.cluster.nodes.len() {
        loop {
            let present = chaos.cluster.instance_ids(i, workload::SERVICE).await;
            let left: Vec<&String> = load.mortals.iter().filter(|m| present.contains(*m)).collect();
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "node {} never evicted {left:?}", i + 1);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn report(chaos: &Chaos, load: &Workload, injected: &BTreeMap<Fault, usize>, took: Duration) {
    let history = load.seen.history.lock().unwrap();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for op in history.values().flatten() {
        let kind = match (op.call, op.outcome) {
            (_, Outcome::Unknown) => "unanswered writes (may or may not have applied)",
            (linearizable::Call::Register(_), _) => "acknowledged registrations",
            (linearizable::Call::Cancel, _) => "acknowledged cancellations",
            (linearizable::Call::Read, _) => "consistent reads",
        };
        *counts.entry(kind).or_default() += 1;
    }
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    eprintln!("chaos: ===== report ({took:?} of faults) =====");
    for line in &chaos.journal {
        eprintln!("chaos:   {line}");
    }
    eprintln!(
        "chaos: faults injected: {injected:?} ({} in all)",
        injected.values().sum::<usize>()
    );
    eprintln!("chaos: key operations over {} keys: {counts:?}", history.len());
    eprintln!(
        "chaos: renewal rounds acknowledged {}, failed over to another node {}; leases honestly lapsed {}",
        load.seen.renewals_ok.load(relaxed),
        load.seen.renewals_failed.load(relaxed),
        load.seen.lapsed.load(relaxed)
    );
    eprintln!("chaos: anomalies: 0 (linearizability, lost writes, false evictions, divergence)");
}
