//! Records one source lists that another origin already holds in the store: a record reachable
//! through two peers (a cluster followed directly and through a hub, or two peers listing the
//! same instance keys), or one registered here natively.
//!
//! The store keeps one record per key and a mirror never overwrites a record of another origin,
//! so the copy written first holds the key. The other sources keep their copy here, in the
//! shadow, instead of proposing it again every round (which wrote a log entry per round,
//! forever). When the holder lets the key go (its remote deleted the record, or went silent
//! past its grace period) and the key stays free for a settling time, a source still listing it
//! takes it over with one write (should two do so at once, the store keeps the first and the
//! other goes back to its shadow). The settling time lets a deletion that travels both paths
//! arrive on the second too, so a deleted record is not brought back.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use registry_store::model::Instance;
use registry_store::model::InstanceKey;
use registry_store::model::Millis;

/// Who holds a key in the store, as one source sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// Nobody: the key is free.
    Free,
    /// This source's own copy.
    Us,
    /// A record of another origin (native, or mirrored from another source).
    Other,
}

/// A source's shadowed records.
#[derive(Debug, Clone, Default)]
pub struct Shadow {
    records: BTreeMap<InstanceKey, Shadowed>,
}

#[derive(Debug, Clone)]
struct Shadowed {
    record: Instance,
    /// Since when the key has been free, if it is.
    free_since: Option<Millis>,
}

impl Shadow {
    /// How many records wait in the shadow.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Sorts a listing's instances: those another origin holds go to the shadow (and out of the
    /// listing); shadowed records whose key has been free for `settle_ms` at `now_ms` come back
    /// into it (the take-over). `removed` (remote ids) and a complete listing drop shadowed
    /// records the source no longer lists. `holder` says who holds a key in the store.
    pub fn sort(
        &mut self,
        instances: &mut Vec<Instance>,
        removed: &[String],
        complete: bool,
        holder: impl Fn(&InstanceKey) -> Holder,
        now_ms: Millis,
        settle_ms: Millis,
    ) {
        let reported: BTreeSet<&str> = removed.iter().map(String::as_str).collect();
        self.records
            .retain(|_, s| !s.record.origin.remote_id().is_some_and(|r| reported.contains(r)));
        if complete {
            let listed: BTreeSet<InstanceKey> = instances.iter().map(Instance::key).collect();
            self.records.retain(|k, _| listed.contains(k));
        }
        let mut kept = Vec::with_capacity(instances.len());
        for i in instances.drain(..) {
            let key = i.key();
            match (holder(&key), self.records.get_mut(&key)) {
                (Holder::Us, _) => {
                    self.records.remove(&key);
                    kept.push(i);
                }
                // Never shadowed and free: a new record, written now.
                (Holder::Free, None) => kept.push(i),
                // Shadowed and free: it waits like the others below.
                (Holder::Free, Some(s)) => s.record = i,
                (Holder::Other, _) => {
                    self.records.insert(
                        key,
                        Shadowed {
                            record: i,
                            free_since: None,
                        },
                    );
                }
            }
        }
        let mut taken = Vec::new();
        self.records.retain(|key, s| match holder(key) {
            Holder::Us => false,
            Holder::Other => {
                s.free_since = None;
                true
            }
            Holder::Free => {
                let since = *s.free_since.get_or_insert(now_ms);
                if now_ms.saturating_sub(since) >= settle_ms {
                    taken.push(s.record.clone());
                    false
                } else {
                    true
                }
            }
        });
        kept.extend(taken);
        *instances = kept;
    }
}
