//! The registry part of the dashboard's overview: totals, tenants → services → instances
//! narrowed by the page's search and filters (at most `limit` instances, ids in natural order:
//! `inv-2` before `inv-10`), the filter choices, and the recent activity with service names.
//!
//! The state lock is held only to copy pointers to the records ([`Records::take`]); sorting,
//! matching and shaping happen after, so an open dashboard does not hold up applying writes.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::sync::Arc;

use registry_store::lease::LeaseTime;
use registry_store::lease::LeaseTimes;
use registry_store::model::Instance;
use registry_store::model::InstanceStatus;
use registry_store::model::Millis;
use registry_store::model::Service;
use registry_store::model::ServiceRef;
use registry_store::model::Tenant;
use registry_store::state::RegistryState;
use serde::Deserialize;
use serde::Serialize;

use super::recent::Activity;

/// Most instances one overview lists unless the page asks for fewer.
pub const DEFAULT_LIMIT: usize = 2_000;
/// Most instances one overview lists at all.
pub const MAX_LIMIT: usize = 20_000;

/// The page's search and filters (query parameters of `GET /admin/dashboard`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filter {
    /// Words matched, case-insensitively, against the service (name, app, id, version) and the
    /// instance (id, host, IP, zone, region, endpoints); every word must match somewhere.
    #[serde(default)]
    pub q: String,
    /// `domain/project`.
    pub tenant: Option<String>,
    /// `UP`, `DOWN`, ...
    pub status: Option<String>,
    /// `local` or a peer's name.
    pub origin: Option<String>,
    pub limit: Option<usize>,
}

impl Filter {
    fn words(&self) -> Vec<String> {
        self.q.split_whitespace().map(str::to_lowercase).collect()
    }

    fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT)
    }

    fn admits_tenant(&self, tenant: &Tenant) -> bool {
        self.tenant
            .as_deref()
            .is_none_or(|t| t.is_empty() || tenant.to_string() == t)
    }

    fn admits_instance(&self, i: &Instance) -> bool {
        self.status
            .as_deref()
            .is_none_or(|s| s.is_empty() || i.status.as_str().eq_ignore_ascii_case(s))
            && self
                .origin
                .as_deref()
                .is_none_or(|o| o.is_empty() || origin_name(i.origin.source()) == o)
    }

    fn narrows_instances(&self) -> bool {
        self.status.as_deref().is_some_and(|s| !s.is_empty()) || self.origin.as_deref().is_some_and(|o| !o.is_empty())
    }
}

fn origin_name(source: Option<&str>) -> &str {
    source.unwrap_or("local")
}

/// Counts over the whole registry, whatever the filters.
#[derive(Debug, Default, Serialize)]
pub struct Totals {
    pub tenants: usize,
    pub services: usize,
    pub instances: usize,
    /// Instances by status (`UP`, `DOWN`, ...), only statuses present.
    pub by_status: BTreeMap<&'static str, usize>,
    /// Instances by origin (`local` or the peer's name).
    pub by_origin: BTreeMap<String, usize>,
}

#[derive(Debug, Serialize)]
pub struct InstanceView {
    pub id: String,
    pub host: String,
    pub ip: String,
    pub status: &'static str,
    /// The operator's override (`OUT_OF_SERVICE` once taken out of service), if any.
    pub status_override: Option<&'static str>,
    pub region: String,
    pub zone: String,
    pub endpoints: Vec<String>,
    pub origin: String,
    pub metadata: BTreeMap<String, String>,
    pub registered_at_ms: Millis,
    pub updated_at_ms: Millis,
    /// The leader's last renewal of its lease and when it expires, when known (mirrored
    /// instances hold no lease here).
    pub last_renewal_ms: Option<Millis>,
    pub lease_expires_ms: Option<Millis>,
}

impl InstanceView {
    fn of(i: &Instance, lease: Option<LeaseTime>) -> Self {
        Self {
            id: i.id.to_string(),
            host: i.host_name.to_string(),
            ip: i.ip_addr.to_string(),
            status: i.status.as_str(),
            status_override: i.status_override.map(InstanceStatus::as_str),
            region: i.region.to_string(),
            zone: i.zone.to_string(),
            endpoints: i.endpoints.iter().map(ToString::to_string).collect(),
            origin: origin_name(i.origin.source()).to_string(),
            metadata: i.metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            registered_at_ms: i.registered_at_ms,
            updated_at_ms: i.updated_at_ms,
            last_renewal_ms: lease.map(|l| l.renewed_ms),
            lease_expires_ms: lease.map(|l| l.expires_ms),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ServiceView {
    pub tenant: String,
    pub id: String,
    pub app: String,
    pub name: String,
    pub version: String,
    pub environment: String,
    pub origin: String,
    /// All of the service's instances by status, whatever the filters.
    pub by_status: BTreeMap<&'static str, usize>,
    /// The instances the filters admit, by status (what the page's badges count).
    pub matching_by_status: BTreeMap<&'static str, usize>,
    /// The instances the filters admit (within the overview's limit).
    pub instances: Vec<InstanceView>,
}

#[derive(Debug, Serialize)]
pub struct ActivityView {
    pub at_ms: Millis,
    pub tenant: String,
    /// The service's name (its id once it is gone).
    pub service: String,
    pub instance_id: String,
    pub host: String,
    pub origin: String,
}

/// Choices for the page's filters.
#[derive(Debug, Default, Serialize)]
pub struct Choices {
    pub tenants: Vec<String>,
    pub statuses: Vec<&'static str>,
    pub origins: Vec<String>,
}

/// What the registry holds, as the page shows it.
#[derive(Debug, Serialize)]
pub struct RegistryView {
    pub revision: u64,
    pub totals: Totals,
    pub services: Vec<ServiceView>,
    /// Instances the filters admit, and how many of them are listed (at most the limit).
    pub matching_instances: usize,
    pub listed_instances: usize,
    pub choices: Choices,
    pub recent_registrations: Vec<ActivityView>,
    pub recent_cancellations: Vec<ActivityView>,
}

/// Pointers to every tenant, service and instance at one revision.
pub struct Records {
    revision: u64,
    tenants: Vec<Tenant>,
    services: Vec<Arc<Service>>,
    instances: Vec<Arc<Instance>>,
}

impl Records {
    /// Copies the pointers out of `state` (at `revision`): the only part done under its lock.
    pub fn take(state: &RegistryState, revision: u64) -> Self {
        Self {
            revision,
            tenants: state.tenants().cloned().collect(),
            services: state.services().cloned().collect(),
            instances: state.instances().cloned().collect(),
        }
    }
}

/// The registry part of the overview, from `records`.
/// `leases` gives each listed instance's last renewal and expiry (this node's copy of the
/// leader's lease times).
pub fn registry_view(
    records: Records,
    filter: &Filter,
    recent: (Vec<Activity>, Vec<Activity>),
    leases: Option<&LeaseTimes>,
) -> RegistryView {
    let words = filter.words();
    let limit = filter.limit();
    let mut totals = Totals {
        tenants: records.tenants.len(),
        services: records.services.len(),
        instances: records.instances.len(),
        ..Totals::default()
    };
    let mut by_service: HashMap<ServiceRef, Vec<&Arc<Instance>>> = HashMap::new();
    for i in &records.instances {
        *totals.by_status.entry(i.status.as_str()).or_default() += 1;
        *totals
            .by_origin
            .entry(origin_name(i.origin.source()).to_string())
            .or_default() += 1;
        by_service.entry(i.service_ref()).or_default().push(i);
    }
    let mut services: Vec<&Arc<Service>> = records
        .services
        .iter()
        .filter(|s| filter.admits_tenant(&s.tenant))
        .collect();
    services.sort_by_cached_key(|s| (s.tenant.to_string(), s.name.to_lowercase(), s.version.clone()));
    let mut views = Vec::new();
    let (mut matching, mut listed) = (0, 0);
    for s in services {
        let service_text = [s.name.as_str(), s.app.as_str(), s.id.as_str(), s.version.as_str()];
        let unmatched: Vec<&String> = words
            .iter()
            .filter(|w| !service_text.iter().any(|t| t.to_lowercase().contains(w.as_str())))
            .collect();
        let mut by_status = BTreeMap::new();
        let mut matching_by_status = BTreeMap::new();
        let mut instances = Vec::new();
        let mut admitted = 0;
        let mut sorted = by_service.remove(&s.service_ref()).unwrap_or_default();
        sorted.sort_by(|a, b| natural_cmp(&a.id, &b.id));
        for i in sorted {
            *by_status.entry(i.status.as_str()).or_default() += 1;
            if !filter.admits_instance(i) || !unmatched.iter().all(|w| instance_matches(i, w)) {
                continue;
            }
            admitted += 1;
            *matching_by_status.entry(i.status.as_str()).or_default() += 1;
            if listed < limit {
                instances.push(InstanceView::of(i, leases.and_then(|l| l.get(&i.key()))));
                listed += 1;
            }
        }
        matching += admitted;
        // A service without admitted instances shows only when the search names the service
        // itself and no status or origin filter narrows the instances.
        let shown = admitted > 0 || (unmatched.is_empty() && !filter.narrows_instances());
        if shown {
            views.push(ServiceView {
                tenant: s.tenant.to_string(),
                id: s.id.to_string(),
                app: s.app.clone(),
                name: s.name.clone(),
                version: s.version.clone(),
                environment: s.environment.clone(),
                origin: origin_name(s.origin.source()).to_string(),
                by_status,
                matching_by_status,
                instances,
            });
        }
    }
    let mut tenants: Vec<String> = records.tenants.iter().map(ToString::to_string).collect();
    tenants.sort();
    let names: HashMap<ServiceRef, &str> = records
        .services
        .iter()
        .map(|s| (s.service_ref(), s.name.as_str()))
        .collect();
    let activity = |list: Vec<Activity>| -> Vec<ActivityView> {
        list.into_iter()
            .map(|a| {
                let i = &a.instance;
                ActivityView {
                    at_ms: a.at_ms,
                    tenant: i.tenant.to_string(),
                    service: names
                        .get(&i.service_ref())
                        .map_or_else(|| i.service_id.to_string(), |n| n.to_string()),
                    instance_id: i.id.to_string(),
                    host: i.host_name.to_string(),
                    origin: origin_name(i.origin.source()).to_string(),
                }
            })
            .collect()
    };
    let origins: BTreeSet<String> = totals.by_origin.keys().cloned().collect();
    let (registered, cancelled) = recent;
    RegistryView {
        revision: records.revision,
        choices: Choices {
            tenants,
            statuses: InstanceStatus::ALL.iter().map(|s| s.as_str()).collect(),
            origins: origins.into_iter().collect(),
        },
        totals,
        services: views,
        matching_instances: matching,
        listed_instances: listed,
        recent_registrations: activity(registered),
        recent_cancellations: activity(cancelled),
    }
}

/// Compares as people read ids: runs of digits by their value (`inv-2` < `inv-10`), the rest
/// by character; equal-looking ids (`inv-01`, `inv-1`) fall back to plain order.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    while let (Some(&cx), Some(&cy)) = (x.first(), y.first()) {
        if cx.is_ascii_digit() && cy.is_ascii_digit() {
            let dx = x.iter().take_while(|c| c.is_ascii_digit()).count();
            let dy = y.iter().take_while(|c| c.is_ascii_digit()).count();
            let (nx, ny) = (trim_zeros(&x[..dx]), trim_zeros(&y[..dy]));
            let by_value = nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny));
            if by_value != Ordering::Equal {
                return by_value;
            }
            (x, y) = (&x[dx..], &y[dy..]);
        } else {
            if cx != cy {
                return cx.cmp(&cy);
            }
            (x, y) = (&x[1..], &y[1..]);
        }
    }
    x.len().cmp(&y.len()).then_with(|| a.cmp(b))
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|c| **c == b'0').count();
    &digits[zeros..]
}

fn instance_matches(i: &Instance, word: &str) -> bool {
    [&i.id, &i.host_name, &i.ip_addr, &i.zone, &i.region]
        .iter()
        .any(|t| t.to_lowercase().contains(word))
        || i.endpoints.iter().any(|e| e.to_lowercase().contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_the_value_of_their_numbers() {
        let mut ids = vec![
            "inv-10", "inv-2", "inv-1", "a", "inv-b", "inv-01", "inv-1a", "inv-", "10", "9",
        ];
        ids.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            ids,
            ["9", "10", "a", "inv-", "inv-01", "inv-1", "inv-1a", "inv-2", "inv-10", "inv-b"]
        );
        assert_eq!(natural_cmp("x-007", "x-7"), "x-007".cmp("x-7"));
        assert_eq!(natural_cmp("same", "same"), Ordering::Equal);
    }
}
