//! The registry's in-memory state and its deterministic apply function (D1, D2).
//!
//! [`RegistryState::apply`] turns one [`Proposal`] at one revision into a [`CommandOutcome`] and
//! the list of [`Change`]s it made. It reads no clock and no randomness: the same log gives the
//! same state on every node. Records are held behind `Arc` so readers, snapshots and the change
//! feed share them without copying.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;

use crate::change::Change;
use crate::change::ChangeKind;
use crate::command::*;
use crate::instance_index::InstanceIndex;
use crate::model::Instance;
use crate::model::InstanceKey;
use crate::model::InstanceStatus;
use crate::model::Millis;
use crate::model::Origin;
use crate::model::ProtocolFields;
use crate::model::Revision;
use crate::model::Service;
use crate::model::ServiceKey;
use crate::model::ServiceRef;
use crate::model::Tenant;
use crate::record::Dependency;
use crate::record::Entity;
use crate::record::MirrorCheckpoint;
use crate::record::NodeRecord;
use crate::record::SchemaRecord;
use crate::record::ServiceTags;
use crate::validate::validate_command;
use smol_str::SmolStr;

/// Everything the registry holds, indexed for reads.
#[derive(Debug, Clone)]
pub struct RegistryState {
    tenants: BTreeSet<Tenant>,
    services: HashMap<ServiceRef, Arc<Service>>,
    /// Uniqueness index: service key → service id.
    service_keys: HashMap<ServiceKey, SmolStr>,
    /// Lookup index: (tenant, lower-case name or alias) → ids of the services so named.
    service_names: HashMap<(Tenant, String), BTreeSet<SmolStr>>,
    /// Ordered so one service's instances are a contiguous range.
    instances: InstanceIndex,
    schemas: BTreeMap<(ServiceRef, String), Arc<SchemaRecord>>,
    tags: HashMap<ServiceRef, Arc<ServiceTags>>,
    nodes: BTreeMap<u64, NodeRecord>,
    checkpoints: BTreeMap<String, MirrorCheckpoint>,
    /// Ordered by consumer, so one consumer's dependencies are a contiguous range.
    dependencies: BTreeSet<Arc<Dependency>>,
}

impl Default for RegistryState {
    fn default() -> Self {
        Self::new()
    }
}

/// Collects the changes one command makes.
struct Changes {
    revision: Revision,
    list: Vec<Change>,
}

impl Changes {
    fn push(&mut self, kind: ChangeKind, entity: Entity) {
        self.list.push(Change {
            revision: self.revision,
            kind,
            entity,
        });
    }
}

impl RegistryState {
    /// An empty registry holding only the `default/default` tenant.
    pub fn new() -> Self {
        Self {
            tenants: BTreeSet::from([Tenant::default_tenant()]),
            services: HashMap::new(),
            service_keys: HashMap::new(),
            service_names: HashMap::new(),
            instances: InstanceIndex::new(),
            schemas: BTreeMap::new(),
            tags: HashMap::new(),
            nodes: BTreeMap::new(),
            checkpoints: BTreeMap::new(),
            dependencies: BTreeSet::new(),
        }
    }

    // ----- reads -----

    pub fn tenant_exists(&self, tenant: &Tenant) -> bool {
        self.tenants.contains(tenant)
    }

    pub fn tenants(&self) -> impl Iterator<Item = &Tenant> {
        self.tenants.iter()
    }

    pub fn service(&self, service: &ServiceRef) -> Option<&Arc<Service>> {
        self.services.get(service)
    }

    pub fn service_by_key(&self, key: &ServiceKey) -> Option<&Arc<Service>> {
        let id = self.service_keys.get(key)?;
        self.services.get(&ServiceRef {
            tenant: key.tenant.clone(),
            id: id.clone(),
        })
    }

    pub fn services(&self) -> impl Iterator<Item = &Arc<Service>> {
        self.services.values()
    }

    /// The services of `tenant` whose name or alias equals `name` ignoring ASCII case, ordered
    /// by id. Callers that need an exact match filter further.
    pub fn services_named<'a>(&'a self, tenant: &Tenant, name: &str) -> impl Iterator<Item = &'a Arc<Service>> + 'a {
        let tenant = tenant.clone();
        self.service_names
            .get(&(tenant.clone(), name.to_ascii_lowercase()))
            .into_iter()
            .flatten()
            .filter_map(move |id| {
                self.services.get(&ServiceRef {
                    tenant: tenant.clone(),
                    id: id.clone(),
                })
            })
    }

    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    pub fn instance(&self, key: &InstanceKey) -> Option<&Arc<Instance>> {
        self.instances.get(key)
    }

    /// All instances, ordered by (tenant, service id, instance id).
    pub fn instances(&self) -> impl Iterator<Item = &Arc<Instance>> {
        self.instances.values()
    }

    pub fn instance_count(&self) -> usize {
        self.instances.len()
    }

    /// One service's instances, ordered by instance id.
    pub fn instances_of<'a>(&'a self, service: &ServiceRef) -> impl Iterator<Item = &'a Arc<Instance>> + 'a {
        self.instances.of_service(service)
    }

    pub fn schema(&self, service: &ServiceRef, schema_id: &str) -> Option<&Arc<SchemaRecord>> {
        self.schemas.get(&(service.clone(), schema_id.to_string()))
    }

    pub fn schemas_of<'a>(&'a self, service: &'a ServiceRef) -> impl Iterator<Item = &'a Arc<SchemaRecord>> + 'a {
        self.schemas
            .range((Bound::Included((service.clone(), String::new())), Bound::Unbounded))
            .take_while(move |((s, _), _)| s == service)
            .map(|(_, v)| v)
    }

    pub fn tags_of(&self, service: &ServiceRef) -> Option<&Arc<ServiceTags>> {
        self.tags.get(service)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &NodeRecord> {
        self.nodes.values()
    }

    pub fn node(&self, node_id: u64) -> Option<&NodeRecord> {
        self.nodes.get(&node_id)
    }

    pub fn checkpoint(&self, source: &str) -> Option<&MirrorCheckpoint> {
        self.checkpoints.get(source)
    }

    /// What `consumer` depends on.
    pub fn dependencies_of<'a>(&'a self, consumer: &'a ServiceRef) -> impl Iterator<Item = &'a Arc<Dependency>> + 'a {
        self.dependencies.iter().filter(move |d| &d.consumer == consumer)
    }

    /// The consumers that depend on `provider`.
    pub fn consumers_of<'a>(&'a self, provider: &'a Service) -> impl Iterator<Item = &'a Arc<Dependency>> + 'a {
        self.dependencies.iter().filter(move |d| d.matches(provider))
    }

    /// Every stored record, for snapshots and full persistence.
    pub fn entities(&self) -> impl Iterator<Item = Entity> + '_ {
        let tenants = self.tenants.iter().map(|t| Entity::Tenant(Box::new(t.clone())));
        let services = self.services.values().cloned().map(Entity::Service);
        let instances = self.instances.values().cloned().map(Entity::Instance);
        let schemas = self.schemas.values().cloned().map(Entity::Schema);
        let tags = self.tags.values().cloned().map(Entity::Tags);
        let nodes = self.nodes.values().map(|n| Entity::Node(Box::new(n.clone())));
        let checkpoints = self
            .checkpoints
            .values()
            .map(|c| Entity::Checkpoint(Box::new(c.clone())));
        let dependencies = self.dependencies.iter().cloned().map(Entity::Dependency);
        tenants
            .chain(services)
            .chain(instances)
            .chain(schemas)
            .chain(tags)
            .chain(nodes)
            .chain(checkpoints)
            .chain(dependencies)
    }

    /// Puts back one stored record (loading from disk or a snapshot).
    /// Restores every one of `entities`, as [`Self::restore`] does one by one; instances in
    /// key order (as the store and snapshots hold them) go into their index in one pass.
    pub fn restore_all(&mut self, entities: impl IntoIterator<Item = Entity>) {
        let mut instances = Vec::new();
        for entity in entities {
            match entity {
                Entity::Instance(i) => instances.push(i),
                other => self.restore(other),
            }
        }
        self.instances.insert_all(instances);
    }

    pub fn restore(&mut self, entity: Entity) {
        match entity {
            Entity::Tenant(t) => {
                self.tenants.insert(*t);
            }
            Entity::Service(s) => self.put_service(s),
            Entity::Instance(i) => {
                self.instances.insert(i);
            }
            Entity::Schema(s) => {
                self.schemas.insert((s.service.clone(), s.schema_id.clone()), s);
            }
            Entity::Tags(t) => {
                self.tags.insert(t.service.clone(), t);
            }
            Entity::Node(n) => {
                self.nodes.insert(n.node_id, *n);
            }
            Entity::Checkpoint(c) => {
                self.checkpoints.insert(c.source.clone(), *c);
            }
            Entity::Dependency(d) => {
                self.dependencies.insert(d);
            }
        }
    }

    // ----- apply -----

    /// Applies one proposal at `revision`. Refused commands change nothing and produce no changes.
    pub fn apply(&mut self, revision: Revision, proposal: &Proposal) -> (CommandOutcome, Vec<Change>) {
        let mut changes = Changes {
            revision,
            list: Vec::new(),
        };
        let outcome = match validate_command(&proposal.command) {
            Err(e) => CommandOutcome::Rejected(Rejection::Invalid(e.to_string())),
            Ok(()) => self.apply_valid(&mut changes, proposal.at_ms, &proposal.command),
        };
        if matches!(outcome, CommandOutcome::Rejected(_)) {
            debug_assert!(changes.list.is_empty(), "a rejected command must not change state");
        }
        (outcome, changes.list)
    }

    fn apply_valid(&mut self, ch: &mut Changes, now: Millis, command: &Command) -> CommandOutcome {
        let result = match command {
            Command::CreateTenant(c) => Ok(self.create_tenant(ch, &c.tenant)),
            Command::CreateService(c) => self.create_service_with(ch, now, c),
            Command::UpdateService(c) => self.update_service(ch, now, c),
            Command::DeleteService(c) => self.delete_service(ch, c),
            Command::RegisterInstance(c) => self.register_instance(ch, now, c),
            Command::CancelInstance(c) => self.cancel_instance(ch, &c.instance),
            Command::SetInstanceStatus(c) => self.set_instance_status(ch, now, c),
            Command::UpdateInstanceMetadata(c) => self.update_instance_metadata(ch, now, c),
            Command::PutSchema(c) => self.put_schema(ch, now, c),
            Command::DeleteSchema(c) => self.delete_schema(ch, c),
            Command::PutTags(c) => self.put_tags(ch, c),
            Command::DeleteTags(c) => self.delete_tags(ch, c),
            Command::EvictInstances(c) => Ok(self.evict(ch, c)),
            Command::MirrorBatch(c) => self.mirror_batch(ch, now, c),
            Command::AnnounceNode(c) => Ok(self.announce_node(ch, &c.node)),
            Command::AddDependency(c) => self.add_dependency(ch, &c.dependency),
            Command::PutDependencies(c) => self.put_dependencies(ch, c),
            Command::ReplaceSchemas(c) => self.replace_schemas(ch, now, c),
            Command::DeleteServices(c) => Ok(CommandOutcome::Items(
                c.services
                    .iter()
                    .map(|service| {
                        let one = DeleteService {
                            service: service.clone(),
                            force: c.force,
                        };
                        self.delete_service(ch, &one).err()
                    })
                    .collect(),
            )),
            Command::RestoreRecords(c) => {
                if c.into_empty && self.service_count() + self.instance_count() > 0 {
                    Err(Rejection::NotEmpty {
                        services: self.service_count(),
                        instances: self.instance_count(),
                    })
                } else {
                    self.restore_records(ch, &c.records)
                }
            }
        };
        result.unwrap_or_else(CommandOutcome::Rejected)
    }

    fn require_tenant(&self, tenant: &Tenant) -> Result<(), Rejection> {
        if self.tenants.contains(tenant) {
            Ok(())
        } else {
            Err(Rejection::UnknownTenant(tenant.to_string()))
        }
    }

    fn require_service(&self, service: &ServiceRef) -> Result<Arc<Service>, Rejection> {
        self.require_tenant(&service.tenant)?;
        self.services
            .get(service)
            .cloned()
            .ok_or_else(|| Rejection::ServiceNotFound(service.id.to_string()))
    }

    fn require_instance(&self, key: &InstanceKey) -> Result<Arc<Instance>, Rejection> {
        self.require_tenant(&key.tenant)?;
        self.instances
            .get(key)
            .cloned()
            .ok_or_else(|| Rejection::InstanceNotFound(key.to_string()))
    }

    fn put_service(&mut self, service: Arc<Service>) {
        if let Some(old) = self.services.get(&service.service_ref()).cloned() {
            self.unindex_names(&old);
        }
        self.service_keys.insert(service.key(), service.id.clone());
        self.index_names(&service);
        self.services.insert(service.service_ref(), service);
    }

    fn remove_service(&mut self, service: &Service) {
        self.service_keys.remove(&service.key());
        self.unindex_names(service);
        self.services.remove(&service.service_ref());
    }

    /// The lower-case names a service is found by: its name and, if any, its alias.
    fn lookup_names(service: &Service) -> impl Iterator<Item = String> + '_ {
        std::iter::once(&service.name)
            .chain(Some(&service.alias).filter(|a| !a.is_empty()))
            .map(|n| n.to_ascii_lowercase())
    }

    fn index_names(&mut self, service: &Service) {
        for name in Self::lookup_names(service) {
            self.service_names
                .entry((service.tenant.clone(), name))
                .or_default()
                .insert(service.id.clone());
        }
    }

    fn unindex_names(&mut self, service: &Service) {
        for name in Self::lookup_names(service) {
            let key = (service.tenant.clone(), name);
            if let Some(ids) = self.service_names.get_mut(&key) {
                ids.remove(&service.id);
                if ids.is_empty() {
                    self.service_names.remove(&key);
                }
            }
        }
    }

    /// Puts backed-up records back, stamped with this revision (see [`RestoreRecords`]).
    fn restore_records(&mut self, ch: &mut Changes, records: &[Entity]) -> Result<CommandOutcome, Rejection> {
        // Every reference is checked before anything changes: a refused command changes nothing.
        let mut tenants: BTreeSet<&Tenant> = BTreeSet::new();
        let mut services: BTreeSet<ServiceRef> = BTreeSet::new();
        let tenant_known = |t: &Tenant, tenants: &BTreeSet<&Tenant>| {
            if self.tenants.contains(t) || tenants.contains(t) {
                Ok(())
            } else {
                Err(Rejection::UnknownTenant(t.to_string()))
            }
        };
        let service_known = |s: &ServiceRef, services: &BTreeSet<ServiceRef>| {
            if self.services.contains_key(s) || services.contains(s) {
                Ok(())
            } else {
                Err(Rejection::ServiceNotFound(s.id.to_string()))
            }
        };
        for record in records {
            match record {
                Entity::Tenant(t) => {
                    tenants.insert(t);
                }
                Entity::Service(s) => {
                    tenant_known(&s.tenant, &tenants)?;
                    if self.services.contains_key(&s.service_ref()) || self.service_by_key(&s.key()).is_some() {
                        return Err(Rejection::ServiceIdTaken(s.id.to_string()));
                    }
                    services.insert(s.service_ref());
                }
                Entity::Instance(i) => service_known(&i.service_ref(), &services)?,
                Entity::Schema(s) => service_known(&s.service, &services)?,
                Entity::Tags(t) => service_known(&t.service, &services)?,
                Entity::Dependency(d) => service_known(&d.consumer, &services)?,
                Entity::Checkpoint(_) => {}
                Entity::Node(_) => return Err(Rejection::Invalid("node records are not restorable".into())),
            }
        }
        for record in records {
            let record = match record {
                Entity::Tenant(t) => {
                    self.create_tenant(ch, t);
                    continue;
                }
                Entity::Service(s) => {
                    let mut s = Service::clone(s);
                    s.create_revision = ch.revision;
                    s.mod_revision = ch.revision;
                    Entity::Service(Arc::new(s))
                }
                Entity::Instance(i) => {
                    let mut i = Instance::clone(i);
                    i.create_revision = ch.revision;
                    i.mod_revision = ch.revision;
                    Entity::Instance(Arc::new(i))
                }
                other => other.clone(),
            };
            self.restore(record.clone());
            ch.push(ChangeKind::Created, record);
        }
        Ok(CommandOutcome::Applied)
    }

    fn create_tenant(&mut self, ch: &mut Changes, tenant: &Tenant) -> CommandOutcome {
        if !self.tenants.insert(tenant.clone()) {
            return CommandOutcome::Unchanged;
        }
        ch.push(ChangeKind::Created, Entity::Tenant(Box::new(tenant.clone())));
        CommandOutcome::Applied
    }

    fn create_service(
        &mut self,
        ch: &mut Changes,
        now: Millis,
        service: &Service,
    ) -> Result<CommandOutcome, Rejection> {
        self.require_tenant(&service.tenant)?;
        if let Some(existing) = self.service_by_key(&service.key()) {
            return Ok(CommandOutcome::Service {
                id: existing.id.to_string(),
                existed: true,
            });
        }
        if self.services.contains_key(&service.service_ref()) {
            return Err(Rejection::ServiceIdTaken(service.id.to_string()));
        }
        let mut s = service.clone();
        s.created_at_ms = now;
        s.updated_at_ms = now;
        s.create_revision = ch.revision;
        s.mod_revision = ch.revision;
        let s = Arc::new(s);
        self.put_service(s.clone());
        ch.push(ChangeKind::Created, Entity::Service(s));
        Ok(CommandOutcome::Service {
            id: service.id.to_string(),
            existed: false,
        })
    }

    /// A [`CreateService`] command: its tenant if asked and missing, the service unless its key
    /// exists, then its tags on whichever service holds the key. Checked before anything changes.
    fn create_service_with(
        &mut self,
        ch: &mut Changes,
        now: Millis,
        c: &CreateService,
    ) -> Result<CommandOutcome, Rejection> {
        let tenant = &c.service.tenant;
        let create_tenant = !self.tenants.contains(tenant);
        if create_tenant && !c.create_tenant {
            return Err(Rejection::UnknownTenant(tenant.to_string()));
        }
        if self.service_by_key(&c.service.key()).is_none() && self.services.contains_key(&c.service.service_ref()) {
            return Err(Rejection::ServiceIdTaken(c.service.id.to_string()));
        }
        if create_tenant {
            self.create_tenant(ch, tenant);
        }
        let outcome = self.create_service(ch, now, &c.service)?;
        if let (CommandOutcome::Service { id, .. }, false) = (&outcome, c.tags.is_empty()) {
            let tags = PutTags {
                service: ServiceRef {
                    tenant: tenant.clone(),
                    id: id.as_str().into(),
                },
                tags: c.tags.clone(),
            };
            self.put_tags(ch, &tags)?;
        }
        Ok(outcome)
    }

    fn update_service(
        &mut self,
        ch: &mut Changes,
        now: Millis,
        c: &UpdateService,
    ) -> Result<CommandOutcome, Rejection> {
        let existing = self.require_service(&c.service)?;
        let mut s = (*existing).clone();
        if let Some(d) = &c.description {
            s.description = d.clone();
        }
        if let Some(p) = &c.properties {
            s.properties = p.clone();
        }
        if let Some(p) = &c.protocol_fields {
            merge_protocol_fields(&mut s.protocol_fields, p);
        }
        if s == *existing {
            return Ok(CommandOutcome::Unchanged);
        }
        s.updated_at_ms = now;
        s.mod_revision = ch.revision;
        let s = Arc::new(s);
        self.put_service(s.clone());
        ch.push(ChangeKind::Updated, Entity::Service(s));
        Ok(CommandOutcome::Applied)
    }

    fn delete_service(&mut self, ch: &mut Changes, c: &DeleteService) -> Result<CommandOutcome, Rejection> {
        let service = self.require_service(&c.service)?;
        let instance_keys: Vec<InstanceKey> = self.instances_of(&c.service).map(|i| i.key()).collect();
        if !instance_keys.is_empty() && !c.force {
            return Err(Rejection::ServiceHasInstances(c.service.id.to_string()));
        }
        let others_depend = self.consumers_of(&service).any(|d| d.consumer != c.service);
        if others_depend && !c.force {
            return Err(Rejection::ServiceHasConsumers(c.service.id.to_string()));
        }
        let own: Vec<Arc<Dependency>> = self.dependencies_of(&c.service).cloned().collect();
        for d in own {
            self.dependencies.remove(&d);
            ch.push(ChangeKind::Deleted, Entity::Dependency(d));
        }
        for key in instance_keys {
            if let Some(i) = self.instances.remove(&key) {
                ch.push(ChangeKind::Deleted, Entity::Instance(i));
            }
        }
        let schema_ids: Vec<(ServiceRef, String)> = self
            .schemas_of(&c.service)
            .map(|s| (s.service.clone(), s.schema_id.clone()))
            .collect();
        for id in schema_ids {
            if let Some(s) = self.schemas.remove(&id) {
                ch.push(ChangeKind::Deleted, Entity::Schema(s));
            }
        }
        if let Some(t) = self.tags.remove(&c.service) {
            ch.push(ChangeKind::Deleted, Entity::Tags(t));
        }
        self.remove_service(&service);
        ch.push(ChangeKind::Deleted, Entity::Service(service));
        Ok(CommandOutcome::Applied)
    }

    fn register_instance(
        &mut self,
        ch: &mut Changes,
        now: Millis,
        c: &RegisterInstance,
    ) -> Result<CommandOutcome, Rejection> {
        let service_ref = c.instance.service_ref();
        // Everything that could refuse is checked before anything changes: a refused
        // registration leaves no tenant or service behind.
        let create_tenant = !self.tenants.contains(&service_ref.tenant);
        if create_tenant && !c.create_tenant {
            return Err(Rejection::UnknownTenant(service_ref.tenant.to_string()));
        }
        let create_service = match (self.services.contains_key(&service_ref), &c.create_service) {
            (true, _) => None,
            (false, None) => return Err(Rejection::ServiceNotFound(service_ref.id.to_string())),
            // The key is taken by a service with another id: registering under the requested
            // id would orphan the instance.
            (false, Some(s)) if self.service_by_key(&s.key()).is_some() => {
                return Err(Rejection::ServiceIdTaken(s.id.to_string()))
            }
            (false, Some(s)) => Some(s),
        };
        if create_tenant {
            self.create_tenant(ch, &service_ref.tenant);
        }
        if let Some(s) = create_service {
            self.create_service(ch, now, s)?;
        }
        let key = c.instance.key();
        let previous = self.instances.get(&key).cloned();
        if let Some(p) = &previous {
            if p.client_modified_ms > c.instance.client_modified_ms {
                return Ok(CommandOutcome::Unchanged);
            }
        }
        let mut i = c.instance.clone();
        i.status_override = i.status_override.or(previous.as_ref().and_then(|p| p.status_override));
        i.status = InstanceStatus::effective(i.status, i.status_override);
        i.registered_at_ms = now;
        self.put_instance(ch, now, i, previous.as_deref());
        if let Some(old) = c.replaces.as_ref().filter(|old| self.is_older_copy(old, &key)) {
            let removed = self.instances.remove(old).expect("checked by is_older_copy");
            ch.push(ChangeKind::Deleted, Entity::Instance(removed));
        }
        Ok(CommandOutcome::Instance {
            existed: previous.is_some(),
        })
    }

    /// Whether `old` is another copy of the instance `new` that a registration replaces: it
    /// exists, it is not `new` itself, it has the same tenant and id, and its service has the
    /// same name as `new`'s ignoring ASCII case (another version of the same app).
    fn is_older_copy(&self, old: &InstanceKey, new: &InstanceKey) -> bool {
        if old == new || old.tenant != new.tenant || old.id != new.id || !self.instances.contains_key(old) {
            return false;
        }
        let name_of = |k: &InstanceKey| {
            self.services
                .get(&ServiceRef {
                    tenant: k.tenant.clone(),
                    id: k.service_id.clone(),
                })
                .map(|s| s.name.clone())
        };
        match (name_of(old), name_of(new)) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(&b),
            _ => false,
        }
    }

    /// Stores `i` as created or replacing `previous`, stamped with this revision, and records
    /// the change.
    fn put_instance(&mut self, ch: &mut Changes, now: Millis, mut i: Instance, previous: Option<&Instance>) {
        // Point at the service's own id text: ids past 23 bytes (`eureka.orders-service.1.2.0`)
        // are heap strings, one per instance otherwise (issue 23).
        if let Some(service) = self.services.get(&i.service_ref()) {
            i.service_id = service.id.clone();
        }
        i.updated_at_ms = now;
        i.create_revision = previous.map_or(ch.revision, |p| p.create_revision);
        i.mod_revision = ch.revision;
        let kind = if previous.is_some() {
            ChangeKind::Updated
        } else {
            ChangeKind::Created
        };
        let i = Arc::new(i);
        self.instances.insert(i.clone());
        ch.push(kind, Entity::Instance(i));
    }

    fn cancel_instance(&mut self, ch: &mut Changes, key: &InstanceKey) -> Result<CommandOutcome, Rejection> {
        self.require_instance(key)?;
        let removed = self.instances.remove(key).expect("checked above");
        ch.push(ChangeKind::Deleted, Entity::Instance(removed));
        Ok(CommandOutcome::Applied)
    }

    /// Replaces an instance with `edit` applied, unless the edit changed nothing.
    fn edit_instance(
        &mut self,
        ch: &mut Changes,
        now: Millis,
        key: &InstanceKey,
        edit: impl FnOnce(&mut Instance),
    ) -> Result<CommandOutcome, Rejection> {
        let existing = self.require_instance(key)?;
        let mut i = (*existing).clone();
        edit(&mut i);
        if i == *existing {
            return Ok(CommandOutcome::Unchanged);
        }
        i.updated_at_ms = now;
        i.mod_revision = ch.revision;
        let i = Arc::new(i);
        debug_assert_eq!(i.key(), *key, "an edit keeps the instance's key");
        self.instances.insert(i.clone());
        ch.push(ChangeKind::Updated, Entity::Instance(i));
        Ok(CommandOutcome::Applied)
    }

    fn set_instance_status(
        &mut self,
        ch: &mut Changes,
        now: Millis,
        c: &SetInstanceStatus,
    ) -> Result<CommandOutcome, Rejection> {
        self.edit_instance(ch, now, &c.instance, |i| {
            i.status = c.status;
            match c.status_override {
                OverrideChange::Keep => {}
                OverrideChange::Set(s) => i.status_override = Some(s),
                OverrideChange::Clear => i.status_override = None,
            }
            if let Some(stamp) = c.client_modified_ms {
                i.client_modified_ms = i.client_modified_ms.max(stamp);
            }
            if let Some(p) = &c.protocol_fields {
                merge_protocol_fields(&mut i.protocol_fields, p);
            }
        })
    }

    fn update_instance_metadata(
        &mut self,
        ch: &mut Changes,
        now: Millis,
        c: &UpdateInstanceMetadata,
    ) -> Result<CommandOutcome, Rejection> {
        self.edit_instance(ch, now, &c.instance, |i| {
            if c.replace {
                i.metadata = c.metadata.clone();
            } else {
                i.metadata
                    .extend(c.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            if let Some(p) = &c.protocol_fields {
                merge_protocol_fields(&mut i.protocol_fields, p);
            }
        })
    }

    fn put_schema(&mut self, ch: &mut Changes, now: Millis, c: &PutSchema) -> Result<CommandOutcome, Rejection> {
        let service = self.require_service(&c.service)?;
        let record = Arc::new(SchemaRecord {
            service: c.service.clone(),
            schema_id: c.schema_id.clone(),
            content: c.content.clone(),
            summary: c.summary.clone(),
        });
        let key = (c.service.clone(), c.schema_id.clone());
        let previous = self.schemas.insert(key, record.clone());
        if previous.as_deref() == Some(&*record) {
            return Ok(CommandOutcome::Unchanged);
        }
        let kind = if previous.is_some() {
            ChangeKind::Updated
        } else {
            ChangeKind::Created
        };
        ch.push(kind, Entity::Schema(record));
        if !service.schemas.contains(&c.schema_id) {
            let mut s = (*service).clone();
            s.schemas.push(c.schema_id.clone());
            s.updated_at_ms = now;
            s.mod_revision = ch.revision;
            let s = Arc::new(s);
            self.put_service(s.clone());
            ch.push(ChangeKind::Updated, Entity::Service(s));
        }
        Ok(CommandOutcome::Applied)
    }

    fn replace_schemas(
        &mut self,
        ch: &mut Changes,
        now: Millis,
        c: &ReplaceSchemas,
    ) -> Result<CommandOutcome, Rejection> {
        let service = self.require_service(&c.service)?;
        let listed: Vec<&str> = c.schemas.iter().map(|s| s.schema_id.as_str()).collect();
        let stale: Vec<(ServiceRef, String)> = self
            .schemas_of(&c.service)
            .filter(|s| !listed.contains(&s.schema_id.as_str()))
            .map(|s| (s.service.clone(), s.schema_id.clone()))
            .collect();
        let mut changed = false;
        for key in stale {
            if let Some(removed) = self.schemas.remove(&key) {
                ch.push(ChangeKind::Deleted, Entity::Schema(removed));
                changed = true;
            }
        }
        for s in &c.schemas {
            let record = Arc::new(SchemaRecord {
                service: c.service.clone(),
                schema_id: s.schema_id.clone(),
                content: s.content.clone(),
                summary: s.summary.clone(),
            });
            let previous = self
                .schemas
                .insert((c.service.clone(), s.schema_id.clone()), record.clone());
            if previous.as_deref() != Some(&*record) {
                let kind = if previous.is_some() {
                    ChangeKind::Updated
                } else {
                    ChangeKind::Created
                };
                ch.push(kind, Entity::Schema(record));
                changed = true;
            }
        }
        let ids: Vec<String> = listed.iter().map(|id| id.to_string()).collect();
        if service.schemas != ids {
            let mut updated = (*service).clone();
            updated.schemas = ids;
            updated.updated_at_ms = now;
            updated.mod_revision = ch.revision;
            let updated = Arc::new(updated);
            self.put_service(updated.clone());
            ch.push(ChangeKind::Updated, Entity::Service(updated));
            changed = true;
        }
        Ok(if changed {
            CommandOutcome::Applied
        } else {
            CommandOutcome::Unchanged
        })
    }

    fn delete_schema(&mut self, ch: &mut Changes, c: &DeleteSchema) -> Result<CommandOutcome, Rejection> {
        self.require_service(&c.service)?;
        let removed = self
            .schemas
            .remove(&(c.service.clone(), c.schema_id.clone()))
            .ok_or_else(|| Rejection::SchemaNotFound(c.schema_id.clone()))?;
        ch.push(ChangeKind::Deleted, Entity::Schema(removed));
        Ok(CommandOutcome::Applied)
    }

    fn put_tags(&mut self, ch: &mut Changes, c: &PutTags) -> Result<CommandOutcome, Rejection> {
        self.require_service(&c.service)?;
        let previous = self.tags.get(&c.service).cloned();
        let mut tags = previous.as_ref().map(|t| t.tags.clone()).unwrap_or_default();
        tags.extend(c.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        if previous.as_ref().is_some_and(|p| p.tags == tags) {
            return Ok(CommandOutcome::Unchanged);
        }
        let record = Arc::new(ServiceTags {
            service: c.service.clone(),
            tags,
        });
        self.tags.insert(c.service.clone(), record.clone());
        let kind = if previous.is_some() {
            ChangeKind::Updated
        } else {
            ChangeKind::Created
        };
        ch.push(kind, Entity::Tags(record));
        Ok(CommandOutcome::Applied)
    }

    fn delete_tags(&mut self, ch: &mut Changes, c: &DeleteTags) -> Result<CommandOutcome, Rejection> {
        self.require_service(&c.service)?;
        let existing = self.tags.get(&c.service).cloned();
        let mut tags = existing.as_ref().map(|t| t.tags.clone()).unwrap_or_default();
        for k in &c.keys {
            if tags.remove(k.as_str()).is_none() {
                return Err(Rejection::TagNotFound(k.clone()));
            }
        }
        let record = Arc::new(ServiceTags {
            service: c.service.clone(),
            tags,
        });
        if record.tags.is_empty() {
            self.tags.remove(&c.service);
            ch.push(ChangeKind::Deleted, Entity::Tags(record));
        } else {
            self.tags.insert(c.service.clone(), record.clone());
            ch.push(ChangeKind::Updated, Entity::Tags(record));
        }
        Ok(CommandOutcome::Applied)
    }

    fn evict(&mut self, ch: &mut Changes, c: &EvictInstances) -> CommandOutcome {
        let mut applied = 0;
        for item in &c.items {
            let current = self.instances.get(&item.instance).map(|i| i.mod_revision);
            if current == Some(item.expected_mod_revision) {
                let removed = self.instances.remove(&item.instance).expect("present");
                ch.push(ChangeKind::Deleted, Entity::Instance(removed));
                applied += 1;
            }
        }
        CommandOutcome::Batch { applied }
    }

    fn mirror_batch(&mut self, ch: &mut Changes, now: Millis, c: &MirrorBatch) -> Result<CommandOutcome, Rejection> {
        let from_source = |o: &Origin| o.source() == Some(c.source.as_str());
        if let Some(bad) = c.services.iter().find(|s| !from_source(&s.origin)) {
            return Err(Rejection::OriginMismatch(bad.id.to_string()));
        }
        if let Some(bad) = c.upserts.iter().find(|i| !from_source(&i.origin)) {
            return Err(Rejection::OriginMismatch(bad.key().to_string()));
        }
        let mut applied = 0;
        for s in &c.services {
            if !self.tenants.contains(&s.tenant) {
                self.create_tenant(ch, &s.tenant);
            }
            match self.services.get(&s.service_ref()) {
                // Records of other origins are never overwritten by a mirror.
                Some(existing) if !from_source(&existing.origin) => continue,
                Some(existing) if existing.same_content(s) => continue,
                Some(existing) => {
                    let mut s = s.clone();
                    s.created_at_ms = existing.created_at_ms;
                    s.create_revision = existing.create_revision;
                    s.updated_at_ms = now;
                    s.mod_revision = ch.revision;
                    let old_key = existing.key();
                    if old_key != s.key() {
                        self.service_keys.remove(&old_key);
                    }
                    let s = Arc::new(s);
                    self.put_service(s.clone());
                    ch.push(ChangeKind::Updated, Entity::Service(s));
                }
                None => {
                    if self.service_by_key(&s.key()).is_some() {
                        continue;
                    }
                    self.create_service(ch, now, s)?;
                }
            }
            applied += 1;
        }
        for i in &c.upserts {
            if !self.services.contains_key(&i.service_ref()) {
                continue;
            }
            let key = i.key();
            let previous = self.instances.get(&key).cloned();
            if let Some(p) = &previous {
                if !from_source(&p.origin) || p.same_content(i) {
                    continue;
                }
            }
            let mut i = i.clone();
            i.registered_at_ms = previous.as_ref().map_or(now, |p| p.registered_at_ms);
            self.put_instance(ch, now, i, previous.as_deref());
            applied += 1;
        }
        for key in &c.deletes {
            if self.instances.get(key).is_some_and(|i| from_source(&i.origin)) {
                let removed = self.instances.remove(key).expect("present");
                ch.push(ChangeKind::Deleted, Entity::Instance(removed));
                applied += 1;
            }
        }
        let checkpoint = MirrorCheckpoint {
            source: c.source.clone(),
            value: c.checkpoint.clone(),
            at_ms: now,
            revision: ch.revision,
        };
        let kind = if self.checkpoints.contains_key(&c.source) {
            ChangeKind::Updated
        } else {
            ChangeKind::Created
        };
        self.checkpoints.insert(c.source.clone(), checkpoint.clone());
        ch.push(kind, Entity::Checkpoint(Box::new(checkpoint)));
        Ok(CommandOutcome::Batch { applied })
    }

    fn add_dependency(&mut self, ch: &mut Changes, d: &Dependency) -> Result<CommandOutcome, Rejection> {
        self.require_service(&d.consumer)?;
        let d = Arc::new(d.clone());
        if !self.dependencies.insert(d.clone()) {
            return Ok(CommandOutcome::Unchanged);
        }
        ch.push(ChangeKind::Created, Entity::Dependency(d));
        Ok(CommandOutcome::Applied)
    }

    fn put_dependencies(&mut self, ch: &mut Changes, c: &PutDependencies) -> Result<CommandOutcome, Rejection> {
        let mut named: Vec<&Dependency> = Vec::with_capacity(c.dependencies.len());
        for d in &c.dependencies {
            match self.require_service(&d.consumer) {
                Ok(_) => named.push(d),
                Err(_) if c.skip_missing_consumers => {}
                Err(refused) => return Err(refused),
            }
        }
        let mut changed = false;
        if c.replace {
            let stale: Vec<Arc<Dependency>> = self
                .dependencies
                .iter()
                .filter(|d| named.iter().any(|n| n.consumer == d.consumer) && !named.contains(&&***d))
                .cloned()
                .collect();
            for d in stale {
                self.dependencies.remove(&d);
                ch.push(ChangeKind::Deleted, Entity::Dependency(d));
                changed = true;
            }
        }
        for d in named {
            let d = Arc::new(d.clone());
            if self.dependencies.insert(d.clone()) {
                ch.push(ChangeKind::Created, Entity::Dependency(d));
                changed = true;
            }
        }
        Ok(if changed {
            CommandOutcome::Applied
        } else {
            CommandOutcome::Unchanged
        })
    }

    fn announce_node(&mut self, ch: &mut Changes, node: &NodeRecord) -> CommandOutcome {
        let previous = self.nodes.insert(node.node_id, node.clone());
        if previous.as_ref() == Some(node) {
            return CommandOutcome::Unchanged;
        }
        let kind = if previous.is_some() {
            ChangeKind::Updated
        } else {
            ChangeKind::Created
        };
        ch.push(kind, Entity::Node(Box::new(node.clone())));
        CommandOutcome::Applied
    }
}

/// Sets or removes (on JSON `null`) each protocol's extra-field object.
fn merge_protocol_fields(target: &mut ProtocolFields, patch: &ProtocolFields) {
    for (k, v) in patch {
        if v.is_null() {
            target.remove(k);
        } else {
            target.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MirroredFrom;
    use crate::model::Properties;

    fn tenant() -> Tenant {
        Tenant::default()
    }

    fn service(id: &str) -> Service {
        Service::new(tenant(), id, "app", id)
    }

    fn instance(service: &str, id: &str) -> Instance {
        Instance::new(tenant(), service, id, "host")
    }

    fn proposal(command: Command) -> Proposal {
        Proposal { at_ms: 1_000, command }
    }

    fn register(state: &mut RegistryState, rev: Revision, i: Instance) -> (CommandOutcome, Vec<Change>) {
        let create_service = Some(service(&i.service_id));
        state.apply(
            rev,
            &proposal(Command::RegisterInstance(RegisterInstance::new(i, create_service))),
        )
    }

    #[test]
    fn instances_share_their_services_id_text() {
        let mut s = RegistryState::new();
        let long = "eureka.a-service-with-a-long-name.1.2.0";
        register(&mut s, 1, instance(long, "i-1"));
        register(&mut s, 2, instance(long, "i-2"));
        let ids: Vec<&str> = s.instances().map(|i| i.service_id.as_str()).collect();
        assert_eq!(ids, [long, long]);
        assert!(std::ptr::eq(ids[0], ids[1]), "one copy of the id text");
    }

    #[test]
    fn restored_records_come_back_as_they_were_with_new_revisions() {
        let mut old = RegistryState::new();
        register(&mut old, 5, instance("svc-a", "a-1"));
        register(&mut old, 6, instance("svc-b", "b-1"));
        let records: Vec<Entity> = old.entities().filter(|e| !matches!(e, Entity::Node(_))).collect();

        let mut new = RegistryState::new();
        let (outcome, changes) = new.apply(
            40,
            &proposal(Command::RestoreRecords(RestoreRecords {
                records: records.clone(),
                into_empty: true,
            })),
        );
        assert_eq!(outcome, CommandOutcome::Applied);
        assert_eq!(
            changes.len(),
            4,
            "two services, two instances (the default tenant exists)"
        );
        for i in old.instances() {
            let back = new.instance(&i.key()).expect("restored");
            assert!(back.same_content(i));
            assert_eq!((back.create_revision, back.mod_revision), (40, 40));
        }
        assert!(new.service_by_key(&service("svc-b").key()).is_some());

        // An instance whose service is neither there nor earlier in the command: nothing changes.
        let mut empty = RegistryState::new();
        let orphan = records
            .iter()
            .filter(|e| matches!(e, Entity::Instance(_)))
            .cloned()
            .collect();
        let (outcome, changes) = empty.apply(
            41,
            &proposal(Command::RestoreRecords(RestoreRecords {
                records: orphan,
                into_empty: true,
            })),
        );
        assert!(
            matches!(outcome, CommandOutcome::Rejected(Rejection::ServiceNotFound(_))),
            "{outcome:?}"
        );
        assert!(changes.is_empty() && empty.instance_count() == 0);

        // Into a registry that is no longer empty (another restore won): refused whole.
        let (outcome, changes) = new.apply(
            42,
            &proposal(Command::RestoreRecords(RestoreRecords {
                records,
                into_empty: true,
            })),
        );
        assert_eq!(
            outcome,
            CommandOutcome::Rejected(Rejection::NotEmpty {
                services: 2,
                instances: 2
            })
        );
        assert!(changes.is_empty());
    }

    #[test]
    fn register_creates_the_service_then_replaces_the_instance() {
        let mut s = RegistryState::new();
        let (outcome, changes) = register(&mut s, 5, instance("svc", "a"));
        assert_eq!(outcome, CommandOutcome::Instance { existed: false });
        assert_eq!(changes.len(), 2, "service created and instance created");
        assert!(changes.iter().all(|c| c.revision == 5 && c.kind == ChangeKind::Created));
        let mut again = instance("svc", "a");
        again.host_name = "moved".into();
        let (outcome, changes) = register(&mut s, 9, again);
        assert_eq!(outcome, CommandOutcome::Instance { existed: true });
        assert_eq!(changes.len(), 1);
        let stored = s.instance(&instance("svc", "a").key()).unwrap();
        assert_eq!(
            (stored.host_name.as_str(), stored.create_revision, stored.mod_revision),
            ("moved", 5, 9)
        );
    }

    #[test]
    fn register_without_a_service_or_tenant_is_refused_and_changes_nothing() {
        let mut s = RegistryState::new();
        let c = Command::RegisterInstance(RegisterInstance::new(instance("svc", "a"), None));
        assert_eq!(
            s.apply(1, &proposal(c)).0,
            CommandOutcome::Rejected(Rejection::ServiceNotFound("svc".into()))
        );
        let mut i = instance("svc", "a");
        i.tenant = Tenant::new("acme", "x");
        let c = Command::RegisterInstance(RegisterInstance::new(i, None));
        let (outcome, changes) = s.apply(2, &proposal(c));
        assert_eq!(
            outcome,
            CommandOutcome::Rejected(Rejection::UnknownTenant("acme/x".into()))
        );
        assert!(changes.is_empty());
        assert_eq!(s.instance_count(), 0);
    }

    #[test]
    fn invalid_commands_are_rejected_at_apply_too() {
        let mut s = RegistryState::new();
        let (outcome, changes) = register(&mut s, 1, instance("svc", ""));
        assert!(matches!(outcome, CommandOutcome::Rejected(Rejection::Invalid(_))));
        assert!(changes.is_empty());
    }

    #[test]
    fn a_stale_registration_does_not_replace_a_newer_record() {
        let mut s = RegistryState::new();
        let mut newer = instance("svc", "a");
        newer.client_modified_ms = 200;
        newer.host_name = "new".into();
        register(&mut s, 1, newer);
        let mut stale = instance("svc", "a");
        stale.client_modified_ms = 100;
        stale.host_name = "old".into();
        assert_eq!(register(&mut s, 2, stale).0, CommandOutcome::Unchanged);
        assert_eq!(s.instance(&instance("svc", "a").key()).unwrap().host_name, "new");
    }

    #[test]
    fn an_override_survives_reregistration_and_wins_over_up_but_not_down() {
        let mut s = RegistryState::new();
        register(&mut s, 1, instance("svc", "a"));
        let key = instance("svc", "a").key();
        let set = SetInstanceStatus {
            instance: key.clone(),
            status: InstanceStatus::OutOfService,
            status_override: OverrideChange::Set(InstanceStatus::OutOfService),
            client_modified_ms: None,
            protocol_fields: None,
        };
        assert_eq!(
            s.apply(2, &proposal(Command::SetInstanceStatus(set))).0,
            CommandOutcome::Applied
        );
        register(&mut s, 3, instance("svc", "a"));
        let stored = s.instance(&key).unwrap();
        assert_eq!(
            (stored.status, stored.status_override),
            (InstanceStatus::OutOfService, Some(InstanceStatus::OutOfService))
        );
        let mut down = instance("svc", "a");
        down.status = InstanceStatus::Down;
        register(&mut s, 4, down);
        assert_eq!(s.instance(&key).unwrap().status, InstanceStatus::Down);
        let clear = SetInstanceStatus {
            instance: key.clone(),
            status: InstanceStatus::Unknown,
            status_override: OverrideChange::Clear,
            client_modified_ms: Some(50),
            protocol_fields: None,
        };
        s.apply(5, &proposal(Command::SetInstanceStatus(clear)));
        let stored = s.instance(&key).unwrap();
        assert_eq!(
            (stored.status, stored.status_override, stored.client_modified_ms),
            (InstanceStatus::Unknown, None, 50)
        );
    }

    #[test]
    fn eviction_skips_instances_changed_since_the_leader_decided() {
        let mut s = RegistryState::new();
        register(&mut s, 1, instance("svc", "a"));
        register(&mut s, 2, instance("svc", "b"));
        register(&mut s, 3, instance("svc", "b"));
        let items = vec![
            EvictItem {
                instance: instance("svc", "a").key(),
                expected_mod_revision: 1,
            },
            EvictItem {
                instance: instance("svc", "b").key(),
                expected_mod_revision: 2,
            },
            EvictItem {
                instance: instance("svc", "gone").key(),
                expected_mod_revision: 1,
            },
        ];
        let (outcome, changes) = s.apply(4, &proposal(Command::EvictInstances(EvictInstances { items, term: 0 })));
        assert_eq!(outcome, CommandOutcome::Batch { applied: 1 });
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, ChangeKind::Deleted);
        assert!(s.instance(&instance("svc", "b").key()).is_some());
    }

    #[test]
    fn deleting_a_service_needs_force_while_it_has_instances() {
        let mut s = RegistryState::new();
        register(&mut s, 1, instance("svc", "a"));
        let service = ServiceRef {
            tenant: tenant(),
            id: "svc".into(),
        };
        let delete = |force| {
            proposal(Command::DeleteService(DeleteService {
                service: service.clone(),
                force,
            }))
        };
        assert_eq!(
            s.apply(2, &delete(false)).0,
            CommandOutcome::Rejected(Rejection::ServiceHasInstances("svc".into()))
        );
        let (outcome, changes) = s.apply(3, &delete(true));
        assert_eq!(outcome, CommandOutcome::Applied);
        assert_eq!(changes.len(), 2, "instance and service deleted");
        assert_eq!((s.service_count(), s.instance_count()), (0, 0));
    }

    #[test]
    fn services_are_found_by_name_or_alias_until_deleted() {
        let mut s = RegistryState::new();
        let mut aliased = service("b");
        aliased.name = "Orders".into();
        aliased.alias = "legacy-orders".into();
        s.apply(1, &proposal(Command::CreateService(CreateService::new(aliased))));
        register(&mut s, 2, instance("orders", "a"));
        let ids = |s: &RegistryState, name: &str| {
            s.services_named(&tenant(), name)
                .map(|x| x.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&s, "ORDERS"), ["b", "orders"]);
        assert_eq!(ids(&s, "Legacy-Orders"), ["b"]);
        assert!(ids(&s, "payments").is_empty());
        let delete = DeleteService {
            service: ServiceRef {
                tenant: tenant(),
                id: "b".into(),
            },
            force: true,
        };
        s.apply(3, &proposal(Command::DeleteService(delete)));
        assert_eq!(ids(&s, "orders"), ["orders"]);
        assert!(ids(&s, "legacy-orders").is_empty());
        assert!(
            s.service_names.keys().all(|(_, n)| n == "orders"),
            "no empty entries left"
        );
    }

    #[test]
    fn creating_a_service_is_idempotent_by_key() {
        let mut s = RegistryState::new();
        let create = |id: &str| proposal(Command::CreateService(CreateService::new(service(id))));
        assert_eq!(
            s.apply(1, &create("svc")).0,
            CommandOutcome::Service {
                id: "svc".into(),
                existed: false
            }
        );
        assert_eq!(
            s.apply(2, &create("svc")).0,
            CommandOutcome::Service {
                id: "svc".into(),
                existed: true
            }
        );
        let mut other = service("svc");
        other.name = "different".into();
        let c = proposal(Command::CreateService(CreateService::new(other)));
        assert_eq!(
            s.apply(3, &c).0,
            CommandOutcome::Rejected(Rejection::ServiceIdTaken("svc".into()))
        );
    }

    fn mirrored(mut i: Instance, source: &str, observed: u64) -> Instance {
        i.origin = Origin::Mirrored(Box::new(MirroredFrom {
            source: source.into(),
            remote_id: i.id.clone(),
            remote_revision: None,
            observed_at_ms: observed,
        }));
        i
    }

    #[test]
    fn mirror_batches_touch_only_their_own_source() {
        let mut s = RegistryState::new();
        register(&mut s, 1, instance("svc", "local"));
        let mut svc = service("svc");
        svc.origin = Origin::Mirrored(Box::new(MirroredFrom {
            source: "dc2".into(),
            remote_id: "svc".into(),
            remote_revision: None,
            observed_at_ms: 0,
        }));
        let batch = |observed, upserts: Vec<Instance>, deletes: Vec<InstanceKey>| {
            proposal(Command::MirrorBatch(MirrorBatch {
                source: "dc2".into(),
                services: vec![svc.clone()],
                upserts,
                deletes,
                checkpoint: format!("cp-{observed}"),
            }))
        };
        let first = batch(
            1,
            vec![mirrored(instance("svc", "m1"), "dc2", 1)],
            vec![instance("svc", "local").key()],
        );
        let (outcome, _) = s.apply(2, &first);
        assert_eq!(
            outcome,
            CommandOutcome::Batch { applied: 1 },
            "the local service and instance are not touched"
        );
        assert!(s.instance(&instance("svc", "local").key()).is_some());
        // The same record observed again later is no change; only the checkpoint moves.
        let (_, changes) = s.apply(3, &batch(2, vec![mirrored(instance("svc", "m1"), "dc2", 2)], vec![]));
        assert_eq!(changes.len(), 1);
        assert!(matches!(changes[0].entity, Entity::Checkpoint(_)));
        assert_eq!(s.checkpoint("dc2").unwrap().value, "cp-2");
        // A record claiming another source is refused as a whole.
        let (outcome, _) = s.apply(4, &batch(3, vec![mirrored(instance("svc", "m2"), "dc3", 3)], vec![]));
        assert!(matches!(
            outcome,
            CommandOutcome::Rejected(Rejection::OriginMismatch(_))
        ));
        let (outcome, _) = s.apply(5, &batch(4, vec![], vec![instance("svc", "m1").key()]));
        assert_eq!(outcome, CommandOutcome::Batch { applied: 1 });
        assert!(s.instance(&instance("svc", "m1").key()).is_none());
    }

    #[test]
    fn the_same_log_gives_the_same_state() {
        let log: Vec<Proposal> = (0..50)
            .map(|n| {
                let mut i = instance(&format!("svc{}", n % 3), &format!("i{}", n % 7));
                i.metadata = Properties::from_iter([("n".into(), n.to_string().into())]);
                let create_service = Some(service(&i.service_id));
                if n % 5 == 4 {
                    proposal(Command::CancelInstance(CancelInstance { instance: i.key() }))
                } else {
                    proposal(Command::RegisterInstance(RegisterInstance::new(i, create_service)))
                }
            })
            .collect();
        let run = || {
            let mut s = RegistryState::new();
            for (n, p) in log.iter().enumerate() {
                s.apply(n as Revision + 1, p);
            }
            s.entities()
                .map(|e| format!("{e:?}"))
                .collect::<std::collections::BTreeSet<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn restoring_entities_rebuilds_the_same_state() {
        let mut s = RegistryState::new();
        register(&mut s, 1, instance("svc", "a"));
        register(&mut s, 2, instance("other", "b"));
        let mut copy = RegistryState::new();
        for e in s.entities() {
            copy.restore(e);
        }
        let key = ServiceKey {
            tenant: tenant(),
            environment: String::new(),
            app: "app".into(),
            name: "svc".into(),
            version: "0.0.1".into(),
        };
        assert_eq!(copy.service_by_key(&key).map(|s| s.id.as_str()), Some("svc"));
        assert_eq!(
            copy.instances_of(&ServiceRef {
                tenant: tenant(),
                id: "other".into()
            })
            .count(),
            1
        );
        assert_eq!(copy.instance_count(), 2);
    }

    /// A registration of instance `id` under the `version` of app `app` (service `app.version`),
    /// creating its service, as Eureka proposes it.
    fn versioned(tenant: &Tenant, app: &str, version: &str, id: &str) -> RegisterInstance {
        let service_id = format!("{app}.{version}");
        let mut service = Service::new(tenant.clone(), service_id.as_str(), "eureka", app);
        service.version = version.into();
        let instance = Instance::new(tenant.clone(), service_id.as_str(), id, "host");
        RegisterInstance::new(instance, Some(service))
    }

    fn apply_register(s: &mut RegistryState, rev: Revision, c: RegisterInstance) -> (CommandOutcome, Vec<Change>) {
        s.apply(rev, &proposal(Command::RegisterInstance(c)))
    }

    #[test]
    fn a_registration_creates_its_missing_tenant_and_service_in_one_step() {
        let mut s = RegistryState::new();
        let acme = Tenant::new("acme", "prod");
        let (outcome, changes) = apply_register(&mut s, 3, versioned(&acme, "orders", "1", "i-1"));
        assert_eq!(
            outcome,
            CommandOutcome::Rejected(Rejection::UnknownTenant("acme/prod".into()))
        );
        assert!(changes.is_empty() && !s.tenant_exists(&acme));

        let mut c = versioned(&acme, "orders", "1", "i-1");
        c.create_tenant = true;
        let (outcome, changes) = apply_register(&mut s, 4, c.clone());
        assert_eq!(outcome, CommandOutcome::Instance { existed: false });
        let kinds: Vec<(&str, ChangeKind, Revision)> = changes
            .iter()
            .map(|c| {
                let entity = match &c.entity {
                    Entity::Tenant(_) => "tenant",
                    Entity::Service(_) => "service",
                    Entity::Instance(_) => "instance",
                    _ => "other",
                };
                (entity, c.kind, c.revision)
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("tenant", ChangeKind::Created, 4),
                ("service", ChangeKind::Created, 4),
                ("instance", ChangeKind::Created, 4)
            ]
        );
        // The tenant now exists: asking to create it again changes only the instance.
        let (outcome, changes) = apply_register(&mut s, 5, c);
        assert_eq!(outcome, CommandOutcome::Instance { existed: true });
        assert_eq!(changes.len(), 1);
    }

    #[test]
    fn a_refused_registration_leaves_no_tenant_or_service_behind() {
        let mut s = RegistryState::new();
        let acme = Tenant::new("acme", "prod");
        // A new tenant, but no service to register under: nothing is created.
        let mut c = RegisterInstance::new(Instance::new(acme.clone(), "svc", "i-1", "h"), None);
        c.create_tenant = true;
        let (outcome, changes) = apply_register(&mut s, 1, c);
        assert_eq!(
            outcome,
            CommandOutcome::Rejected(Rejection::ServiceNotFound("svc".into()))
        );
        assert!(changes.is_empty() && !s.tenant_exists(&acme));

        // The service's key is held by a service with another id: refused before anything.
        let mut taken = Service::new(tenant(), "first-id", "eureka", "orders");
        taken.version = "1".into();
        s.apply(2, &proposal(Command::CreateService(CreateService::new(taken))));
        let mut c = versioned(&tenant(), "orders", "1", "i-1");
        c.create_tenant = true;
        let (outcome, changes) = apply_register(&mut s, 3, c);
        assert_eq!(
            outcome,
            CommandOutcome::Rejected(Rejection::ServiceIdTaken("orders.1".into()))
        );
        assert!(changes.is_empty() && s.instance_count() == 0 && s.service_count() == 1);
    }

    #[test]
    fn a_registration_replaces_its_copy_under_another_version_in_the_same_step() {
        let mut s = RegistryState::new();
        let t = tenant();
        apply_register(&mut s, 1, versioned(&t, "orders", "1", "i-1"));
        let old = versioned(&t, "orders", "1", "i-1").instance.key();

        let mut moved = versioned(&t, "orders", "2", "i-1");
        moved.instance.client_modified_ms = 10;
        moved.replaces = Some(old.clone());
        let new = moved.instance.key();
        let (outcome, changes) = apply_register(&mut s, 2, moved);
        assert_eq!(outcome, CommandOutcome::Instance { existed: false });
        let summary: Vec<(ChangeKind, String)> = changes
            .iter()
            .map(|c| match &c.entity {
                Entity::Instance(i) => (c.kind, i.key().to_string()),
                Entity::Service(s) => (c.kind, s.id.to_string()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            summary,
            [
                (ChangeKind::Created, "orders.2".to_string()),
                (ChangeKind::Created, new.to_string()),
                (ChangeKind::Deleted, old.to_string()),
            ]
        );
        assert!(changes.iter().all(|c| c.revision == 2));
        assert!(s.instance(&old).is_none() && s.instance(&new).is_some());
    }

    #[test]
    fn apply_decides_whether_the_named_old_key_is_a_copy_to_replace() {
        let t = tenant();
        let old = versioned(&t, "orders", "1", "i-1").instance.key();
        let setup = || {
            let mut s = RegistryState::new();
            apply_register(&mut s, 1, versioned(&t, "orders", "1", "i-1"));
            s
        };

        // Gone meanwhile (cancelled between the proposer's read and apply): nothing to remove,
        // the registration still succeeds.
        let mut s = setup();
        s.apply(
            2,
            &proposal(Command::CancelInstance(CancelInstance { instance: old.clone() })),
        );
        let mut c = versioned(&t, "orders", "2", "i-1");
        c.replaces = Some(old.clone());
        let (outcome, changes) = apply_register(&mut s, 3, c);
        assert_eq!(outcome, CommandOutcome::Instance { existed: false });
        assert!(changes.iter().all(|c| c.kind == ChangeKind::Created), "{changes:?}");

        // The named instance belongs to a service of another name: left alone.
        let mut s = setup();
        let mut c = versioned(&t, "billing", "1", "i-1");
        c.replaces = Some(old.clone());
        apply_register(&mut s, 2, c);
        assert!(s.instance(&old).is_some(), "another app's instance was removed");

        // A stale registration changes nothing, so it does not remove the newer copy either.
        let mut s = setup();
        let mut newer = versioned(&t, "orders", "2", "i-1");
        newer.instance.client_modified_ms = 50;
        apply_register(&mut s, 2, newer);
        let mut stale = versioned(&t, "orders", "2", "i-1");
        stale.instance.client_modified_ms = 10;
        stale.replaces = Some(old.clone());
        let (outcome, changes) = apply_register(&mut s, 3, stale);
        assert_eq!(outcome, CommandOutcome::Unchanged);
        assert!(changes.is_empty() && s.instance(&old).is_some());

        // Naming the registration's own key, or another instance id, is refused at the boundary.
        let mut s = setup();
        let mut itself = versioned(&t, "orders", "1", "i-1");
        itself.replaces = Some(old.clone());
        let (outcome, _) = apply_register(&mut s, 2, itself);
        assert!(
            matches!(outcome, CommandOutcome::Rejected(Rejection::Invalid(_))),
            "{outcome:?}"
        );
        let mut other = versioned(&t, "orders", "2", "i-2");
        other.replaces = Some(old.clone());
        let (outcome, _) = apply_register(&mut s, 3, other);
        assert!(
            matches!(outcome, CommandOutcome::Rejected(Rejection::Invalid(_))),
            "{outcome:?}"
        );
        assert!(s.instance(&old).is_some());
    }

    #[test]
    fn a_service_is_created_with_its_tenant_and_tags_in_one_step() {
        let mut s = RegistryState::new();
        let acme = Tenant::new("acme", "prod");
        let tags: Properties = [("team".into(), "blue".into())].into_iter().collect();
        let create = |id: &str, create_tenant: bool| CreateService {
            create_tenant,
            tags: tags.clone(),
            ..CreateService::new(Service::new(acme.clone(), id, "app", "orders"))
        };
        let (outcome, changes) = s.apply(1, &proposal(Command::CreateService(create("s-1", false))));
        assert_eq!(
            outcome,
            CommandOutcome::Rejected(Rejection::UnknownTenant("acme/prod".into()))
        );
        assert!(changes.is_empty());

        let (outcome, changes) = s.apply(2, &proposal(Command::CreateService(create("s-1", true))));
        assert_eq!(
            outcome,
            CommandOutcome::Service {
                id: "s-1".into(),
                existed: false
            }
        );
        assert_eq!(changes.len(), 3, "tenant, service and tags: {changes:?}");
        let s1 = ServiceRef {
            tenant: acme.clone(),
            id: "s-1".into(),
        };
        assert_eq!(s.tags_of(&s1).unwrap().tags, tags);

        // The same key under another id: the existing service, its tags merged.
        let mut more = create("s-2", true);
        more.tags = [("tier".into(), "gold".into())].into_iter().collect();
        let (outcome, _) = s.apply(3, &proposal(Command::CreateService(more)));
        assert_eq!(
            outcome,
            CommandOutcome::Service {
                id: "s-1".into(),
                existed: true
            }
        );
        assert_eq!(s.tags_of(&s1).unwrap().tags.len(), 2);

        // An id held by a service of another key: refused, tags included.
        let mut taken = CreateService::new(Service::new(acme.clone(), "s-1", "app", "billing"));
        taken.tags = [("team".into(), "red".into())].into_iter().collect();
        let (outcome, changes) = s.apply(4, &proposal(Command::CreateService(taken)));
        assert_eq!(
            outcome,
            CommandOutcome::Rejected(Rejection::ServiceIdTaken("s-1".into()))
        );
        assert!(changes.is_empty());
        assert_eq!(
            s.tags_of(&s1).unwrap().tags.get("team").map(|v| v.as_str()),
            Some("blue")
        );
    }
}

#[cfg(test)]
mod dependency_tests {
    use super::*;

    fn create(s: &mut RegistryState, rev: Revision, id: &str, name: &str) {
        let mut service = Service::new(Tenant::default(), id, "app", name);
        service.version = "1.0.0".into();
        s.apply(
            rev,
            &Proposal {
                at_ms: 0,
                command: Command::CreateService(CreateService::new(service)),
            },
        );
    }

    #[test]
    fn dependencies_are_idempotent_and_guard_provider_deletion() {
        let mut s = RegistryState::new();
        create(&mut s, 1, "consumer", "web");
        create(&mut s, 2, "provider", "api");
        let dependency = Dependency {
            consumer: ServiceRef {
                tenant: Tenant::default(),
                id: "consumer".into(),
            },
            provider_environment: String::new(),
            provider_app: "app".into(),
            provider_name: "api".into(),
        };
        let add = Proposal {
            at_ms: 0,
            command: Command::AddDependency(AddDependency {
                dependency: dependency.clone(),
            }),
        };
        assert_eq!(s.apply(3, &add).0, CommandOutcome::Applied);
        assert_eq!(s.apply(4, &add).0, CommandOutcome::Unchanged);
        let provider = s
            .service(&ServiceRef {
                tenant: Tenant::default(),
                id: "provider".into(),
            })
            .unwrap()
            .clone();
        assert_eq!(s.consumers_of(&provider).count(), 1);
        let delete = |id: &str, force| Proposal {
            at_ms: 0,
            command: Command::DeleteService(DeleteService {
                service: ServiceRef {
                    tenant: Tenant::default(),
                    id: id.into(),
                },
                force,
            }),
        };
        assert_eq!(
            s.apply(5, &delete("provider", false)).0,
            CommandOutcome::Rejected(Rejection::ServiceHasConsumers("provider".into()))
        );
        // Deleting the consumer drops its dependencies; then the provider can go.
        assert_eq!(s.apply(6, &delete("consumer", false)).0, CommandOutcome::Applied);
        assert_eq!(s.consumers_of(&provider).count(), 0);
        assert_eq!(s.apply(7, &delete("provider", false)).0, CommandOutcome::Applied);
    }

    #[test]
    fn put_dependencies_is_all_or_nothing_and_replaces_only_when_asked() {
        let mut s = RegistryState::new();
        create(&mut s, 1, "consumer", "web");
        let on = |name: &str, consumer: &str| Dependency {
            consumer: ServiceRef {
                tenant: Tenant::default(),
                id: consumer.into(),
            },
            provider_environment: String::new(),
            provider_app: "app".into(),
            provider_name: name.into(),
        };
        let put = |dependencies: Vec<Dependency>, replace| Proposal {
            at_ms: 0,
            command: Command::PutDependencies(PutDependencies {
                dependencies,
                replace,
                skip_missing_consumers: false,
            }),
        };
        let consumer = on("a", "consumer").consumer;
        let names = |s: &RegistryState| -> Vec<String> {
            s.dependencies_of(&consumer).map(|d| d.provider_name.clone()).collect()
        };
        assert_eq!(
            s.apply(2, &put(vec![on("a", "consumer"), on("b", "consumer")], false))
                .0,
            CommandOutcome::Applied
        );
        assert_eq!(
            s.apply(3, &put(vec![on("c", "consumer"), on("x", "nobody")], false)).0,
            CommandOutcome::Rejected(Rejection::ServiceNotFound("nobody".into()))
        );
        assert_eq!(names(&s), ["a", "b"]);
        assert_eq!(
            s.apply(4, &put(vec![on("c", "consumer")], false)).0,
            CommandOutcome::Applied
        );
        assert_eq!(names(&s), ["a", "b", "c"]);
        let (outcome, changes) = s.apply(5, &put(vec![on("b", "consumer")], true));
        assert_eq!(outcome, CommandOutcome::Applied);
        assert_eq!(changes.len(), 2, "a and c dropped");
        assert_eq!(names(&s), ["b"]);
        assert_eq!(
            s.apply(6, &put(vec![on("b", "consumer")], true)).0,
            CommandOutcome::Unchanged
        );
    }

    fn proposal(command: Command) -> Proposal {
        Proposal { at_ms: 0, command }
    }

    #[test]
    fn a_schema_set_is_replaced_in_one_command() {
        let mut s = RegistryState::new();
        create(&mut s, 1, "svc", "svc");
        let service = ServiceRef {
            tenant: Tenant::default(),
            id: "svc".into(),
        };
        let schema = |id: &str, content: &str| SchemaContent {
            schema_id: id.into(),
            content: content.into(),
            summary: String::new(),
        };
        let replace = |schemas| {
            proposal(Command::ReplaceSchemas(ReplaceSchemas {
                service: service.clone(),
                schemas,
            }))
        };
        let many: Vec<SchemaContent> = (0..2_000).map(|n| schema(&format!("s{n}"), "x")).collect();
        let (outcome, changes) = s.apply(2, &replace(many.clone()));
        assert_eq!(outcome, CommandOutcome::Applied);
        assert_eq!(
            changes.len(),
            2_001,
            "every schema and the service's list, at one revision"
        );
        assert_eq!(s.apply(3, &replace(many)).0, CommandOutcome::Unchanged);
        let (outcome, changes) = s.apply(4, &replace(vec![schema("s1", "y"), schema("new", "z")]));
        assert_eq!(outcome, CommandOutcome::Applied);
        assert_eq!(changes.iter().filter(|c| c.kind == ChangeKind::Deleted).count(), 1_999);
        let ids: Vec<&str> = s.schemas_of(&service).map(|x| x.schema_id.as_str()).collect();
        assert_eq!(ids, ["new", "s1"]);
        assert_eq!(s.service(&service).unwrap().schemas, ["s1", "new"]);
    }

    #[test]
    fn services_are_deleted_in_one_command_each_on_its_own() {
        let mut s = RegistryState::new();
        create(&mut s, 1, "a", "a");
        create(&mut s, 2, "b", "b");
        let instance = crate::model::Instance::new(Tenant::default(), "b", "b-1", "h");
        let register = Command::RegisterInstance(RegisterInstance::new(instance, None));
        assert_eq!(
            s.apply(3, &proposal(register)).0,
            CommandOutcome::Instance { existed: false }
        );
        let refs = ["a", "b", "ghost"].map(|id| ServiceRef {
            tenant: Tenant::default(),
            id: id.into(),
        });
        let delete = |force| {
            proposal(Command::DeleteServices(DeleteServices {
                services: refs.to_vec(),
                force,
            }))
        };
        assert_eq!(
            s.apply(4, &delete(false)).0,
            CommandOutcome::Items(vec![
                None,
                Some(Rejection::ServiceHasInstances("b".into())),
                Some(Rejection::ServiceNotFound("ghost".into())),
            ])
        );
        assert!(s.service(&refs[0]).is_none() && s.service(&refs[1]).is_some());
        let (outcome, _) = s.apply(5, &delete(true));
        assert!(
            matches!(outcome, CommandOutcome::Items(ref items) if items[1].is_none()),
            "{outcome:?}"
        );
        assert_eq!(s.instance_count(), 0);
    }

    #[test]
    fn batched_dependencies_skip_consumers_that_are_gone() {
        let mut s = RegistryState::new();
        create(&mut s, 1, "consumer", "web");
        let on = |consumer: &str| Dependency {
            consumer: ServiceRef {
                tenant: Tenant::default(),
                id: consumer.into(),
            },
            provider_environment: String::new(),
            provider_app: "app".into(),
            provider_name: "orders".into(),
        };
        let put = |skip| {
            proposal(Command::PutDependencies(PutDependencies {
                dependencies: vec![on("deleted-meanwhile"), on("consumer")],
                replace: false,
                skip_missing_consumers: skip,
            }))
        };
        assert_eq!(
            s.apply(2, &put(false)).0,
            CommandOutcome::Rejected(Rejection::ServiceNotFound("deleted-meanwhile".into()))
        );
        let (outcome, changes) = s.apply(3, &put(true));
        assert_eq!(outcome, CommandOutcome::Applied);
        assert_eq!(changes.len(), 1);
        let consumer = on("consumer").consumer;
        assert_eq!(s.dependencies_of(&consumer).count(), 1);
        assert_eq!(s.apply(4, &put(true)).0, CommandOutcome::Unchanged);
    }
}
