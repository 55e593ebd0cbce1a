//! Encoded Eureka payloads kept while what they show is unchanged: `/apps` and `/apps/delta` per
//! format, detail and revision, one app per format, detail and the app's own revision. A hit is checked against
//! a validator computed from the current state on every request, so a cached payload is never
//! stale (D2); the cache only saves the conversion and encoding. A payload whose validator was
//! last found current at the registry's present revision and lease epoch is served without
//! computing it again ([`PayloadCache::seen_at`]): nothing it shows can have changed since.

use std::collections::HashMap;
use std::hash::Hash;

use axum::body::Bytes;
use parking_lot::Mutex;
use parking_lot::RwLock;
use registry_store::model::Revision;

use super::format::Format;
use super::wire::Detail;

/// The registry revision and lease-times epoch at which a validator was computed.
pub type Seen = (Revision, u64);

/// One kept payload: the validator it was built for, and where that validator was last seen
/// current (if the caller says).
struct Entry<V> {
    validator: V,
    bytes: Bytes,
    seen: Option<Seen>,
}

/// Payloads by key, each valid while its validator is unchanged. Holds at most `capacity` keys;
/// past that, new keys are built without being kept.
pub struct PayloadCache<K, V> {
    /// Read-locked by hits, so concurrent readers do not queue on each other.
    entries: RwLock<HashMap<K, Entry<V>>>,
    capacity: usize,
    /// Held while building, so concurrent misses build once and the rest reuse it.
    building: Mutex<()>,
    /// The same for [`PayloadCache::get_or_build_blocking`], held across an await.
    building_off_runtime: tokio::sync::Mutex<()>,
}

impl<K: Hash + Eq, V: PartialEq> PayloadCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            capacity,
            building: Mutex::new(()),
            building_off_runtime: tokio::sync::Mutex::new(()),
        }
    }

    /// The payload cached for `key` if it was built for `validator`, else the one `build` makes
    /// (then cached).
    pub fn get_or_build(&self, key: K, validator: V, build: impl FnOnce() -> Vec<u8>) -> Bytes {
        self.get_or_build_seen(key, validator, None, build)
    }

    /// [`Self::get_or_build`], noting that `validator` is current at `seen` (it was computed
    /// from the state at that revision and epoch).
    pub fn get_or_build_seen(
        &self,
        key: K,
        validator: V,
        seen: Option<Seen>,
        build: impl FnOnce() -> Vec<u8>,
    ) -> Bytes {
        if let Some(hit) = self.valid(&key, &validator, seen) {
            return hit;
        }
        let _building = self.building.lock();
        if let Some(hit) = self.valid(&key, &validator, seen) {
            return hit;
        }
        let bytes = Bytes::from(build());
        let mut entries = self.entries.write();
        if entries.len() < self.capacity || entries.contains_key(&key) {
            let entry = Entry {
                validator,
                bytes: bytes.clone(),
                seen,
            };
            entries.insert(key, entry);
        }
        bytes
    }

    /// Like [`PayloadCache::get_or_build`], for payloads too large to build on a runtime thread
    /// (which also drives Raft and leases): `build` runs on a blocking thread, and concurrent
    /// misses wait for its one build without holding a thread.
    pub async fn get_or_build_blocking(
        &self,
        key: K,
        validator: V,
        build: impl FnOnce() -> Vec<u8> + Send + 'static,
    ) -> Bytes {
        if let Some(hit) = self.valid(&key, &validator, None) {
            return hit;
        }
        let _building = self.building_off_runtime.lock().await;
        if let Some(hit) = self.valid(&key, &validator, None) {
            return hit;
        }
        let bytes = match tokio::task::spawn_blocking(build).await {
            Ok(built) => Bytes::from(built),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => return Bytes::new(),
        };
        let mut entries = self.entries.write();
        if entries.len() < self.capacity || entries.contains_key(&key) {
            let entry = Entry {
                validator,
                bytes: bytes.clone(),
                seen: None,
            };
            entries.insert(key, entry);
        }
        bytes
    }

    /// The payload cached for `key` if its validator was last found current at `seen`: the
    /// registry has not changed since, so neither has the validator.
    pub fn seen_at<Q>(&self, key: &Q, seen: Seen) -> Option<Bytes>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.entries.read().get(key) {
            Some(entry) if entry.seen == Some(seen) => Some(entry.bytes.clone()),
            _ => None,
        }
    }

    fn valid(&self, key: &K, validator: &V, seen: Option<Seen>) -> Option<Bytes> {
        let entries = self.entries.upgradable_read();
        let entry = entries.get(key)?;
        if entry.validator != *validator {
            return None;
        }
        let bytes = entry.bytes.clone();
        if seen.is_some() && entry.seen != seen {
            let mut entries = parking_lot::RwLockUpgradableReadGuard::upgrade(entries);
            if let Some(entry) = entries.get_mut(key) {
                entry.seen = seen;
            }
        }
        Some(bytes)
    }
}

/// The Eureka API's payload caches, each by format and detail (`X-Eureka-Accept`).
/// What a delta payload is valid for: the revision, the delta window's generation and the
/// lease-times epoch.
pub type DeltaValidator = (Revision, (u64, u64), u64);

/// Every payload shows the leader's last renewals (`lastRenewalTimestamp`), so each is also
/// valid for one epoch of this node's lease times (which moves at most every few seconds).
pub struct EurekaPayloads {
    /// `/apps/delta`, valid for one revision, one state of the delta window and one epoch.
    pub delta: PayloadCache<(Format, Detail), DeltaValidator>,
    /// One app by upper-case name, valid for the app's own revision and size, and one epoch.
    pub app: PayloadCache<(Format, Detail, String), (Revision, usize, u64)>,
}

/// Apps whose payloads are kept (the rest are built on each request).
const APPS_KEPT: usize = 16_384;

impl Default for EurekaPayloads {
    fn default() -> Self {
        Self {
            delta: PayloadCache::new(4),
            app: PayloadCache::new(APPS_KEPT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_served_while_its_validator_holds() {
        let cache = PayloadCache::<&str, u64>::new(2);
        let a = cache.get_or_build("json", 7, || b"seven".to_vec());
        let b = cache.get_or_build("json", 7, || b"rebuilt".to_vec());
        assert_eq!(a, b);
        assert_eq!(cache.get_or_build("xml", 7, || b"xml".to_vec()), "xml");
        assert_eq!(cache.get_or_build("json", 8, || b"eight".to_vec()), "eight");
        assert_eq!(cache.get_or_build("json", 8, || b"again".to_vec()), "eight");
    }

    #[test]
    fn past_capacity_new_keys_are_built_but_not_kept() {
        let cache = PayloadCache::<u32, u64>::new(1);
        cache.get_or_build(1, 0, || b"one".to_vec());
        assert_eq!(cache.get_or_build(2, 0, || b"two".to_vec()), "two");
        assert_eq!(cache.get_or_build(2, 0, || b"built again".to_vec()), "built again");
        assert_eq!(cache.get_or_build(1, 0, || b"not used".to_vec()), "one");
    }
}
