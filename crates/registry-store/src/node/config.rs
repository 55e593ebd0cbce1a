//! What a node needs to start, validated before use.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::lease::LeasePolicy;
use crate::transport::auth::ClusterSecret;
use crate::transport::auth::MemberTls;

/// A node's settings (the binary builds this from flags, environment and the TOML file).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's id, ≥ 1, unique in the cluster.
    pub node_id: u64,
    /// Where the log, state and snapshots live.
    pub data_dir: PathBuf,
    /// The Raft gRPC address other nodes reach this one at.
    pub raft_addr: String,
    /// This node's HTTP addresses, published to the cluster for the dashboard and redirects.
    pub http_addrs: Vec<String>,
    /// Initial members (id → Raft address). Empty: a single-node cluster of this node, unless
    /// `join` is set. Used only on first start; restarts reuse the stored membership.
    pub peers: BTreeMap<u64, String>,
    /// Start empty and wait to be added by an existing member (`POST /admin/members`).
    pub join: bool,
    /// Raft heartbeat interval. Default 50 ms.
    pub heartbeat_interval: Duration,
    /// Election timeout range. Default 150–300 ms: three missed heartbeats in a row are needed to
    /// start an election. openraft 0.9 refuses votes for as long as the maximum after the last
    /// heartbeat (its leader lease) and campaigns only after the lease plus a random timeout in
    /// the range; a follower that finds the leader's process gone campaigns as soon as the lease
    /// ends (see `campaign`), so a crashed leader is replaced in about the maximum plus 50 ms.
    pub election_timeout: (Duration, Duration),
    /// Build a snapshot (and purge the log behind it) after this many new entries. Default 50 000.
    pub snapshot_every: u64,
    /// Log entries kept behind a snapshot so slightly-behind followers need no snapshot. Default 5 000.
    pub keep_logs_behind_snapshot: u64,
    /// Lease expiry and self-preservation.
    pub lease_policy: LeasePolicy,
    /// How often the leader checks for expired leases. Default 1 s.
    pub lease_tick: Duration,
    /// Changes kept for late change-feed subscribers. Default 100 000.
    pub feed_history: usize,
    /// How long a write may wait for a leader and a quorum. Default 10 s.
    pub write_timeout: Duration,
    /// Shared by every node: with it, node-to-node gRPC calls carry a credential derived from
    /// it and calls without it are refused. `None`: nodes trust their network.
    pub cluster_secret: Option<ClusterSecret>,
    /// Mutual TLS between nodes: this node's certificate and key, and the cluster's CA.
    pub tls: Option<MemberTls>,
}

impl NodeConfig {
    /// Defaults for node `node_id` with data in `data_dir`.
    pub fn new(node_id: u64, data_dir: impl Into<PathBuf>, raft_addr: impl Into<String>) -> Self {
        Self {
            node_id,
            data_dir: data_dir.into(),
            raft_addr: raft_addr.into(),
            http_addrs: Vec::new(),
            peers: BTreeMap::new(),
            join: false,
            heartbeat_interval: Duration::from_millis(50),
            election_timeout: (Duration::from_millis(150), Duration::from_millis(300)),
            snapshot_every: 50_000,
            keep_logs_behind_snapshot: 5_000,
            lease_policy: LeasePolicy::default(),
            lease_tick: Duration::from_secs(1),
            feed_history: crate::feed::DEFAULT_HISTORY,
            write_timeout: Duration::from_secs(10),
            cluster_secret: None,
            tls: None,
        }
    }

    /// Checks the settings make sense together.
    pub fn validate(&self) -> Result<(), String> {
        if self.node_id == 0 {
            return Err("node id must be at least 1".into());
        }
        if !self.peers.is_empty() && !self.peers.contains_key(&self.node_id) {
            return Err(format!(
                "the peer list does not contain this node's id {}",
                self.node_id
            ));
        }
        if let Some(addr) = self.peers.get(&self.node_id) {
            if addr != &self.raft_addr {
                return Err(format!(
                    "this node's peer entry {addr} differs from its Raft address {}",
                    self.raft_addr
                ));
            }
        }
        if self.election_timeout.0 <= self.heartbeat_interval || self.election_timeout.1 <= self.election_timeout.0 {
            return Err("election timeouts must exceed the heartbeat interval, and max must exceed min".into());
        }
        if self.write_timeout <= self.election_timeout.1 {
            return Err("the write timeout must exceed the maximum election timeout".into());
        }
        if self.snapshot_every == 0 {
            return Err("snapshot interval must be at least 1 entry".into());
        }
        if !(0.0..=1.0).contains(&self.lease_policy.renewal_percent_threshold) {
            return Err("renewal percent threshold must be between 0 and 1".into());
        }
        if !(0.0..=1.0).contains(&self.lease_policy.mass_expiry_share) {
            return Err("mass expiry share must be between 0 and 1".into());
        }
        Ok(())
    }

    /// The initial members: the peer list, or just this node.
    pub fn initial_members(&self) -> BTreeMap<u64, String> {
        if self.peers.is_empty() {
            BTreeMap::from([(self.node_id, self.raft_addr.clone())])
        } else {
            self.peers.clone()
        }
    }
}
