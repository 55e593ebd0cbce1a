//! What each peer's workers report: state, last success, lag, counts and the last error, as
//! served by `GET /admin/sync`. Kept in the leader's memory; counts start at zero on each leader.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use registry_store::model::Millis;
use registry_store::node::wall_clock_ms;
use serde::Serialize;

use crate::config::Direction;
use crate::config::PeerKind;
use crate::config::RemoteConfig;

/// Where a peer's synchronisation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerState {
    /// This node is not the leader; the leader runs the workers.
    Standby,
    /// Started; no round has completed yet.
    Starting,
    /// The last round succeeded.
    Syncing,
    /// The last round failed; retrying. Mirrored instances are kept until the grace period ends.
    Failing,
    /// Silent past the grace period: its mirrored instances were removed.
    Expired,
}

/// Import-side counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportCounts {
    pub rounds: u64,
    pub upserted: u64,
    pub deleted: u64,
    /// Deletions held back by the mass-deletion guard, in the last round.
    pub held: u64,
    /// Instances removed because the peer stayed silent past its grace period.
    pub expired: u64,
    /// Records skipped because their hop path already names this cluster.
    pub loops_skipped: u64,
    /// Instances mirrored from this peer now.
    pub mirrored: u64,
    /// Instances this peer lists that another origin holds (mirrored through another peer, or
    /// registered here): not written, taken over if that origin lets them go.
    pub shadowed: u64,
}

/// Export-side counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportCounts {
    pub registered: u64,
    pub heartbeats: u64,
    pub deleted: u64,
    /// Instances this cluster keeps registered at the peer now.
    pub exported: u64,
}

/// One peer's report.
#[derive(Debug, Clone, Serialize)]
pub struct PeerStatus {
    pub name: String,
    pub kind: PeerKind,
    pub direction: Direction,
    pub url: String,
    pub state: PeerState,
    /// Why the state is what it is, when it is not plain `syncing`.
    pub reason: Option<String>,
    pub last_success_ms: Option<Millis>,
    /// When this node's workers for the peer started (it leads), if they run.
    pub workers_started_ms: Option<Millis>,
    /// Milliseconds since the last successful round (import or export); while none has
    /// succeeded, since the workers started. `None` while no workers run here.
    pub lag_ms: Option<Millis>,
    /// Where the import resumes at the peer (a revision, a delta version...).
    pub checkpoint: Option<String>,
    pub last_error: Option<String>,
    pub last_error_ms: Option<Millis>,
    pub imported: ImportCounts,
    pub exported: ExportCounts,
}

impl PeerStatus {
    fn new(peer: &RemoteConfig) -> Self {
        Self {
            name: peer.name.clone(),
            kind: peer.kind,
            direction: peer.direction,
            url: peer.url.clone(),
            state: PeerState::Standby,
            reason: None,
            last_success_ms: None,
            workers_started_ms: None,
            lag_ms: None,
            checkpoint: None,
            last_error: None,
            last_error_ms: None,
            imported: ImportCounts::default(),
            exported: ExportCounts::default(),
        }
    }
}

/// Every peer's status, shared by its workers and the status endpoint.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard {
    peers: Arc<Mutex<BTreeMap<String, PeerStatus>>>,
}

impl StatusBoard {
    pub fn new(peers: &[RemoteConfig]) -> Self {
        let board = peers.iter().map(|p| (p.name.clone(), PeerStatus::new(p))).collect();
        Self {
            peers: Arc::new(Mutex::new(board)),
        }
    }

    /// Changes one peer's status.
    pub fn update(&self, peer: &str, f: impl FnOnce(&mut PeerStatus)) {
        if let Some(status) = self.peers.lock().get_mut(peer) {
            f(status);
        }
    }

    /// Records a successful round.
    pub fn success(&self, peer: &str) {
        self.update(peer, |s| {
            s.state = PeerState::Syncing;
            s.reason = None;
            s.last_success_ms = Some(wall_clock_ms());
        });
    }

    /// Records a failed round (the state stays `expired` once the grace period has passed).
    pub fn failure(&self, peer: &str, error: &str) {
        self.update(peer, |s| {
            if s.state != PeerState::Expired {
                s.state = PeerState::Failing;
                s.reason = Some(format!("retrying: {error}"));
            }
            s.last_error = Some(error.to_string());
            s.last_error_ms = Some(wall_clock_ms());
        });
    }

    /// Every peer, reset to `standby` when this node stops leading.
    pub fn set_all(&self, state: PeerState, reason: &str) {
        for s in self.peers.lock().values_mut() {
            s.state = state;
            s.reason = Some(reason.to_string());
            s.workers_started_ms = None;
        }
    }

    /// Every peer's workers started now (this node leads).
    pub fn workers_started(&self) {
        let now = wall_clock_ms();
        for s in self.peers.lock().values_mut() {
            s.workers_started_ms = Some(now);
        }
    }

    /// A copy of every peer's status, with the lag computed now.
    pub fn snapshot(&self) -> Vec<PeerStatus> {
        let now = wall_clock_ms();
        self.peers
            .lock()
            .values()
            .map(|s| {
                let mut s = s.clone();
                s.lag_ms = s
                    .workers_started_ms
                    .and(s.last_success_ms.or(s.workers_started_ms))
                    .map(|t| now.saturating_sub(t));
                s
            })
            .collect()
    }
}
