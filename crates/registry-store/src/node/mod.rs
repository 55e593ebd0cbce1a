//! One cluster member put together: storage, Raft, the gRPC server, leases and the background
//! tasks, behind the handle the HTTP front and adapters use.
//!
//! - [`write`]: commands go to the leader (forwarded transparently from followers), where the
//!   [`batcher`] packs concurrent ones into shared log entries.
//! - [`heartbeat`]: renewals go to the leader's lease table in batches, never to the log (D3).
//! - [`read`]: local reads, and a read barrier for linearizable ones (D4).
//! - [`status`]: cluster view and health; [`membership`]: add / remove members, once a joining
//!   node proved who it is ([`joining`]).
//! - [`cluster_rpc`]: what this member answers to the others' cluster RPCs; the gRPC server
//!   itself, both directions, is [`crate::transport`].
//! - [`removal`]: a node the cluster removed notices, and stops standing for election.
//! - [`campaign`]: a follower campaigns as soon as a dead leader's lease has run out.
//! - [`raft_runtime`]: Raft and the member-to-member gRPC run on a runtime of their own.
//! - [`wake_lateness`]: how late the runtime and a plain thread wake, the stalls behind
//!   elections.

mod batcher;
mod campaign;
mod cluster_rpc;
mod config;
mod drain;
mod error;
mod heartbeat;
mod joining;
mod lease_copy;
mod maintenance;
mod member_watch;
mod membership;
mod quorum_ack;
mod raft_runtime;
mod read;
mod removal;
mod renew_stream;
mod status;
mod wake_lateness;
mod write;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::sync::Weak;
use std::time::Duration;

pub use crate::clock::wall_clock_ms;
pub use config::NodeConfig;
pub use error::ErrorClass;
pub use error::NodeError;
use futures::future::BoxFuture;
use openraft::storage::RaftLogStorage;
use openraft::BasicNode;
use openraft::ServerState;
use parking_lot::Mutex;
pub use status::ClusterStatus;
pub use status::MemberStatus;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
pub use write::Written;

use crate::command::AnnounceNode;
use crate::command::Command;
use crate::feed::ChangeFeed;
use crate::feed::FeedError;
use crate::feed::Subscription;
use crate::lease::LeaseKeeper;
use crate::meters::StoreMeters;
use crate::model::Revision;
use crate::raft::types::NodeId;
use crate::raft::types::Raft;
use crate::raft::types::RaftMetrics;
use crate::record::NodeRecord;
use crate::storage;
use crate::storage::LogCounters;
use crate::storage::LogTotals;
use crate::storage::StateHandle;
use crate::transport;
use crate::transport::auth;
use crate::transport::auth::MemberChannel;
use crate::transport::auth::MemberCredential;
use crate::transport::contact::MemberContacts;
use crate::transport::network::GrpcNetworkFactory;
use crate::transport::network::MemberChannels;
use crate::transport::pb::cluster_service_client::ClusterServiceClient;
use crate::transport::raft_service::RaftGrpcService;
use crate::worker::StopSignal;
use crate::worker::Worker;
use crate::worker::WorkerStatus;

/// How long a stopping leader tries to hand leadership over.
const HAND_OVER_AT_STOP: Duration = Duration::from_secs(10);
/// How long stopping waits for Raft's own shutdown.
const RAFT_STOP: Duration = Duration::from_secs(5);

/// A running node. Cheap to clone.
#[derive(Clone)]
pub struct RegistryNode {
    inner: Arc<Inner>,
}

struct Inner {
    config: NodeConfig,
    raft: Raft,
    state: StateHandle,
    feed: Arc<ChangeFeed>,
    revision: watch::Receiver<Revision>,
    /// Records written since the state machine's last snapshot (see `membership`).
    writes_since_snapshot: Arc<std::sync::atomic::AtomicU64>,
    /// The term this node leads in, while it leads (and has applied an entry of that term);
    /// kept current by a background task.
    leading: watch::Sender<Option<u64>>,
    /// When a quorum last acknowledged this node as leader (renewals answered here need it
    /// recent); kept current by the same task.
    quorum_ack: Arc<quorum_ack::QuorumAck>,
    leases: Arc<LeaseKeeper>,
    /// This node's copy of the leader's last renewals and deadlines (see `lease_copy`).
    lease_times: crate::lease::LeaseTimes,
    channels: MemberChannels,
    heartbeats: mpsc::Sender<heartbeat::Batch>,
    /// Packs concurrent writes into shared log entries.
    batcher: batcher::Batcher,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The last log index on disk at start: health waits until it is applied.
    startup_log_index: u64,
    log_counters: Arc<LogCounters>,
    meters: StoreMeters,
    /// Kept out of elections (drained for maintenance).
    drained: AtomicBool,
    /// When each peer last answered, and removal notices (written by the Raft network).
    contacts: MemberContacts,
    /// Set once this node notices the cluster removed it (see `removal`).
    removed: watch::Sender<Option<removal::Removal>>,
    /// Where Raft runs; last, so everything above lets go of it before it shuts down.
    raft_runtime: raft_runtime::RaftRuntime,
}

impl RegistryNode {
    /// Opens the data directory, starts Raft and serves node-to-node gRPC on `raft_listener`.
    /// On first start (empty store, not joining) it initialises the cluster with the configured
    /// members; every node started with the same list may do so safely.
    pub async fn start(config: NodeConfig, raft_listener: TcpListener) -> Result<Self, NodeError> {
        config.validate().map_err(NodeError::Config)?;
        let meters = StoreMeters::default();
        let (mut log, sm) = storage::open(&config.data_dir, config.feed_history, &meters)?;
        let startup_log_index = log
            .get_log_state()
            .await
            .map_err(|e| NodeError::Config(format!("cannot read the log: {e}")))?
            .last_log_id
            .map_or(0, |l| l.index);
        let log_counters = log.counters();
        let raft_config = openraft::Config {
            cluster_name: "registry".into(),
            heartbeat_interval: config.heartbeat_interval.as_millis() as u64,
            election_timeout_min: config.election_timeout.0.as_millis() as u64,
            election_timeout_max: config.election_timeout.1.as_millis() as u64,
            install_snapshot_timeout: 30_000,
            snapshot_max_chunk_size: 4 * 1024 * 1024,
            max_payload_entries: 1_000,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(config.snapshot_every),
            max_in_snapshot_log_to_keep: config.keep_logs_behind_snapshot,
            ..Default::default()
        }
        .validate()
        .map_err(|e| NodeError::Config(e.to_string()))?;
        let member_channels = || {
            MemberChannels::new(
                MemberCredential::new(config.cluster_secret.as_ref()),
                config.tls.as_ref().map(auth::client_tls),
            )
        };
        // Raft calls its peers over channels of its own, made on its runtime (a channel's
        // connection runs where it was made); the cluster RPCs the front makes use the others.
        let channels = member_channels();
        let contacts = MemberContacts::default();
        let network = GrpcNetworkFactory {
            channels: member_channels(),
            contacts: contacts.clone(),
        };
        let state = sm.state_handle();
        let feed = sm.feed();
        let revision = sm.revision_watch();
        let writes_since_snapshot = sm.writes_since_snapshot();
        let raft_runtime = raft_runtime::RaftRuntime::start()
            .map_err(|e| NodeError::Config(format!("cannot start Raft's runtime: {e}")))?;
        let node_id = config.node_id;
        let raft = raft_runtime
            .handle()
            .spawn(async move { Raft::new(node_id, Arc::new(raft_config), network, log, sm).await })
            .await
            .map_err(|e| NodeError::Stopped(e.to_string()))?
            .map_err(|e| NodeError::Stopped(e.to_string()))?;
        let leases = LeaseKeeper::new(config.lease_policy.clone(), state.clone(), feed.clone());
        let (heartbeats, heartbeat_rx) = mpsc::channel(1024);
        let (stop, _) = watch::channel(false);
        let batcher = batcher::Batcher::start(raft.clone());
        let node = RegistryNode {
            inner: Arc::new(Inner {
                config,
                raft,
                state,
                feed,
                revision,
                writes_since_snapshot,
                leading: watch::Sender::new(None),
                quorum_ack: Arc::default(),
                leases,
                lease_times: crate::lease::LeaseTimes::default(),
                channels,
                heartbeats,
                batcher,
                stop,
                tasks: Mutex::new(Vec::new()),
                startup_log_index,
                log_counters,
                meters,
                drained: AtomicBool::new(false),
                contacts,
                removed: watch::Sender::new(None),
                raft_runtime,
            }),
        };
        node.spawn_grpc_server(raft_listener)?;
        node.initialize_if_pristine().await?;
        node.spawn_background(heartbeat_rx);
        Ok(node)
    }

    /// Serves the other members on Raft's runtime; the cluster RPCs' handlers run on this one.
    fn spawn_grpc_server(&self, listener: TcpListener) -> Result<(), NodeError> {
        let config = &self.inner.config;
        let on_raft_runtime = |e: std::io::Error| NodeError::Config(format!("cannot move the Raft listener: {e}"));
        let listener = listener.into_std().map_err(on_raft_runtime)?;
        let here = tokio::runtime::Handle::current();
        let _entered = self.inner.raft_runtime.handle().enter();
        let listener = TcpListener::from_std(listener).map_err(on_raft_runtime)?;
        let task = transport::server::serve(
            listener,
            here,
            RaftGrpcService::new(self.inner.raft.clone(), self.inner.meters.clone()),
            cluster_rpc::ClusterRpc::new(Arc::downgrade(&self.inner)),
            config.cluster_secret.as_ref(),
            config.tls.as_ref(),
            self.inner.stop.subscribe(),
        )
        .map_err(|e| NodeError::Config(e.to_string()))?;
        self.inner.tasks.lock().push(task);
        Ok(())
    }

    async fn initialize_if_pristine(&self) -> Result<(), NodeError> {
        let raft = &self.inner.raft;
        if self.inner.config.join
            || raft
                .is_initialized()
                .await
                .map_err(|e| NodeError::Stopped(e.to_string()))?
        {
            return Ok(());
        }
        let members: BTreeMap<NodeId, BasicNode> = self
            .inner
            .config
            .initial_members()
            .into_iter()
            .map(|(id, addr)| (id, BasicNode::new(addr)))
            .collect();
        tracing::info!(?members, "initialising a new cluster");
        match raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(openraft::error::RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(NodeError::Config(format!("cannot initialise the cluster: {e}"))),
        }
    }

    fn spawn_background(&self, heartbeat_rx: mpsc::Receiver<heartbeat::Batch>) {
        let leading_tx = self.inner.leading.clone();
        let mut tasks = Vec::new();

        // Leadership changes drive the lease keeper, and are counted. A new leader counts as
        // leading once it has applied an entry of its own term (the blank entry openraft commits
        // first): only then has it applied everything its predecessors committed, so its lease
        // table and the workers' checkpoints start from the whole registry. (Before, a renewal
        // could be answered "not registered" for an instance registered just before the
        // failover.)
        let mut metrics = self.inner.raft.metrics();
        let mut stop = self.inner.stop.subscribe();
        let leader_changes = self.inner.meters.leader_changes.clone();
        let quorum_ack = self.inner.quorum_ack.clone();
        // On Raft's runtime, beside the core that publishes the metrics: the quorum's
        // acknowledgements are dated when they arrive here, and a renewal answered on a stale
        // one costs a round of heartbeats first (`heartbeat::renew_as_leader`).
        tasks.push(self.inner.raft_runtime.handle().spawn(async move {
            let mut known_leader = None;
            loop {
                let (leading, leader) = {
                    let m = metrics.borrow_and_update();
                    let own_term_applied = m
                        .last_applied
                        .as_ref()
                        .is_some_and(|l| l.leader_id.get_term() == m.current_term);
                    let leading = (m.state == ServerState::Leader && own_term_applied).then_some(m.current_term);
                    quorum_ack.observe(std::time::Instant::now(), m.millis_since_quorum_ack);
                    (leading, m.current_leader)
                };
                leading_tx.send_if_modified(|l| std::mem::replace(l, leading) != leading);
                if leader != known_leader {
                    known_leader = leader;
                    leader_changes.inc();
                }
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    changed = metrics.changed() => if changed.is_err() { return },
                }
            }
        }));

        tasks.push(tokio::spawn(member_watch::watch_members(
            Arc::downgrade(&self.inner),
            self.inner.stop.subscribe(),
        )));

        tasks.push(tokio::spawn(heartbeat::forward_loop(
            Arc::downgrade(&self.inner),
            heartbeat_rx,
            self.inner.stop.subscribe(),
        )));
        tasks.push(tokio::spawn(lease_copy::copy_loop(
            Arc::downgrade(&self.inner),
            self.inner.stop.subscribe(),
        )));
        tasks.push(tokio::spawn(campaign::campaign_loop(
            Arc::downgrade(&self.inner),
            self.inner.stop.subscribe(),
        )));
        tasks.push(tokio::spawn(removal::watch_loop(
            Arc::downgrade(&self.inner),
            self.inner.stop.subscribe(),
        )));
        tasks.push(wake_lateness::start(
            &self.inner.meters.wake_lateness_seconds,
            self.inner.stop.subscribe(),
        ));
        self.inner.tasks.lock().extend(tasks);
    }

    pub fn node_id(&self) -> NodeId {
        self.inner.config.node_id
    }

    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// The openraft handle, for tests and tools that need Raft-level control.
    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    pub fn metrics(&self) -> RaftMetrics {
        self.inner.raft.metrics().borrow().clone()
    }

    /// The lease keeper (stats while leading; self-preservation switch).
    pub fn leases(&self) -> &Arc<LeaseKeeper> {
        &self.inner.leases
    }

    /// The node's workers for the binary to start (see [`crate::worker`]): the lease keeper,
    /// which renews and evicts while this node leads, and the announcer, which publishes this
    /// node's addresses. Until they run, nothing expires and members do not learn the addresses.
    pub fn workers(&self) -> Vec<Box<dyn Worker>> {
        vec![
            Box::new(LeaseWorker {
                node: Arc::downgrade(&self.inner),
            }),
            Box::new(Announcer {
                node: Arc::downgrade(&self.inner),
            }),
        ]
    }

    /// The current registry revision on this node (last applied log index).
    pub fn revision(&self) -> Revision {
        *self.inner.revision.borrow()
    }

    /// The current revision, changing as this node applies entries.
    pub fn revisions(&self) -> watch::Receiver<Revision> {
        self.inner.revision.clone()
    }

    /// Subscribes to every change after revision `after`.
    pub fn subscribe(&self, after: Revision) -> Result<Subscription, FeedError> {
        self.inner.feed.subscribe(after)
    }

    /// Waits until this node has applied `revision` (or `timeout` passes).
    pub async fn wait_for_revision(&self, revision: Revision, timeout: Duration) -> Result<(), NodeError> {
        let mut rx = self.inner.revision.clone();
        let waited = tokio::time::timeout(timeout, async { rx.wait_for(|r| *r >= revision).await.map(|_| ()) }).await;
        match waited {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(NodeError::Stopped("state machine closed".into())),
            Err(_) => Err(NodeError::Unavailable(format!(
                "revision {revision} not applied in time"
            ))),
        }
    }

    /// Stops the node: a leader first hands leadership to its most caught-up follower, so
    /// writes wait briefly instead of failing over after an election timeout.
    /// Each step is bounded, so a node that cannot hand over (no voter answers) still stops.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        if self.metrics().state == ServerState::Leader && self.removal().is_none() {
            match tokio::time::timeout(HAND_OVER_AT_STOP, self.drain()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "could not hand leadership over before stopping"),
                Err(_) => tracing::warn!("leadership not handed over in {HAND_OVER_AT_STOP:?}; stopping anyway"),
            }
        }
        match tokio::time::timeout(RAFT_STOP, inner.raft.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "raft shutdown"),
            Err(_) => tracing::warn!("Raft did not stop in {RAFT_STOP:?}"),
        }
        let _ = inner.stop.send(true);
        let tasks: Vec<JoinHandle<()>> = inner.tasks.lock().drain(..).collect();
        for t in tasks {
            if tokio::time::timeout(Duration::from_secs(2), t).await.is_err() {
                tracing::warn!("a background task did not stop in time");
            }
        }
    }

    /// This node's addresses as its announcement writes them in the registry.
    pub fn own_record(&self) -> NodeRecord {
        NodeRecord {
            node_id: self.node_id(),
            raft_addr: self.inner.config.raft_addr.clone(),
            http_addrs: self.inner.config.http_addrs.clone(),
        }
    }

    /// While leading: the follower with the most log replicated, other than `excluded`, and its
    /// Raft address.
    fn successor(&self, excluded: &[NodeId]) -> Option<(NodeId, String)> {
        let m = self.metrics();
        if m.state != ServerState::Leader {
            return None;
        }
        let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
        let replication = m.replication.as_ref()?;
        let best = replication
            .iter()
            .filter(|(id, _)| **id != m.id && voters.contains(id) && !excluded.contains(id))
            .max_by_key(|(_, matched)| matched.map(|l| l.index))
            .map(|(id, _)| *id)?;
        let addr = self.member_addr(best)?;
        Some((best, addr))
    }

    /// While leading: the index of the last log entry replicated to member `id`.
    fn replicated_to(&self, id: NodeId) -> Option<u64> {
        let m = self.metrics();
        let matched = m.replication.as_ref()?.get(&id).copied().flatten();
        matched.map(|l| l.index)
    }

    /// The Raft address of a member, from the current membership.
    fn member_addr(&self, id: NodeId) -> Option<String> {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        let addr = m
            .membership_config
            .membership()
            .nodes()
            .find(|(n, _)| **n == id)
            .map(|(_, node)| node.addr.clone());
        addr
    }

    /// Live subscriptions to the change feed (watchers and the node's own followers).
    pub fn feed_subscribers(&self) -> usize {
        self.inner.feed.subscribers()
    }

    /// Flush and apply latencies, evictions and leader changes, for `/metrics`.
    pub fn meters(&self) -> &StoreMeters {
        &self.inner.meters
    }

    /// Log flushes and the entries and commands they made durable, since start.
    pub fn log_counters(&self) -> LogTotals {
        self.inner.log_counters.read()
    }

    /// Follows whether this node is the leader, as the term it leads in: leader-bound workers
    /// (leases, adapters) start when it turns `Some` and stop when it turns `None`.
    pub fn leadership(&self) -> watch::Receiver<Option<u64>> {
        self.inner.leading.subscribe()
    }

    /// Resolves, with the reason, when Raft stops by itself: a storage failure such as a full
    /// disk. The node cannot take part in the cluster any more; the process should exit so its
    /// supervisor restarts it on the data it made durable. Never resolves while Raft runs.
    pub async fn raft_failure(&self) -> String {
        let mut metrics = self.inner.raft.metrics();
        loop {
            if let Err(fatal) = &metrics.borrow_and_update().running_state {
                return fatal.to_string();
            }
            if metrics.changed().await.is_err() {
                return "Raft stopped".into();
            }
        }
    }

    /// Turns true when the node starts shutting down, so workers built on it can stop.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.inner.stop.subscribe()
    }

    /// The current leader's id, if known.
    pub fn leader(&self) -> Option<NodeId> {
        self.inner.raft.metrics().borrow().current_leader
    }

    /// Waits up to `max` for a leader other than `tried` (the one just tried, if any) to be known.
    async fn await_leader_change(&self, tried: Option<NodeId>, max: Duration) {
        let mut metrics = self.inner.raft.metrics();
        let changed = metrics.wait_for(|m| m.current_leader.is_some() && m.current_leader != tried);
        let _ = tokio::time::timeout(max, changed).await;
    }

    fn cluster_client(&self, addr: &str) -> Result<ClusterServiceClient<MemberChannel>, NodeError> {
        self.inner
            .channels
            .cluster_client(addr)
            .map_err(|e| NodeError::Unavailable(e.to_string()))
    }

    /// A gRPC client to the current leader, or why there is none.
    fn leader_client(&self) -> Result<(NodeId, ClusterServiceClient<MemberChannel>), NodeError> {
        let leader = self.leader().ok_or(NodeError::NoLeader)?;
        let addr = self.member_addr(leader).ok_or(NodeError::NoLeader)?;
        Ok((leader, self.cluster_client(&addr)?))
    }
}

/// Awaits a gRPC call to node `peer` within `timeout`; failures are retryable errors.
async fn call_peer<T>(
    peer: NodeId,
    timeout: Duration,
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, NodeError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(peer_refused(peer, &status)),
        Err(_) => Err(peer_silent(peer)),
    }
}

/// Node `peer` answered a call with `status`: a retryable error.
fn peer_refused(peer: NodeId, status: &tonic::Status) -> NodeError {
    NodeError::Unavailable(format!("node {peer}: {}", status.message()))
}

/// Node `peer` did not answer within a call's time: a retryable error.
fn peer_silent(peer: NodeId) -> NodeError {
    NodeError::Unavailable(format!("node {peer} did not answer in time"))
}

fn upgrade(weak: &Weak<Inner>) -> Option<RegistryNode> {
    weak.upgrade().map(|inner| RegistryNode { inner })
}

/// The lease keeper as a worker: follows this node's leadership, renews in memory and proposes
/// evictions through the log while leading.
struct LeaseWorker {
    node: Weak<Inner>,
}

impl Worker for LeaseWorker {
    fn name(&self) -> String {
        "lease-keeper".into()
    }

    fn run(self: Box<Self>, stop: StopSignal, status: WorkerStatus) -> BoxFuture<'static, Result<(), String>> {
        let Some(node) = upgrade(&self.node) else {
            return Box::pin(async { Ok(()) });
        };
        let (keeper, tick, leading) = (
            node.inner.leases.clone(),
            node.inner.config.lease_tick,
            node.inner.leading.subscribe(),
        );
        drop(node);
        let weak = self.node;
        let propose = move |command: Command| {
            let weak = weak.clone();
            let status = status.clone();
            async move {
                if let Some(node) = upgrade(&weak) {
                    status.activity();
                    match node.write(command).await {
                        Ok(written) => tracing::info!(
                            target: "registry::audit",
                            who = "lease-keeper",
                            revision = written.revision,
                            "expired leases evicted"
                        ),
                        Err(e) => {
                            status.error(&e);
                            tracing::warn!(error = %e, "eviction proposal failed; will retry next round")
                        }
                    }
                }
            }
        };
        Box::pin(async move {
            // Leadership may have come before this worker started: start from where it is.
            let mut leading = leading;
            let now_leading = *leading.borrow_and_update();
            keeper.set_leader_off_runtime(now_leading).await;
            keeper.run(tick, leading, propose, stop).await;
            Ok(())
        })
    }
}

/// Publishes this node's addresses in the registry until the stored record matches (and again
/// whenever it stops matching).
struct Announcer {
    node: Weak<Inner>,
}

impl Worker for Announcer {
    fn name(&self) -> String {
        "announcer".into()
    }

    fn run(self: Box<Self>, stop: StopSignal, status: WorkerStatus) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(announce_loop(self.node, stop, status))
    }
}

async fn announce_loop(weak: Weak<Inner>, mut stop: StopSignal, status: WorkerStatus) -> Result<(), String> {
    for attempt in 0u64.. {
        let pause = if attempt == 0 {
            Duration::from_millis(50)
        } else {
            Duration::from_secs(1)
        };
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return Ok(()),
            _ = tokio::time::sleep(pause) => {}
        }
        let Some(node) = upgrade(&weak) else { return Ok(()) };
        let record = node.own_record();
        let stored = node.inner.state.read().state.node(record.node_id).cloned();
        if stored.as_ref() == Some(&record) {
            continue;
        }
        if node.leader().is_none() {
            continue;
        }
        status.activity();
        if let Err(e) = node.write(Command::AnnounceNode(AnnounceNode { node: record })).await {
            status.error(&e);
            tracing::debug!(error = %e, "announcing addresses failed; retrying");
        }
    }
    Ok(())
}
