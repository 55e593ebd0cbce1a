//! Adapter workers that mirror external registries into the store and export ours to them (D6).
//!
//! How the parts fit:
//! - [`config`]: the `[[sync]]` tables (peer name, kind, URL, direction, tenant mapping, app
//!   filter, interval, grace period, deletion guard, credentials), validated.
//! - [`Federation`]: starts, on the leader only, one import and/or export worker per peer, and
//!   stops them when leadership moves (the new leader resumes from the checkpoints in the store).
//! - [`import`]: per kind a source of listings ([`import::eureka`], [`import::servicecenter`],
//!   [`import::cluster`]); [`plan`] turns a listing into one `MirrorBatch` under the rules that
//!   keep a bad peer from emptying the registry.
//! - [`export`]: keeps our instances registered at Eureka and ServiceCenter peers.
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
pub mod plan;
pub mod status;

/// Generated protobuf and gRPC code for `proto/federation.proto`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("registry.federation.v1");
}

use std::sync::Arc;

use registry_store::node::RegistryNode;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::config::PeerConfig;
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
    pub peers: Vec<PeerConfig>,
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
    pub peer: PeerConfig,
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

impl Federation {
    /// Starts following the node's leadership: workers run while it leads.
    pub fn start(node: RegistryNode, settings: SyncSettings) -> Arc<Self> {
        let federation = Arc::new(Self {
            board: StatusBoard::new(&settings.peers),
            settings,
            node,
        });
        if !federation.settings.peers.is_empty() {
            tokio::spawn(federation.clone().supervise());
        }
        federation
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

    async fn supervise(self: Arc<Self>) {
        let mut leading = self.node.leadership();
        let mut stopping = self.node.stopping();
        let mut workers: Vec<JoinHandle<()>> = Vec::new();
        loop {
            let lead = leading.borrow_and_update().is_some();
            if lead && workers.is_empty() {
                tracing::info!(peers = self.settings.peers.len(), "leading: starting sync workers");
                workers = self.spawn_workers();
                self.board.workers_started();
            } else if !lead && !workers.is_empty() {
                tracing::info!("no longer leading: stopping sync workers");
                stop(&mut workers);
                self.board.set_all(PeerState::Standby, "this node is not the leader");
            }
            tokio::select! {
                changed = leading.changed() => if changed.is_err() { break },
                _ = stopping.wait_for(|s| *s) => break,
            }
        }
        stop(&mut workers);
    }

    fn spawn_workers(&self) -> Vec<JoinHandle<()>> {
        let mut workers = Vec::new();
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
                workers.push(tokio::spawn(import::run(ctx.clone())));
            }
            if peer.direction.exports() {
                workers.push(tokio::spawn(export::run(ctx)));
            }
        }
        workers
    }
}

fn stop(workers: &mut Vec<JoinHandle<()>>) {
    for w in workers.drain(..) {
        w.abort();
    }
}
