//! Everything that changes registry state, as one typed command enum (D1).
//!
//! A [`Proposal`] is a command plus the proposer's clock reading; a [`Batch`] of them is what
//! goes into a Raft log entry, so that apply never reads a clock (D1). The result of applying one is a
//! [`CommandOutcome`]; domain refusals (unknown service, ...) are outcomes too, decided
//! deterministically on every node.

use std::sync::Arc;

use serde::Deserialize;
use serde::Serialize;

use crate::model::Instance;
use crate::model::InstanceKey;
use crate::model::InstanceStatus;
use crate::model::Millis;
use crate::model::Properties;
use crate::model::ProtocolFields;
use crate::model::Revision;
use crate::model::Service;
use crate::model::ServiceRef;
use crate::model::Tenant;
use crate::record::Dependency;
use crate::record::Entity;
use crate::record::NodeRecord;

/// One log entry's application data: proposals applied in order, all at the entry's log index
/// (their revision). The leader packs concurrent writes into one entry, so that one fsync and
/// one replication round carry many of them; each still gets its own [`CommandOutcome`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// Shared, so the log's in-memory copies of an entry cost no copy of its commands.
    pub proposals: Arc<Vec<Proposal>>,
}

impl From<Vec<Proposal>> for Batch {
    fn from(proposals: Vec<Proposal>) -> Self {
        Self {
            proposals: Arc::new(proposals),
        }
    }
}

/// A command stamped with the proposer's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// Proposer's wall clock when it proposed, in ms since the epoch. Apply uses this as "now".
    pub at_ms: Millis,
    pub command: Command,
}

/// Every state change the registry knows, one struct per variant.
// Commands live briefly (built, proposed, applied); boxing the large ones would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    CreateTenant(CreateTenant),
    CreateService(CreateService),
    UpdateService(UpdateService),
    DeleteService(DeleteService),
    RegisterInstance(RegisterInstance),
    CancelInstance(CancelInstance),
    SetInstanceStatus(SetInstanceStatus),
    UpdateInstanceMetadata(UpdateInstanceMetadata),
    PutSchema(PutSchema),
    DeleteSchema(DeleteSchema),
    PutTags(PutTags),
    DeleteTags(DeleteTags),
    EvictInstances(EvictInstances),
    MirrorBatch(MirrorBatch),
    AnnounceNode(AnnounceNode),
    AddDependency(AddDependency),
    RestoreRecords(RestoreRecords),
    PutDependencies(PutDependencies),
    ReplaceSchemas(ReplaceSchemas),
    DeleteServices(DeleteServices),
}

impl Command {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateTenant(_) => "create_tenant",
            Command::CreateService(_) => "create_service",
            Command::UpdateService(_) => "update_service",
            Command::DeleteService(_) => "delete_service",
            Command::RegisterInstance(_) => "register_instance",
            Command::CancelInstance(_) => "cancel_instance",
            Command::SetInstanceStatus(_) => "set_instance_status",
            Command::UpdateInstanceMetadata(_) => "update_instance_metadata",
            Command::PutSchema(_) => "put_schema",
            Command::DeleteSchema(_) => "delete_schema",
            Command::PutTags(_) => "put_tags",
            Command::DeleteTags(_) => "delete_tags",
            Command::EvictInstances(_) => "evict_instances",
            Command::MirrorBatch(_) => "mirror_batch",
            Command::AnnounceNode(_) => "announce_node",
            Command::AddDependency(_) => "add_dependency",
            Command::RestoreRecords(_) => "restore_records",
            Command::PutDependencies(_) => "put_dependencies",
            Command::ReplaceSchemas(_) => "replace_schemas",
            Command::DeleteServices(_) => "delete_services",
        }
    }
}

/// Puts records from a backup back (`registryctl snapshot restore`), each stamped with this
/// revision and otherwise as it was: tenants, services, instances, schemas, tags,
/// dependencies and mirror checkpoints, in that order, so a service comes before its
/// instances. All or nothing: refused if a record names a tenant or service that neither
/// exists nor comes earlier in the same command. Node records are not restorable (they
/// describe the cluster the backup came from).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreRecords {
    pub records: Vec<Entity>,
    /// Refused unless the registry holds no service or instance when it applies: a restore is
    /// one command, so of two sent at once only one can win. Entries written before this field
    /// read as `false` (their restore checked emptiness before proposing).
    #[serde(default)]
    pub into_empty: bool,
}

/// Creates a tenant (idempotent). `default/default` exists from the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateTenant {
    pub tenant: Tenant,
}

/// Creates a service. Idempotent by [`crate::model::ServiceKey`]: if a service with the same key
/// exists, the outcome names the existing id. A different service already holding the requested
/// id is refused. One client request (ServiceCenter's `POST /microservices`) is this one
/// command, its new tenant and its tags included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateService {
    pub service: Service,
    /// Creates the service's tenant first if it does not exist (ServiceCenter's implicit
    /// tenants); without it an unknown tenant is refused. Entries written before this field
    /// read as `false`.
    #[serde(default)]
    pub create_tenant: bool,
    /// Merged into the tags of the service created, or of the one that already had its key (as
    /// [`PutTags`] would). Entries written before this field read as none.
    #[serde(default)]
    pub tags: Properties,
}

impl CreateService {
    /// Creates `service` in an existing tenant, with no tags.
    pub fn new(service: Service) -> Self {
        Self {
            service,
            create_tenant: false,
            tags: Properties::new(),
        }
    }
}

/// Changes a service's mutable fields; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateService {
    pub service: ServiceRef,
    pub description: Option<String>,
    /// Replaces the whole property map.
    pub properties: Option<Properties>,
    /// Replaces these protocols' extra-field objects (per protocol key).
    pub protocol_fields: Option<ProtocolFields>,
}

/// Deletes a service. Without `force`, a service that still has instances is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteService {
    pub service: ServiceRef,
    pub force: bool,
}

/// Registers (or re-registers, replacing) an instance: one client registration is this one
/// command, whatever it implies (a new tenant, a new service, an older copy to remove), so it
/// takes effect whole or not at all.
///
/// A stored record whose `client_modified_ms` is newer than the incoming one is kept (the
/// registration is stale), and then nothing else happens either. The stored operator override
/// survives a re-registration that brings none, and the effective status follows
/// [`InstanceStatus::effective`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterInstance {
    pub instance: Instance,
    /// Created first if the instance's service does not exist yet (Eureka's implicit apps).
    pub create_service: Option<Service>,
    /// Creates the instance's tenant first if it does not exist (Eureka's configured tenant on
    /// first use); without it an unknown tenant is refused. Entries written before this field
    /// read as `false`.
    #[serde(default)]
    pub create_tenant: bool,
    /// The same instance as the proposer last saw it under another service of the same name
    /// (Eureka: another version of the app), removed in the same step. Apply decides whether it
    /// still is that: it must exist, hold this instance's id in this tenant, and belong to a
    /// service whose name equals this one's ignoring ASCII case; otherwise it is left alone.
    /// Entries written before this field read as `None`.
    #[serde(default)]
    pub replaces: Option<InstanceKey>,
}

impl RegisterInstance {
    /// A registration that creates nothing but, perhaps, its service and replaces nothing.
    pub fn new(instance: Instance, create_service: Option<Service>) -> Self {
        Self {
            instance,
            create_service,
            create_tenant: false,
            replaces: None,
        }
    }
}

/// Removes an instance (client shutdown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelInstance {
    pub instance: InstanceKey,
}

/// Changes an instance's status and, optionally, its operator override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetInstanceStatus {
    pub instance: InstanceKey,
    pub status: InstanceStatus,
    pub status_override: OverrideChange,
    /// If given, the stored `client_modified_ms` becomes at least this.
    pub client_modified_ms: Option<Millis>,
    /// Replaces these protocols' extra-field objects (per protocol key).
    pub protocol_fields: Option<ProtocolFields>,
}

/// What a status change does to the operator override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OverrideChange {
    Keep,
    Set(InstanceStatus),
    Clear,
}

/// Changes an instance's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateInstanceMetadata {
    pub instance: InstanceKey,
    pub metadata: Properties,
    /// `true`: replace the whole map; `false`: merge the given keys in.
    pub replace: bool,
    /// Replaces these protocols' extra-field objects (per protocol key).
    pub protocol_fields: Option<ProtocolFields>,
}

/// Adds or replaces one schema (contract) of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutSchema {
    pub service: ServiceRef,
    pub schema_id: String,
    pub content: String,
    pub summary: String,
}

/// Removes one schema of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteSchema {
    pub service: ServiceRef,
    pub schema_id: String,
}

/// Adds or overwrites tags on a service (merge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutTags {
    pub service: ServiceRef,
    pub tags: Properties,
}

/// Removes the named tags from a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteTags {
    pub service: ServiceRef,
    pub keys: Vec<String>,
}

/// Leases the leader found expired (D3). Each item names the revision the leader saw, so an
/// instance re-registered in between is left alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvictInstances {
    pub items: Vec<EvictItem>,
    /// The term of the leader whose lease table decided. Applied only from a log entry of that
    /// same term: a leader that lost its place (cut off, then back) must not evict through its
    /// successor with a table that missed the renewals the successor took. 0: not checked
    /// (entries written before the field existed).
    #[serde(default)]
    pub term: u64,
}

impl EvictInstances {
    /// Whether this eviction, found in a log entry of `entry_term`, was decided by another
    /// leader than the one that appended it, and so must be skipped.
    pub fn is_stale_in(&self, entry_term: u64) -> bool {
        self.term != 0 && self.term != entry_term
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvictItem {
    pub instance: InstanceKey,
    /// The instance's `mod_revision` when the leader decided; a different one skips the item.
    pub expected_mod_revision: Revision,
}

/// One adapter round for one source (D6): upserts, deletions and the checkpoint, atomically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MirrorBatch {
    /// The configured peer name; every record in the batch must carry it as origin.
    pub source: String,
    pub services: Vec<Service>,
    pub upserts: Vec<Instance>,
    /// Only instances mirrored from `source` are deleted; others are left alone.
    pub deletes: Vec<InstanceKey>,
    /// Opaque resume point at the source (a revision, a delta version, ...).
    pub checkpoint: String,
}

/// Records that a consumer discovers a provider (idempotent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddDependency {
    pub dependency: Dependency,
}

/// Replaces a service's whole set of schemas (ServiceCenter's `POST MS/schemas`) in one step:
/// the listed ones written, the others removed, the service's schema list set to the listed ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplaceSchemas {
    pub service: ServiceRef,
    pub schemas: Vec<SchemaContent>,
}

/// One schema of a [`ReplaceSchemas`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaContent {
    pub schema_id: String,
    pub content: String,
    pub summary: String,
}

/// Deletes several services (ServiceCenter's `DELETE /microservices`): each as a
/// [`DeleteService`] would, each succeeding or refused on its own
/// ([`CommandOutcome::Items`]), all in one log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteServices {
    pub services: Vec<ServiceRef>,
    pub force: bool,
}

/// Declares what consumers depend on (ServiceCenter's `POST`/`PUT /dependencies`, and the
/// batched records of finds), all at once: refused whole if a consumer does not exist, unless
/// `skip_missing_consumers`. With `replace`, each named consumer's other
/// dependencies are dropped (`PUT`); without, they are kept (`POST`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutDependencies {
    pub dependencies: Vec<Dependency>,
    pub replace: bool,
    /// Records whose consumer does not exist (any more) are skipped instead of refusing the
    /// whole command: the dependencies finds imply are written later in batches, and a consumer
    /// deleted meanwhile must not cost the others theirs. Entries written before this field
    /// read as `false`.
    #[serde(default)]
    pub skip_missing_consumers: bool,
}

/// A node publishes its addresses so every node can show and redirect to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnounceNode {
    pub node: NodeRecord,
}

/// What applying a command produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CommandOutcome {
    /// Applied; nothing further to report.
    Applied,
    /// Applied, but it changed nothing (idempotent repeat, already absent, ...).
    Unchanged,
    /// A service was created (`existed == false`) or already existed under this id.
    Service { id: String, existed: bool },
    /// An instance was registered; `existed` says whether it replaced a previous registration.
    Instance { existed: bool },
    /// How many items of a batch took effect.
    Batch { applied: u64 },
    /// Refused, deterministically, on every node; state is unchanged.
    Rejected(Rejection),
    /// Per item of a command whose items succeed or fail on their own: `None` if it took effect.
    Items(Vec<Option<Rejection>>),
}

/// Domain refusals decided at apply time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Rejection {
    #[error("unknown tenant {0}")]
    UnknownTenant(String),
    #[error("service {0} does not exist")]
    ServiceNotFound(String),
    #[error("service id {0} is already used by another service")]
    ServiceIdTaken(String),
    #[error("service {0} still has instances")]
    ServiceHasInstances(String),
    #[error("consumers depend on service {0}")]
    ServiceHasConsumers(String),
    #[error("instance {0} does not exist")]
    InstanceNotFound(String),
    #[error("schema {0} does not exist")]
    SchemaNotFound(String),
    #[error("tag {0} does not exist")]
    TagNotFound(String),
    #[error("record of {0} belongs to another origin")]
    OriginMismatch(String),
    #[error("invalid command: {0}")]
    Invalid(String),
    #[error("the registry already holds {services} services and {instances} instances: restore needs an empty one")]
    NotEmpty { services: usize, instances: usize },
}
