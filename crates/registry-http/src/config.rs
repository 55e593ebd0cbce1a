//! `registryd`'s configuration: flags, environment (`REGISTRY_*`) and a TOML file (`--config`),
//! in that order of precedence over built-in defaults, converted into validated [`Settings`].

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use clap::ValueEnum;
use registry_store::lease::GuardRule;
use registry_store::model::Tenant;
use registry_store::node::ClusterSecret;
use registry_store::node::NodeConfig;
use registry_store::node::PeerTls;
use registry_sync::config::validate_all;
use registry_sync::config::PeerFile;
use registry_sync::SyncSettings;
use serde::Deserialize;

use crate::auth::AuthFile;
use crate::auth::AuthSettings;
use crate::connections;
use crate::connections::ConnectionLimits;
use crate::eureka::mapping::EurekaSettings;
use crate::limits;
use crate::limits::LimitSettings;
use crate::servicecenter::ScSettings;
use crate::tls::PemFile;
use crate::ApiSettings;

/// Command line of `registryd`. Every flag can also be set by its `REGISTRY_*` variable or in the
/// TOML file under the same name with `_` for `-`.
#[derive(Debug, Default, Parser)]
#[command(
    name = "registryd",
    version,
    about = "A Raft-replicated service registry speaking Eureka and ServiceCenter"
)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, env = "REGISTRY_CONFIG")]
    pub config: Option<PathBuf>,
    /// This node's id (≥ 1). Default 1.
    #[arg(long, env = "REGISTRY_NODE_ID")]
    pub node_id: Option<u64>,
    /// Data directory (created if missing; its parent must exist). Default ./data.
    #[arg(long, env = "REGISTRY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address; repeat for several. Default 127.0.0.1:8761 and 127.0.0.1:30100.
    #[arg(long = "http", env = "REGISTRY_HTTP", value_delimiter = ',')]
    pub http: Vec<String>,
    /// Raft gRPC listen address. Default 127.0.0.1:7100.
    #[arg(long, env = "REGISTRY_RAFT")]
    pub raft: Option<String>,
    /// Raft address other nodes use to reach this one, when it differs from --raft (e.g. 0.0.0.0).
    #[arg(long, env = "REGISTRY_ADVERTISE_RAFT")]
    pub advertise_raft: Option<String>,
    /// Initial members: `1=HOST:PORT,2=HOST:PORT,3=HOST:PORT` (Raft addresses). Default: this node alone.
    #[arg(long, env = "REGISTRY_PEERS")]
    pub peers: Option<String>,
    /// Start empty and wait to be added with `POST /admin/members` on a member.
    #[arg(long, env = "REGISTRY_JOIN", num_args = 0..=1, default_missing_value = "true")]
    pub join: Option<bool>,
    /// Eureka-style self-preservation (hold evictions when renewals drop). Default true.
    #[arg(long, env = "REGISTRY_SELF_PRESERVATION", num_args = 0..=1, default_missing_value = "true")]
    pub self_preservation: Option<bool>,
    /// Share of expected renewals below which self-preservation holds evictions. Default 0.85.
    #[arg(long, env = "REGISTRY_RENEWAL_PERCENT_THRESHOLD")]
    pub renewal_percent_threshold: Option<f64>,
    /// The guard's rule: `mass-expiry` (per tenant, default) or `eureka` (Eureka's exactly).
    #[arg(long, env = "REGISTRY_EXPIRY_GUARD")]
    pub expiry_guard: Option<String>,
    /// Mass-expiry rule: share of a tenant's leases expiring within a minute that holds its
    /// evictions. Default 0.5.
    #[arg(long, env = "REGISTRY_MASS_EXPIRY_SHARE")]
    pub mass_expiry_share: Option<f64>,
    /// Mass-expiry rule: and how many at least. Default 10.
    #[arg(long, env = "REGISTRY_MASS_EXPIRY_MIN")]
    pub mass_expiry_min: Option<usize>,
    /// Mass-expiry rule: the longest hold, in seconds. Default 600.
    #[arg(long, env = "REGISTRY_MASS_EXPIRY_MAX_HOLD_SECS")]
    pub mass_expiry_max_hold_secs: Option<u64>,
    /// How often the leader checks leases, in ms. Default 1000.
    #[arg(long, env = "REGISTRY_LEASE_TICK_MS")]
    pub lease_tick_ms: Option<u64>,
    /// Snapshot after this many log entries. Default 50000.
    #[arg(long, env = "REGISTRY_SNAPSHOT_EVERY")]
    pub snapshot_every: Option<u64>,
    /// Raft heartbeat interval in ms. Default 50.
    #[arg(long, env = "REGISTRY_HEARTBEAT_MS")]
    pub heartbeat_ms: Option<u64>,
    /// How long a write or consistent read waits for the leader and a quorum before answering
    /// 503 (retryable), in ms. Default 10000.
    #[arg(long, env = "REGISTRY_WRITE_TIMEOUT_MS")]
    pub write_timeout_ms: Option<u64>,
    /// Minimum election timeout in ms. Default 150.
    #[arg(long, env = "REGISTRY_ELECTION_TIMEOUT_MIN_MS")]
    pub election_timeout_min_ms: Option<u64>,
    /// Maximum election timeout in ms. Default 300.
    #[arg(long, env = "REGISTRY_ELECTION_TIMEOUT_MAX_MS")]
    pub election_timeout_max_ms: Option<u64>,
    /// Tenant (`domain/project`) of apps registered through Eureka. Default `default/default`.
    #[arg(long, env = "REGISTRY_EUREKA_TENANT")]
    pub eureka_tenant: Option<String>,
    /// ServiceCenter appId under which Eureka apps appear. Default `eureka`.
    #[arg(long, env = "REGISTRY_EUREKA_APP_ID")]
    pub eureka_app_id: Option<String>,
    /// Smallest heartbeat interval a ServiceCenter instance may ask for, in seconds. Default 5.
    #[arg(long, env = "REGISTRY_SERVICECENTER_MIN_INTERVAL")]
    pub servicecenter_min_interval: Option<u32>,
    /// How often ServiceCenter WebSockets (heartbeat, watcher) ping, in seconds (1 to 3600, as
    /// ServiceCenter's `heartbeat.websocket.pingInterval`). Default 30.
    #[arg(long, env = "REGISTRY_SERVICECENTER_PING_INTERVAL")]
    pub servicecenter_ping_interval: Option<u64>,
    /// This cluster's name in federation hop paths; each federated cluster needs its own.
    /// Default `registry`.
    #[arg(long, env = "REGISTRY_CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// Secret shared by every node (at least 16 characters): nodes authenticate to each other
    /// with it and it signs ServiceCenter tokens. Needed once users are configured
    /// (`[[auth.users]]` in the file). Prefer the environment or the file to the command line.
    #[arg(long, env = "REGISTRY_CLUSTER_SECRET", hide_env_values = true)]
    pub cluster_secret: Option<String>,
    /// This node's certificate chain (PEM): every HTTP listener serves HTTPS, and with --tls-ca
    /// the Raft listener mutual TLS. Its names must include the hosts others reach it by.
    #[arg(long, env = "REGISTRY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "REGISTRY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The cluster's CA (PEM): nodes present certificates it signed to each other (mutual TLS
    /// on Raft) and trust it when calling each other's HTTPS listeners. Needs --tls-cert.
    #[arg(long, env = "REGISTRY_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Largest request body, in bytes (413; ServiceCenter 400001). Default 2 MiB.
    #[arg(long, env = "REGISTRY_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Most connections each HTTP listener holds open; past it, new ones are refused. Default 10000.
    #[arg(long, env = "REGISTRY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Most connections one client address holds open on a listener. Default 1000.
    #[arg(long, env = "REGISTRY_MAX_CONNECTIONS_PER_CLIENT")]
    pub max_connections_per_client: Option<usize>,
    /// Seconds a connection has to send a request's headers, and an idle keep-alive connection
    /// to start its next request. Default 20.
    #[arg(long, env = "REGISTRY_HEADER_READ_TIMEOUT_SECS")]
    pub header_read_timeout_secs: Option<u64>,
    /// Requests per second each client address may make (429 past it). Default: no limit.
    #[arg(long, env = "REGISTRY_RATE_LIMIT")]
    pub rate_limit: Option<u32>,
    /// Requests a client may make at once before its rate applies. Default: one second's worth.
    #[arg(long, env = "REGISTRY_RATE_BURST")]
    pub rate_burst: Option<u32>,
    /// Log format. Default human.
    #[arg(long, env = "REGISTRY_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log filter (`info`, `registry_store=debug,info`, ...). Default: `info`, openraft's warnings
    /// but not its replication's retries.
    #[arg(long, env = "REGISTRY_LOG_LEVEL")]
    pub log_level: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Peers in the file: a `1=HOST:PORT,...` string or a table `{ 1 = "HOST:PORT" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PeersSetting {
    Text(String),
    Table(BTreeMap<String, String>),
}

/// The TOML file: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub node_id: Option<u64>,
    pub data_dir: Option<PathBuf>,
    pub http: Option<Vec<String>>,
    pub raft: Option<String>,
    pub advertise_raft: Option<String>,
    pub peers: Option<PeersSetting>,
    pub join: Option<bool>,
    pub self_preservation: Option<bool>,
    pub renewal_percent_threshold: Option<f64>,
    pub expiry_guard: Option<String>,
    pub mass_expiry_share: Option<f64>,
    pub mass_expiry_min: Option<usize>,
    pub mass_expiry_max_hold_secs: Option<u64>,
    pub lease_tick_ms: Option<u64>,
    pub snapshot_every: Option<u64>,
    pub heartbeat_ms: Option<u64>,
    pub write_timeout_ms: Option<u64>,
    pub election_timeout_min_ms: Option<u64>,
    pub election_timeout_max_ms: Option<u64>,
    pub eureka_tenant: Option<String>,
    pub eureka_app_id: Option<String>,
    pub servicecenter_min_interval: Option<u32>,
    pub servicecenter_ping_interval: Option<u64>,
    pub cluster_name: Option<String>,
    /// Federation peers: one `[[sync]]` table each (file only).
    #[serde(default)]
    pub sync: Vec<PeerFile>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_ca: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    pub max_connections: Option<usize>,
    pub max_connections_per_client: Option<usize>,
    pub header_read_timeout_secs: Option<u64>,
    pub rate_limit: Option<u32>,
    pub rate_burst: Option<u32>,
    /// Users, roles and tenants, the cluster secret and the token lifetime (file only, but the
    /// secret, which the flag or environment may give).
    #[serde(default)]
    pub auth: AuthFile,
}

/// Validated settings for one `registryd` process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub node: NodeConfig,
    /// HTTP addresses to listen on.
    pub http: Vec<String>,
    /// Raft gRPC address to listen on.
    pub raft_listen: String,
    pub apis: ApiSettings,
    /// TLS of the HTTP listeners, when configured.
    pub http_tls: Option<Arc<rustls::ServerConfig>>,
    pub log_format: LogFormat,
    pub log_level: String,
}

/// The TLS files as configured.
struct TlsFiles {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca: Option<PathBuf>,
}

impl TlsFiles {
    /// The HTTP listeners' server configuration, and the node-to-node mutual TLS material.
    #[allow(clippy::type_complexity)]
    fn load(self) -> Result<(Option<Arc<rustls::ServerConfig>>, Option<PeerTls>), ConfigError> {
        let (cert, key) = match (self.cert, self.key) {
            (None, None) if self.ca.is_some() => {
                return Err(ConfigError::Invalid("tls_ca needs tls_cert and tls_key".into()));
            }
            (None, None) => return Ok((None, None)),
            (Some(cert), Some(key)) => (cert, key),
            _ => return Err(ConfigError::Invalid("give tls_cert and tls_key together".into())),
        };
        let invalid = |e: crate::tls::TlsError| ConfigError::Invalid(e.to_string());
        let cert = PemFile::read(&cert).map_err(invalid)?;
        let key = PemFile::read(&key).map_err(invalid)?;
        let server = crate::tls::server_config(&cert, &key).map_err(invalid)?;
        let peer = match self.ca {
            None => None,
            Some(ca) => {
                let ca = PemFile::read(&ca).map_err(invalid)?;
                ca.certificates().map_err(invalid)?;
                Some(PeerTls {
                    cert_pem: cert.bytes,
                    key_pem: key.bytes,
                    ca_pem: ca.bytes,
                })
            }
        };
        Ok((Some(server), peer))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid peers {0:?}: expected ID=HOST:PORT[,ID=HOST:PORT...]")]
    Peers(String),
    #[error("{0}")]
    Invalid(String),
}

/// Refuses an address that is not `HOST:PORT` (a host name or an IP address, IPv6 in brackets,
/// and a port from 1 to 65535), as a configuration error (exit 2) rather than a failure to bind
/// later (exit 1, which a supervisor would retry forever).
fn check_address(flag: &str, addr: &str) -> Result<(), ConfigError> {
    let invalid = || ConfigError::Invalid(format!("{flag} {addr:?} is not HOST:PORT (e.g. 127.0.0.1:8761)"));
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let (host, port) = addr.rsplit_once(':').ok_or_else(invalid)?;
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0);
    let host_ok = !host.is_empty()
        && host
            .split('.')
            .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    match port_ok && host_ok {
        true => Ok(()),
        false => Err(invalid()),
    }
}

/// The log filter when none is given: openraft's own warnings, but not its replication's, which
/// log five lines per retry twice a second while a member is down (the node logs one line when a
/// member goes and one when it is back instead; see the store's `member_watch`), nor its core's
/// notices of stale messages (a vote answer arriving after the election it was for ended: a
/// few per election, as three nodes form a cluster), which are expected; the core's errors stay.
/// Nor the engine's one complaint, an ERROR when a node asked to initialise the cluster finds a
/// peer's election got there first (nodes started together race so; the node carries on).
pub const DEFAULT_LOG_LEVEL: &str = "info,openraft=warn,openraft::core::raft_core=error,openraft::engine::engine_impl=off,openraft::replication=off,openraft::engine::handler::replication_handler=off";

/// Parses `1=a:1,2=b:2`.
pub fn parse_peers(text: &str) -> Result<BTreeMap<u64, String>, ConfigError> {
    let mut peers = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part.split_once('=').ok_or_else(|| ConfigError::Peers(text.into()))?;
        let id: u64 = id.trim().parse().map_err(|_| ConfigError::Peers(text.into()))?;
        let addr = addr.trim();
        if id == 0 || addr.is_empty() || !addr.contains(':') || peers.insert(id, addr.to_string()).is_some() {
            return Err(ConfigError::Peers(text.into()));
        }
    }
    Ok(peers)
}

impl Settings {
    /// Reads the file named by `cli.config` (if any) and merges: flags/env > file > defaults.
    pub fn load(cli: Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.clone(),
                    source: Box::new(source),
                })?
            }
        };
        Self::merge(cli, file)
    }

    pub fn merge(cli: Cli, file: FileConfig) -> Result<Self, ConfigError> {
        let node_id = cli.node_id.or(file.node_id).unwrap_or(1);
        let data_dir = cli
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        let http = if !cli.http.is_empty() {
            cli.http
        } else {
            file.http
                .unwrap_or_else(|| vec!["127.0.0.1:8761".into(), "127.0.0.1:30100".into()])
        };
        if http.is_empty() {
            return Err(ConfigError::Invalid("at least one HTTP address is needed".into()));
        }
        for addr in &http {
            check_address("--http", addr)?;
        }
        let raft_listen = cli.raft.or(file.raft).unwrap_or_else(|| "127.0.0.1:7100".into());
        check_address("--raft", &raft_listen)?;
        let advertise = cli
            .advertise_raft
            .or(file.advertise_raft)
            .unwrap_or_else(|| raft_listen.clone());
        check_address("--advertise-raft", &advertise)?;
        if advertise.starts_with("0.0.0.0:") || advertise.starts_with("[::]:") {
            return Err(ConfigError::Invalid(format!(
                "Raft listens on {raft_listen}: set --advertise-raft to the address peers can reach"
            )));
        }
        let peers = match (cli.peers, file.peers) {
            (Some(text), _) | (None, Some(PeersSetting::Text(text))) => parse_peers(&text)?,
            (None, Some(PeersSetting::Table(table))) => {
                let text = table
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",");
                parse_peers(&text)?
            }
            (None, None) => BTreeMap::new(),
        };
        let mut node = NodeConfig::new(node_id, data_dir, advertise);
        node.peers = peers;
        node.join = cli.join.or(file.join).unwrap_or(false);
        if let Some(sp) = cli.self_preservation.or(file.self_preservation) {
            node.lease_policy.self_preservation = sp;
        }
        if let Some(t) = cli.renewal_percent_threshold.or(file.renewal_percent_threshold) {
            node.lease_policy.renewal_percent_threshold = t;
        }
        if let Some(rule) = cli.expiry_guard.or(file.expiry_guard) {
            node.lease_policy.rule = match rule.as_str() {
                "mass-expiry" => GuardRule::MassExpiry,
                "eureka" => GuardRule::Eureka,
                other => {
                    return Err(ConfigError::Invalid(format!(
                        "expiry guard {other:?} must be mass-expiry or eureka"
                    )))
                }
            };
        }
        if let Some(share) = cli.mass_expiry_share.or(file.mass_expiry_share) {
            node.lease_policy.mass_expiry_share = share;
        }
        if let Some(n) = cli.mass_expiry_min.or(file.mass_expiry_min) {
            node.lease_policy.mass_expiry_min = n;
        }
        if let Some(secs) = cli.mass_expiry_max_hold_secs.or(file.mass_expiry_max_hold_secs) {
            node.lease_policy.max_hold_ms = secs.saturating_mul(1000);
        }
        if let Some(ms) = cli.lease_tick_ms.or(file.lease_tick_ms) {
            node.lease_tick = Duration::from_millis(ms.max(1));
        }
        if let Some(n) = cli.snapshot_every.or(file.snapshot_every) {
            node.snapshot_every = n;
        }
        if let Some(ms) = cli.heartbeat_ms.or(file.heartbeat_ms) {
            node.heartbeat_interval = Duration::from_millis(ms);
        }
        if let Some(ms) = cli.write_timeout_ms.or(file.write_timeout_ms) {
            node.write_timeout = Duration::from_millis(ms);
        }
        let (min, max) = node.election_timeout;
        node.election_timeout = (
            cli.election_timeout_min_ms
                .or(file.election_timeout_min_ms)
                .map_or(min, Duration::from_millis),
            cli.election_timeout_max_ms
                .or(file.election_timeout_max_ms)
                .map_or(max, Duration::from_millis),
        );
        node.validate().map_err(ConfigError::Invalid)?;
        let mut eureka = EurekaSettings::default();
        if let Some(t) = cli.eureka_tenant.or(file.eureka_tenant) {
            eureka.tenant = Tenant::parse(&t)
                .ok_or_else(|| ConfigError::Invalid(format!("eureka tenant {t:?} is not domain/project")))?;
        }
        if let Some(app_id) = cli.eureka_app_id.or(file.eureka_app_id) {
            if app_id.trim().is_empty() {
                return Err(ConfigError::Invalid("eureka app id must not be empty".into()));
            }
            eureka.app_id = app_id;
        }
        let mut servicecenter = ScSettings::default();
        if let Some(secs) = cli.servicecenter_min_interval.or(file.servicecenter_min_interval) {
            servicecenter.lease_limits.min_interval_secs = secs.max(1);
        }
        if let Some(secs) = cli.servicecenter_ping_interval.or(file.servicecenter_ping_interval) {
            if !(1..=3600).contains(&secs) {
                return Err(ConfigError::Invalid(format!(
                    "servicecenter ping interval {secs} s must be 1 to 3600"
                )));
            }
            servicecenter.ping_interval = Duration::from_secs(secs);
        }
        let cluster_name = cli
            .cluster_name
            .or(file.cluster_name)
            .unwrap_or_else(|| registry_sync::DEFAULT_CLUSTER_NAME.into());
        if !registry_sync::config::valid_name(&cluster_name) {
            return Err(ConfigError::Invalid(format!(
                "cluster name {cluster_name:?} must be 1 to 64 of letters, digits, '-', '_', '.'"
            )));
        }
        let sync = SyncSettings {
            peers: validate_all(file.sync).map_err(|e| ConfigError::Invalid(e.to_string()))?,
            cluster_name,
            eureka_app_id: eureka.app_id.clone(),
        };
        let cluster_secret = cli.cluster_secret.or(file.auth.cluster_secret.clone());
        let auth = AuthSettings::from_file(&file.auth, cluster_secret.as_deref()).map_err(ConfigError::Invalid)?;
        node.cluster_secret = cluster_secret.map(ClusterSecret);
        let tls = TlsFiles {
            cert: cli.tls_cert.or(file.tls_cert),
            key: cli.tls_key.or(file.tls_key),
            ca: cli.tls_ca.or(file.tls_ca),
        };
        let (http_tls, peer_tls) = tls.load()?;
        servicecenter.tls = http_tls.is_some();
        let limits = LimitSettings {
            max_body_bytes: cli
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(limits::DEFAULT_MAX_BODY_BYTES),
            connections: ConnectionLimits {
                max_connections: cli
                    .max_connections
                    .or(file.max_connections)
                    .unwrap_or(connections::DEFAULT_MAX_CONNECTIONS),
                max_per_client: cli
                    .max_connections_per_client
                    .or(file.max_connections_per_client)
                    .unwrap_or(connections::DEFAULT_MAX_PER_CLIENT),
                header_read_timeout: cli
                    .header_read_timeout_secs
                    .or(file.header_read_timeout_secs)
                    .map_or(connections::DEFAULT_HEADER_READ_TIMEOUT, Duration::from_secs),
            },
            rate_per_client: cli.rate_limit.or(file.rate_limit).and_then(NonZeroU32::new),
            rate_burst: cli.rate_burst.or(file.rate_burst).and_then(NonZeroU32::new),
        };
        let c = limits.connections;
        if limits.max_body_bytes < 1024 || c.max_connections == 0 || c.max_per_client == 0 {
            return Err(ConfigError::Invalid(
                "max_body_bytes must be at least 1024, max_connections and max_connections_per_client at least 1"
                    .into(),
            ));
        }
        if c.header_read_timeout < Duration::from_secs(1) {
            return Err(ConfigError::Invalid(
                "header_read_timeout_secs must be at least 1".into(),
            ));
        }
        node.tls = peer_tls.clone();
        Ok(Settings {
            node,
            http,
            raft_listen,
            apis: ApiSettings {
                eureka,
                servicecenter,
                sync,
                auth,
                peer_tls: peer_tls.map(|t| t.ca_pem),
                tls: http_tls.is_some(),
                limits,
            },
            http_tls,
            log_format: cli.log_format.or(file.log_format).unwrap_or_default(),
            log_level: cli
                .log_level
                .or(file.log_level)
                .unwrap_or_else(|| DEFAULT_LOG_LEVEL.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_single_node_on_the_replaced_servers_ports() {
        let s = Settings::merge(Cli::default(), FileConfig::default()).unwrap();
        assert_eq!(s.node.node_id, 1);
        assert_eq!(s.http, vec!["127.0.0.1:8761", "127.0.0.1:30100"]);
        assert_eq!(s.raft_listen, "127.0.0.1:7100");
        assert_eq!(s.node.data_dir, PathBuf::from("./data"));
        assert!(s.node.peers.is_empty());
        assert!(s.node.lease_policy.self_preservation);
    }

    #[test]
    fn flags_override_the_file() {
        let file: FileConfig = toml::from_str(
            r#"
            node_id = 2
            raft = "127.0.0.1:7102"
            peers = { 1 = "127.0.0.1:7101", 2 = "127.0.0.1:7102" }
            self_preservation = false
            "#,
        )
        .unwrap();
        let cli = Cli {
            http: vec!["127.0.0.1:9000".into()],
            ..Cli::default()
        };
        let s = Settings::merge(cli, file).unwrap();
        assert_eq!(s.node.node_id, 2);
        assert_eq!(s.http, vec!["127.0.0.1:9000"]);
        assert_eq!(s.node.peers.len(), 2);
        assert!(!s.node.lease_policy.self_preservation);
    }

    #[test]
    fn boolean_flags_work_bare_or_with_a_value() {
        let cli = Cli::try_parse_from(["registryd", "--join", "--self-preservation", "false"]).unwrap();
        assert_eq!(cli.join, Some(true));
        assert_eq!(cli.self_preservation, Some(false));
    }

    #[test]
    fn bad_settings_are_explained() {
        assert!(matches!(parse_peers("1=a:1,x"), Err(ConfigError::Peers(_))));
        assert!(matches!(parse_peers("0=a:1"), Err(ConfigError::Peers(_))));
        assert!(matches!(parse_peers("1=a:1,1=b:2"), Err(ConfigError::Peers(_))));
        let cli = Cli {
            node_id: Some(3),
            peers: Some("1=127.0.0.1:1,2=127.0.0.1:2".into()),
            ..Cli::default()
        };
        let err = Settings::merge(cli, FileConfig::default()).unwrap_err();
        assert!(err.to_string().contains("does not contain this node"), "{err}");
        assert!(toml::from_str::<FileConfig>("nodeid = 1").is_err());
    }
}
