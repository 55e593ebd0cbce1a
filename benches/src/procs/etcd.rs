//! A three-member etcd cluster (Debian's `etcd-server`) on loopback: baseline E. Its HTTP/JSON
//! gateway serves on each member's client URL.

use std::process::Command;
use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;

use super::first_existing;
use super::free_port;
use super::wait_for;
use super::Proc;
use crate::conn::Conn;
use crate::conn::Target;
use crate::driver::with_body;
use crate::error::BenchError;

pub struct EtcdCluster {
    pub members: Vec<Proc>,
    pub targets: Vec<Target>,
    _dir: TempDir,
}

/// The etcd binary, if installed.
pub fn binary() -> Option<std::path::PathBuf> {
    first_existing(&["/usr/bin/etcd", "/usr/local/bin/etcd"])
}

impl EtcdCluster {
    /// Starts `size` members and waits until the gateway of each accepts a put.
    pub async fn start(size: usize) -> Result<EtcdCluster, BenchError> {
        let etcd = binary().ok_or_else(|| {
            BenchError::Setup("etcd is not installed (apt-get install etcd-server; benches/quick does this)".into())
        })?;
        let dir = tempfile::Builder::new().prefix("registry-bench-etcd-").tempdir()?;
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let initial = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members = Vec::new();
        let mut targets = Vec::new();
        for (i, (client, peer)) in ports.iter().enumerate() {
            let client_url = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let log = std::fs::File::create(dir.path().join(format!("m{i}.log")))?;
            let mut command = Command::new(&etcd);
            command
                .args(["--name", &format!("m{i}")])
                .args(["--data-dir", &dir.path().join(format!("m{i}")).display().to_string()])
                .args([
                    "--listen-client-urls",
                    &client_url,
                    "--advertise-client-urls",
                    &client_url,
                ])
                .args([
                    "--listen-peer-urls",
                    &peer_url,
                    "--initial-advertise-peer-urls",
                    &peer_url,
                ])
                .args(["--initial-cluster", &initial, "--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", "registry-bench"])
                .args(["--logger", "zap", "--log-level", "warn"])
                .stdout(Stdio::null())
                .stderr(Stdio::from(log));
            members.push(Proc::spawn(&format!("etcd m{i}"), &mut command)?);
            targets.push(Target::parse(&client_url)?);
        }
        for target in &targets {
            wait_for("etcd member accepting puts", Duration::from_secs(60), || async {
                let mut conn = Conn::new(target.clone());
                let put = with_body(
                    "POST",
                    "/v3/kv/put",
                    "application/json",
                    br#"{"key":"cmVhZHk=","value":"MQ=="}"#.to_vec(),
                );
                conn.send(put).await.ok().filter(|a| a.status().is_success())
            })
            .await?;
        }
        Ok(EtcdCluster {
            members,
            targets,
            _dir: dir,
        })
    }
}
