//! The Nacos operations over the [`Registry`], with Nacos's rules: which service and instance a
//! request names, what a registration writes, what a beat renews (never the log), what a list
//! answers, and the services' own create, update, delete, detail and list. The v1 and v2 APIs
//! both call these; each renders the results and errors its own way. Reads copy record `Arc`s
//! out under the lock; conversion happens after.

use std::collections::BTreeMap;
use std::sync::Arc;

use registry_store::command::CancelInstance;
use registry_store::command::Command;
use registry_store::command::CommandOutcome;
use registry_store::command::CreateService;
use registry_store::command::DeleteService;
use registry_store::command::RegisterInstance;
use registry_store::command::Rejection;
use registry_store::command::UpdateService;
use registry_store::model::Instance;
use registry_store::model::InstanceKey;
use registry_store::model::LeaseSettings;
use registry_store::model::Service;
use registry_store::model::Tenant;
use registry_store::node::wall_clock_ms;
use registry_store::registry::Registry;
use registry_store::state::RegistryState;

use super::error::ErrorCode;
use super::error::NacosError;
use super::mapping;
use super::mapping::NacosSettings;
use super::mapping::Registration;
use super::mapping::ServiceName;
use super::mapping::ServiceSpec;
use super::wire::BeatAnswer;
use super::wire::Host;
use super::wire::InstanceDetail;
use super::wire::ServiceInfo;
use super::wire::BEAT_NOT_FOUND;
use super::wire::BEAT_OK;

/// `SwitchDomain.defaultPushCacheMillis`: how long clients may cache a list (ms).
pub const CACHE_MILLIS: u64 = 10_000;

/// Where an instance is, as Nacos names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub ip: String,
    pub port: u16,
    pub cluster: String,
}

/// A service as the service endpoints show it: its names, its Nacos fields and its instances
/// by cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceView {
    pub namespace: String,
    pub name: ServiceName,
    pub spec: ServiceSpec,
    pub clusters: BTreeMap<String, Vec<Host>>,
}

/// Page `page_no` (from 1) of `page_size` names, as `ServiceUtil.pageServiceName` cuts it: a
/// page number below 1 is the first page, one past the end an empty page.
pub fn page(names: &[String], page_no: i64, page_size: i64) -> Vec<String> {
    let size = usize::try_from(page_size).unwrap_or(0);
    let start = usize::try_from(page_no.saturating_sub(1))
        .unwrap_or(0)
        .saturating_mul(size);
    names.iter().skip(start).take(size).cloned().collect()
}

/// Nacos's answer to a service it does not hold (`ServiceOperatorV2Impl.update` / `delete`).
fn no_service(name: &ServiceName) -> NacosError {
    NacosError::invalid(
        ErrorCode::ServiceNotExist,
        format!("service {} not found!", name.grouped()),
    )
}

/// Nacos's answer to deleting a service that still has instances.
fn not_empty(name: &ServiceName) -> NacosError {
    NacosError::invalid(
        ErrorCode::ServiceDeleteFailure,
        format!(
            "Service {} is not empty, can't be delete. Please unregister instance first",
            name.grouped()
        ),
    )
}

/// The Nacos API's shared state.
pub struct Nacos {
    registry: Arc<dyn Registry>,
    settings: NacosSettings,
}

/// The services of `tenant` that are the Nacos service `name` (one per version), the one of
/// Nacos's version first.
fn services_of(
    settings: &NacosSettings,
    state: &RegistryState,
    tenant: &Tenant,
    name: &ServiceName,
) -> Vec<Arc<Service>> {
    let mut services: Vec<Arc<Service>> = state
        .services_named(tenant, &name.name)
        .filter(|s| settings.is_service(s, name))
        .cloned()
        .collect();
    services.sort_by_key(|s| s.version != mapping::SERVICE_VERSION);
    services
}

/// The instance of `name` at `address`: by its Nacos id first, else the first whose derived
/// ip, port and cluster match (registered through another protocol).
fn instance_at(
    settings: &NacosSettings,
    state: &RegistryState,
    tenant: &Tenant,
    name: &ServiceName,
    address: &Address,
) -> Option<Arc<Instance>> {
    let services = services_of(settings, state, tenant, name);
    let id = mapping::instance_id(&address.ip, address.port, &address.cluster, name);
    let direct = services.iter().find_map(|s| {
        let key = InstanceKey {
            tenant: tenant.clone(),
            service_id: s.id.clone(),
            id: id.as_str().into(),
        };
        state.instance(&key).cloned()
    });
    direct.or_else(|| {
        services.iter().find_map(|s| {
            state
                .instances_of(&s.service_ref())
                .find(|i| {
                    mapping::address_of(i) == (address.ip.clone(), address.port)
                        && mapping::cluster_of(i) == address.cluster
                })
                .cloned()
        })
    })
}

impl Nacos {
    pub fn new(registry: Arc<dyn Registry>, settings: NacosSettings) -> Self {
        Self { registry, settings }
    }

    pub fn settings(&self) -> &NacosSettings {
        &self.settings
    }

    async fn write(&self, command: Command) -> Result<CommandOutcome, NacosError> {
        let written = self.registry.write(command).await?;
        match written.outcome {
            CommandOutcome::Rejected(r) => Err(r.into()),
            outcome => Ok(outcome),
        }
    }

    /// Registers (or registers again) `r` as an instance of `name` in `tenant`: one log entry,
    /// which creates the tenant and the service on first use.
    pub async fn register(&self, tenant: Tenant, name: &ServiceName, r: &Registration) -> Result<(), NacosError> {
        self.register_leased(tenant, name, r, r.lease()).await.map(|_| ())
    }

    /// [`Nacos::register`] with the lease `lease` instead of the one `r`'s metadata asks for
    /// (gRPC registrations live as long as their connection). Returns the instance's key.
    pub async fn register_leased(
        &self,
        tenant: Tenant,
        name: &ServiceName,
        r: &Registration,
        lease: LeaseSettings,
    ) -> Result<InstanceKey, NacosError> {
        r.check()
            .map_err(|e| NacosError::invalid(ErrorCode::InstanceError, e.0))?;
        let existing = self.registry.read(|applied| {
            services_of(&self.settings, &applied.state, &tenant, name)
                .into_iter()
                .next()
        });
        let (service, create_service) = match existing {
            Some(service) => ((*service).clone(), None),
            None => {
                let service = self.settings.new_service(tenant.clone(), name);
                (service.clone(), Some(service))
            }
        };
        let mut instance = mapping::to_instance(&service, name, r);
        instance.lease = lease;
        instance.client_modified_ms = wall_clock_ms();
        let key = instance.key();
        let register = RegisterInstance {
            create_tenant: true,
            ..RegisterInstance::new(instance, create_service)
        };
        if self.write(Command::RegisterInstance(register)).await? == CommandOutcome::Unchanged {
            self.registry.renew(vec![key.clone()]).await?;
        }
        Ok(key)
    }

    /// `PUT`: the registered instance at `r`'s address takes `r`'s weight, enabled flag,
    /// metadata and ephemeral flag; its health stays (Nacos's update writes the instance's
    /// metadata, not its health). Refused (400) when the service or the instance is not held:
    /// Nacos refuses an unknown service and keeps an unknown instance's update for a later
    /// registration, which this registry has no record for.
    pub async fn update(&self, tenant: Tenant, name: &ServiceName, r: &Registration) -> Result<(), NacosError> {
        r.check()
            .map_err(|e| NacosError::invalid(ErrorCode::InstanceError, e.0))?;
        let address = Address {
            ip: r.ip.clone(),
            port: r.port,
            cluster: r.cluster.clone(),
        };
        let (service, found) = self.registry.read(|applied| {
            let state = &applied.state;
            let service = services_of(&self.settings, state, &tenant, name).into_iter().next();
            (service, instance_at(&self.settings, state, &tenant, name, &address))
        });
        if service.is_none() {
            return Err(NacosError::invalid(
                ErrorCode::InstanceError,
                format!(
                    "service not found, namespace: {}, service: {}",
                    self.settings.namespace_of(&tenant),
                    name.grouped()
                ),
            ));
        }
        let Some(stored) = found else {
            return Err(NacosError::invalid(
                ErrorCode::InstanceNotFound,
                format!(
                    "instance not found, ip: {}, port: {}, cluster: {}, service: {}",
                    address.ip,
                    address.port,
                    address.cluster,
                    name.grouped()
                ),
            ));
        };
        let mut instance = mapping::updated(&stored, r);
        instance.client_modified_ms = wall_clock_ms().max(stored.client_modified_ms);
        let register = RegisterInstance::new(instance, None);
        self.write(Command::RegisterInstance(register)).await?;
        Ok(())
    }

    /// Removes the instance at `address`; one Nacos does not hold is no error (Nacos answers
    /// `ok` and removes nothing).
    pub async fn deregister(&self, tenant: Tenant, name: &ServiceName, address: &Address) -> Result<(), NacosError> {
        let found = self
            .registry
            .read(|applied| instance_at(&self.settings, &applied.state, &tenant, name, address));
        let Some(instance) = found else {
            return Ok(());
        };
        let cancel = Command::CancelInstance(CancelInstance {
            instance: instance.key(),
        });
        match self.write(cancel).await {
            Err(NacosError::NotFound(_)) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// The instance at `address`, or Nacos's 404 messages.
    pub fn detail(&self, tenant: Tenant, name: &ServiceName, address: &Address) -> Result<InstanceDetail, NacosError> {
        let (found, any) = self.registry.read(|applied| {
            let state = &applied.state;
            let found = instance_at(&self.settings, state, &tenant, name, address);
            let any = found.is_some()
                || services_of(&self.settings, state, &tenant, name)
                    .iter()
                    .any(|s| state.instances_of(&s.service_ref()).next().is_some());
            (found, any)
        });
        match found {
            Some(i) => Ok(mapping::to_detail(name, &i)),
            None if !any => Err(NacosError::not_found(
                ErrorCode::ResourceNotFound,
                format!(
                    "no ips found for cluster {} in service {}",
                    address.cluster,
                    name.grouped()
                ),
            )),
            None => Err(NacosError::not_found(
                ErrorCode::ResourceNotFound,
                "no matched ip found!",
            )),
        }
    }

    /// Renews the lease of the instance at `address` (never through the log): `code 10200`
    /// and its beat interval, or `20404` when this registry does not hold it, so the client
    /// registers again.
    pub async fn beat(&self, tenant: Tenant, name: &ServiceName, address: &Address) -> Result<BeatAnswer, NacosError> {
        let found = self
            .registry
            .read(|applied| instance_at(&self.settings, &applied.state, &tenant, name, address));
        let renewed = match &found {
            Some(instance) => self.registry.renew(vec![instance.key()]).await?.first() == Some(&true),
            None => false,
        };
        Ok(BeatAnswer {
            client_beat_interval: found
                .as_deref()
                .map_or(mapping::DEFAULT_BEAT_INTERVAL_MS, mapping::beat_interval_ms),
            code: if renewed { BEAT_OK } else { BEAT_NOT_FOUND },
            light_beat_enabled: true,
        })
    }

    /// The answer to a beat naming no instance this registry could hold.
    pub fn beat_unknown(&self) -> BeatAnswer {
        BeatAnswer {
            client_beat_interval: mapping::DEFAULT_BEAT_INTERVAL_MS,
            code: BEAT_NOT_FOUND,
            light_beat_enabled: true,
        }
    }

    /// The instances of `name` in `clusters` (comma-separated; empty: every cluster), enabled
    /// ones only, healthy ones only if `healthy_only`.
    pub fn list(&self, tenant: Tenant, name: &ServiceName, clusters: &str, healthy_only: bool) -> ServiceInfo {
        let instances: Vec<Arc<Instance>> = self.registry.read(|applied| {
            let state = &applied.state;
            services_of(&self.settings, state, &tenant, name)
                .iter()
                .flat_map(|s| state.instances_of(&s.service_ref()).cloned().collect::<Vec<_>>())
                .collect()
        });
        let wanted: Vec<&str> = clusters.split(',').filter(|c| !c.is_empty()).collect();
        let hosts: Vec<Host> = instances
            .iter()
            .map(|i| mapping::to_host(name, i))
            .filter(|h| wanted.is_empty() || wanted.contains(&h.cluster_name.as_str()))
            .filter(|h| h.enabled && (!healthy_only || h.healthy))
            .collect();
        ServiceInfo {
            name: name.grouped(),
            group_name: name.group.clone(),
            clusters: clusters.to_string(),
            cache_millis: CACHE_MILLIS,
            hosts,
            last_ref_time: wall_clock_ms(),
            checksum: String::new(),
            all_ips: false,
            reach_protection_threshold: false,
            valid: true,
        }
    }

    /// Creates `name` with `spec` (`POST .../service`); one Nacos already holds (any service of
    /// that group and name, whichever protocol created it) is refused as Nacos refuses it.
    pub async fn create_service(
        &self,
        tenant: Tenant,
        name: &ServiceName,
        spec: &ServiceSpec,
    ) -> Result<(), NacosError> {
        let taken = || {
            NacosError::invalid(
                ErrorCode::ServiceAlreadyExist,
                format!("specified service {} already exists!", name.grouped()),
            )
        };
        let exists = self
            .registry
            .read(|applied| !services_of(&self.settings, &applied.state, &tenant, name).is_empty());
        if exists {
            return Err(taken());
        }
        let service = spec.apply_to(self.settings.new_service(tenant, name));
        let create = CreateService {
            create_tenant: true,
            ..CreateService::new(service)
        };
        match self.write(Command::CreateService(create)).await? {
            CommandOutcome::Service { existed: true, .. } => Err(taken()),
            _ => Ok(()),
        }
    }

    /// Replaces the protect threshold, metadata and selector of `name` (`PUT .../service`); its
    /// ephemeral flag stays, as a Nacos service's does.
    pub async fn update_service(
        &self,
        tenant: Tenant,
        name: &ServiceName,
        spec: &ServiceSpec,
    ) -> Result<(), NacosError> {
        let service = self.registry.read(|applied| {
            services_of(&self.settings, &applied.state, &tenant, name)
                .into_iter()
                .next()
        });
        let Some(service) = service else {
            return Err(no_service(name));
        };
        let spec = ServiceSpec {
            ephemeral: ServiceSpec::of(&service).ephemeral,
            ..spec.clone()
        };
        let (properties, protocol_fields) = spec.columns();
        let update = UpdateService {
            service: service.service_ref(),
            description: None,
            properties: Some(properties),
            protocol_fields: Some(protocol_fields),
        };
        match self.write(Command::UpdateService(update)).await {
            Err(NacosError::NotFound(_)) => Err(no_service(name)),
            other => other.map(|_| ()),
        }
    }

    /// Deletes `name` (every service of that group and name), refused while it has instances
    /// (`ServiceOperatorV2Impl.delete`).
    pub async fn delete_service(&self, tenant: Tenant, name: &ServiceName) -> Result<(), NacosError> {
        let (services, occupied) = self.registry.read(|applied| {
            let state = &applied.state;
            let services = services_of(&self.settings, state, &tenant, name);
            let occupied = services
                .iter()
                .any(|s| state.instances_of(&s.service_ref()).next().is_some());
            (services, occupied)
        });
        if services.is_empty() {
            return Err(no_service(name));
        }
        if occupied {
            return Err(not_empty(name));
        }
        for service in services {
            let delete = Command::DeleteService(DeleteService {
                service: service.service_ref(),
                force: false,
            });
            match self.registry.write(delete).await?.outcome {
                CommandOutcome::Rejected(Rejection::ServiceHasInstances(_)) => return Err(not_empty(name)),
                CommandOutcome::Rejected(Rejection::ServiceNotFound(_)) => {}
                CommandOutcome::Rejected(r) => {
                    return Err(NacosError::invalid(ErrorCode::ServiceDeleteFailure, r.to_string()))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `name` with its Nacos fields and its instances by cluster (`GET .../service`).
    pub fn service_detail(&self, tenant: Tenant, name: &ServiceName) -> Result<ServiceView, NacosError> {
        let found = self.registry.read(|applied| {
            let state = &applied.state;
            let services = services_of(&self.settings, state, &tenant, name);
            let instances: Vec<Arc<Instance>> = services
                .iter()
                .flat_map(|s| state.instances_of(&s.service_ref()).cloned().collect::<Vec<_>>())
                .collect();
            services.into_iter().next().map(|s| (s, instances))
        });
        let namespace = self.settings.namespace_of(&tenant);
        let Some((service, instances)) = found else {
            return Err(NacosError::invalid(
                ErrorCode::ServiceNotExist,
                format!(
                    "service not found, namespace: {namespace}, serviceName: {}",
                    name.grouped()
                ),
            ));
        };
        let mut clusters: BTreeMap<String, Vec<Host>> = BTreeMap::new();
        for i in &instances {
            let host = mapping::to_host(name, i);
            clusters.entry(host.cluster_name.clone()).or_default().push(host);
        }
        Ok(ServiceView {
            namespace,
            name: name.clone(),
            spec: ServiceSpec::of(&service),
            clusters,
        })
    }

    /// The names (without their group) of the services of `group` in `tenant`, sorted, each
    /// once (`ServiceOperatorV2Impl.listService`).
    pub fn service_names(&self, tenant: &Tenant, group: &str) -> Vec<String> {
        let app = self.settings.app_of(group);
        let mut names: Vec<String> = self.registry.read(|applied| {
            applied
                .state
                .services()
                .filter(|s| s.tenant == *tenant && s.app == app)
                .map(|s| s.name.clone())
                .collect()
        });
        names.sort();
        names.dedup();
        names
    }
}
