//! Test harness: real `registryd` processes on free 127.0.0.1 ports ([`ports`]), each with its own data
//! directory under one temporary folder, killed and cleaned up when the cluster is dropped.
//! Every wait is bounded; on a failing test the nodes' logs are printed.

#[path = "../common/ports.rs"]
mod ports;
pub use ports::free_port;

use std::collections::BTreeMap;
use std::collections::HashSet;
use std::fs::File;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use serde_json::json;
use serde_json::Value;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_registryd");

pub struct Node {
    pub id: u64,
    pub http: String,
    /// `http`, or `https` once the cluster serves TLS.
    pub scheme: &'static str,
    pub log: PathBuf,
    pub args: Vec<String>,
    /// The network namespace it runs in (`ip netns exec`), if not this test's.
    pub netns: Option<String>,
    child: Option<Child>,
}

impl Node {
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.http, path)
    }

    /// Its data directory (`--data-dir`).
    #[allow(dead_code)] // used by the chaos suite (tests/chaos)
    pub fn data_dir(&self) -> PathBuf {
        let at = self.args.iter().position(|a| a == "--data-dir").expect("--data-dir");
        PathBuf::from(&self.args[at + 1])
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether its process is still running: false when never started, killed, or exited by
    /// itself.
    #[allow(dead_code)] // used by the chaos suite (tests/chaos)
    pub fn is_alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Starts the process (again) with the same ports and data directory.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "node {} already running", self.id);
        let log = File::options().create(true).append(true).open(&self.log).unwrap();
        let mut command = match &self.netns {
            // `ip netns exec` execs the program, so the child is registryd itself.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, BIN]);
                c
            }
            None => Command::new(BIN),
        };
        let child = command
            .args(&self.args)
            // The product's default filter (the log-budget tests count what it lets through).
            .env_remove("REGISTRY_LOG_LEVEL")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn registryd");
        self.child = Some(child);
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (bounded) for a clean exit; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }
}

/// Where a node listens: its HTTP and Raft addresses, and its network namespace if any.
pub struct Host {
    pub http: String,
    pub raft: String,
    /// The Raft address peers are told (`--advertise-raft`), when not `raft` (a proxy in front).
    pub advertise_raft: Option<String>,
    pub netns: Option<String>,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    pub client: reqwest::Client,
    _dir: TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill9();
        }
        if std::thread::panicking() {
            for n in &self.nodes {
                let text = std::fs::read_to_string(&n.log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(40)..];
                eprintln!(
                    "----- node {} log (last {} lines) -----\n{}",
                    n.id,
                    tail.len(),
                    tail.join("\n")
                );
            }
        }
    }
}

impl Cluster {
    /// `size` nodes sharing one peer list, started at once, with `extra` flags each.
    pub fn start(size: usize, extra: &[&str]) -> Cluster {
        let mut cluster = Cluster::new(size, extra);
        cluster.start_all();
        cluster
    }

    /// Starts every node not running.
    pub fn start_all(&mut self) {
        for n in self.nodes.iter_mut().filter(|n| !n.is_running()) {
            n.start();
        }
    }

    /// Serves TLS with these PEM files (`ca` also makes Raft mutual TLS); the cluster's client
    /// trusts `ca` and uses `https`.
    pub fn use_tls(&mut self, cert: &std::path::Path, key: &std::path::Path, ca: &std::path::Path) {
        for n in &mut self.nodes {
            n.scheme = "https";
            for (flag, path) in [("--tls-cert", cert), ("--tls-key", key), ("--tls-ca", ca)] {
                n.args.extend([flag.to_string(), path.display().to_string()]);
            }
        }
        let root = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
        self.client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .add_root_certificate(root)
            .build()
            .unwrap();
    }

    /// Writes `text` to a file in the cluster's temporary folder and adds `--config FILE` to
    /// every node's flags (before they start).
    pub fn use_config(&mut self, text: &str) {
        let path = self._dir.path().join("registry.toml");
        std::fs::write(&path, text).unwrap();
        for n in &mut self.nodes {
            n.args.extend(["--config".to_string(), path.display().to_string()]);
        }
    }

    /// `size` nodes sharing one peer list, with `extra` flags each, not started yet: their
    /// addresses are known, so other clusters' configuration can name them.
    pub fn new(size: usize, extra: &[&str]) -> Cluster {
        let hosts = (0..size)
            .map(|_| Host {
                http: format!("127.0.0.1:{}", free_port()),
                raft: format!("127.0.0.1:{}", free_port()),
                advertise_raft: None,
                netns: None,
            })
            .collect();
        Cluster::on_hosts(hosts, extra)
    }

    /// One node per host (ids from 1), sharing one peer list, with `extra` flags each, not
    /// started yet.
    pub fn on_hosts(hosts: Vec<Host>, extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let peers = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| format!("{}={}", i + 1, h.advertise_raft.as_ref().unwrap_or(&h.raft)))
            .collect::<Vec<_>>()
            .join(",");
        let nodes = hosts
            .into_iter()
            .enumerate()
            .map(|(i, host)| {
                let id = i as u64 + 1;
                let data = dir.path().join(format!("node{id}"));
                let mut args: Vec<String> = vec![
                    "--node-id".into(),
                    id.to_string(),
                    "--data-dir".into(),
                    data.display().to_string(),
                    "--http".into(),
                    host.http.clone(),
                    "--raft".into(),
                    host.raft,
                    "--peers".into(),
                    peers.clone(),
                ];
                if let Some(advertised) = host.advertise_raft {
                    args.extend(["--advertise-raft".into(), advertised]);
                }
                args.extend(extra.iter().map(|s| s.to_string()));
                Node {
                    id,
                    http: host.http,
                    scheme: "http",
                    log: dir.path().join(format!("node{id}.log")),
                    args,
                    netns: host.netns,
                    child: None,
                }
            })
            .collect();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Cluster {
            nodes,
            client,
            _dir: dir,
        }
    }

    /// Adds (but does not start) a node that joins later: same flags, no peer list, `--join`.
    pub fn add_joiner(&mut self) -> usize {
        let id = self.nodes.len() as u64 + 1;
        let http = format!("127.0.0.1:{}", free_port());
        let raft = format!("127.0.0.1:{}", free_port());
        let data = self._dir.path().join(format!("node{id}"));
        let args = vec![
            "--node-id".into(),
            id.to_string(),
            "--data-dir".into(),
            data.display().to_string(),
            "--http".into(),
            http.clone(),
            "--raft".into(),
            raft,
            "--join".into(),
        ];
        let scheme = self.nodes[0].scheme;
        self.nodes.push(Node {
            id,
            http,
            scheme,
            log: self._dir.path().join(format!("node{id}.log")),
            args,
            netns: None,
            child: None,
        });
        self.nodes.len() - 1
    }

    /// The cluster's temporary folder (data directories and logs).
    #[allow(dead_code)] // used by the chaos suite (tests/chaos)
    pub fn folder(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// The Raft address node `i` was started with: the one it advertises to peers.
    pub fn raft_addr(&self, i: usize) -> String {
        let args = &self.nodes[i].args;
        let at = args
            .iter()
            .position(|a| a == "--advertise-raft")
            .or_else(|| args.iter().position(|a| a == "--raft"))
            .expect("--raft");
        args[at + 1].clone()
    }

    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|i| self.nodes[*i].is_running()).collect()
    }

    /// `path` on node `i` as JSON (asked for with `Accept`, as Eureka clients do).
    pub async fn get_json(&self, i: usize, path: &str) -> Option<Value> {
        let resp = self
            .client
            .get(self.nodes[i].url(path))
            .header("accept", "application/json")
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        resp.json().await.ok()
    }

    /// Waits until every running node answers `/health` with 200.
    /// Node `i`'s Prometheus text (`/metrics`).
    pub async fn metrics_text(&self, i: usize) -> String {
        let resp = self.client.get(self.nodes[i].url("/metrics")).send().await.unwrap();
        resp.text().await.unwrap()
    }

    pub async fn wait_healthy(&self, timeout: Duration) {
        self.wait_nodes_healthy(&self.running(), timeout).await;
    }

    /// Waits until nodes `which` answer `/health` with 200.
    pub async fn wait_nodes_healthy(&self, which: &[usize], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for &i in which {
            loop {
                let ok = self
                    .client
                    .get(self.nodes[i].url("/health"))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                if ok {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {} not healthy within {timeout:?}",
                    self.nodes[i].id
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// Checks that node `outsider` (asked through `client`) stays out of the cluster: the others
    /// form a quorum and take a write, while it keeps reporting no leader.
    pub async fn assert_kept_out(&self, outsider: usize, client: &reqwest::Client) {
        let insiders: Vec<usize> = self.running().into_iter().filter(|i| *i != outsider).collect();
        self.wait_nodes_healthy(&insiders, Duration::from_secs(30)).await;
        register_at(&self.client, &self.nodes[insiders[0]].url(""), "svc", "i-1", None)
            .await
            .unwrap();
        let watch_until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < watch_until {
            let health: Value = send_json(client.get(self.nodes[outsider].url("/health"))).await;
            assert_eq!(
                health["status"], "DOWN",
                "node {} joined: {health}",
                self.nodes[outsider].id
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn status(&self, i: usize) -> Value {
        self.get_json(i, "/admin/cluster")
            .await
            .unwrap_or_else(|| panic!("no status from node {}", i + 1))
    }

    /// The index of the node every running node agrees leads.
    pub async fn leader(&self, timeout: Duration) -> usize {
        self.leader_among(&self.running(), timeout).await
    }

    /// The index of the node every one of nodes `which` agrees leads.
    pub async fn leader_among(&self, which: &[usize], timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let mut views = HashSet::new();
            for &i in which {
                views.insert(
                    self.get_json(i, "/admin/cluster")
                        .await
                        .and_then(|s| s["leader_id"].as_u64()),
                );
            }
            if views.len() == 1 {
                if let Some(Some(id)) = views.into_iter().next() {
                    if let Some(i) = self.nodes.iter().position(|n| n.id == id && n.is_running()) {
                        return i;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no agreed leader within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Registers `service/id` through node `i`; `Ok(revision)` once acknowledged.
    pub async fn register(&self, i: usize, service: &str, id: &str, lease: Option<(u32, u32)>) -> Result<u64, String> {
        register_at(&self.client, &self.nodes[i].url(""), service, id, lease).await
    }

    /// Renews through node `i`; per instance whether it was found.
    pub async fn renew(&self, i: usize, service: &str, ids: &[String]) -> Result<Vec<bool>, String> {
        let instances: Vec<Value> = ids.iter().map(|id| json!({ "service": service, "id": id })).collect();
        let resp = self
            .client
            .put(self.nodes[i].url("/admin/registry/heartbeats"))
            .json(&json!({ "instances": instances }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("{status}: {body}"));
        }
        Ok(body["found"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_bool().unwrap())
            .collect())
    }

    pub async fn digest(&self, i: usize) -> Option<Value> {
        self.get_json(i, "/admin/registry/digest").await
    }

    /// Waits until every running node reports the same digest and revision; returns it.
    pub async fn wait_converged(&self, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let mut digests = Vec::new();
            for i in self.running() {
                digests.push(self.digest(i).await);
            }
            if digests.iter().all(|d| d.is_some() && *d == digests[0]) {
                return digests[0].clone().unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "nodes did not converge within {timeout:?}: {digests:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until node `i` lists `provider` among `consumer`'s ServiceCenter providers (default
    /// tenant): the dependency records finds imply are written off the find's path, a moment
    /// later.
    #[allow(dead_code)] // not every suite that includes this file finds
    pub async fn wait_depends(&self, i: usize, consumer: &str, provider: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let path = format!("/v4/default/registry/microservices/{consumer}/providers");
        loop {
            let providers = self.get_json(i, &path).await;
            let listed = providers.as_ref().and_then(|p| p["providers"].as_array());
            if listed.is_some_and(|l| l.iter().any(|p| p["serviceId"] == provider)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {i}: {consumer} never depended on {provider}: {providers:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Instance ids of `service` on node `i` (a local read).
    pub async fn instance_ids(&self, i: usize, service: &str) -> HashSet<String> {
        let list = self
            .get_json(i, "/admin/registry/instances")
            .await
            .expect("instance list");
        list["instances"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["service_id"] == service)
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// The instances of Eureka app `app` on `base`: instance id → metadata.
pub async fn eureka_app(client: &reqwest::Client, base: &str, app: &str) -> BTreeMap<String, Value> {
    let Ok(resp) = client
        .get(format!("{base}/eureka/apps/{app}"))
        .header("accept", "application/json")
        .send()
        .await
    else {
        return BTreeMap::new();
    };
    let body: Value = resp.json().await.unwrap_or_default();
    body["application"]["instance"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["instanceId"].as_str().unwrap_or_default().to_string(),
                i["metadata"].clone(),
            )
        })
        .collect()
}

/// Sends `request` and parses the answer as JSON, panicking on either failing (tests' shorthand).
pub async fn send_json(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Registers `service/id` at the node whose base URL is `base`; `Ok(revision)` once acknowledged.
pub async fn register_at(
    client: &reqwest::Client,
    base: &str,
    service: &str,
    id: &str,
    lease: Option<(u32, u32)>,
) -> Result<u64, String> {
    let mut body = json!({ "service": service, "id": id, "host": "10.0.0.1", "endpoints": ["rest://10.0.0.1:8080"] });
    if let Some((interval, duration)) = lease {
        body["lease"] = json!({ "renewal_interval_secs": interval, "duration_secs": duration });
    }
    let resp = client
        .post(format!("{base}/admin/registry/instances"))
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    if status == 200 {
        body["revision"]
            .as_u64()
            .ok_or_else(|| format!("no revision in {body}"))
    } else {
        Err(format!("{status}: {body}"))
    }
}

/// A Eureka registration body with a long lease, so nothing expires during a test.
fn instance_body(app: &str, id: &str, port: u16) -> Value {
    json!({ "instance": {
        "instanceId": id,
        "hostName": "127.0.0.1",
        "app": app,
        "ipAddr": "127.0.0.1",
        "status": "UP",
        "port": { "$": port, "@enabled": "true" },
        "securePort": { "$": 443, "@enabled": "false" },
        "dataCenterInfo": {
            "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
            "name": "MyOwn"
        },
        "leaseInfo": { "renewalIntervalInSecs": 30, "durationInSecs": 900 },
        "metadata": { "zone": "zone-1" }
    }})
}

pub async fn eureka_register(client: &reqwest::Client, base: &str, app: &str, id: &str) -> Result<(), String> {
    let resp = client
        .post(format!("{base}/eureka/apps/{app}"))
        .json(&instance_body(app, id, 8080))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match resp.status().as_u16() {
        204 => Ok(()),
        s => Err(format!("register {app}/{id}: {s}")),
    }
}
