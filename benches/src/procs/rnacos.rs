//! r-nacos (the `rnacos` crate, a Rust Nacos server) on loopback ports: the Nacos peer of the
//! quick suite's `nacos` stage. One node, or a cluster whose first node initialises its Raft
//! group and the others join it (r-nacos's `RNACOS_RAFT_*` settings; its naming data is AP,
//! written on every node and synchronised after).
//!
//! The binary comes from `RNACOS_BIN` (`benches/quick` builds it once with `tests/peers/rnacos.sh`).

use std::path::PathBuf;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;

use super::free_port;
use super::wait_for;
use super::Proc;
use crate::conn::Conn;
use crate::conn::Target;
use crate::driver::bodiless;
use crate::error::BenchError;

pub struct RnacosCluster {
    pub members: Vec<Proc>,
    /// Each member's HTTP root (the Nacos Open API under `/nacos`).
    pub targets: Vec<Target>,
    _dir: TempDir,
}

/// The r-nacos binary named by `RNACOS_BIN`, if it exists.
pub fn binary() -> Option<PathBuf> {
    std::env::var_os("RNACOS_BIN").map(PathBuf::from).filter(|p| p.exists())
}

impl RnacosCluster {
    /// Starts `size` members and waits until each answers an instance list.
    pub async fn start(size: usize) -> Result<RnacosCluster, BenchError> {
        let bin = binary().ok_or_else(|| {
            BenchError::Setup(
                "r-nacos not found: set RNACOS_BIN (benches/quick builds it with tests/peers/rnacos.sh)".into(),
            )
        })?;
        let dir = tempfile::Builder::new().prefix("registry-bench-rnacos-").tempdir()?;
        let ports: Vec<(u16, u16, u16)> = (0..size).map(|_| (free_port(), free_port(), free_port())).collect();
        let first_raft = format!("127.0.0.1:{}", ports[0].1);
        let mut members = Vec::new();
        let mut targets = Vec::new();
        for (i, (http, grpc, console)) in ports.iter().enumerate() {
            let home = dir.path().join(format!("m{}", i + 1));
            std::fs::create_dir_all(&home)?;
            let log = std::fs::File::create(dir.path().join(format!("m{}.log", i + 1)))?;
            let mut command = Command::new(&bin);
            command
                .current_dir(&home)
                .env("RNACOS_HTTP_PORT", http.to_string())
                .env("RNACOS_GRPC_PORT", grpc.to_string())
                .env("RNACOS_HTTP_CONSOLE_PORT", console.to_string())
                .env("RNACOS_CONFIG_DB_DIR", home.join("db"))
                .env("RNACOS_RAFT_NODE_ID", (i + 1).to_string())
                .env("RNACOS_RAFT_NODE_ADDR", format!("127.0.0.1:{grpc}"))
                .env("RNACOS_RAFT_AUTO_INIT", (i == 0).to_string())
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::from(log));
            if i > 0 {
                command.env("RNACOS_RAFT_JOIN_ADDR", &first_raft);
            }
            members.push(Proc::spawn(&format!("rnacos m{}", i + 1), &mut command)?);
            targets.push(Target::parse(&format!("http://127.0.0.1:{http}"))?);
            // Joiners find the first member's Raft group up.
            if i == 0 && size > 1 {
                wait_ready(&targets[0]).await?;
            }
        }
        for target in &targets {
            wait_ready(target).await?;
        }
        Ok(RnacosCluster {
            members,
            targets,
            _dir: dir,
        })
    }
}

async fn wait_ready(target: &Target) -> Result<(), BenchError> {
    wait_for(
        "r-nacos answering an instance list",
        Duration::from_secs(60),
        || async {
            let mut conn = Conn::new(target.clone());
            let list = bodiless(
                "GET",
                "/nacos/v1/ns/instance/list?serviceName=ready",
                "application/json",
            );
            conn.send(list)
                .await
                .ok()
                .filter(|a| a.status().is_success())
                .map(|_| ())
        },
    )
    .await
}
