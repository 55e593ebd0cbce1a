//! Adapter workers that mirror external registries into the store and export ours to them (D6).
//!
//! How the parts fit:
//! - [`config`]: the `[[sync]]` tables (peer name, kind, URL, direction, tenant mapping, app
//!   filter, interval, grace period, deletion guard, credentials), validated.
//! - [`Federation`]: its [`FederationWorker`] (started by the binary) runs, on the leader only,
//!   one import and/or export worker per peer, and stops them when leadership moves (the new
//!   leader resumes from the checkpoints in the store).
//! - [`import`]: the import loop, over the [`import::Source`] trait, one implementation per kind
//!   ([`import::eureka`], [`import::servicecenter`], [`import::cluster`], [`import::nacos`]); [`plan`] turns a
//!   listing into one `MirrorBatch` under the rules that keep a bad peer from emptying the
//!   registry; [`shadow`] keeps a record reachable through two peers mirrored once.
//! - [`export`]: keeps our instances registered at Eureka, ServiceCenter and Nacos peers, over the
//!   [`export::Sink`] trait.
//! - [`kinds`]: the one place a kind is matched: its source, its sink, the settings it can use.
//! - [`follow`]: the gRPC `Follow` stream other clusters of ours import from.
//! - [`hops`]: the origin cluster and hop path in metadata that keep any topology loop-free.
//! - [`client`]: HTTP to peers; [`status`]: what `/admin/sync` reports; [`error`]: why a round failed.

pub mod client;
pub mod config;
pub mod error;
pub mod export;
pub mod follow;
pub mod hops;
pub mod import;
pub mod kinds;
pub mod plan;
pub mod shadow;
pub mod status;

/// Generated protobuf and gRPC code for `proto/federation.proto`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("registry.federation.v1");
}

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use registry_store::node::RegistryNode;
use registry_store::worker::stopped;
use registry_store::worker::StopSignal;
use registry_store::worker::Worker;
use registry_store::worker::WorkerHandle;
use registry_store::worker::WorkerStatus;
use registry_store::worker::Workers;
use serde::Serialize;

use crate::config::RemoteConfig;
use crate::status::PeerState;
use crate::status::PeerStatus;
use crate::status::StatusBoard;

/// The cluster name used when none is configured.
pub const DEFAULT_CLUSTER_NAME: &str = "registry";

/// Federation settings of one node.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// This cluster's name in hop paths; every federated cluster needs its own.
    pub cluster_name: String,
    pub peers: Vec<RemoteConfig>,
    /// The ServiceCenter `appId` Eureka apps get (the HTTP front's setting, so imported Eureka
    /// apps land on the same services as local Eureka registrations).
    pub eureka_app_id: String,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            cluster_name: DEFAULT_CLUSTER_NAME.into(),
            peers: Vec::new(),
            eureka_app_id: "eureka".into(),
        }
    }
}

/// What a worker needs to know about its peer and its node.
pub struct Context {
    pub node: RegistryNode,
    pub peer: RemoteConfig,
    pub cluster: String,
    pub eureka_app_id: String,
    pub board: StatusBoard,
}

/// What `GET /admin/sync` answers.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub cluster_name: String,
    /// Whether this node runs the workers (only the leader does).
    pub leading: bool,
    pub peers: Vec<PeerStatus>,
}

/// The federation of one node: its workers while it leads, and their status.
pub struct Federation {
    settings: SyncSettings,
    board: StatusBoard,
    node: RegistryNode,
}

/// How long a sync worker has to end once told to stop (when leadership moves).
const SYNC_WORKER_STOP: Duration = Duration::from_secs(5);

impl Federation {
    /// The federation of `node`; it starts nothing (the binary starts [`Federation::worker`]).
    pub fn new(node: RegistryNode, settings: SyncSettings) -> Arc<Self> {
        Arc::new(Self {
            board: StatusBoard::new(&settings.peers),
            settings,
            node,
        })
    }

    /// The worker that follows the node's leadership and, while it leads, runs one import
    /// and/or export worker per peer under `workers` (so they show in its reports).
    pub fn worker(self: &Arc<Self>, workers: Workers) -> FederationWorker {
        FederationWorker {
            federation: self.clone(),
            workers,
        }
    }

    pub fn cluster_name(&self) -> &str {
        &self.settings.cluster_name
    }

    pub fn report(&self) -> SyncReport {
        SyncReport {
            cluster_name: self.settings.cluster_name.clone(),
            leading: self.node.leadership().borrow().is_some(),
            peers: self.board.snapshot(),
        }
    }

    /// The `Follow` service other clusters stream this one's changes from.
    pub fn follow_service(&self) -> follow::FollowService {
        follow::FollowService::new(self.node.clone(), self.settings.cluster_name.clone())
    }

    async fn supervise(self: Arc<Self>, workers: Workers, mut stop: StopSignal, status: WorkerStatus) {
        let mut leading = self.node.leadership();
        let mut running: Vec<WorkerHandle> = Vec::new();
        loop {
            let lead = leading.borrow_and_update().is_some();
            if lead && running.is_empty() && !self.settings.peers.is_empty() {
                tracing::info!(peers = self.settings.peers.len(), "leading: starting sync workers");
                running = self.start_workers(&workers);
                self.board.workers_started();
                status.activity();
            } else if !lead && !running.is_empty() {
                tracing::info!("no longer leading: stopping sync workers");
                stop_all(&mut running).await;
                self.board.set_all(PeerState::Standby, "this node is not the leader");
                status.activity();
            }
            tokio::select! {
                changed = leading.changed() => if changed.is_err() { break },
                _ = stopped(&mut stop) => break,
            }
        }
        stop_all(&mut running).await;
    }

    fn start_workers(&self, workers: &Workers) -> Vec<WorkerHandle> {
        let mut handles = Vec::new();
        for peer in &self.settings.peers {
            let ctx = Arc::new(Context {
                node: self.node.clone(),
                peer: peer.clone(),
                cluster: self.settings.cluster_name.clone(),
                eureka_app_id: self.settings.eureka_app_id.clone(),
                board: self.board.clone(),
            });
            self.board.update(&peer.name, |s| {
                s.state = PeerState::Starting;
                s.reason = None;
            });
            if peer.direction.imports() {
                handles.push(workers.start(SyncWorker {
                    direction: Flow::Import,
                    ctx: ctx.clone(),
                }));
            }
            if peer.direction.exports() {
                handles.push(workers.start(SyncWorker {
                    direction: Flow::Export,
                    ctx,
                }));
            }
        }
        handles
    }
}

async fn stop_all(running: &mut Vec<WorkerHandle>) {
    for handle in running.drain(..) {
        handle.stop(SYNC_WORKER_STOP).await;
    }
}

/// The federation's supervisor as a worker (named `federation`).
pub struct FederationWorker {
    federation: Arc<Federation>,
    workers: Workers,
}

impl Worker for FederationWorker {
    fn name(&self) -> String {
        "federation".into()
    }

    fn run(self: Box<Self>, stop: StopSignal, status: WorkerStatus) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move {
            self.federation.supervise(self.workers, stop, status).await;
            Ok(())
        })
    }
}

/// One peer's import or export (`sync-import:PEER`, `sync-export:PEER`). It ends at the stop
/// signal: the round in progress is dropped at its next await, and the next leader resumes from
/// the checkpoints in the store.
struct SyncWorker {
    direction: Flow,
    ctx: Arc<Context>,
}

/// Which way a sync worker carries instances.
#[derive(Clone, Copy)]
enum Flow {
    Import,
    Export,
}

impl Worker for SyncWorker {
    fn name(&self) -> String {
        let direction = match self.direction {
            Flow::Import => "import",
            Flow::Export => "export",
        };
        format!("sync-{direction}:{}", self.ctx.peer.name)
    }

    fn run(self: Box<Self>, mut stop: StopSignal, _status: WorkerStatus) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move {
            let work = async {
                match self.direction {
                    Flow::Import => import::run(self.ctx.clone()).await,
                    Flow::Export => export::run(self.ctx.clone()).await,
                }
            };
            tokio::select! {
                _ = work => {}
                _ = stopped(&mut stop) => {}
            }
            Ok(())
        })
    }
}
