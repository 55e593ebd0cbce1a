//! A leader whose disk stopped taking writes must not acknowledge renewals once the others may
//! have elected a successor.
//!
//! A full disk can wedge the leader's log flush (sled's periodic flush fails and every later
//! flush hangs, up to the storage's 15 s limit; then the node exits). Meanwhile its HTTP front
//! answers, and the others elect a new leader whose lease table never sees what the wedged one
//! renews. The chaos suite once caught 30 instances renewed through the wedged node and evicted
//! by its successor: openraft's last published `millis_since_quorum_ack` stayed small while the
//! core published nothing, and was taken for proof of leadership. Whether a full disk wedges a
//! node or makes it exit at once depends on which write meets it first, so here the disk hangs
//! for sure: the node's data directory is an ext4 image frozen with `fsfreeze` (every write and
//! flush blocks until thawed, as on a hung disk). The disk node is made leader, probes renew
//! through it alone, and a majority node is watched: a probe may vanish there only after a whole
//! lease without an acknowledged renewal.

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use serde_json::json;
use serde_json::Value;

use crate::support::Cluster;
use crate::workload::SHORT_LEASE;

const SERVICE: &str = "wedge-probe";
const PROBES: usize = 5;
/// A probe gone this long after an acknowledged renewal was evicted falsely (the margin covers
/// the renewal's own trip and the watcher's polling).
const HONOURED: Duration = Duration::from_secs(SHORT_LEASE.1 as u64 - 1);
/// The probes' lease.
const LEASE: Duration = Duration::from_secs(SHORT_LEASE.1 as u64);
/// Registrations through the disk node while it is frozen (the first blocks the core).
const WRITES: usize = 100;
/// The disk image: room for the node's store.
const IMAGE_BYTES: u64 = 256 << 20;
/// How long the scenario may watch at most.
const WATCH: Duration = Duration::from_secs(40);

/// Runs the scenario on a fresh three-node cluster; returns the anomalies seen (none expected).
pub async fn run(flags: &[&str]) -> Vec<String> {
    let mut cluster = Cluster::new(3, flags);
    let disk_node = 2;
    let disk = FreezableDisk::mount(cluster.folder(), &cluster.nodes[disk_node].data_dir());
    cluster.start_all();
    cluster.wait_healthy(Duration::from_secs(60)).await;
    make_leader(&cluster, disk_node).await;

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let wedged = cluster.nodes[disk_node].url("");
    let probes: Vec<String> = (0..PROBES).map(|p| format!("probe-{p}")).collect();
    for id in &probes {
        cluster
            .register(disk_node, SERVICE, id, Some(SHORT_LEASE))
            .await
            .expect("register a probe");
    }
    let last_ack = Arc::new(Mutex::new(Instant::now()));
    let stop = Arc::new(AtomicBool::new(false));
    let renewer = tokio::spawn(renew_through(
        client.clone(),
        wedged.clone(),
        probes.clone(),
        last_ack.clone(),
        stop.clone(),
    ));
    disk.freeze();
    // A write now waits on the frozen disk: the core blocks in its log append.
    let writes = tokio::spawn(small_writes(client.clone(), wedged, stop.clone()));
    eprintln!("wedge: node {} leads; its disk is frozen", disk_node + 1);

    let majority = cluster.nodes[0].url("");
    let disk_node_id = cluster.nodes[disk_node].id;
    let mut anomalies = Vec::new();
    let mut successor_at: Option<Instant> = None;
    let deadline = Instant::now() + WATCH;
    while Instant::now() < deadline && anomalies.is_empty() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Some(present) = present_probes(&client, &majority, &probes).await else {
            continue;
        };
        if successor_at.is_none() && leader_of(&client, &majority).await.is_some_and(|l| l != disk_node_id) {
            successor_at = Some(Instant::now());
        }
        let since_ack = last_ack.lock().unwrap().elapsed();
        let missing = PROBES - present;
        if missing > 0 && since_ack < HONOURED {
            anomalies.push(format!(
                "{missing} probes gone from node 1 {since_ack:?} after the frozen node last acknowledged their renewal"
            ));
        }
        // Watched long enough: two leases past the successor's election (the node's own flush
        // limit may make it exit meanwhile; on a frozen disk its exit may hang instead).
        if successor_at.is_some_and(|at| at.elapsed() > 2 * LEASE) {
            break;
        }
    }
    eprintln!(
        "wedge: successor elected {:?} ago, last acknowledged renewal {:?} ago",
        successor_at.map(|at| at.elapsed()),
        last_ack.lock().unwrap().elapsed()
    );
    stop.store(true, Ordering::SeqCst);
    disk.thaw();
    let _ = renewer.await;
    let _ = writes.await;
    assert!(
        successor_at.is_some(),
        "the scenario did not happen: no successor was elected while the disk node was frozen"
    );
    anomalies
}

/// An ext4 image mounted over a node's data directory, which the test can freeze (every write
/// and flush then blocks) and thaw. Needs root, `mkfs.ext4` and `fsfreeze`.
struct FreezableDisk {
    mount: PathBuf,
}

impl FreezableDisk {
    fn mount(scratch: &Path, at: &Path) -> FreezableDisk {
        let image = scratch.join("frozen-disk.img");
        let file = std::fs::File::create(&image).expect("create the disk image");
        file.set_len(IMAGE_BYTES).expect("size the disk image");
        succeed(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image));
        std::fs::create_dir_all(at).unwrap();
        succeed(Command::new("mount").args(["-o", "loop"]).arg(&image).arg(at));
        FreezableDisk {
            mount: at.to_path_buf(),
        }
    }

    fn freeze(&self) {
        succeed(Command::new("fsfreeze").arg("-f").arg(&self.mount));
    }

    fn thaw(&self) {
        let _ = Command::new("fsfreeze").arg("-u").arg(&self.mount).status();
    }
}

impl Drop for FreezableDisk {
    fn drop(&mut self) {
        self.thaw();
        // Lazy: detaches now even if the node still has files open.
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

fn succeed(command: &mut Command) {
    let status = command.status().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(status.success(), "{command:?} failed: {status}");
}

/// Drains the other nodes until `target` leads, then puts them back in the running.
async fn make_leader(cluster: &Cluster, target: usize) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let others: Vec<usize> = (0..cluster.nodes.len()).filter(|&i| i != target).collect();
    for &i in &others {
        let resp = client
            .post(cluster.nodes[i].url("/admin/drain"))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .expect("drain");
        assert_eq!(resp.status(), 200, "drain node {}", i + 1);
    }
    let leader = cluster.leader(Duration::from_secs(30)).await;
    assert_eq!(
        leader,
        target,
        "node {} should lead once the others are drained",
        target + 1
    );
    for &i in &others {
        client
            .delete(cluster.nodes[i].url("/admin/drain"))
            .send()
            .await
            .expect("undrain");
    }
}

/// Renews `ids` through `base` every 500 ms, recording when all were last acknowledged.
async fn renew_through(
    client: reqwest::Client,
    base: String,
    ids: Vec<String>,
    last_ack: Arc<Mutex<Instant>>,
    stop: Arc<AtomicBool>,
) {
    let body = json!({ "instances": ids.iter().map(|id| json!({ "service": SERVICE, "id": id })).collect::<Vec<_>>() });
    // Bounded by the scenario's watch (the caller stops it) and by count.
    for _ in 0..1_000 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let sent = Instant::now();
        let answer = client
            .put(format!("{base}/admin/registry/heartbeats"))
            .timeout(Duration::from_millis(1_500))
            .json(&body)
            .send()
            .await;
        if let Ok(resp) = answer {
            if resp.status() == 200 {
                let found: Option<Vec<bool>> = resp
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_value(b["found"].clone()).ok());
                if found.is_some_and(|f| f.iter().all(|&x| x)) {
                    // Dated when sent: the lease was renewed no earlier than that.
                    *last_ack.lock().unwrap() = sent;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn small_writes(client: reqwest::Client, base: String, stop: Arc<AtomicBool>) {
    for w in 0..WRITES {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let body = json!({ "service": "filler", "id": format!("filler-{w}"), "host": "10.9.9.9", "metadata": { "pad": "x".repeat(512) } });
        let _ = client
            .post(format!("{base}/admin/registry/instances"))
            .timeout(Duration::from_secs(3))
            .json(&body)
            .send()
            .await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How many of `probes` `base` holds (a local read); `None` if it did not answer.
async fn present_probes(client: &reqwest::Client, base: &str, probes: &[String]) -> Option<usize> {
    let resp = client
        .get(format!("{base}/admin/registry/instances"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let body: Value = resp.json().await.ok()?;
    let list = body["instances"].as_array()?;
    Some(
        list.iter()
            .filter(|v| v["service_id"] == SERVICE && v["id"].as_str().is_some_and(|id| probes.iter().any(|p| p == id)))
            .count(),
    )
}

async fn leader_of(client: &reqwest::Client, base: &str) -> Option<u64> {
    let resp = client
        .get(format!("{base}/admin/cluster"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let body: Value = resp.json().await.ok()?;
    body["leader_id"].as_u64()
}
