//! [`InstanceIndex`]: the registry's instances ordered by (tenant, service id, instance id),
//! keyed by the records themselves.
//!
//! A `BTreeMap<InstanceKey, Arc<Instance>>` keeps a second copy of every key (96 bytes) beside
//! the record that already holds it; at a million instances that copy and the wider tree nodes
//! cost about 140 bytes an instance (issue 23). Here the tree holds only the `Arc`, ordered by
//! the key fields inside the record, and lookups by [`InstanceKey`] borrow both sides as a
//! [`KeyView`].

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

use crate::model::Instance;
use crate::model::InstanceKey;
use crate::model::ServiceRef;
use crate::model::Tenant;

/// Anything that names an instance: (tenant, service id, id), compared in that order, the same
/// order as [`InstanceKey`]'s derived one.
trait KeyView {
    fn parts(&self) -> (&Tenant, &str, &str);
}

impl KeyView for InstanceKey {
    fn parts(&self) -> (&Tenant, &str, &str) {
        (&self.tenant, &self.service_id, &self.id)
    }
}

/// The first possible key of a service (an empty instance id sorts first).
struct ServiceStart<'a>(&'a ServiceRef);

impl KeyView for ServiceStart<'_> {
    fn parts(&self) -> (&Tenant, &str, &str) {
        (&self.0.tenant, &self.0.id, "")
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyView + '_ {}

impl PartialOrd for dyn KeyView + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn KeyView + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts().cmp(&other.parts())
    }
}

/// A record in the tree, ordered by its key fields.
#[derive(Clone)]
struct ByKey(Arc<Instance>);

impl KeyView for ByKey {
    fn parts(&self) -> (&Tenant, &str, &str) {
        (&self.0.tenant, &self.0.service_id, &self.0.id)
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for ByKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl PartialEq for ByKey {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for ByKey {}

impl PartialOrd for ByKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ByKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts().cmp(&other.parts())
    }
}

/// Instances by key, in key order; at most one record per key.
#[derive(Clone, Default)]
pub struct InstanceIndex {
    set: BTreeSet<ByKey>,
}

impl fmt::Debug for InstanceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.set.iter().map(|r| (r.0.key().to_string(), &r.0)))
            .finish()
    }
}

impl InstanceIndex {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &InstanceKey) -> Option<&Arc<Instance>> {
        self.set.get(key as &dyn KeyView).map(|r| &r.0)
    }

    pub fn contains_key(&self, key: &InstanceKey) -> bool {
        self.set.contains(key as &dyn KeyView)
    }

    /// Stores `instance` under its own key, replacing the record there.
    pub fn insert(&mut self, instance: Arc<Instance>) {
        self.set.replace(ByKey(instance));
    }

    /// Stores every one of `records`, as [`Self::insert`] would one by one. Into an empty index
    /// the tree is built in one pass from the sorted records, without a descent from the root
    /// per record (a million records loaded in key order at start-up).
    pub fn insert_all(&mut self, records: Vec<Arc<Instance>>) {
        let records: Vec<ByKey> = records.into_iter().map(ByKey).collect();
        if self.set.is_empty() && records.is_sorted_by(|a, b| a < b) {
            // Sorted, one record per key: built bottom-up.
            self.set = records.into_iter().collect();
        } else {
            for record in records {
                self.set.replace(record);
            }
        }
    }

    pub fn remove(&mut self, key: &InstanceKey) -> Option<Arc<Instance>> {
        self.set.take(key as &dyn KeyView).map(|r| r.0)
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Every record, in key order.
    pub fn values(&self) -> impl Iterator<Item = &Arc<Instance>> {
        self.set.iter().map(|r| &r.0)
    }

    /// One service's records, ordered by instance id.
    pub fn of_service<'a>(&'a self, service: &ServiceRef) -> impl Iterator<Item = &'a Arc<Instance>> + 'a {
        let start = ServiceStart(service);
        let from: &dyn KeyView = &start;
        let service = service.clone();
        self.set
            .range::<dyn KeyView, _>((Bound::Included(from), Bound::Unbounded))
            .take_while(move |r| r.0.tenant == service.tenant && r.0.service_id == service.id)
            .map(|r| &r.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(service: &str, id: &str) -> Arc<Instance> {
        Arc::new(Instance::new(Tenant::default_tenant(), service, id, "h"))
    }

    fn key(service: &str, id: &str) -> InstanceKey {
        instance(service, id).key()
    }

    #[test]
    fn finds_replaces_and_removes_by_key() {
        let mut index = InstanceIndex::new();
        index.insert(instance("a", "1"));
        index.insert(instance("a", "2"));
        let mut newer = Instance::new(Tenant::default_tenant(), "a", "1", "other-host");
        newer.mod_revision = 9;
        index.insert(Arc::new(newer));
        assert_eq!(index.len(), 2);
        assert_eq!(index.get(&key("a", "1")).unwrap().host_name, "other-host");
        assert!(index.contains_key(&key("a", "2")));
        assert!(index.get(&key("a", "3")).is_none());
        assert_eq!(index.remove(&key("a", "2")).unwrap().id, "2");
        assert!(index.remove(&key("a", "2")).is_none());
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn one_services_records_are_a_contiguous_run_in_key_order() {
        let mut index = InstanceIndex::new();
        for (s, i) in [("b", "2"), ("a", "9"), ("b", "1"), ("ba", "0"), ("c", "1")] {
            index.insert(instance(s, i));
        }
        let other = Tenant::new("x", "y");
        index.insert(Arc::new(Instance::new(other.clone(), "b", "5", "h")));
        let of = |tenant: &Tenant, s: &str| -> Vec<String> {
            let service = ServiceRef {
                tenant: tenant.clone(),
                id: s.into(),
            };
            index.of_service(&service).map(|i| i.id.to_string()).collect()
        };
        let default = Tenant::default_tenant();
        assert_eq!(of(&default, "b"), ["1", "2"]);
        assert_eq!(of(&default, "ba"), ["0"]);
        assert_eq!(of(&default, "zz"), Vec::<String>::new());
        assert_eq!(of(&other, "b"), ["5"]);
        let all: Vec<InstanceKey> = index.values().map(|i| i.key()).collect();
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(all, sorted);
    }

    /// Loading in one pass and inserting one by one give the same index, whatever the order
    /// of the records, duplicates (the later wins) and what the index held.
    #[test]
    fn inserting_all_at_once_is_inserting_one_by_one() {
        let mut replaced = Instance::new(Tenant::default_tenant(), "a", "1", "newer-host");
        replaced.mod_revision = 9;
        let sorted = vec![instance("a", "1"), instance("a", "2"), instance("b", "0")];
        let unsorted = vec![instance("b", "0"), instance("a", "2"), instance("a", "1")];
        let duplicated = vec![instance("a", "1"), instance("a", "2"), Arc::new(replaced)];
        let shown = |index: &InstanceIndex| -> Vec<(InstanceKey, String)> {
            index.values().map(|i| (i.key(), i.host_name.to_string())).collect()
        };
        for start in [vec![], vec![instance("a", "0"), instance("a", "2")]] {
            for records in [&sorted, &unsorted, &duplicated] {
                let mut one_by_one = InstanceIndex::new();
                let mut at_once = InstanceIndex::new();
                for r in &start {
                    one_by_one.insert(r.clone());
                    at_once.insert(r.clone());
                }
                for r in records {
                    one_by_one.insert(r.clone());
                }
                at_once.insert_all(records.clone());
                assert_eq!(shown(&at_once), shown(&one_by_one));
                assert_eq!(at_once.len(), one_by_one.len());
            }
        }
    }
}
