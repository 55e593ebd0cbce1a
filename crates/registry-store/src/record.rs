//! The records the registry stores besides the model's own tenants, services and instances
//! (schemas, tags, dependencies, member addresses, mirror checkpoints), and [`Entity`], any one
//! record of any kind.
//!
//! Commands carry them and apply emits them as changes; this module sits below both, so
//! [`crate::command`] and [`crate::change`] each depend on it and never on each other.

use std::sync::Arc;

use serde::Deserialize;
use serde::Serialize;

use crate::model::Instance;
use crate::model::Millis;
use crate::model::Properties;
use crate::model::Revision;
use crate::model::Service;
use crate::model::ServiceRef;
use crate::model::Tenant;

/// Every kind of record the registry stores.
///
/// Each variant holds a pointer, so a change costs a few words: the change feed keeps the last
/// 100,000 of them. (A box encodes as what it holds.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Entity {
    Tenant(Box<Tenant>),
    Service(Arc<Service>),
    Instance(Arc<Instance>),
    Schema(Arc<SchemaRecord>),
    Tags(Arc<ServiceTags>),
    Node(Box<NodeRecord>),
    Checkpoint(Box<MirrorCheckpoint>),
    Dependency(Arc<Dependency>),
}

/// A consumer depends on the provider services of one (app, name) in one environment; a
/// provider's instance changes are pushed to the consumer's watchers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Dependency {
    pub consumer: ServiceRef,
    pub provider_environment: String,
    pub provider_app: String,
    pub provider_name: String,
}

impl Dependency {
    /// Whether `service` is one of the providers this dependency names.
    pub fn matches(&self, service: &Service) -> bool {
        service.tenant == self.consumer.tenant
            && service.environment == self.provider_environment
            && service.app == self.provider_app
            && (service.name == self.provider_name || service.alias == self.provider_name)
    }
}

/// A service's schema (contract).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaRecord {
    pub service: ServiceRef,
    pub schema_id: String,
    pub content: String,
    pub summary: String,
}

/// A service's tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTags {
    pub service: ServiceRef,
    pub tags: Properties,
}

/// Where an adapter resumes for one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorCheckpoint {
    pub source: String,
    pub value: String,
    pub at_ms: Millis,
    pub revision: Revision,
}

/// A cluster member's addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub node_id: u64,
    pub raft_addr: String,
    pub http_addrs: Vec<String>,
}
