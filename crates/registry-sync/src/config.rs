//! The `[[sync]]` tables of the configuration file: one per peer registry, validated.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use registry_store::model::Tenant;
use serde::Deserialize;

/// What kind of registry the peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerKind {
    /// Any Eureka-API server: `/apps`, then `/apps/delta` with the hashcode check.
    Eureka,
    /// Any ServiceCenter-API server: list, find with `rev`, watch where available.
    Servicecenter,
    /// Another cluster of ours: its change feed, streamed over gRPC from a stored revision.
    Cluster,
    /// Any Nacos server's naming Open API v1: service list and instance list per group, beats.
    Nacos,
}

impl PeerKind {
    /// The name used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerKind::Eureka => "eureka",
            PeerKind::Servicecenter => "servicecenter",
            PeerKind::Cluster => "cluster",
            PeerKind::Nacos => "nacos",
        }
    }

    /// What this kind of remote can do with the `[[sync]]` settings.
    pub fn abilities(self) -> Abilities {
        match self {
            PeerKind::Eureka => Abilities {
                exports: true,
                has_tenants: false,
                partial_rounds: true,
            },
            PeerKind::Servicecenter => Abilities {
                exports: true,
                has_tenants: true,
                partial_rounds: false,
            },
            PeerKind::Cluster => Abilities {
                exports: false,
                has_tenants: true,
                partial_rounds: true,
            },
            // Its namespaces are named by `namespace`, not by a `domain/project` tenant.
            PeerKind::Nacos => Abilities {
                exports: true,
                has_tenants: false,
                partial_rounds: false,
            },
        }
    }
}

/// What a kind of remote can do, so a table asking for more is refused rather than ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abilities {
    /// It has an export side: `direction = "export"` or `"both"` is possible.
    pub exports: bool,
    /// It has tenants of its own, so `remote_tenant` means something.
    pub has_tenants: bool,
    /// Not every round is a complete listing, so `full_sync_secs` says how often one is.
    pub partial_rounds: bool,
}

/// Which way records flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Import,
    Export,
    Both,
}

impl Direction {
    /// The name used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Import => "import",
            Direction::Export => "export",
            Direction::Both => "both",
        }
    }

    pub fn imports(self) -> bool {
        matches!(self, Direction::Import | Direction::Both)
    }

    pub fn exports(self) -> bool {
        matches!(self, Direction::Export | Direction::Both)
    }
}

/// One `[[sync]]` table as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerFile {
    /// Unique name; mirrored records carry it as their origin.
    pub name: String,
    pub kind: PeerKind,
    /// The peer's HTTP base: for `eureka` the `.../eureka` prefix, otherwise any node's base URL.
    pub url: String,
    pub direction: Direction,
    /// Local tenant (`domain/project`) records are mirrored into and exported from. Default `default/default`.
    pub tenant: Option<String>,
    /// Tenant at the peer (ServiceCenter and cluster peers). Default `default/default`.
    pub remote_tenant: Option<String>,
    /// Only these apps / services (case-insensitive); empty means all. Default all.
    #[serde(default)]
    pub apps: Vec<String>,
    /// Time between rounds, in ms. Default 1000.
    pub interval_ms: Option<u64>,
    /// A full comparison repairs drift this often, in seconds. Default 60.
    pub full_sync_secs: Option<u64>,
    /// How long a peer that stopped answering keeps its mirrored instances, in seconds. Default 300.
    pub grace_period_secs: Option<u64>,
    /// A round deleting more than this share of the peer's instances waits for a second full
    /// listing to confirm. Default 0.5.
    pub max_delete_share: Option<f64>,
    /// HTTP Basic credentials for the peer, if it needs them.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Bearer token for the peer (ServiceCenter with RBAC), if it needs one.
    pub token: Option<String>,
    /// Nacos only: the namespace id at the peer. Default: the peer's default (`public`).
    pub namespace: Option<String>,
    /// Nacos only: the groups mirrored both ways (Open API v1 lists services one group at a
    /// time). Default `["DEFAULT_GROUP"]`.
    pub groups: Option<Vec<String>>,
}

/// A validated federation remote (one `[[sync]]` table).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConfig {
    pub name: String,
    pub kind: PeerKind,
    pub url: String,
    pub direction: Direction,
    pub tenant: Tenant,
    pub remote_tenant: Tenant,
    /// Upper-cased app names; empty means all.
    pub apps: BTreeSet<String>,
    pub interval: Duration,
    pub full_sync: Duration,
    pub grace_period: Duration,
    pub max_delete_share: f64,
    pub credentials: Option<Credentials>,
    /// Nacos: the namespace id at the peer (`None`: the peer's default namespace).
    pub namespace: Option<String>,
    /// Nacos: the groups mirrored (empty for other kinds).
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic { username: String, password: String },
    Bearer(String),
}

impl Credentials {
    /// The `Authorization` header's value for these credentials.
    pub fn header_value(&self) -> String {
        match self {
            Credentials::Basic { username, password } => {
                let pair = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
                format!("Basic {pair}")
            }
            Credentials::Bearer(token) => format!("Bearer {token}"),
        }
    }
}

impl RemoteConfig {
    /// Whether records of `app` are mirrored with this peer.
    pub fn wants_app(&self, app: &str) -> bool {
        self.apps.is_empty() || self.apps.contains(&app.to_ascii_uppercase())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("sync peer {peer:?}: {reason}")]
    Invalid { peer: String, reason: String },
    #[error("two sync peers are named {0:?}")]
    DuplicateName(String),
}

/// Whether `name` can name a peer or a cluster: 1 to 64 of letters, digits, '-', '_', '.'
/// (no comma, so hop paths stay readable).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn tenant(peer: &str, field: &str, value: Option<&str>) -> Result<Tenant, ConfigError> {
    match value {
        None => Ok(Tenant::default()),
        Some(t) => Tenant::parse(t).ok_or_else(|| ConfigError::Invalid {
            peer: peer.into(),
            reason: format!("{field} {t:?} is not domain/project"),
        }),
    }
}

impl PeerFile {
    pub fn validate(self) -> Result<RemoteConfig, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            peer: self.name.clone(),
            reason,
        };
        if !valid_name(&self.name) {
            return Err(invalid("name must be 1 to 64 of letters, digits, '-', '_', '.'".into()));
        }
        let url = self.url.trim_end_matches('/').to_string();
        let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
        if !scheme_ok || url.split("://").nth(1).is_none_or(str::is_empty) {
            return Err(invalid(format!(
                "url {:?} must be an http:// or https:// base URL",
                self.url
            )));
        }
        self.refuse_what_the_kind_ignores().map_err(invalid)?;
        let share = self.max_delete_share.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&share) {
            return Err(invalid("max_delete_share must be between 0 and 1".into()));
        }
        let interval = Duration::from_millis(self.interval_ms.unwrap_or(1000).max(10));
        let credentials = match (self.username, self.password, self.token) {
            (None, None, None) => None,
            (Some(username), Some(password), None) => Some(Credentials::Basic { username, password }),
            (None, None, Some(token)) => Some(Credentials::Bearer(token)),
            _ => return Err(invalid("give username and password, or a token, not a mix".into())),
        };
        let groups = match (self.kind, self.groups) {
            (PeerKind::Nacos, None) => vec![DEFAULT_NACOS_GROUP.to_string()],
            (_, groups) => groups.unwrap_or_default(),
        };
        Ok(RemoteConfig {
            namespace: self.namespace.filter(|n| !n.trim().is_empty()),
            groups,
            tenant: tenant(&self.name, "tenant", self.tenant.as_deref())?,
            remote_tenant: tenant(&self.name, "remote_tenant", self.remote_tenant.as_deref())?,
            apps: self.apps.iter().map(|a| a.to_ascii_uppercase()).collect(),
            interval,
            full_sync: Duration::from_secs(self.full_sync_secs.unwrap_or(60).max(1)),
            grace_period: Duration::from_secs(self.grace_period_secs.unwrap_or(300)),
            max_delete_share: share,
            credentials,
            name: self.name,
            kind: self.kind,
            url,
            direction: self.direction,
        })
    }
}

impl PeerFile {
    /// A setting the kind or the direction would ignore, explained with what to do instead.
    fn refuse_what_the_kind_ignores(&self) -> Result<(), String> {
        let kind = self.kind.as_str();
        let can = self.kind.abilities();
        if self.direction.exports() && !can.exports {
            return Err(format!(
                "a {kind} remote only imports (this cluster follows its change feed), so direction = \
                 {:?} cannot be done: set direction = \"import\" here, and to send this cluster's \
                 records to the remote cluster, configure there a [[sync]] table with kind = \"cluster\", \
                 direction = \"import\" and the url of one of this cluster's nodes",
                self.direction.as_str()
            ));
        }
        if self.kind == PeerKind::Nacos {
            self.refuse_what_nacos_ignores()?;
        } else if self.namespace.is_some() || self.groups.is_some() {
            return Err(format!(
                "namespace and groups only apply to a nacos remote, not to a {kind} remote: remove them"
            ));
        }
        if self.remote_tenant.is_some() && !can.has_tenants {
            return Err(format!(
                "remote_tenant does not apply to a {kind} remote, which has no tenants: remove it \
                 (tenant sets the local tenant records are mirrored into and exported from)"
            ));
        }
        if self.direction == Direction::Export {
            let import_only = [
                ("full_sync_secs", self.full_sync_secs.is_some()),
                ("grace_period_secs", self.grace_period_secs.is_some()),
                ("max_delete_share", self.max_delete_share.is_some()),
            ];
            if let Some((field, _)) = import_only.iter().find(|(_, set)| *set) {
                return Err(format!(
                    "{field} only applies to imports and this remote is export-only: remove it, or \
                     set direction = \"both\""
                ));
            }
        }
        if self.full_sync_secs.is_some() && !can.partial_rounds && self.direction.imports() {
            return Err(format!(
                "full_sync_secs does not apply to a {kind} remote: every import round lists it \
                 completely; remove it"
            ));
        }
        Ok(())
    }
}

/// The group a `nacos` remote mirrors when its table names none (Nacos's `DEFAULT_GROUP`).
pub const DEFAULT_NACOS_GROUP: &str = "DEFAULT_GROUP";

impl PeerFile {
    /// What a `nacos` table may not say: a tenant at the peer (it has namespaces), credentials
    /// (Nacos's token login is not spoken), empty or malformed groups.
    fn refuse_what_nacos_ignores(&self) -> Result<(), String> {
        if self.remote_tenant.is_some() {
            return Err(
                "remote_tenant does not apply to a nacos remote: name its namespace id with namespace = \"...\" \
                 (tenant sets the local tenant records are mirrored into and exported from)"
                    .into(),
            );
        }
        if self.username.is_some() || self.password.is_some() || self.token.is_some() {
            return Err(
                "a nacos remote is reached without credentials (Nacos's accessToken login is not spoken): \
                 remove username, password and token, and open the peer's naming API to this cluster"
                    .into(),
            );
        }
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        };
        if let Some(namespace) = &self.namespace {
            if !name_ok(namespace.trim()) {
                return Err(format!(
                    "namespace {namespace:?} must be 1 to 128 of letters, digits, '-', '_', '.', ':'"
                ));
            }
        }
        if let Some(groups) = &self.groups {
            if groups.is_empty() {
                return Err("groups is empty: name at least one group, or remove it for DEFAULT_GROUP".into());
            }
            if let Some(bad) = groups.iter().find(|g| !name_ok(g) || g.contains("@@")) {
                return Err(format!(
                    "group {bad:?} must be 1 to 128 of letters, digits, '-', '_', '.', ':'"
                ));
            }
        }
        Ok(())
    }
}

/// Validates every peer, and that their names are unique.
pub fn validate_all(peers: Vec<PeerFile>) -> Result<Vec<RemoteConfig>, ConfigError> {
    let mut names = BTreeSet::new();
    let mut out = Vec::with_capacity(peers.len());
    for peer in peers {
        let peer = peer.validate()?;
        if !names.insert(peer.name.clone()) {
            return Err(ConfigError::DuplicateName(peer.name));
        }
        out.push(peer);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        sync: Vec<PeerFile>,
    }

    fn parse(text: &str) -> Result<Vec<RemoteConfig>, ConfigError> {
        validate_all(toml::from_str::<File>(text).expect("toml").sync)
    }

    #[test]
    fn defaults_fill_what_a_table_leaves_out() {
        let peers = parse(
            r#"
            [[sync]]
            name = "dc-a"
            kind = "eureka"
            url = "http://10.0.0.1:8761/eureka/"
            direction = "import"
            apps = ["account-server"]
            "#,
        )
        .unwrap();
        let p = &peers[0];
        assert_eq!(p.url, "http://10.0.0.1:8761/eureka");
        assert_eq!(p.tenant, Tenant::default());
        assert_eq!(
            (p.interval, p.grace_period, p.max_delete_share),
            (Duration::from_secs(1), Duration::from_secs(300), 0.5)
        );
        assert!(p.wants_app("ACCOUNT-SERVER") && !p.wants_app("billing"));
        assert!(p.direction.imports() && !p.direction.exports());
    }

    #[test]
    fn bad_tables_are_explained() {
        let table = |extra: &str| {
            format!("[[sync]]\nname = \"p\"\nkind = \"cluster\"\nurl = \"http://h:1\"\ndirection = \"import\"\n{extra}")
        };
        assert!(parse(&table("")).is_ok());
        let cases = [
            ("tenant = \"nodomain\"", "not domain/project"),
            ("max_delete_share = 1.5", "between 0 and 1"),
            ("username = \"u\"", "not a mix"),
        ];
        for (extra, words) in cases {
            let err = parse(&table(extra)).unwrap_err().to_string();
            assert!(err.contains(words), "{extra}: {err}");
        }
        let bad_url = "[[sync]]\nname = \"p\"\nkind = \"eureka\"\nurl = \"ftp://h\"\ndirection = \"import\"";
        assert!(parse(bad_url).unwrap_err().to_string().contains("http://"));
        let twice = format!("{}\n{}", table(""), table(""));
        assert_eq!(parse(&twice).unwrap_err(), ConfigError::DuplicateName("p".into()));
        assert!(toml::from_str::<File>(
            "[[sync]]\nname = \"p\"\nkind = \"zookeeper\"\nurl = \"http://h\"\ndirection = \"import\""
        )
        .is_err());
    }

    #[test]
    fn what_a_kind_or_direction_would_ignore_is_refused_with_what_to_do() {
        let table = |kind: &str, direction: &str, extra: &str| {
            format!(
                "[[sync]]\nname = \"p\"\nkind = \"{kind}\"\nurl = \"http://h:1\"\ndirection = \"{direction}\"\n{extra}"
            )
        };
        let cases = [
            ("cluster", "export", "", "only imports"),
            (
                "cluster",
                "both",
                "",
                "configure there a [[sync]] table with kind = \"cluster\"",
            ),
            (
                "eureka",
                "import",
                "remote_tenant = \"d/p\"",
                "remote_tenant does not apply to a eureka remote",
            ),
            ("eureka", "both", "remote_tenant = \"d/p\"", "has no tenants"),
            (
                "eureka",
                "export",
                "full_sync_secs = 5",
                "full_sync_secs only applies to imports",
            ),
            (
                "servicecenter",
                "export",
                "grace_period_secs = 5",
                "grace_period_secs only applies to imports",
            ),
            (
                "servicecenter",
                "export",
                "max_delete_share = 0.2",
                "or set direction = \"both\"",
            ),
            (
                "servicecenter",
                "import",
                "full_sync_secs = 5",
                "every import round lists it completely",
            ),
        ];
        for (kind, direction, extra, words) in cases {
            let err = parse(&table(kind, direction, extra)).unwrap_err().to_string();
            assert!(err.starts_with("sync peer \"p\": "), "{err}");
            assert!(err.contains(words), "{kind} {direction} {extra}: {err}");
        }
        // What each kind does use is accepted.
        for (kind, direction, extra) in [
            (
                "cluster",
                "import",
                "remote_tenant = \"d/p\"\nfull_sync_secs = 5\ntoken = \"t\"",
            ),
            (
                "eureka",
                "both",
                "full_sync_secs = 5\ngrace_period_secs = 5\nusername = \"u\"\npassword = \"p\"",
            ),
            (
                "servicecenter",
                "both",
                "remote_tenant = \"d/p\"\nmax_delete_share = 0.2\ntoken = \"t\"",
            ),
            ("servicecenter", "export", "remote_tenant = \"d/p\"\napps = [\"a\"]"),
        ] {
            assert!(
                parse(&table(kind, direction, extra)).is_ok(),
                "{kind} {direction} {extra}"
            );
        }
    }

    #[test]
    fn a_nacos_table_names_its_namespace_and_groups_and_nothing_it_cannot_use() {
        let table = |extra: &str| {
            format!("[[sync]]\nname = \"n\"\nkind = \"nacos\"\nurl = \"http://h:8848\"\ndirection = \"both\"\n{extra}")
        };
        let p = &parse(&table("")).unwrap()[0];
        assert_eq!(
            (p.namespace.as_deref(), p.groups.as_slice()),
            (None, &["DEFAULT_GROUP".to_string()][..])
        );
        let p = &parse(&table(
            "namespace = \"dev\"\ngroups = [\"pay\", \"DEFAULT_GROUP\"]\napps = [\"orders\"]",
        ))
        .unwrap()[0];
        assert_eq!((p.namespace.as_deref(), p.groups.len()), (Some("dev"), 2));
        let cases = [
            ("remote_tenant = \"d/p\"", "namespace = "),
            ("username = \"u\"\npassword = \"p\"", "without credentials"),
            ("groups = []", "at least one group"),
            ("groups = [\"a@@b\"]", "group \"a@@b\""),
            ("namespace = \"a/b\"", "namespace \"a/b\""),
            ("full_sync_secs = 5", "every import round lists it completely"),
        ];
        for (extra, words) in cases {
            let err = parse(&table(extra)).unwrap_err().to_string();
            assert!(err.contains(words), "{extra}: {err}");
        }
        let eureka =
            "[[sync]]\nname = \"e\"\nkind = \"eureka\"\nurl = \"http://h\"\ndirection = \"import\"\ngroups = [\"g\"]";
        assert!(parse(eureka)
            .unwrap_err()
            .to_string()
            .contains("only apply to a nacos remote"));
    }
}
