//! The faults the suite injects into a running cluster, each with its heal, and the checks that
//! belong to the fault itself (a cut-off minority refuses writes with a retryable error while
//! the majority goes on).

use std::fmt;
use std::time::Duration;
use std::time::Instant;

use serde_json::Value;

use crate::disk::SmallDisk;
use crate::net::Mesh;
use crate::proxy::Proxies;
use crate::support::register_at;
use crate::support::Cluster;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// SIGKILL the leader; restart it after the hold.
    KillLeader,
    /// SIGKILL a follower; restart it after the hold.
    KillFollower,
    /// Cut every link of the leader (a minority of one) for the hold.
    IsolateLeader,
    /// Cut every link of a follower for the hold.
    IsolateFollower,
    /// Cut only the link between the leader and one follower (each still reaches the third
    /// node) for the hold: a partial partition.
    CutLeaderLink,
    /// Fill the disk under one node's data directory for the hold.
    FullDisk,
    /// Restart a follower on a copy of its data directory taken a hold earlier.
    StaleDataDir,
    /// Every node drops a quarter of the packets from every other node for the hold.
    LossyLinks,
    /// The leader's packets to one follower are dropped (the follower's still arrive) for the
    /// hold: a one-way cut.
    OneWayFromLeader,
    /// Every byte between nodes delayed, with jitter (the suite's proxy): first a few
    /// milliseconds each way, under which writes must go on, then 30–80 ms each way for the
    /// rest of the hold; then back to none.
    DelayedLinks,
    /// While links are delayed a few milliseconds: a follower removed through the admin API
    /// (asked of another node), left running a moment, then restarted on an empty data directory
    /// with `--join` and added back (the README's way to rebuild a node).
    RebuildFollower,
    /// SIGKILL the leader and a follower at once (five nodes: three remain); restart both after
    /// the hold.
    KillTwo,
    /// Cut the leader and a follower off from the other nodes (five nodes: the pair is a
    /// minority, the three others elect a leader and take writes) for the hold.
    IsolateTwo,
}

impl Fault {
    /// Every fault a three-node cluster survives (a majority stays).
    pub const THREE_NODES: [Fault; 11] = [
        Fault::KillLeader,
        Fault::KillFollower,
        Fault::IsolateLeader,
        Fault::IsolateFollower,
        Fault::CutLeaderLink,
        Fault::FullDisk,
        Fault::StaleDataDir,
        Fault::LossyLinks,
        Fault::OneWayFromLeader,
        Fault::DelayedLinks,
        Fault::RebuildFollower,
    ];

    /// Every fault, two nodes at once included: for five nodes.
    pub const FIVE_NODES: [Fault; 13] = [
        Fault::KillLeader,
        Fault::KillFollower,
        Fault::IsolateLeader,
        Fault::IsolateFollower,
        Fault::CutLeaderLink,
        Fault::FullDisk,
        Fault::StaleDataDir,
        Fault::LossyLinks,
        Fault::OneWayFromLeader,
        Fault::DelayedLinks,
        Fault::RebuildFollower,
        Fault::KillTwo,
        Fault::IsolateTwo,
    ];

    /// The fault whose name is `name` (as printed).
    pub fn named(name: &str) -> Option<Fault> {
        Fault::FIVE_NODES.into_iter().find(|f| f.to_string() == name)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The cluster, its network, the proxies delaying its Raft traffic, and the small disk under one
/// node.
pub struct Chaos {
    pub cluster: Cluster,
    /// Before the mesh: its listeners live in the mesh's namespaces.
    pub proxies: Proxies,
    pub mesh: Mesh,
    pub disk: SmallDisk,
    /// Index of the node whose data directory is on [`Self::disk`].
    pub disk_node: usize,
    pub rng: fastrand::Rng,
    /// What happened, one line per step, for the report.
    pub journal: Vec<String>,
    started: Instant,
}

/// Bulky registrations written while a disk is full: 18 MiB in all, more than the free space.
const BULKY_WRITES: usize = 150;

/// A write through an isolated node must be refused (503, retryable) within this.
const REFUSAL_WITHIN: Duration = Duration::from_secs(15);

/// A delay that keeps round trips well under openraft's deadline for an AppendEntries (one
/// heartbeat interval, 50 ms): the cluster must go on taking writes.
const SMALL_DELAY_MS: (u64, u64) = (3, 8);
/// The jitter added to [`SMALL_DELAY_MS`], per chunk.
const SMALL_JITTER: Duration = Duration::from_millis(5);
/// The long delay each way, per fault (drawn from this range), and its jitter.
const LONG_DELAY_MS: (u64, u64) = (30, 80);
const LONG_JITTER: Duration = Duration::from_millis(20);

impl Chaos {
    pub fn new(cluster: Cluster, proxies: Proxies, mesh: Mesh, disk: SmallDisk, disk_node: usize, seed: u64) -> Chaos {
        Chaos {
            cluster,
            proxies,
            mesh,
            disk,
            disk_node,
            rng: fastrand::Rng::with_seed(seed),
            journal: Vec::new(),
            started: Instant::now(),
        }
    }

    fn note(&mut self, what: String) {
        let line = format!("[{:>7.1}s] {what}", self.started.elapsed().as_secs_f64());
        eprintln!("chaos: {line}");
        self.journal.push(line);
    }

    async fn leader(&self) -> usize {
        self.cluster.leader(Duration::from_secs(60)).await
    }

    async fn follower(&mut self) -> usize {
        let leader = self.leader().await;
        self.other_than(&[leader])
    }

    /// A random node not in `these`.
    fn other_than(&mut self, these: &[usize]) -> usize {
        let others: Vec<usize> = (0..self.cluster.nodes.len()).filter(|i| !these.contains(i)).collect();
        others[self.rng.usize(..others.len())]
    }

    /// Injects `fault`, holds it for `hold`, heals it.
    pub async fn inject(&mut self, fault: Fault, hold: Duration) {
        match fault {
            Fault::KillLeader => {
                let victim = self.leader().await;
                self.kill_and_restart(victim, hold).await;
            }
            Fault::KillFollower => {
                let victim = self.follower().await;
                self.kill_and_restart(victim, hold).await;
            }
            Fault::IsolateLeader => {
                let victim = self.leader().await;
                self.isolate(&[victim], hold).await;
            }
            Fault::IsolateFollower => {
                let victim = self.follower().await;
                self.isolate(&[victim], hold).await;
            }
            Fault::KillTwo => {
                let (leader, follower) = (self.leader().await, self.follower().await);
                self.kill_two_and_restart([leader, follower], hold).await;
            }
            Fault::IsolateTwo => {
                let (leader, follower) = (self.leader().await, self.follower().await);
                self.isolate(&[leader, follower], hold).await;
            }
            Fault::DelayedLinks => self.delayed_links(hold).await,
            Fault::RebuildFollower => self.rebuild_follower(hold).await,
            Fault::CutLeaderLink => {
                let (leader, follower) = (self.leader().await, self.follower().await);
                self.note(format!(
                    "cut the link between node {} (leader) and node {}",
                    leader + 1,
                    follower + 1
                ));
                self.mesh.cut(leader + 1, follower + 1);
                let took = self.write_through(&[leader, follower]).await;
                self.note(format!("a write through either end took {took:?}"));
                tokio::time::sleep(hold).await;
                self.mesh.heal_all();
                self.note("healed".into());
            }
            Fault::FullDisk => self.full_disk(hold).await,
            Fault::LossyLinks => {
                self.note("every node drops 25 % of the packets from the others".into());
                self.mesh.lose_randomly(0.25);
                tokio::time::sleep(hold).await;
                self.mesh.heal_all();
                self.note("healed".into());
            }
            Fault::OneWayFromLeader => {
                let (leader, follower) = (self.leader().await, self.follower().await);
                self.note(format!(
                    "drop what node {} (leader) sends to node {}; the other way still works",
                    leader + 1,
                    follower + 1
                ));
                self.mesh.cut_one_way(leader + 1, follower + 1);
                tokio::time::sleep(hold).await;
                self.mesh.heal_all();
                self.note("healed".into());
            }
            Fault::StaleDataDir => {
                let victim = self.follower().await;
                self.stale_data_dir(victim, hold).await;
            }
        }
    }

    async fn kill_and_restart(&mut self, victim: usize, hold: Duration) {
        self.note(format!("kill -9 node {}", victim + 1));
        self.cluster.nodes[victim].kill9();
        tokio::time::sleep(hold).await;
        self.cluster.nodes[victim].start();
        self.note(format!("node {} restarted", victim + 1));
    }

    async fn kill_two_and_restart(&mut self, victims: [usize; 2], hold: Duration) {
        let ends = Instant::now() + hold;
        for v in victims {
            self.cluster.nodes[v].kill9();
        }
        let [a, b] = victims.map(|v| v + 1);
        self.note(format!("kill -9 nodes {a} (leader) and {b} at once"));
        let rest: Vec<usize> = (0..self.cluster.nodes.len()).filter(|i| !victims.contains(i)).collect();
        let took = self.write_through(&rest).await;
        self.note(format!("the {} others took a write after {took:?}", rest.len()));
        tokio::time::sleep(ends.saturating_duration_since(Instant::now())).await;
        for v in victims {
            self.cluster.nodes[v].start();
        }
        self.note(format!("nodes {a} and {b} restarted"));
    }

    /// Cuts every link between `victims` (a minority) and the other nodes for `hold`: each
    /// victim must refuse a write, the majority must take one.
    async fn isolate(&mut self, victims: &[usize], hold: Duration) {
        let ends = Instant::now() + hold;
        let names: Vec<usize> = victims.iter().map(|v| v + 1).collect();
        self.note(format!("cut every link between nodes {names:?} and the others"));
        self.mesh.isolate(&names);
        for &victim in victims {
            let refusal = self.refused_write(victim).await;
            self.note(format!("node {} (minority) refused a write: {refusal}", victim + 1));
        }
        let majority: Vec<usize> = (0..self.cluster.nodes.len()).filter(|i| !victims.contains(i)).collect();
        let took = self.write_through(&majority).await;
        self.note(format!("majority took a write after {took:?}"));
        tokio::time::sleep(ends.saturating_duration_since(Instant::now())).await;
        self.mesh.heal_all();
        self.note(format!("healed the links of nodes {names:?}"));
    }

    /// Delays every byte between nodes a little (round trips well within openraft's 50 ms
    /// deadline), where writes must go on, then 30–80 ms each way, where nothing is asserted
    /// but what every fault ends with.
    async fn delayed_links(&mut self, hold: Duration) {
        let ends = Instant::now() + hold;
        let all: Vec<usize> = (0..self.cluster.nodes.len()).collect();
        self.small_delay();
        let took = self.write_through(&all).await;
        self.note(format!("a write took {took:?}"));
        let base = Duration::from_millis(self.rng.u64(LONG_DELAY_MS.0..=LONG_DELAY_MS.1));
        self.proxies.set_delay(base, LONG_JITTER);
        self.note(format!("links delayed {base:?} + up to {LONG_JITTER:?} each way"));
        let probe = self.try_write(&all, Duration::from_secs(6)).await;
        self.note(format!("a write meanwhile: {probe}"));
        tokio::time::sleep(ends.saturating_duration_since(Instant::now())).await;
        self.proxies.clear();
        self.note("delays removed".into());
    }

    /// Delays every byte between nodes by a few milliseconds, with jitter.
    fn small_delay(&mut self) {
        let base = Duration::from_millis(self.rng.u64(SMALL_DELAY_MS.0..=SMALL_DELAY_MS.1));
        self.proxies.set_delay(base, SMALL_JITTER);
        self.note(format!("links delayed {base:?} + up to {SMALL_JITTER:?} each way"));
    }

    /// A write through any of `nodes` (tried in turn) for at most `within`: how it went.
    async fn try_write(&self, nodes: &[usize], within: Duration) -> String {
        let sent = Instant::now();
        let mut last = String::new();
        for attempt in 0..1_000 {
            if sent.elapsed() >= within {
                break;
            }
            let at = nodes[attempt % nodes.len()];
            let id = format!("probe-{}", sent.elapsed().as_micros());
            match register_at(
                &self.cluster.client,
                &self.cluster.nodes[at].url(""),
                "probe",
                &id,
                None,
            )
            .await
            {
                Ok(_) => return format!("acknowledged after {:?}", sent.elapsed()),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        format!("none acknowledged in {within:?} (last answer: {last})")
    }

    /// Removes a follower through another node, restarts it empty with `--join` and adds it
    /// back, while links are delayed a little.
    async fn rebuild_follower(&mut self, hold: Duration) {
        let ends = Instant::now() + hold;
        self.small_delay();
        let victim = self.follower().await;
        let via = self.other_than(&[victim]);
        let id = self.cluster.nodes[victim].id;
        let took = self
            .member_change(via, reqwest::Method::DELETE, &format!("/admin/members/{id}"), None)
            .await;
        self.note(format!("node {id} removed (asked of node {}) in {took:?}", via + 1));
        self.wait_membership(via, id, false).await;
        // Removed but still running for a moment: clients still reach it.
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.cluster.nodes[victim].kill9();
        clear_dir(&self.cluster.nodes[victim].data_dir());
        let args = self.cluster.nodes[victim].args.clone();
        let peers = args.iter().position(|a| a == "--peers").expect("--peers");
        self.cluster.nodes[victim]
            .args
            .splice(peers..peers + 2, ["--join".to_string(), "true".to_string()]);
        self.cluster.nodes[victim].start();
        self.note(format!("node {id} restarted on an empty data directory with --join"));
        let body = serde_json::json!({ "id": id, "raft_addr": self.cluster.raft_addr(victim) });
        let took = self
            .member_change(via, reqwest::Method::POST, "/admin/members", Some(body))
            .await;
        self.note(format!("node {id} added back (asked of node {}) in {took:?}", via + 1));
        // Restarts from now on find its stored membership; the original flags say the same.
        self.cluster.nodes[victim].args = args;
        self.wait_membership(via, id, true).await;
        tokio::time::sleep(ends.saturating_duration_since(Instant::now())).await;
        self.proxies.clear();
        self.note("delays removed".into());
    }

    /// A membership change through node `at`, retried (bounded) while the cluster cannot take
    /// it yet (no leader, a change under way); how long it took. A retry answered "not a member"
    /// (removal) or "already" (addition) found an earlier attempt applied.
    async fn member_change(&self, at: usize, method: reqwest::Method, path: &str, body: Option<Value>) -> Duration {
        let sent = Instant::now();
        let deadline = sent + Duration::from_secs(90);
        for attempt in 0..100 {
            let mut request = self
                .cluster
                .client
                .request(method.clone(), self.cluster.nodes[at].url(path))
                .timeout(Duration::from_secs(60));
            if let Some(body) = &body {
                request = request.json(body);
            }
            let answer = match request.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    if status == 200 {
                        return sent.elapsed();
                    }
                    let applied_before = attempt > 0 && (text.contains("not a member") || text.contains("already"));
                    if applied_before {
                        return sent.elapsed();
                    }
                    format!("{status}: {text}")
                }
                Err(e) => e.to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "{method} {path} through node {} not done in 90 s: {answer}",
                at + 1
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("{method} {path} through node {}: 100 attempts", at + 1);
    }

    /// Waits (bounded) until node `at` lists node `id` as a voting member (`member`) or not at
    /// all (`!member`).
    async fn wait_membership(&self, at: usize, id: u64, member: bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.cluster.get_json(at, "/admin/cluster").await.unwrap_or_default();
            let members = status["members"].as_array().cloned().unwrap_or_default();
            let role = members.iter().find(|m| m["id"] == id).map(|m| m["role"].clone());
            let done = match role {
                None => !member && !members.is_empty(),
                Some(role) => member && role != "learner",
            };
            if done {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {} still lists node {id} wrongly: {status}",
                at + 1
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A write sent to the cut-off node `i`: must come back refused, retryable, in time.
    async fn refused_write(&self, i: usize) -> String {
        let sent = Instant::now();
        let resp = self
            .cluster
            .client
            .post(self.cluster.nodes[i].url("/admin/registry/instances"))
            .timeout(REFUSAL_WITHIN)
            .json(&serde_json::json!({ "service": "probe", "id": "minority", "host": "10.9.9.9" }))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "node {} gave no answer to a write within {REFUSAL_WITHIN:?}: {e}",
                    i + 1
                )
            });
        let status = resp.status();
        let retry_after = resp.headers().get("retry-after").is_some();
        let body: Value = resp.json().await.unwrap_or_default();
        assert_eq!(
            status,
            503,
            "cut-off node {} answered a write with {status}: {body}",
            i + 1
        );
        assert_eq!(body["retryable"], true, "refusal not marked retryable: {body}");
        assert!(retry_after, "refusal without Retry-After: {body}");
        format!("503 after {:?}: {}", sent.elapsed(), body["error"])
    }

    /// A write through one of `nodes` (tried in turn): acknowledged within 30 s; how long it
    /// took.
    async fn write_through(&self, nodes: &[usize]) -> Duration {
        let sent = Instant::now();
        let deadline = sent + Duration::from_secs(30);
        let mut attempt = 0;
        loop {
            let at = nodes[attempt % nodes.len()];
            let id = format!("majority-{}", sent.elapsed().as_micros());
            match register_at(
                &self.cluster.client,
                &self.cluster.nodes[at].url(""),
                "probe",
                &id,
                None,
            )
            .await
            {
                Ok(_) => return sent.elapsed(),
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "no write through nodes {nodes:?} in 30 s: {e}"
                ),
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn full_disk(&mut self, hold: Duration) {
        let n = self.disk_node;
        let bytes = self.disk.fill();
        self.note(format!("filled node {}'s disk ({} MiB of filler)", n + 1, bytes >> 20));
        // Bulky registrations, so the node needs new space for sure (its store may otherwise
        // get by on space it allocated before).
        let ends = Instant::now() + hold;
        let acked = self.bulky_writes(BULKY_WRITES).await;
        self.note(format!(
            "{acked} of {BULKY_WRITES} bulky registrations (120 KiB each) acknowledged meanwhile"
        ));
        tokio::time::sleep(ends.saturating_duration_since(Instant::now())).await;
        self.disk.free();
        self.note(format!("freed node {}'s disk", n + 1));
        // It rode the fault out, or it is exiting (Raft stopped on ENOSPC): restarted then. Up
        // but unhealthy for good is the one wrong answer.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if !self.cluster.nodes[n].is_alive() {
                self.cluster.nodes[n].kill9();
                self.cluster.nodes[n].start();
                self.note(format!("node {} had exited on the full disk; restarted", n + 1));
                break;
            }
            if self
                .cluster
                .get_json(n, "/health")
                .await
                .is_some_and(|h| h["status"] == "UP")
            {
                self.note(format!("node {} rode the full disk out", n + 1));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {} neither recovered nor exited after its disk was freed",
                n + 1
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.cluster.wait_healthy(Duration::from_secs(90)).await;
        self.remove_bulky().await;
    }

    /// Cancels what [`Self::bulky_writes`] registered (bounded retries), so the small disk does
    /// not stay full.
    async fn remove_bulky(&self) {
        for b in 0..BULKY_WRITES {
            let url = self.cluster.nodes[b % self.cluster.nodes.len()]
                .url(&format!("/admin/registry/instances/bulky/bulky-{b}"));
            for _ in 0..50 {
                let resp = self
                    .cluster
                    .client
                    .delete(&url)
                    .timeout(Duration::from_secs(8))
                    .send()
                    .await;
                if resp.is_ok_and(|r| r.status() == 200 || r.status() == 404) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// Registers `count` instances of the `bulky` service with 120 KiB of metadata each, through
    /// any node; how many were acknowledged.
    async fn bulky_writes(&self, count: usize) -> usize {
        let metadata: serde_json::Map<String, Value> = (0..30)
            .map(|k| (format!("k{k}"), Value::String("x".repeat(4_000))))
            .collect();
        let mut acked = 0;
        for b in 0..count {
            let at = b % self.cluster.nodes.len();
            let body = serde_json::json!({
                "service": "bulky", "id": format!("bulky-{b}"), "host": "10.9.9.9", "metadata": metadata,
            });
            let resp = self
                .cluster
                .client
                .post(self.cluster.nodes[at].url("/admin/registry/instances"))
                .timeout(Duration::from_secs(8))
                .json(&body)
                .send()
                .await;
            acked += resp.is_ok_and(|r| r.status() == 200) as usize;
        }
        acked
    }

    async fn stale_data_dir(&mut self, victim: usize, hold: Duration) {
        let data = self.cluster.nodes[victim].data_dir();
        let copy = self.cluster.folder().join(format!("stale-node{}", victim + 1));
        self.cluster.nodes[victim].kill9();
        copy_dir(&data, &copy);
        self.cluster.nodes[victim].start();
        self.note(format!("node {}'s data directory copied; running on", victim + 1));
        tokio::time::sleep(hold).await;
        self.cluster.nodes[victim].kill9();
        clear_dir(&data);
        copy_dir(&copy, &data);
        std::fs::remove_dir_all(&copy).unwrap();
        self.cluster.nodes[victim].start();
        self.note(format!("node {} restarted on its stale copy", victim + 1));
    }

    /// Waits until every node is up, healthy, agrees on a leader and has caught up with the
    /// leader's revision as of now.
    pub async fn settle(&mut self) {
        for i in 0..self.cluster.nodes.len() {
            if !self.cluster.nodes[i].is_alive() {
                self.note(format!("node {} had exited; restarted", i + 1));
                self.cluster.nodes[i].kill9();
                self.cluster.nodes[i].start();
            }
        }
        self.cluster.wait_healthy(Duration::from_secs(90)).await;
        let leader = self.leader().await;
        let target = self.cluster.status(leader).await["last_applied"].as_u64().unwrap_or(0);
        let deadline = Instant::now() + Duration::from_secs(60);
        for i in 0..self.cluster.nodes.len() {
            loop {
                let applied = self.cluster.status(i).await["last_applied"].as_u64().unwrap_or(0);
                if applied >= target {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {} stuck at {applied}, leader at {target}",
                    i + 1
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn clear_dir(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
