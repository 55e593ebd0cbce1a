//! Instances: one running copy of a service, with its endpoints, status and lease settings.

use std::fmt;

use serde::Deserialize;
use serde::Serialize;
use smol_str::SmolStr;

use super::Millis;
use super::Origin;
use super::Properties;
use super::ProtocolFields;
use super::Revision;
use super::ServiceRef;
use super::Tenant;

/// A registered instance, keyed by [`InstanceKey`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub tenant: Tenant,
    /// The owning service's id within the tenant.
    pub service_id: SmolStr,
    /// Client-given or generated id; unique within its service.
    pub id: SmolStr,
    /// Host name as the instance reports it.
    pub host_name: SmolStr,
    /// IP address, when the protocol carries one separately (Eureka's `ipAddr`).
    pub ip_addr: SmolStr,
    /// Endpoints as `transport://host:port[?query]` (`rest://10.0.0.1:8080`).
    pub endpoints: Vec<SmolStr>,
    pub status: InstanceStatus,
    /// An operator-set status (Eureka's `overriddenStatus`). While set, it replaces `UP` or
    /// `OUT_OF_SERVICE` reported by the client's (re-)registrations; a client reporting `DOWN` or
    /// `STARTING` is believed.
    #[serde(default)]
    pub status_override: Option<InstanceStatus>,
    /// The client's own last-modified stamp (Eureka's `lastDirtyTimestamp`), 0 if it has none.
    /// A registration carrying an older stamp than the stored record does not replace it.
    #[serde(default)]
    pub client_modified_ms: Millis,
    /// Availability zone, if known.
    pub zone: SmolStr,
    /// Region, if known.
    pub region: SmolStr,
    /// Eureka metadata / ServiceCenter instance properties.
    pub metadata: Properties,
    pub lease: LeaseSettings,
    /// Protocol-only fields (Eureka's `vipAddress`, `dataCenterInfo`; ServiceCenter's `healthCheck`...).
    pub protocol_fields: ProtocolFields,
    pub origin: Origin,
    /// When it was (last) registered (proposer's clock).
    pub registered_at_ms: Millis,
    /// When it last changed (proposer's clock).
    pub updated_at_ms: Millis,
    /// Revision that created it.
    pub create_revision: Revision,
    /// Revision of its last change (a re-registration counts as a change).
    pub mod_revision: Revision,
}

impl Instance {
    pub fn key(&self) -> InstanceKey {
        InstanceKey {
            tenant: self.tenant.clone(),
            service_id: self.service_id.clone(),
            id: self.id.clone(),
        }
    }

    pub fn service_ref(&self) -> ServiceRef {
        ServiceRef {
            tenant: self.tenant.clone(),
            id: self.service_id.clone(),
        }
    }

    /// Whether `other` says the same as this record, ignoring bookkeeping (registration and
    /// change times, revisions, when a mirror observed it): mirror rounds repeat unchanged records.
    pub fn same_content(&self, other: &Instance) -> bool {
        let mut normalised = other.clone();
        normalised.registered_at_ms = self.registered_at_ms;
        normalised.updated_at_ms = self.updated_at_ms;
        normalised.create_revision = self.create_revision;
        normalised.mod_revision = self.mod_revision;
        normalised.origin = other.origin.observed_like(&self.origin);
        normalised == *self
    }

    /// A new local UP instance with default lease settings, for callers that fill in the rest.
    pub fn new(
        tenant: Tenant,
        service_id: impl Into<SmolStr>,
        id: impl Into<SmolStr>,
        host: impl Into<SmolStr>,
    ) -> Self {
        Self {
            tenant,
            service_id: service_id.into(),
            id: id.into(),
            host_name: host.into(),
            ip_addr: SmolStr::default(),
            endpoints: Vec::new(),
            status: InstanceStatus::Up,
            status_override: None,
            client_modified_ms: 0,
            zone: SmolStr::default(),
            region: SmolStr::default(),
            metadata: Properties::new(),
            lease: LeaseSettings::default(),
            protocol_fields: ProtocolFields::new(),
            origin: Origin::Local,
            registered_at_ms: 0,
            updated_at_ms: 0,
            create_revision: 0,
            mod_revision: 0,
        }
    }
}

/// Identifies an instance: (tenant, service id, instance id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstanceKey {
    pub tenant: Tenant,
    pub service_id: SmolStr,
    pub id: SmolStr,
}

impl fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.tenant, self.service_id, self.id)
    }
}

/// The union of Eureka's and ServiceCenter's instance states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceStatus {
    #[default]
    Up,
    Down,
    Starting,
    OutOfService,
    /// ServiceCenter's `TESTING`.
    Testing,
    /// Eureka's `UNKNOWN`.
    Unknown,
}

impl InstanceStatus {
    /// The status an instance shows: a client reporting itself UP or OUT_OF_SERVICE yields to
    /// an operator override; any other report (DOWN, STARTING, ...) stands.
    pub fn effective(reported: InstanceStatus, status_override: Option<InstanceStatus>) -> InstanceStatus {
        match (reported, status_override) {
            (InstanceStatus::Up | InstanceStatus::OutOfService, Some(o)) => o,
            (r, _) => r,
        }
    }

    pub const ALL: [InstanceStatus; 6] = [
        Self::Up,
        Self::Down,
        Self::Starting,
        Self::OutOfService,
        Self::Testing,
        Self::Unknown,
    ];

    /// A stable upper-case name (Eureka's spelling; ServiceCenter maps `OUTOFSERVICE` itself).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "UP",
            Self::Down => "DOWN",
            Self::Starting => "STARTING",
            Self::OutOfService => "OUT_OF_SERVICE",
            Self::Testing => "TESTING",
            Self::Unknown => "UNKNOWN",
        }
    }
}

/// How long an instance lives without renewals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseSettings {
    /// How often the client promises to renew (Eureka `renewalIntervalInSecs`, ServiceCenter `interval`).
    pub renewal_interval_secs: u32,
    /// How long after the last renewal it expires (Eureka `durationInSecs`, ServiceCenter `interval × (times+1)`).
    pub duration_secs: u32,
}

impl Default for LeaseSettings {
    /// Eureka's defaults: renew every 30 s, expire after 90 s.
    fn default() -> Self {
        Self {
            renewal_interval_secs: 30,
            duration_secs: 90,
        }
    }
}
