//! The registry as Eureka clients see it: instances grouped into upper-case apps, the hashcode,
//! and a per-revision cache of the encoded `/apps` payload (fresh on every change, D2).

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use registry_store::model::Instance;
use registry_store::model::InstanceKey;
use registry_store::model::Revision;
use registry_store::model::Service;
use registry_store::state::RegistryState;

use super::format::Format;
use super::hashcode::apps_hashcode;
use super::mapping::to_instance_info;
use super::mapping::EurekaSettings;
use super::wire::Application;
use super::wire::Applications;
use super::wire::InstanceInfo;

/// Eureka's view of one registry state.
pub struct View<'a> {
    pub state: &'a RegistryState,
    pub settings: &'a EurekaSettings,
}

impl<'a> View<'a> {
    /// Every instance of the Eureka tenant, as `InstanceInfo`.
    pub fn instances(&self) -> impl Iterator<Item = InstanceInfo> + 'a {
        let state = self.state;
        let tenant = self.settings.tenant.clone();
        state
            .instances()
            .filter(move |i| i.tenant == tenant)
            .filter_map(move |i| info_of(state, i))
    }

    /// Instances grouped by app name, apps and instances in a stable order.
    pub fn applications(&self, keep: impl Fn(&InstanceInfo) -> bool) -> Vec<Application> {
        let mut apps: BTreeMap<String, Vec<InstanceInfo>> = BTreeMap::new();
        for info in self.instances().filter(|i| keep(i)) {
            apps.entry(info.app.clone()).or_default().push(info);
        }
        apps.into_iter()
            .map(|(name, instances)| Application { name, instances })
            .collect()
    }

    /// `apps__hashcode` of the full registry.
    pub fn hashcode(&self) -> String {
        apps_hashcode(self.instances().map(|i| i.status))
    }

    /// The full registry (`GET /apps`): `versions__delta` is always `1` there.
    pub fn all(&self) -> Applications {
        let applications = self.applications(|_| true);
        let apps_hashcode = apps_hashcode(applications.iter().flat_map(|a| a.instances.iter().map(|i| i.status)));
        Applications {
            versions_delta: "1".into(),
            apps_hashcode,
            applications,
        }
    }

    /// The services an app's instances are registered under (one per version), by id.
    fn services_of_app(&self, app: &str) -> impl Iterator<Item = &'a Arc<Service>> + 'a {
        let app = app.to_string();
        self.state
            .services_named(&self.settings.tenant, &app)
            .filter(move |s| s.name.eq_ignore_ascii_case(&app))
    }

    /// One app by (case-insensitive) name, if it has instances. Looks the app's services up
    /// by name, so it costs the app's size, not the registry's.
    pub fn app(&self, name: &str) -> Option<Application> {
        let state = self.state;
        let instances: Vec<InstanceInfo> = self
            .services_of_app(name)
            .flat_map(|s| {
                let service = s.service_ref();
                state
                    .instances_of(&service)
                    .filter_map(|i| info_of(state, i))
                    .collect::<Vec<_>>()
            })
            .collect();
        let first = instances.first()?;
        Some(Application {
            name: first.app.clone(),
            instances,
        })
    }

    /// One instance of an app.
    pub fn instance(&self, app: &str, id: &str) -> Option<InstanceInfo> {
        let state = self.state;
        self.services_of_app(app)
            .flat_map(|s| {
                let service = s.service_ref();
                state.instances_of(&service).cloned().collect::<Vec<_>>()
            })
            .filter_map(|i| info_of(state, &i))
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
        self.services_of_app(app)
            .filter(|s| Some(s.id.as_str()) != except)
            .find_map(|s| {
                state.instance(&InstanceKey {
                    tenant: tenant.clone(),
                    service_id: s.id.clone(),
                    id: id.to_string(),
                })
            })
    }
}

fn info_of(state: &RegistryState, instance: &Instance) -> Option<InstanceInfo> {
    let service = state.service(&instance.service_ref())?;
    Some(to_instance_info(service, instance))
}

/// An encoded payload and the revision it shows.
type Cached = (Revision, Arc<Vec<u8>>);

/// The encoded `/apps` payload per format, valid while the revision is unchanged.
#[derive(Default)]
pub struct AppsCache {
    entries: Mutex<HashMap<Format, Cached>>,
}

impl AppsCache {
    /// The cached payload for `revision`, or the one `build` makes (then cached).
    pub fn get_or_build(&self, format: Format, revision: Revision, build: impl FnOnce() -> Vec<u8>) -> Arc<Vec<u8>> {
        if let Some((rev, hit)) = self.entries.lock().get(&format) {
            if *rev == revision {
                return hit.clone();
            }
        }
        let bytes = Arc::new(build());
        let mut entries = self.entries.lock();
        if entries.get(&format).is_none_or(|(rev, _)| *rev < revision) {
            entries.insert(format, (revision, bytes.clone()));
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_serves_one_payload_per_revision_and_format() {
        let cache = AppsCache::default();
        let a = cache.get_or_build(Format::Json, 7, || b"seven".to_vec());
        let b = cache.get_or_build(Format::Json, 7, || b"rebuilt".to_vec());
        assert_eq!(a, b);
        let c = cache.get_or_build(Format::Xml, 7, || b"xml".to_vec());
        assert_eq!(&**c, b"xml");
        let d = cache.get_or_build(Format::Json, 8, || b"eight".to_vec());
        assert_eq!(&**d, b"eight");
        let e = cache.get_or_build(Format::Json, 8, || b"again".to_vec());
        assert_eq!(&**e, b"eight", "a newer revision replaces the older one");
    }
}
