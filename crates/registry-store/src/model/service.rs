//! Services: what ServiceCenter calls a microservice and Eureka calls an application.

use serde::Deserialize;
use serde::Serialize;
use smol_str::SmolStr;

use super::Millis;
use super::Origin;
use super::Properties;
use super::ProtocolFields;
use super::Revision;
use super::Tenant;

/// A registered service. Identified by `(tenant, id)`; unique by [`ServiceKey`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub tenant: Tenant,
    /// ServiceCenter's `serviceId`: client-given or derived by the API layer; opaque here.
    pub id: SmolStr,
    /// ServiceCenter's `appId`; Eureka apps live under a configurable app (`eureka` by default).
    pub app: String,
    /// ServiceCenter's `serviceName`; Eureka's application name.
    pub name: String,
    /// Dotted numeric version (`0.0.1` by default).
    pub version: String,
    /// `""`, `development`, `testing`, `acceptance` or `production`.
    pub environment: String,
    /// Free-form description.
    pub description: String,
    /// ServiceCenter's `alias`, a second unique name; empty when none.
    pub alias: String,
    /// ServiceCenter service properties.
    pub properties: Properties,
    /// Schema ids the service declares (contents are stored separately).
    pub schemas: Vec<String>,
    /// Protocol-only fields (`level`, `framework`, `paths`, `LBStrategy`, ...).
    pub protocol_fields: ProtocolFields,
    pub origin: Origin,
    /// When it was created (proposer's clock).
    pub created_at_ms: Millis,
    /// When it last changed (proposer's clock).
    pub updated_at_ms: Millis,
    /// Revision that created it.
    pub create_revision: Revision,
    /// Revision of its last change.
    pub mod_revision: Revision,
}

impl Service {
    /// The uniqueness key of this service.
    pub fn key(&self) -> ServiceKey {
        ServiceKey {
            tenant: self.tenant.clone(),
            environment: self.environment.clone(),
            app: self.app.clone(),
            name: self.name.clone(),
            version: self.version.clone(),
        }
    }

    pub fn service_ref(&self) -> ServiceRef {
        ServiceRef {
            tenant: self.tenant.clone(),
            id: self.id.clone(),
        }
    }

    /// Whether `other` says the same as this record, ignoring bookkeeping (creation and change
    /// times, revisions, when a mirror observed it).
    pub fn same_content(&self, other: &Service) -> bool {
        let mut normalised = other.clone();
        normalised.created_at_ms = self.created_at_ms;
        normalised.updated_at_ms = self.updated_at_ms;
        normalised.create_revision = self.create_revision;
        normalised.mod_revision = self.mod_revision;
        normalised.origin = other.origin.observed_like(&self.origin);
        normalised == *self
    }

    /// A new local service with default fields, for callers that fill in the rest.
    pub fn new(tenant: Tenant, id: impl Into<SmolStr>, app: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            tenant,
            id: id.into(),
            app: app.into(),
            name: name.into(),
            version: "0.0.1".into(),
            environment: String::new(),
            description: String::new(),
            alias: String::new(),
            properties: Properties::new(),
            schemas: Vec::new(),
            protocol_fields: ProtocolFields::new(),
            origin: Origin::Local,
            created_at_ms: 0,
            updated_at_ms: 0,
            create_revision: 0,
            mod_revision: 0,
        }
    }
}

/// ServiceCenter's uniqueness key: (tenant, environment, appId, serviceName, version).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServiceKey {
    pub tenant: Tenant,
    pub environment: String,
    pub app: String,
    pub name: String,
    pub version: String,
}

/// A reference to a service by tenant and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServiceRef {
    pub tenant: Tenant,
    pub id: SmolStr,
}
