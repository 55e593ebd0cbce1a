//! Eureka's wire objects (`InstanceInfo`, `Application`, `Applications`) as typed Rust values.
//!
//! Field names follow `../shared/specs/eureka.md` §3; the JSON and XML codecs turn these into
//! bytes and back. Nothing here knows about the store.

use std::collections::BTreeMap;
use std::fmt;

/// Eureka instance status; unknown text reads as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Status {
    #[default]
    Up,
    Down,
    Starting,
    OutOfService,
    Unknown,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Up,
        Status::Down,
        Status::Starting,
        Status::OutOfService,
        Status::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "UP",
            Status::Down => "DOWN",
            Status::Starting => "STARTING",
            Status::OutOfService => "OUT_OF_SERVICE",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// Case-insensitive; anything unrecognised is `Unknown` (as Eureka's `toEnum`).
    pub fn parse(text: &str) -> Status {
        match text.trim().to_ascii_uppercase().as_str() {
            "UP" => Status::Up,
            "DOWN" => Status::Down,
            "STARTING" => Status::Starting,
            "OUT_OF_SERVICE" => Status::OutOfService,
            _ => Status::Unknown,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to an instance, as delta consumers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionType {
    Added,
    Modified,
    Deleted,
}

impl ActionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Added => "ADDED",
            ActionType::Modified => "MODIFIED",
            ActionType::Deleted => "DELETED",
        }
    }

    pub fn parse(text: &str) -> Option<ActionType> {
        match text.trim().to_ascii_uppercase().as_str() {
            "ADDED" => Some(ActionType::Added),
            "MODIFIED" => Some(ActionType::Modified),
            "DELETED" => Some(ActionType::Deleted),
            _ => None,
        }
    }
}

/// How much of each instance a reply shows: Netflix's `EurekaAccept`, asked for with the
/// `X-Eureka-Accept` header. `Compact` is what its "mini" codecs (`JacksonJsonMini`,
/// `JacksonXmlMini`) write: `MiniInstanceInfoMixIn` leaves out `appGroupName`,
/// `overriddenStatus`, `sid`, `countryId`, the four URLs, `isCoordinatingDiscoveryServer`,
/// `lastDirtyTimestamp`, `leaseInfo` and `metadata`, and AWS data-center metadata keeps only
/// [`COMPACT_AMAZON_KEYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Detail {
    #[default]
    Full,
    Compact,
}

/// The AWS metadata keys a compact reply keeps (`AbstractEurekaJacksonCodec`'s
/// `MINI_AMAZON_INFO_INCLUDE_KEYS`).
pub const COMPACT_AMAZON_KEYS: [&str; 5] = [
    "instance-id",
    "public-ipv4",
    "public-hostname",
    "local-ipv4",
    "availability-zone",
];

impl Detail {
    /// `EurekaAccept.fromString`: `compact` in any case is compact; absent, empty or anything
    /// else is full.
    pub fn from_header(value: Option<&str>) -> Detail {
        match value {
            Some(v) if v.eq_ignore_ascii_case("compact") => Detail::Compact,
            _ => Detail::Full,
        }
    }

    pub fn is_full(self) -> bool {
        self == Detail::Full
    }

    /// The data-center metadata entries shown at this detail.
    pub fn data_center_entries(self, metadata: &BTreeMap<String, String>) -> impl Iterator<Item = (&String, &String)> {
        metadata
            .iter()
            .filter(move |(key, _)| self.is_full() || COMPACT_AMAZON_KEYS.contains(&key.as_str()))
    }

    /// Whether an optional text field (by wire name) is shown at this detail: compact keeps
    /// only the two VIP addresses of [`InstanceInfo::optional_text_fields`].
    pub fn shows_text_field(self, name: &str) -> bool {
        self.is_full() || name == "vipAddress" || name == "secureVipAddress"
    }
}

/// A port and whether it is enabled (`{"$":8080,"@enabled":"true"}` / `<port enabled="true">`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    pub number: u16,
    pub enabled: bool,
}

/// Where the instance runs. `class` is the Java class name Eureka clients expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataCenterInfo {
    /// `MyOwn`, `Amazon` or `Netflix`.
    pub name: String,
    /// `com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo` or `com.netflix.appinfo.AmazonInfo`.
    pub class: String,
    /// Amazon metadata (`instance-id`, `availability-zone`, ...); empty for others.
    pub metadata: BTreeMap<String, String>,
}

pub const MY_OWN_DATA_CENTER: &str = "MyOwn";
pub const DEFAULT_DATA_CENTER_CLASS: &str = "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo";
pub const AMAZON_DATA_CENTER_CLASS: &str = "com.netflix.appinfo.AmazonInfo";
/// What Java writes for an empty instance `metadata` map (JSON `@class`, XML `class`).
pub const EMPTY_MAP_CLASS: &str = "java.util.Collections$EmptyMap";

impl DataCenterInfo {
    /// A `MyOwn` data center.
    pub fn my_own() -> Self {
        Self {
            name: MY_OWN_DATA_CENTER.into(),
            class: DEFAULT_DATA_CENTER_CLASS.into(),
            metadata: BTreeMap::new(),
        }
    }

    /// The class a client would have sent for `name` (used when the input had no `@class`).
    pub fn class_for(name: &str) -> &'static str {
        if name.eq_ignore_ascii_case("Amazon") {
            AMAZON_DATA_CENTER_CLASS
        } else {
            DEFAULT_DATA_CENTER_CLASS
        }
    }

    /// An AWS data center (by class or by name).
    pub fn is_amazon(&self) -> bool {
        self.class == AMAZON_DATA_CENTER_CLASS || self.name.eq_ignore_ascii_case("Amazon")
    }

    /// Whether the wire form carries a `metadata` map: always for Amazon, else only when non-empty.
    pub fn has_wire_metadata(&self) -> bool {
        self.is_amazon() || !self.metadata.is_empty()
    }
}

/// Lease bookkeeping as Eureka reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseInfo {
    pub renewal_interval_in_secs: u32,
    pub duration_in_secs: u32,
    pub registration_timestamp: i64,
    pub last_renewal_timestamp: i64,
    pub eviction_timestamp: i64,
    pub service_up_timestamp: i64,
}

impl Default for LeaseInfo {
    fn default() -> Self {
        Self {
            renewal_interval_in_secs: 30,
            duration_in_secs: 90,
            registration_timestamp: 0,
            last_renewal_timestamp: 0,
            eviction_timestamp: 0,
            service_up_timestamp: 0,
        }
    }
}

/// Eureka's `InstanceInfo`. `None` fields are omitted on output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    /// Omitted on output when absent (old clients without ids use `hostName`).
    pub instance_id: Option<String>,
    pub host_name: String,
    /// Upper-cased application name.
    pub app: String,
    pub ip_addr: String,
    /// Emitted only when not `na` / `unknown`.
    pub sid: Option<String>,
    pub status: Status,
    pub overridden_status: Status,
    pub port: Port,
    pub secure_port: Port,
    pub country_id: i64,
    pub data_center_info: DataCenterInfo,
    pub lease_info: Option<LeaseInfo>,
    pub metadata: BTreeMap<String, String>,
    pub app_group_name: Option<String>,
    pub home_page_url: Option<String>,
    pub status_page_url: Option<String>,
    pub health_check_url: Option<String>,
    pub secure_health_check_url: Option<String>,
    pub vip_address: Option<String>,
    pub secure_vip_address: Option<String>,
    pub is_coordinating_discovery_server: bool,
    pub last_updated_timestamp: i64,
    pub last_dirty_timestamp: i64,
    pub action_type: Option<ActionType>,
    pub asg_name: Option<String>,
}

impl InstanceInfo {
    /// The id Eureka keys the instance by: `instanceId`, else AWS `instance-id`, else `hostName`.
    pub fn effective_id(&self) -> &str {
        if let Some(id) = self.instance_id.as_deref().filter(|s| !s.is_empty()) {
            return id;
        }
        if let Some(id) = self
            .data_center_info
            .metadata
            .get("instance-id")
            .filter(|s| !s.is_empty())
        {
            return id;
        }
        &self.host_name
    }

    /// The `sid` as emitted: absent when unset or Eureka's placeholders `na` / `unknown`.
    pub fn wire_sid(&self) -> Option<&str> {
        self.sid
            .as_deref()
            .filter(|sid| !sid.eq_ignore_ascii_case("na") && !sid.eq_ignore_ascii_case("unknown"))
    }

    /// The optional text fields between `metadata` and `isCoordinatingDiscoveryServer`, with their
    /// wire names, in wire order (the same names in JSON and XML).
    pub fn optional_text_fields(&self) -> [(&'static str, Option<&str>); 7] {
        [
            ("appGroupName", self.app_group_name.as_deref()),
            ("homePageUrl", self.home_page_url.as_deref()),
            ("statusPageUrl", self.status_page_url.as_deref()),
            ("healthCheckUrl", self.health_check_url.as_deref()),
            ("secureHealthCheckUrl", self.secure_health_check_url.as_deref()),
            ("vipAddress", self.vip_address.as_deref()),
            ("secureVipAddress", self.secure_vip_address.as_deref()),
        ]
    }

    /// A minimal UP instance (tests and defaults for the decoders).
    pub fn new(app: &str, host: &str) -> Self {
        Self {
            instance_id: None,
            host_name: host.into(),
            app: app.to_ascii_uppercase(),
            ip_addr: String::new(),
            sid: None,
            status: Status::Up,
            overridden_status: Status::Unknown,
            port: Port {
                number: 7001,
                enabled: true,
            },
            secure_port: Port {
                number: 7002,
                enabled: false,
            },
            country_id: 1,
            data_center_info: DataCenterInfo::my_own(),
            lease_info: None,
            metadata: BTreeMap::new(),
            app_group_name: None,
            home_page_url: None,
            status_page_url: None,
            health_check_url: None,
            secure_health_check_url: None,
            vip_address: None,
            secure_vip_address: None,
            is_coordinating_discovery_server: false,
            last_updated_timestamp: 0,
            last_dirty_timestamp: 0,
            action_type: None,
            asg_name: None,
        }
    }
}

/// One application and its instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub name: String,
    pub instances: Vec<InstanceInfo>,
}

/// The registry (or a delta of it) as `GET /apps` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applications {
    pub versions_delta: String,
    pub apps_hashcode: String,
    pub applications: Vec<Application>,
}
