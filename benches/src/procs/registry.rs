//! `registryd` nodes on loopback: a single node or a cluster, each with its data in a temporary
//! folder and its log in `n{id}.log` beside it; kill, wipe and restart for the fault scenarios.

use std::fs::File;
use std::path::PathBuf;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;

use super::free_port;
use super::get_json;
use super::sibling_binary;
use super::wait_for;
use super::Proc;
use crate::conn::Target;
use crate::error::BenchError;

/// One `registryd` process and what it takes to start it again.
pub struct Node {
    pub id: u64,
    pub http: String,
    pub raft: String,
    pub data: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    proc: Option<Proc>,
}

impl Node {
    /// The node's root (`/health`, `/admin`, ServiceCenter's `/v4`).
    pub fn target(&self) -> Target {
        Target::parse(&format!("http://{}", self.http)).expect("loopback address")
    }

    /// The node's Eureka root.
    pub fn eureka(&self) -> Target {
        Target::parse(&format!("http://{}/eureka", self.http)).expect("loopback address")
    }

    pub fn is_running(&self) -> bool {
        self.proc.is_some()
    }

    pub fn start(&mut self) -> Result<(), BenchError> {
        let log = File::options().create(true).append(true).open(&self.log)?;
        let mut command = Command::new(sibling_binary("registryd"));
        command.args(&self.args).stdout(Stdio::null()).stderr(Stdio::from(log));
        self.proc = Some(Proc::spawn(&format!("registryd {}", self.id), &mut command)?);
        Ok(())
    }

    /// SIGTERM: a clean stop (waits up to 30 s).
    pub fn terminate(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(Duration::from_secs(30));
        }
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Kills the node and deletes its data, as if its disk were replaced; it starts again with
    /// `--join`, waiting to be added back (Raft forbids a member to come back with less log
    /// than it had, so it must leave the membership first).
    pub fn kill_and_wipe(&mut self) -> Result<(), BenchError> {
        self.kill();
        if self.data.exists() {
            std::fs::remove_dir_all(&self.data)?;
        }
        if !self.args.iter().any(|a| a == "--join") {
            self.args.push("--join".into());
        }
        Ok(())
    }

    pub fn rss_bytes(&self) -> u64 {
        self.proc.as_ref().map_or(0, Proc::rss_bytes)
    }

    /// CPU seconds the running process has used (0 if it is not running).
    pub fn cpu_seconds(&self) -> f64 {
        self.proc.as_ref().map_or(0.0, Proc::cpu_seconds)
    }

    /// [`Self::cpu_seconds`] less its background payload builders' (`payload-build` and
    /// `payload-prepare`, the threads that encode Eureka's full registry ahead of the fetches):
    /// what serving requests and Raft cost.
    pub fn serving_cpu_seconds(&self) -> f64 {
        self.proc.as_ref().map_or(0.0, |p| {
            p.cpu_seconds() - BACKGROUND_BUILDERS.iter().map(|t| p.thread_cpu_seconds(t)).sum::<f64>()
        })
    }

    /// The revision `/health` reports, once the node answers 200.
    pub async fn healthy_revision(&self) -> Option<u64> {
        match get_json(&self.target(), "/health").await {
            Ok((200, v)) => v["revision"].as_u64(),
            _ => None,
        }
    }

    /// The node's `/metrics` text.
    async fn metrics(&self) -> Option<String> {
        let mut conn = crate::conn::Conn::new(self.target());
        let answer = conn
            .send(crate::driver::bodiless("GET", "/metrics", "text/plain"))
            .await
            .ok()?;
        Some(String::from_utf8_lossy(answer.body()).into_owned())
    }

    /// The node's Raft log counters, from `/metrics`.
    pub async fn log_counters(&self) -> Option<LogCounts> {
        let text = self.metrics().await?;
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
        };
        Some(LogCounts {
            flushes: value("registry_raft_log_flushes_total ")?,
            entries: value("registry_raft_log_entries_appended_total ")?,
            commands: value("registry_raft_log_commands_appended_total ")?,
        })
    }

    /// Instances the node holds (every tenant, status and origin), from `/metrics`.
    pub async fn instances(&self) -> Option<u64> {
        let text = self.metrics().await?;
        Some(
            text.lines()
                .filter(|l| l.starts_with("registry_instances{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum(),
        )
    }

    /// The leader this node knows, from `/admin/cluster`.
    pub async fn known_leader(&self) -> Option<u64> {
        match get_json(&self.target(), "/admin/cluster").await {
            Ok((200, v)) => v["leader_id"].as_u64(),
            _ => None,
        }
    }

    /// The stalls the node recorded since it started, from `/metrics`.
    pub async fn stalls(&self) -> Option<Stalls> {
        let text = self.metrics().await?;
        let term = self.term().await.unwrap_or(0);
        Some(Stalls {
            term,
            runtime: over_stall(&text, "registry_wake_lateness_seconds", "clock=\"runtime\"")?,
            thread: over_stall(&text, "registry_wake_lateness_seconds", "clock=\"thread\"")?,
            append_gaps: over_stall(&text, "registry_raft_append_gap_seconds", "")?,
        })
    }

    /// The node's Raft term, from `/admin/cluster`: each election started raises it.
    pub async fn term(&self) -> Option<u64> {
        match get_json(&self.target(), "/admin/cluster").await {
            Ok((200, v)) => v["term"].as_u64(),
            _ => None,
        }
    }
}

/// A node's Raft log totals: flushes (fsyncs), and the entries and registry commands they made
/// durable (the leader packs concurrent commands into one entry).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogCounts {
    pub flushes: u64,
    pub entries: u64,
    pub commands: u64,
}

impl LogCounts {
    /// (entries, commands) per flush between `earlier` and `self`.
    pub fn per_flush_since(&self, earlier: &LogCounts) -> (f64, f64) {
        let flushes = self.flushes.saturating_sub(earlier.flushes) as f64;
        (
            crate::goals::ratio(self.entries.saturating_sub(earlier.entries) as f64, flushes),
            crate::goals::ratio(self.commands.saturating_sub(earlier.commands) as f64, flushes),
        )
    }
}

/// Stalls one node recorded since it started: timer wakes at least [`STALL_S`] late on its async
/// runtime and on a plain thread, and gaps at least that long between the AppendEntries it
/// received; and its Raft term. Elections follow stalls past the election timeout (150 ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stalls {
    pub term: u64,
    pub runtime: u64,
    pub thread: u64,
    pub append_gaps: u64,
}

impl Stalls {
    /// What happened since `earlier`; a node restarted since counts from its start.
    pub fn since(&self, earlier: &Stalls) -> Stalls {
        let restarted = self.runtime < earlier.runtime || self.thread < earlier.thread;
        let base = if restarted { Stalls::default() } else { *earlier };
        Stalls {
            term: self.term,
            runtime: self.runtime - base.runtime,
            thread: self.thread - base.thread,
            append_gaps: self.append_gaps.saturating_sub(base.append_gaps),
        }
    }
}

/// The shortest stall [`Stalls`] counts: the histogram bucket boundary nearest below the
/// election timeout's 150 ms.
pub const STALL_S: f64 = 0.128;

/// Observations of histogram `name` (its series with label `label`, if any) above [`STALL_S`].
fn over_stall(text: &str, name: &str, label: &str) -> Option<u64> {
    let value = |line: &str| line.rsplit(' ').next()?.parse::<f64>().ok();
    let of_series = |line: &&str| label.is_empty() || line.contains(label);
    let count_prefix = format!("{name}_count");
    let total = text
        .lines()
        .filter(|l| l.starts_with(&count_prefix))
        .find(of_series)
        .and_then(value)?;
    let bucket_prefix = format!("{name}_bucket{{");
    let under = text
        .lines()
        .filter(|l| l.starts_with(&bucket_prefix))
        .filter(of_series)
        .find(|l| {
            l.split("le=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next()?.parse::<f64>().ok())
                .is_some_and(|le| (le - STALL_S).abs() < 0.001)
        })
        .and_then(value)?;
    Some((total - under).max(0.0) as u64)
}

/// The names of registryd's background payload builder threads.
const BACKGROUND_BUILDERS: [&str; 2] = ["payload-build", "payload-prepare"];

/// Nodes that form one cluster, in a temporary folder removed on drop.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub dir: TempDir,
}

impl Cluster {
    /// Every node's [`Stalls`] since it started (a node that does not answer: none).
    pub async fn stalls(&self) -> Vec<Option<Stalls>> {
        let mut all = Vec::new();
        for node in &self.nodes {
            all.push(node.stalls().await);
        }
        all
    }

    /// Starts `size` nodes as one cluster, with `extra` flags for each, and waits until every
    /// node is healthy.
    pub async fn start(size: usize, extra: &[String]) -> Result<Cluster, BenchError> {
        let dir = tempfile::Builder::new().prefix("registry-bench-").tempdir()?;
        let addrs: Vec<(u64, String, String)> = (1..=size as u64)
            .map(|id| {
                (
                    id,
                    format!("127.0.0.1:{}", free_port()),
                    format!("127.0.0.1:{}", free_port()),
                )
            })
            .collect();
        let peers = addrs
            .iter()
            .map(|(id, _, raft)| format!("{id}={raft}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::new();
        for (id, http, raft) in addrs {
            let data = dir.path().join(format!("n{id}"));
            let mut args: Vec<String> = vec![
                "--node-id".into(),
                id.to_string(),
                "--data-dir".into(),
                data.display().to_string(),
                "--raft".into(),
                raft.clone(),
                "--http".into(),
                http.clone(),
            ];
            if !extra.iter().any(|a| a == "--log-level") {
                args.extend(["--log-level".into(), "warn".into()]);
            }
            if size > 1 {
                args.extend(["--peers".into(), peers.clone()]);
            }
            args.extend(extra.iter().cloned());
            let mut node = Node {
                id,
                http,
                raft,
                data,
                args,
                log: dir.path().join(format!("n{id}.log")),
                proc: None,
            };
            node.start()?;
            nodes.push(node);
        }
        let cluster = Cluster { nodes, dir };
        for i in 0..cluster.nodes.len() {
            cluster.wait_healthy(i, Duration::from_secs(60)).await?;
        }
        Ok(cluster)
    }

    pub async fn wait_healthy(&self, index: usize, limit: Duration) -> Result<u64, BenchError> {
        let node = &self.nodes[index];
        wait_for(&format!("node {} healthy", node.id), limit, || node.healthy_revision()).await
    }

    /// The index (in `nodes`) of the leader that the running nodes agree on.
    pub async fn leader(&self, limit: Duration) -> Result<usize, BenchError> {
        wait_for("a leader", limit, || async {
            for node in self.nodes.iter().filter(|n| n.is_running()) {
                if let Some(id) = node.known_leader().await {
                    let index = self.nodes.iter().position(|n| n.id == id)?;
                    if self.nodes[index].is_running() {
                        return Some(index);
                    }
                }
            }
            None
        })
        .await
    }

    /// Stops every node and keeps the folder (data and logs) instead of deleting it.
    pub fn stop_and_keep_files(self) -> PathBuf {
        let Cluster { nodes, dir } = self;
        drop(nodes);
        dir.keep()
    }

    /// Waits until every running node uses less than `cores` of CPU over a second (background
    /// work such as payload builds has ended), for at most `limit`; returns the seconds waited.
    pub async fn wait_idle(&self, cores: f64, limit: Duration) -> f64 {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            let before: Vec<f64> = self.nodes.iter().map(Node::cpu_seconds).collect();
            tokio::time::sleep(Duration::from_secs(1)).await;
            let busy = self
                .nodes
                .iter()
                .zip(before)
                .any(|(n, b)| n.is_running() && n.cpu_seconds() - b > cores);
            if !busy {
                break;
            }
        }
        started.elapsed().as_secs_f64()
    }

    /// Every running node's Eureka root.
    pub fn eureka_targets(&self) -> Vec<Target> {
        self.nodes.iter().filter(|n| n.is_running()).map(Node::eureka).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What registryd's `/metrics` writes (prometheus-client puts `le` first).
    const METRICS: &str = "\
registry_wake_lateness_seconds_count{clock=\"thread\"} 150
registry_wake_lateness_seconds_bucket{le=\"0.064\",clock=\"thread\"} 140
registry_wake_lateness_seconds_bucket{le=\"0.128\",clock=\"thread\"} 148
registry_wake_lateness_seconds_count{clock=\"runtime\"} 142
registry_wake_lateness_seconds_bucket{le=\"0.128\",clock=\"runtime\"} 132
registry_raft_append_gap_seconds_count 7
registry_raft_append_gap_seconds_bucket{le=\"0.128\"} 7
";

    #[test]
    fn stalls_are_the_observations_above_the_bucket_under_the_election_timeout() {
        assert_eq!(
            over_stall(METRICS, "registry_wake_lateness_seconds", "clock=\"thread\""),
            Some(2)
        );
        assert_eq!(
            over_stall(METRICS, "registry_wake_lateness_seconds", "clock=\"runtime\""),
            Some(10)
        );
        assert_eq!(over_stall(METRICS, "registry_raft_append_gap_seconds", ""), Some(0));
        assert_eq!(over_stall(METRICS, "registry_absent_seconds", ""), None);
    }
}
