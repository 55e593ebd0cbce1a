//! The registry as Eureka clients see it: instances grouped into upper-case apps, one app found
//! by name, the hashcode.

use std::collections::BTreeMap;
use std::sync::Arc;

use registry_store::lease::LeaseTime;
use registry_store::lease::LeaseTimes;
use registry_store::model::Instance;
use registry_store::model::InstanceKey;
use registry_store::model::Revision;
use registry_store::model::Service;
use registry_store::state::RegistryState;

use super::hashcode::apps_hashcode;
use super::mapping::status_from_store;
use super::mapping::to_instance_info;
use super::mapping::EurekaSettings;
use super::wire::Application;
use super::wire::Applications;
use super::wire::InstanceInfo;

/// Eureka's view of one registry state.
pub struct View<'a> {
    pub state: &'a RegistryState,
    pub settings: &'a EurekaSettings,
    /// The leader's last renewals, for `leaseInfo.lastRenewalTimestamp` (without them: the
    /// record's last change).
    pub leases: Option<&'a LeaseTimes>,
}

impl<'a> View<'a> {
    /// Every instance of the Eureka tenant, as `InstanceInfo`.
    pub fn instances(&self) -> impl Iterator<Item = InstanceInfo> + 'a {
        let state = self.state;
        let leases = self.leases;
        let tenant = self.settings.tenant.clone();
        state
            .instances()
            .filter(move |i| i.tenant == tenant)
            .filter_map(move |i| info_of(state, leases, i))
    }

    /// Instances grouped by app name, apps and instances in a stable order.
    pub fn applications(&self, keep: impl Fn(&InstanceInfo) -> bool) -> Vec<Application> {
        group_by_app(self.instances().filter(|i| keep(i)))
    }

    /// The Eureka tenant's instances with their services: pointers only, so the state lock can
    /// be released before they are converted and encoded ([`all_of`]).
    ///
    /// Copied while the state lock is held (some 50 ms at a million instances, while writes
    /// wait), so each service is looked up once for its run of instances, which the store keeps
    /// together, not once per instance (that took 40 % longer).
    pub fn records(&self) -> Vec<(Arc<Service>, Arc<Instance>)> {
        let state = self.state;
        let tenant = &self.settings.tenant;
        let mut last: Option<&Arc<Service>> = None;
        let mut records = Vec::with_capacity(state.instance_count());
        for instance in state.instances().filter(|i| &i.tenant == tenant) {
            let service = match last {
                Some(service) if service.id == instance.service_id && service.tenant == instance.tenant => service,
                _ => match state.service(&instance.service_ref()) {
                    Some(service) => *last.insert(service),
                    None => continue,
                },
            };
            records.push((service.clone(), instance.clone()));
        }
        records
    }

    /// `apps__hashcode` of the full registry, from the stored statuses (no conversion: it is
    /// computed for every delta).
    pub fn hashcode(&self) -> String {
        let state = self.state;
        let tenant = &self.settings.tenant;
        apps_hashcode(
            state
                .instances()
                .filter(|i| &i.tenant == tenant)
                .map(|i| status_from_store(i.status)),
        )
    }

    /// The full registry (`GET /apps`): `versions__delta` is always `1` there.
    pub fn all(&self) -> Applications {
        all_of(&self.records(), self.leases)
    }

    /// The services an app's instances are registered under (one per version), by id.
    fn services_of_app(&self, app: &str) -> impl Iterator<Item = &'a Arc<Service>> + 'a {
        let app = app.to_string();
        self.state
            .services_named(&self.settings.tenant, &app)
            .filter(move |s| s.name.eq_ignore_ascii_case(&app))
    }

    /// An app's stored instances with their services (services by id, then instances by id).
    /// Looks the app's services up by name, so it costs the app's size, not the registry's.
    fn app_instances(&self, app: &str) -> impl Iterator<Item = (&'a Arc<Service>, &'a Arc<Instance>)> + 'a {
        let state = self.state;
        self.services_of_app(app)
            .flat_map(move |s| state.instances_of(&s.service_ref()).map(move |i| (s, i)))
    }

    /// One app by (case-insensitive) name, if it has instances.
    pub fn app(&self, name: &str) -> Option<Application> {
        let instances: Vec<InstanceInfo> = self
            .app_instances(name)
            .map(|(s, i)| with_lease(to_instance_info(s, i), self.leases, i))
            .collect();
        let first = instances.first()?;
        Some(Application {
            name: first.app.clone(),
            instances,
        })
    }

    /// What one app's payload depends on: the highest revision among its instances and their
    /// services, and how many instances it has (a deletion lowers the count; 0: no such app).
    pub fn app_validator(&self, app: &str) -> (Revision, usize) {
        self.app_instances(app).fold((0, 0), |(latest, count), (s, i)| {
            (latest.max(s.mod_revision).max(i.mod_revision), count + 1)
        })
    }

    /// One instance of an app.
    pub fn instance(&self, app: &str, id: &str) -> Option<InstanceInfo> {
        self.app_instances(app)
            .map(|(s, i)| with_lease(to_instance_info(s, i), self.leases, i))
            .find(|i| i.effective_id() == id)
    }

    /// The first instance with this id, in any app.
    pub fn instance_by_id(&self, id: &str) -> Option<InstanceInfo> {
        self.instances().find(|i| i.effective_id() == id)
    }

    /// The stored record behind an app's instance, for writes that need its key.
    pub fn stored(&self, app: &str, id: &str) -> Option<&'a Arc<Instance>> {
        self.stored_except(app, id, None)
    }

    /// Like [`stored`](Self::stored), skipping the service `except` (looks up by service, so
    /// it costs one lookup per service of the app, not a scan of every instance).
    pub fn stored_except(&self, app: &str, id: &str, except: Option<&str>) -> Option<&'a Arc<Instance>> {
        let tenant = &self.settings.tenant;
        let state = self.state;
        state
            .services_named(tenant, app)
            .filter(|s| s.name.eq_ignore_ascii_case(app) && Some(s.id.as_str()) != except)
            .find_map(|s| {
                state.instance(&InstanceKey {
                    tenant: tenant.clone(),
                    service_id: s.id.clone(),
                    id: id.into(),
                })
            })
    }
}

/// Instances grouped by app name, apps in order, instances in the order given.
fn group_by_app(instances: impl Iterator<Item = InstanceInfo>) -> Vec<Application> {
    let mut apps: BTreeMap<String, Vec<InstanceInfo>> = BTreeMap::new();
    for info in instances {
        apps.entry(info.app.clone()).or_default().push(info);
    }
    apps.into_iter()
        .map(|(name, instances)| Application { name, instances })
        .collect()
}

/// The full registry from copied [`View::records`]: no state lock needed.
pub fn all_of(records: &[(Arc<Service>, Arc<Instance>)], leases: Option<&LeaseTimes>) -> Applications {
    let applications = group_by_app(
        records
            .iter()
            .map(|(s, i)| with_lease(to_instance_info(s, i), leases, i)),
    );
    let apps_hashcode = apps_hashcode(applications.iter().flat_map(|a| a.instances.iter().map(|i| i.status)));
    Applications {
        versions_delta: "1".into(),
        apps_hashcode,
        applications,
    }
}

fn info_of(state: &RegistryState, leases: Option<&LeaseTimes>, instance: &Instance) -> Option<InstanceInfo> {
    let service = state.service(&instance.service_ref())?;
    Some(with_lease(to_instance_info(service, instance), leases, instance))
}

/// `info` with the leader's last renewal of `instance` as its `lastRenewalTimestamp`, when known.
fn with_lease(info: InstanceInfo, leases: Option<&LeaseTimes>, instance: &Instance) -> InstanceInfo {
    with_renewal(info, leases.and_then(|l| l.get(&instance.key())))
}

/// `info` with `lease`'s last renewal as its `lastRenewalTimestamp`, if there is one.
pub fn with_renewal(mut info: InstanceInfo, lease: Option<LeaseTime>) -> InstanceInfo {
    if let (Some(lease), Some(info_lease)) = (lease, info.lease_info.as_mut()) {
        info_lease.last_renewal_timestamp = i64::try_from(lease.renewed_ms).unwrap_or(i64::MAX);
    }
    info
}

#[cfg(test)]
mod tests {
    use registry_store::command::Command;
    use registry_store::command::Proposal;
    use registry_store::command::RegisterInstance;
    use registry_store::model::Tenant;
    use registry_store::protocol::eureka::mapping::to_instance;
    use registry_store::protocol::eureka::mapping::version_of;

    use super::*;

    fn register(state: &mut RegistryState, revision: &mut Revision, settings: &EurekaSettings, app: &str, n: u32) {
        let mut info = InstanceInfo::new(app, &format!("10.0.0.{n}"));
        info.instance_id = Some(format!("{app}-{n}"));
        *revision += 1;
        let command = Command::RegisterInstance(RegisterInstance {
            create_tenant: true,
            ..RegisterInstance::new(
                to_instance(settings, &info),
                Some(settings.service_for_app(&info.app, version_of(&info))),
            )
        });
        state.apply(*revision, &Proposal { at_ms: 1, command });
    }

    #[test]
    fn records_are_every_instance_of_the_tenant_once_with_its_own_service() {
        let settings = EurekaSettings::default();
        let elsewhere = EurekaSettings {
            tenant: Tenant::new("other", "tenant"),
            ..EurekaSettings::default()
        };
        let (mut state, mut revision) = (RegistryState::new(), 0);
        // Apps registered in turn, and one app of the same name in another tenant.
        for n in 0..30 {
            register(
                &mut state,
                &mut revision,
                &settings,
                ["ORDERS", "BILLING", "STOCK"][n as usize % 3],
                n,
            );
        }
        register(&mut state, &mut revision, &elsewhere, "ORDERS", 99);

        let view = View {
            state: &state,
            settings: &settings,
            leases: None,
        };
        let records = view.records();
        let expected: Vec<(Arc<Service>, Arc<Instance>)> = state
            .instances()
            .filter(|i| i.tenant == settings.tenant)
            .map(|i| (state.service(&i.service_ref()).unwrap().clone(), i.clone()))
            .collect();
        assert_eq!(records.len(), 30);
        assert_eq!(records.len(), expected.len());
        for ((service, instance), (want_service, want_instance)) in records.iter().zip(&expected) {
            assert!(Arc::ptr_eq(instance, want_instance), "{} out of order", instance.id);
            assert!(
                Arc::ptr_eq(service, want_service),
                "{} under another service",
                instance.id
            );
        }
    }
}
