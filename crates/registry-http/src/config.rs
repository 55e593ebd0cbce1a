//! `registryd`'s configuration: one [`Options`] struct read as flags, environment (`REGISTRY_*`)
//! and a TOML file (`--config`), in that order of precedence over its defaults, layered by
//! figment and converted into validated [`Settings`].

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use clap::ValueEnum;
use figment::providers::Format;
use figment::providers::Serialized;
use figment::providers::Toml;
use figment::Figment;
use registry_store::lease::GuardRule;
use registry_store::model::Tenant;
use registry_store::node::NodeConfig;
use registry_store::transport::auth::ClusterSecret;
use registry_store::transport::auth::MemberTls;
use registry_sync::config::validate_all;
use registry_sync::config::PeerFile;
use registry_sync::SyncSettings;
use serde::Deserialize;
use serde::Serialize;

use crate::auth::AuthFile;
use crate::auth::AuthSettings;
use crate::connections;
use crate::connections::ConnectionLimits;
use crate::eureka::mapping::EurekaSettings;
use crate::limits;
use crate::limits::LimitSettings;
use crate::nacos::mapping::NacosSettings;
use crate::servicecenter::ScSettings;
use crate::tls::PemFile;
use crate::ApiSettings;

/// Every setting of `registryd`, once: a flag (clap, which also reads its `REGISTRY_*` variable)
/// and a key of the TOML file (serde) under the same name with `_` for `-`. A field left `None`
/// is not given at that layer; [`Options::defaults`] is the bottom layer (see [`Settings::load`]).
#[derive(Debug, Default, Parser, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[command(
    name = "registryd",
    version,
    about = "A Raft-replicated service registry speaking Eureka and ServiceCenter"
)]
pub struct Options {
    /// TOML configuration file.
    #[arg(long, env = "REGISTRY_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// This node's id (≥ 1). Default 1.
    #[arg(long, env = "REGISTRY_NODE_ID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<u64>,
    /// Data directory (created if missing; its parent must exist). Default ./data.
    #[arg(long, env = "REGISTRY_DATA_DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address; repeat for several. Default 127.0.0.1:8761, 127.0.0.1:30100 and 127.0.0.1:8848.
    #[arg(long = "http", env = "REGISTRY_HTTP", value_delimiter = ',')]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<String>,
    /// Nacos 2.x gRPC: beside each HTTP listener, a gRPC listener at its port + this offset
    /// (9848 beside 8848, where Nacos clients look). 0 turns it off. Default 1000.
    #[arg(long, env = "REGISTRY_NACOS_GRPC_OFFSET")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nacos_grpc_offset: Option<u16>,
    /// Raft gRPC listen address. Default 127.0.0.1:7100.
    #[arg(long, env = "REGISTRY_RAFT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft: Option<String>,
    /// Raft address other nodes use to reach this one, when it differs from --raft (e.g. 0.0.0.0).
    #[arg(long, env = "REGISTRY_ADVERTISE_RAFT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise_raft: Option<String>,
    /// Initial members: `1=HOST:PORT,2=HOST:PORT,3=HOST:PORT` (Raft addresses). Default: this node alone.
    #[arg(long, env = "REGISTRY_PEERS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peers: Option<PeersSetting>,
    /// Start empty and wait to be added with `POST /admin/members` on a member.
    #[arg(long, env = "REGISTRY_JOIN", num_args = 0..=1, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join: Option<bool>,
    /// Eureka-style self-preservation (hold evictions when renewals drop). Default true.
    #[arg(long, env = "REGISTRY_SELF_PRESERVATION", num_args = 0..=1, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_preservation: Option<bool>,
    /// Share of expected renewals below which self-preservation holds evictions. Default 0.85.
    #[arg(long, env = "REGISTRY_RENEWAL_PERCENT_THRESHOLD")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewal_percent_threshold: Option<f64>,
    /// The guard's rule: `mass-expiry` (per tenant, default) or `eureka` (Eureka's exactly).
    #[arg(long, env = "REGISTRY_EXPIRY_GUARD")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry_guard: Option<String>,
    /// Mass-expiry rule: share of a tenant's leases expiring within a minute that holds its
    /// evictions. Default 0.5.
    #[arg(long, env = "REGISTRY_MASS_EXPIRY_SHARE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mass_expiry_share: Option<f64>,
    /// Mass-expiry rule: and how many at least. Default 10.
    #[arg(long, env = "REGISTRY_MASS_EXPIRY_MIN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mass_expiry_min: Option<usize>,
    /// Mass-expiry rule: the longest hold, in seconds. Default 600.
    #[arg(long, env = "REGISTRY_MASS_EXPIRY_MAX_HOLD_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mass_expiry_max_hold_secs: Option<u64>,
    /// How often the leader checks leases, in ms. Default 1000.
    #[arg(long, env = "REGISTRY_LEASE_TICK_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_tick_ms: Option<u64>,
    /// Snapshot after this many log entries. Default 50000.
    #[arg(long, env = "REGISTRY_SNAPSHOT_EVERY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_every: Option<u64>,
    /// Raft heartbeat interval in ms. Default 50.
    #[arg(long, env = "REGISTRY_HEARTBEAT_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_ms: Option<u64>,
    /// How long a write or consistent read waits for the leader and a quorum before answering
    /// 503 (retryable), in ms. Default 10000.
    #[arg(long, env = "REGISTRY_WRITE_TIMEOUT_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_timeout_ms: Option<u64>,
    /// Minimum election timeout in ms. Default 150.
    #[arg(long, env = "REGISTRY_ELECTION_TIMEOUT_MIN_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub election_timeout_min_ms: Option<u64>,
    /// Maximum election timeout in ms. Default 300.
    #[arg(long, env = "REGISTRY_ELECTION_TIMEOUT_MAX_MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub election_timeout_max_ms: Option<u64>,
    /// Tenant (`domain/project`) of apps registered through Eureka. Default `default/default`.
    #[arg(long, env = "REGISTRY_EUREKA_TENANT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eureka_tenant: Option<String>,
    /// ServiceCenter appId under which Eureka apps appear. Default `eureka`.
    #[arg(long, env = "REGISTRY_EUREKA_APP_ID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eureka_app_id: Option<String>,
    /// Smallest heartbeat interval a ServiceCenter instance may ask for, in seconds. Default 5.
    #[arg(long, env = "REGISTRY_SERVICECENTER_MIN_INTERVAL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub servicecenter_min_interval: Option<u32>,
    /// How often ServiceCenter WebSockets (heartbeat, watcher) ping, in seconds (1 to 3600, as
    /// ServiceCenter's `heartbeat.websocket.pingInterval`). Default 30.
    #[arg(long, env = "REGISTRY_SERVICECENTER_PING_INTERVAL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub servicecenter_ping_interval: Option<u64>,
    /// This cluster's name in federation hop paths; each federated cluster needs its own.
    /// Default `registry`.
    #[arg(long, env = "REGISTRY_CLUSTER_NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Secret shared by every node (at least 16 characters): nodes authenticate to each other
    /// with it and it signs ServiceCenter tokens. Needed once users are configured
    /// (`[[auth.users]]` in the file). Prefer the environment or the file to the command line.
    /// In the file: `auth.cluster_secret`.
    #[arg(long, env = "REGISTRY_CLUSTER_SECRET", hide_env_values = true)]
    #[serde(skip)]
    pub cluster_secret: Option<String>,
    /// This node's certificate chain (PEM): every HTTP listener serves HTTPS, and with --tls-ca
    /// the Raft listener mutual TLS. Its names must include the hosts others reach it by.
    #[arg(long, env = "REGISTRY_TLS_CERT", requires = "tls_key")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "REGISTRY_TLS_KEY", requires = "tls_cert")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// The cluster's CA (PEM): nodes present certificates it signed to each other (mutual TLS
    /// on Raft) and trust it when calling each other's HTTPS listeners. Needs --tls-cert.
    #[arg(long, env = "REGISTRY_TLS_CA")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// Largest request body, in bytes (413; ServiceCenter 400001). Default 2 MiB.
    #[arg(long, env = "REGISTRY_MAX_BODY_BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<usize>,
    /// Most connections each HTTP listener holds open; past it, new ones are refused. Default 10000.
    #[arg(long, env = "REGISTRY_MAX_CONNECTIONS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Most connections one client address holds open on a listener. Default 1000.
    #[arg(long, env = "REGISTRY_MAX_CONNECTIONS_PER_CLIENT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections_per_client: Option<usize>,
    /// Seconds a connection has to send a request's headers, and an idle keep-alive connection
    /// to start its next request. Default 20.
    #[arg(long, env = "REGISTRY_HEADER_READ_TIMEOUT_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_read_timeout_secs: Option<u64>,
    /// Requests per second each client address may make (429 past it). Default: no limit.
    #[arg(long, env = "REGISTRY_RATE_LIMIT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
    /// Requests a client may make at once before its rate applies. Default: one second's worth.
    #[arg(long, env = "REGISTRY_RATE_BURST")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_burst: Option<u32>,
    /// Log format. Default human.
    #[arg(long, env = "REGISTRY_LOG_FORMAT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Log filter (`info`, `registry_store=debug,info`, ...). Default: `info`, openraft's warnings
    /// but not its replication's retries.
    #[arg(long, env = "REGISTRY_LOG_LEVEL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// Federation peers: one `[[sync]]` table each (file only).
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub sync: Vec<PeerFile>,
    /// Users, roles and tenants, the cluster secret and the token lifetime (file only, but the
    /// secret, which the flag or environment may give).
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub auth: AuthFile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Peers: a `1=HOST:PORT,...` string (flag, environment or file) or, in the file only, a table
/// `{ 1 = "HOST:PORT" }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PeersSetting {
    Text(String),
    Table(BTreeMap<String, String>),
}

impl From<String> for PeersSetting {
    fn from(text: String) -> Self {
        PeersSetting::Text(text)
    }
}

impl Options {
    /// The bottom layer: every default, taken from the types that own it.
    pub fn defaults() -> Self {
        let node = NodeConfig::new(1, "./data", "127.0.0.1:7100");
        let policy = &node.lease_policy;
        let eureka = EurekaSettings::default();
        let servicecenter = ScSettings::default();
        Options {
            node_id: Some(node.node_id),
            data_dir: Some(node.data_dir.clone()),
            http: vec![
                "127.0.0.1:8761".into(),
                "127.0.0.1:30100".into(),
                "127.0.0.1:8848".into(),
            ],
            nacos_grpc_offset: Some(crate::nacos::grpc::DEFAULT_PORT_OFFSET),
            raft: Some(node.raft_addr.clone()),
            join: Some(node.join),
            self_preservation: Some(policy.self_preservation),
            renewal_percent_threshold: Some(policy.renewal_percent_threshold),
            expiry_guard: Some(guard_rule_name(policy.rule).into()),
            mass_expiry_share: Some(policy.mass_expiry_share),
            mass_expiry_min: Some(policy.mass_expiry_min),
            mass_expiry_max_hold_secs: Some(policy.max_hold_ms / 1000),
            lease_tick_ms: Some(node.lease_tick.as_millis() as u64),
            snapshot_every: Some(node.snapshot_every),
            heartbeat_ms: Some(node.heartbeat_interval.as_millis() as u64),
            write_timeout_ms: Some(node.write_timeout.as_millis() as u64),
            election_timeout_min_ms: Some(node.election_timeout.0.as_millis() as u64),
            election_timeout_max_ms: Some(node.election_timeout.1.as_millis() as u64),
            eureka_tenant: Some(eureka.tenant.to_string()),
            eureka_app_id: Some(eureka.app_id),
            servicecenter_min_interval: Some(servicecenter.lease_limits.min_interval_secs),
            servicecenter_ping_interval: Some(servicecenter.ping_interval.as_secs()),
            cluster_name: Some(registry_sync::DEFAULT_CLUSTER_NAME.into()),
            max_body_bytes: Some(limits::DEFAULT_MAX_BODY_BYTES),
            max_connections: Some(connections::DEFAULT_MAX_CONNECTIONS),
            max_connections_per_client: Some(connections::DEFAULT_MAX_PER_CLIENT),
            header_read_timeout_secs: Some(connections::DEFAULT_HEADER_READ_TIMEOUT.as_secs()),
            log_format: Some(LogFormat::default()),
            log_level: Some(DEFAULT_LOG_LEVEL.into()),
            ..Options::default()
        }
    }
}

fn guard_rule_name(rule: GuardRule) -> &'static str {
    match rule {
        GuardRule::MassExpiry => "mass-expiry",
        GuardRule::Eureka => "eureka",
    }
}

/// A setting the defaults layer gives: absent only if that layer lost it.
fn layered<T>(value: Option<T>, key: &str) -> Result<T, ConfigError> {
    value.ok_or_else(|| ConfigError::Invalid(format!("{key} has no value")))
}

/// Validated settings for one `registryd` process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub node: NodeConfig,
    /// HTTP addresses to listen on.
    pub http: Vec<String>,
    /// Nacos 2.x gRPC listeners: each HTTP listener's port + this; 0 for none.
    pub nacos_grpc_offset: u16,
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
    fn load(self) -> Result<(Option<Arc<rustls::ServerConfig>>, Option<MemberTls>), ConfigError> {
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
                Some(MemberTls {
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
    /// Layers the settings, each over the one before (figment): [`Options::defaults`], the TOML
    /// file named by `--config` (if any), then what `flags` hold (clap's flags, each over its
    /// `REGISTRY_*` variable); then validates them.
    pub fn load(flags: Options) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Options::defaults()));
        if let Some(path) = &flags.config {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            // Parsed by toml directly first: its errors name the line and the unknown key.
            toml::from_str::<Options>(&text).map_err(|source| ConfigError::Parse {
                path: path.clone(),
                source: Box::new(source),
            })?;
            figment = figment.merge(Toml::string(&text));
        }
        let options = Self::layer(figment, flags)?;
        Self::from_options(options)
    }

    /// `flags` over `figment`'s layers. The two fields that are no file keys (`config`, and
    /// `cluster_secret`, which the file holds as `auth.cluster_secret`) come from `flags` alone.
    fn layer(figment: Figment, flags: Options) -> Result<Options, ConfigError> {
        let mut options: Options = figment
            .merge(Serialized::defaults(&flags))
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        options.config = flags.config;
        options.cluster_secret = flags.cluster_secret;
        Ok(options)
    }

    /// Settings from every layer as [`Options`] (`defaults()` under a file under flags).
    #[cfg(test)]
    fn layered(flags: Options, file: &str) -> Result<Self, ConfigError> {
        let figment = Figment::from(Serialized::defaults(Options::defaults())).merge(Toml::string(file));
        Self::from_options(Self::layer(figment, flags)?)
    }

    /// Validates the layered options and converts them into what each part takes.
    pub fn from_options(o: Options) -> Result<Self, ConfigError> {
        let node_id = layered(o.node_id, "node_id")?;
        let data_dir = layered(o.data_dir, "data_dir")?;
        let http = o.http;
        if http.is_empty() {
            return Err(ConfigError::Invalid("at least one HTTP address is needed".into()));
        }
        for addr in &http {
            check_address("--http", addr)?;
        }
        let raft_listen = layered(o.raft, "raft")?;
        check_address("--raft", &raft_listen)?;
        let advertise = o.advertise_raft.unwrap_or_else(|| raft_listen.clone());
        check_address("--advertise-raft", &advertise)?;
        if advertise.starts_with("0.0.0.0:") || advertise.starts_with("[::]:") {
            return Err(ConfigError::Invalid(format!(
                "Raft listens on {raft_listen}: set --advertise-raft to the address peers can reach"
            )));
        }
        let peers = match o.peers {
            Some(PeersSetting::Text(text)) => parse_peers(&text)?,
            Some(PeersSetting::Table(table)) => {
                let text = table
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",");
                parse_peers(&text)?
            }
            None => BTreeMap::new(),
        };
        let mut node = NodeConfig::new(node_id, data_dir, advertise);
        node.peers = peers;
        node.join = layered(o.join, "join")?;
        let policy = &mut node.lease_policy;
        policy.self_preservation = layered(o.self_preservation, "self_preservation")?;
        policy.renewal_percent_threshold = layered(o.renewal_percent_threshold, "renewal_percent_threshold")?;
        policy.rule = match layered(o.expiry_guard, "expiry_guard")?.as_str() {
            "mass-expiry" => GuardRule::MassExpiry,
            "eureka" => GuardRule::Eureka,
            other => {
                return Err(ConfigError::Invalid(format!(
                    "expiry guard {other:?} must be mass-expiry or eureka"
                )))
            }
        };
        policy.mass_expiry_share = layered(o.mass_expiry_share, "mass_expiry_share")?;
        policy.mass_expiry_min = layered(o.mass_expiry_min, "mass_expiry_min")?;
        policy.max_hold_ms = layered(o.mass_expiry_max_hold_secs, "mass_expiry_max_hold_secs")?.saturating_mul(1000);
        node.lease_tick = Duration::from_millis(layered(o.lease_tick_ms, "lease_tick_ms")?.max(1));
        node.snapshot_every = layered(o.snapshot_every, "snapshot_every")?;
        node.heartbeat_interval = Duration::from_millis(layered(o.heartbeat_ms, "heartbeat_ms")?);
        node.write_timeout = Duration::from_millis(layered(o.write_timeout_ms, "write_timeout_ms")?);
        node.election_timeout = (
            Duration::from_millis(layered(o.election_timeout_min_ms, "election_timeout_min_ms")?),
            Duration::from_millis(layered(o.election_timeout_max_ms, "election_timeout_max_ms")?),
        );
        node.validate().map_err(ConfigError::Invalid)?;
        let mut eureka = EurekaSettings::default();
        let tenant = layered(o.eureka_tenant, "eureka_tenant")?;
        eureka.tenant = Tenant::parse(&tenant)
            .ok_or_else(|| ConfigError::Invalid(format!("eureka tenant {tenant:?} is not domain/project")))?;
        let app_id = layered(o.eureka_app_id, "eureka_app_id")?;
        if app_id.trim().is_empty() {
            return Err(ConfigError::Invalid("eureka app id must not be empty".into()));
        }
        eureka.app_id = app_id;
        let mut servicecenter = ScSettings::default();
        servicecenter.lease_limits.min_interval_secs =
            layered(o.servicecenter_min_interval, "servicecenter_min_interval")?.max(1);
        let ping = layered(o.servicecenter_ping_interval, "servicecenter_ping_interval")?;
        if !(1..=3600).contains(&ping) {
            return Err(ConfigError::Invalid(format!(
                "servicecenter ping interval {ping} s must be 1 to 3600"
            )));
        }
        servicecenter.ping_interval = Duration::from_secs(ping);
        let cluster_name = layered(o.cluster_name, "cluster_name")?;
        if !registry_sync::config::valid_name(&cluster_name) {
            return Err(ConfigError::Invalid(format!(
                "cluster name {cluster_name:?} must be 1 to 64 of letters, digits, '-', '_', '.'"
            )));
        }
        let sync = SyncSettings {
            peers: validate_all(o.sync).map_err(|e| ConfigError::Invalid(e.to_string()))?,
            cluster_name,
            eureka_app_id: eureka.app_id.clone(),
        };
        let cluster_secret = o.cluster_secret.or(o.auth.cluster_secret.clone());
        let auth = AuthSettings::from_file(&o.auth, cluster_secret.as_deref()).map_err(ConfigError::Invalid)?;
        node.cluster_secret = cluster_secret.map(ClusterSecret);
        let tls = TlsFiles {
            cert: o.tls_cert,
            key: o.tls_key,
            ca: o.tls_ca,
        };
        let (http_tls, peer_tls) = tls.load()?;
        servicecenter.tls = http_tls.is_some();
        let limits = LimitSettings {
            max_body_bytes: layered(o.max_body_bytes, "max_body_bytes")?,
            connections: ConnectionLimits {
                max_connections: layered(o.max_connections, "max_connections")?,
                max_per_client: layered(o.max_connections_per_client, "max_connections_per_client")?,
                header_read_timeout: Duration::from_secs(layered(
                    o.header_read_timeout_secs,
                    "header_read_timeout_secs",
                )?),
            },
            rate_per_client: o.rate_limit.and_then(NonZeroU32::new),
            rate_burst: o.rate_burst.and_then(NonZeroU32::new),
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
            nacos_grpc_offset: layered(o.nacos_grpc_offset, "nacos_grpc_offset")?,
            raft_listen,
            apis: ApiSettings {
                // Nacos's public namespace and default group are Eureka's tenant and app.
                nacos: NacosSettings {
                    public_tenant: eureka.tenant.clone(),
                    default_group_app: eureka.app_id.clone(),
                    ..NacosSettings::default()
                },
                eureka,
                servicecenter,
                sync,
                auth,
                peer_tls: peer_tls.map(|t| t.ca_pem),
                tls: http_tls.is_some(),
                limits,
            },
            http_tls,
            log_format: layered(o.log_format, "log_format")?,
            log_level: layered(o.log_level, "log_level")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_single_node_on_the_replaced_servers_ports() {
        let s = Settings::layered(Options::default(), "").unwrap();
        assert_eq!(s.node.node_id, 1);
        assert_eq!(s.http, vec!["127.0.0.1:8761", "127.0.0.1:30100", "127.0.0.1:8848"]);
        assert_eq!(s.raft_listen, "127.0.0.1:7100");
        assert_eq!(s.nacos_grpc_offset, 1000);
        assert_eq!(s.node.data_dir, PathBuf::from("./data"));
        assert!(s.node.peers.is_empty());
        assert!(s.node.lease_policy.self_preservation);
        assert_eq!(s.log_level, DEFAULT_LOG_LEVEL);
        assert_eq!(s.apis.limits.max_body_bytes, limits::DEFAULT_MAX_BODY_BYTES);
    }

    #[test]
    fn flags_override_the_file() {
        let file = r#"
            node_id = 2
            raft = "127.0.0.1:7102"
            http = ["127.0.0.1:9001"]
            peers = { 1 = "127.0.0.1:7101", 2 = "127.0.0.1:7102" }
            self_preservation = false
            lease_tick_ms = 250
            nacos_grpc_offset = 0
            "#;
        let flags = Options {
            http: vec!["127.0.0.1:9000".into()],
            lease_tick_ms: Some(500),
            ..Options::default()
        };
        let s = Settings::layered(flags, file).unwrap();
        assert_eq!(s.node.node_id, 2);
        assert_eq!(s.http, vec!["127.0.0.1:9000"]);
        assert_eq!(s.node.peers.len(), 2);
        assert!(!s.node.lease_policy.self_preservation);
        assert_eq!(s.node.lease_tick, Duration::from_millis(500));
        assert_eq!(s.nacos_grpc_offset, 0, "the file turns Nacos gRPC off");
    }

    #[test]
    fn a_flag_string_replaces_a_file_table_of_peers() {
        let file = r#"peers = { 1 = "127.0.0.1:7100", 2 = "127.0.0.1:7102" }"#;
        let flags = Options {
            peers: Some(PeersSetting::Text("1=127.0.0.1:7100".into())),
            ..Options::default()
        };
        let s = Settings::layered(flags, file).unwrap();
        assert_eq!(s.node.peers.len(), 1);
    }

    #[test]
    fn the_cluster_secret_flag_overrides_the_file_and_is_no_top_level_key() {
        let file = r#"
            [auth]
            cluster_secret = "from-the-file-0123456789"
            "#;
        let flags = Options {
            cluster_secret: Some("from-the-flag-0123456789".into()),
            ..Options::default()
        };
        let s = Settings::layered(flags, file).unwrap();
        assert_eq!(s.node.cluster_secret.unwrap().0, "from-the-flag-0123456789");
        assert!(toml::from_str::<Options>(r#"cluster_secret = "x""#).is_err());
        assert!(toml::from_str::<Options>(r#"config = "x.toml""#).is_err());
    }

    #[test]
    fn boolean_flags_work_bare_or_with_a_value() {
        let cli = Options::try_parse_from(["registryd", "--join", "--self-preservation", "false"]).unwrap();
        assert_eq!(cli.join, Some(true));
        assert_eq!(cli.self_preservation, Some(false));
    }

    #[test]
    fn bad_settings_are_explained() {
        assert!(matches!(parse_peers("1=a:1,x"), Err(ConfigError::Peers(_))));
        assert!(matches!(parse_peers("0=a:1"), Err(ConfigError::Peers(_))));
        assert!(matches!(parse_peers("1=a:1,1=b:2"), Err(ConfigError::Peers(_))));
        let flags = Options {
            node_id: Some(3),
            peers: Some(PeersSetting::Text("1=127.0.0.1:1,2=127.0.0.1:2".into())),
            ..Options::default()
        };
        let err = Settings::layered(flags, "").unwrap_err();
        assert!(err.to_string().contains("does not contain this node"), "{err}");
        assert!(toml::from_str::<Options>("nodeid = 1").is_err());
        let err = Settings::layered(Options::default(), "http = []").unwrap_err();
        assert!(err.to_string().contains("at least one HTTP address"), "{err}");
    }

    /// The backticked parts of a Markdown table cell.
    fn ticked(cell: &str) -> Vec<String> {
        cell.split('`').skip(1).step_by(2).map(str::to_string).collect()
    }

    /// Rows of README's configuration table: (flags, environment variables, TOML keys).
    fn readme_rows() -> Vec<(Vec<String>, Vec<String>, Vec<String>)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
        let readme = std::fs::read_to_string(&path).unwrap();
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .expect("a Configuration section");
        let rows: Vec<_> = section
            .lines()
            .skip_while(|l| !l.starts_with("| Flag | Environment | TOML key |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|row| {
                let cells: Vec<&str> = row.split('|').collect();
                (ticked(cells[1]), ticked(cells[2]), ticked(cells[3]))
            })
            .collect();
        assert!(rows.len() > 20, "the table was not found in {}", path.display());
        rows
    }

    /// The TOML keys [`Options`] accepts, as serde lists them when refusing an unknown one.
    fn file_keys() -> Vec<String> {
        let err = toml::from_str::<Options>("not_a_setting = 1").unwrap_err().to_string();
        let expected = err.split("expected one of").nth(1).unwrap_or_else(|| panic!("{err}"));
        ticked(expected.lines().next().unwrap())
    }

    #[test]
    fn the_readme_table_lists_every_setting_and_only_settings() {
        use clap::CommandFactory;
        let command = Options::command();
        let flags: Vec<(String, Option<String>)> = command
            .get_arguments()
            .filter_map(|a| {
                let env = a.get_env().map(|e| e.to_string_lossy().into_owned());
                a.get_long().map(|l| (format!("--{l}"), env))
            })
            .collect();
        let keys = file_keys();
        let rows = readme_rows();
        let (mut listed_flags, mut listed_keys) = (Vec::new(), Vec::new());
        for (row_flags, row_envs, row_keys) in &rows {
            assert_eq!(
                row_flags.len(),
                row_envs.len(),
                "one variable per flag: {row_flags:?} {row_envs:?}"
            );
            for (flag, env) in row_flags.iter().zip(row_envs) {
                let known = flags.iter().find(|(f, _)| f == flag);
                assert!(known.is_some(), "README lists {flag}, which registryd does not have");
                assert_eq!(
                    known.unwrap().1.as_deref(),
                    Some(env.as_str()),
                    "the variable of {flag}"
                );
                listed_flags.push(flag.clone());
            }
            for key in row_keys {
                let top = key.trim_start_matches("[[").trim_end_matches("]]");
                let top = top.split('.').next().unwrap();
                assert!(
                    keys.iter().any(|k| k == top),
                    "README lists the TOML key {key}, unknown to the file"
                );
                listed_keys.push(top.to_string());
            }
        }
        for (flag, _) in &flags {
            assert!(
                listed_flags.contains(flag),
                "{flag} is missing from README's configuration table"
            );
        }
        for key in &keys {
            assert!(
                listed_keys.contains(key),
                "TOML key {key} is missing from README's configuration table"
            );
        }
    }
}
