//! Eureka's write operations with their semantics (§5.1, §5.6), shared by the single-call
//! endpoints and the peer replication batch.

use std::collections::HashSet;
use std::sync::Arc;

use registry_store::command::CancelInstance;
use registry_store::command::Command;
use registry_store::command::CommandOutcome;
use registry_store::command::OverrideChange;
use registry_store::command::RegisterInstance;
use registry_store::command::SetInstanceStatus;
use registry_store::model::Instance;
use registry_store::model::InstanceKey;
use registry_store::model::InstanceStatus;
use registry_store::model::Millis;
use registry_store::registry::Registry;
use registry_store::state::RegistryState;

use super::cache::EurekaPayloads;
use super::delta::DeltaWindow;
use super::error::EurekaError;
use super::mapping::status_from_store;
use super::mapping::status_to_store;
use super::mapping::to_instance;
use super::mapping::version_of;
use super::mapping::EurekaSettings;
use super::mapping::DEFAULT_VERSION;
use super::view::View;
use super::wire::InstanceInfo;
use super::wire::Status;

/// What the Eureka endpoints share.
pub struct Eureka {
    /// The store, through the protocols' seam: views copy out, nothing holds its lock.
    pub registry: Arc<dyn Registry>,
    pub settings: EurekaSettings,
    pub delta: Arc<DeltaWindow>,
    pub cache: EurekaPayloads,
    /// `/apps`, built off the runtime threads.
    pub full_fetch: super::full_fetch::FullFetch,
    /// When this node's Eureka API started (for `/status` uptime).
    pub started: std::time::Instant,
}

impl Eureka {
    /// Eureka's view of `state`, with this node's copy of the leader's lease times.
    pub fn view<'a>(&'a self, state: &'a RegistryState) -> View<'a> {
        View {
            state,
            settings: &self.settings,
            leases: Some(self.registry.lease_times()),
        }
    }
}

/// Who sent a renewal: a client, or a peer (`x-netflix-discovery-replication: true`, and every
/// item of a replication batch) with the override it knows (`overriddenstatus`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Renewer<'a> {
    pub replicated: bool,
    pub overridden_status: Option<&'a str>,
}

/// How a renewal went.
#[derive(Debug, Clone, PartialEq)]
pub enum Renewal {
    Renewed,
    /// Register again (unknown instance, status UNKNOWN, or the client knows a newer version).
    NotFound,
    /// A peer's record is older than ours (`lastDirtyTimestamp`): here is ours (409).
    Conflict(Box<InstanceInfo>),
}

/// A status value as Java's `InstanceStatus.valueOf` takes it (exact, upper case); anything
/// else throws there, which the status endpoints answer with 500.
pub fn status_value(value: Option<&str>) -> Result<Status, EurekaError> {
    Status::ALL
        .into_iter()
        .find(|s| Some(s.as_str()) == value)
        .ok_or_else(|| EurekaError::BadStatusValue(format!("invalid status value {:?}", value.unwrap_or(""))))
}

/// Eureka's registration checks, in the Netflix server's order.
pub fn validate_registration(path_app: &str, info: &InstanceInfo) -> Result<(), EurekaError> {
    let invalid = |m: String| Err(EurekaError::Invalid(m));
    if info.effective_id().is_empty() {
        return invalid("Missing instanceId".into());
    }
    if info.host_name.trim().is_empty() {
        return invalid("Missing hostname".into());
    }
    if info.ip_addr.trim().is_empty() {
        return invalid("Missing ip address".into());
    }
    if info.app.trim().is_empty() {
        return invalid("Missing appName".into());
    }
    let expected = path_app.to_ascii_uppercase();
    if !info.app.eq_ignore_ascii_case(&expected) {
        return invalid(format!("Mismatched appName, expecting {expected} but was {}", info.app));
    }
    if info.data_center_info.class.is_empty() && info.data_center_info.name.is_empty() {
        return invalid("Missing dataCenterInfo".into());
    }
    if info.data_center_info.name.is_empty() {
        return invalid("Missing dataCenterInfo Name".into());
    }
    Ok(())
}

impl Eureka {
    /// The stored key of an app's instance: Eureka registrations live under the app's service;
    /// instances registered through other protocols are found by name.
    pub fn key_of(&self, app: &str, id: &str) -> InstanceKey {
        self.registry
            .read(|applied| self.stored(&applied.state, app, id).map(|i| i.key()))
            .unwrap_or_else(|| self.direct_key(app, id))
    }

    /// The record of `app`'s instance `id` in `state`: the one under the app's own service,
    /// else the one under another version of the app or registered through another protocol.
    fn stored<'a>(&'a self, state: &'a RegistryState, app: &str, id: &str) -> Option<&'a Arc<Instance>> {
        let direct = self.direct_key(app, id);
        state
            .instance(&direct)
            .or_else(|| self.view(state).stored_except(app, id, Some(&direct.service_id)))
    }

    /// Where Eureka registrations of `app`'s instance `id` live: under the app's own service.
    fn direct_key(&self, app: &str, id: &str) -> InstanceKey {
        InstanceKey {
            tenant: self.settings.tenant.clone(),
            service_id: self.settings.service_id(app, DEFAULT_VERSION).into(),
            id: id.into(),
        }
    }

    async fn write(&self, command: Command) -> Result<CommandOutcome, EurekaError> {
        let written = self.registry.write(command).await?;
        match written.outcome {
            CommandOutcome::Rejected(r) => Err(r.into()),
            outcome => Ok(outcome),
        }
    }

    /// Registers `info` (validated against the app in the path).
    pub async fn register(&self, path_app: &str, mut info: InstanceInfo) -> Result<(), EurekaError> {
        validate_registration(path_app, &info)?;
        info.app = info.app.to_ascii_uppercase();
        if info.last_dirty_timestamp <= 0 {
            info.last_dirty_timestamp = registry_store::node::wall_clock_ms() as i64;
        }
        let instance = to_instance(&self.settings, &info);
        let key = instance.key();
        let create_service = Some(self.settings.service_for_app(&info.app, version_of(&info)));
        // The same instance registered earlier under another version of the app: named here,
        // replaced by apply if it still is that copy when the registration applies.
        let replaces: Option<InstanceKey> = self.registry.read(|applied| {
            let view = self.view(&applied.state);
            view.stored_except(&info.app, &key.id, Some(&key.service_id))
                .map(|i| i.key())
        });
        // One log entry: the configured Eureka tenant is created on first use, the app's
        // service on its first registration, and the older copy removed, all in this command.
        let register = RegisterInstance {
            create_tenant: true,
            replaces,
            ..RegisterInstance::new(instance, create_service)
        };
        let outcome = self.write(Command::RegisterInstance(register)).await?;
        if outcome == CommandOutcome::Unchanged {
            // A stale registration keeps the stored record but still renews the lease.
            self.registry.renew(vec![key]).await?;
        }
        Ok(())
    }

    pub async fn cancel(&self, app: &str, id: &str) -> Result<(), EurekaError> {
        let key = self.key_of(app, id);
        // Not registered (even after a read barrier): refuse without a log entry.
        if !self.registry.instance_exists(&key).await? {
            return Err(EurekaError::NotFound);
        }
        self.write(Command::CancelInstance(CancelInstance { instance: key }))
            .await?;
        Ok(())
    }

    /// Renews the lease on the leader (never through the log, D3), then applies the rules of
    /// `InstanceResource.renewLease` and `validateDirtyTimestamp`: 404 when the renewal knows a
    /// newer version (a peer's `overriddenstatus` is then stored, as
    /// `storeOverriddenStatusIfRequired` does), 409 with the stored record when it knows an
    /// older one and is a replication (a client gets 200).
    pub async fn renew(
        &self,
        app: &str,
        id: &str,
        last_dirty: Option<Millis>,
        from: Renewer<'_>,
    ) -> Result<Renewal, EurekaError> {
        // One lookup of the record under the state lock: its key to renew, and what the answer
        // needs from it. Renewals never change the record, so the answer is computed from it as
        // it was looked up. Not stored here (a follower not caught up yet): the leader is asked
        // under the direct key, as before.
        let (key, record) = match self
            .registry
            .read(|applied| self.stored(&applied.state, app, id).cloned())
        {
            Some(record) => (record.key(), Some(record)),
            None => (self.direct_key(app, id), None),
        };
        let found = self.registry.renew(vec![key.clone()]).await?;
        if found.first() != Some(&true) {
            return Ok(Renewal::NotFound);
        }
        let Some(stored) = record else {
            return Ok(Renewal::Renewed);
        };
        if stored.status == InstanceStatus::Unknown {
            return Ok(Renewal::NotFound);
        }
        match last_dirty {
            Some(t) if t < stored.client_modified_ms && from.replicated => {
                let ours = self
                    .registry
                    .read(|applied| self.view(&applied.state).instance(app, id));
                return Ok(ours.map_or(Renewal::Renewed, |i| Renewal::Conflict(Box::new(i))));
            }
            Some(t) if t > stored.client_modified_ms => {}
            _ => return Ok(Renewal::Renewed),
        }
        // The renewal knows a newer version than ours: a peer's override is kept meanwhile.
        let overridden = from.overridden_status.filter(|s| from.replicated && *s != "UNKNOWN");
        if let Some(text) = overridden {
            let status = status_to_store(status_value(Some(text))?);
            if stored.status_override != Some(status) {
                // Java leaves the status to the next renewal, which applies the override.
                let effective = InstanceStatus::effective(stored.status, Some(status));
                self.set_status(key, effective, OverrideChange::Set(status), None)
                    .await?;
            }
        }
        Ok(Renewal::NotFound)
    }

    /// The stored record behind an app's instance as of now (after a read barrier, so a write
    /// through another node a moment ago is seen), or 404.
    async fn current(&self, app: &str, id: &str) -> Result<Arc<Instance>, EurekaError> {
        self.registry.read_barrier().await?;
        let key = self.key_of(app, id);
        self.registry
            .read(|applied| applied.state.instance(&key).cloned())
            .ok_or(EurekaError::NotFound)
    }

    /// `PUT .../status?value=S`, as `InstanceResource.statusUpdate` and
    /// `AbstractInstanceRegistry.statusUpdate`: 404 for an unknown instance, then 500 for a value
    /// `InstanceStatus.valueOf` refuses; the lease is renewed, and only a status other than the
    /// current one is recorded (override and status become S, `MODIFIED`).
    pub async fn set_override(
        &self,
        app: &str,
        id: &str,
        value: Option<&str>,
        last_dirty: Option<Millis>,
    ) -> Result<(), EurekaError> {
        let stored = self.current(app, id).await?;
        let status = status_value(value)?;
        let key = stored.key();
        self.registry.renew(vec![key.clone()]).await?;
        if status_from_store(stored.status) == status {
            return Ok(());
        }
        let status = status_to_store(status);
        self.set_status(key, status, OverrideChange::Set(status), last_dirty)
            .await
    }

    /// `DELETE .../status[?value=S]`, as `InstanceResource.deleteStatusUpdate` and
    /// `AbstractInstanceRegistry.deleteStatusOverride`: 404, then 500 for a bad value; the lease
    /// is renewed, and only an existing override is removed (the status becomes S, UNKNOWN when
    /// none is given).
    pub async fn clear_override(
        &self,
        app: &str,
        id: &str,
        value: Option<&str>,
        last_dirty: Option<Millis>,
    ) -> Result<(), EurekaError> {
        let stored = self.current(app, id).await?;
        let status = match value {
            None => Status::Unknown,
            given => status_value(given)?,
        };
        let key = stored.key();
        self.registry.renew(vec![key.clone()]).await?;
        if stored.status_override.is_none() {
            return Ok(());
        }
        self.set_status(key, status_to_store(status), OverrideChange::Clear, last_dirty)
            .await
    }

    async fn set_status(
        &self,
        instance: InstanceKey,
        status: InstanceStatus,
        status_override: OverrideChange,
        client_modified_ms: Option<Millis>,
    ) -> Result<(), EurekaError> {
        let command = SetInstanceStatus {
            instance,
            status,
            status_override,
            client_modified_ms,
            protocol_fields: None,
        };
        self.write(Command::SetInstanceStatus(command)).await?;
        Ok(())
    }

    /// `PUT .../metadata?k=v`, as `InstanceResource.updateMetadata`: 404 for an unknown
    /// instance; each parameter's first value goes into the metadata (the other keys stay), then
    /// the instance is registered again (`registry.register(instanceInfo, false)`): a new lease,
    /// `ADDED` in the delta, the same `lastDirtyTimestamp` and override.
    pub async fn update_metadata(&self, app: &str, id: &str, params: Vec<(String, String)>) -> Result<(), EurekaError> {
        let stored = self.current(app, id).await?;
        let mut instance = (*stored).clone();
        let mut given = HashSet::new();
        for (key, value) in params {
            if given.insert(key.clone()) {
                instance.metadata.insert(key.into(), value.into());
            }
        }
        let register = RegisterInstance::new(instance, None);
        self.write(Command::RegisterInstance(register)).await?;
        Ok(())
    }
}
