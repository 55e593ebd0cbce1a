//! The bodies of recent finds, by the providers found and their revision: thousands of
//! consumers of one provider find it again and again (java-chassis every 30 s, with `rev`
//! only once it has an answer), and while its instances do not change (renewals change
//! nothing a find shows) each answer is the same text. A provider of 10,000 instances is some
//! 5 MB of JSON: converted and encoded per find, sixteen finders kept a node's client runtime
//! busy for seconds at a million instances.
//!
//! Only the latest revision of each set of providers is kept, and only so many bytes in all.

use std::collections::HashMap;

use axum::body::Bytes;
use parking_lot::Mutex;
use registry_store::model::ServiceRef;

/// The most bytes of bodies kept; past it, the oldest sets' bodies go.
const KEPT_BYTES: usize = 64 * 1024 * 1024;

/// Bodies smaller than this are not kept: encoding them costs less than keeping them.
const KEPT_FROM: usize = 16 * 1024;

/// Recent find bodies (see the module's docs).
#[derive(Default)]
pub struct FindBodies {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    by_providers: HashMap<Vec<ServiceRef>, Body>,
    bytes: usize,
    /// Bumped on every insertion, to find the oldest.
    clock: u64,
}

struct Body {
    revision: String,
    bytes: Bytes,
    stored_at: u64,
}

impl FindBodies {
    /// The body kept for `providers` at `revision`, if any.
    pub fn get(&self, providers: &[ServiceRef], revision: &str) -> Option<Bytes> {
        let kept = self.kept.lock();
        let body = kept.by_providers.get(providers)?;
        (body.revision == revision).then(|| body.bytes.clone())
    }

    /// Keeps `bytes`, the body for `providers` at `revision` (replacing an older revision's).
    pub fn put(&self, providers: Vec<ServiceRef>, revision: &str, bytes: &Bytes) {
        if bytes.len() < KEPT_FROM || bytes.len() > KEPT_BYTES {
            return;
        }
        let mut kept = self.kept.lock();
        kept.clock += 1;
        let stored_at = kept.clock;
        let body = Body {
            revision: revision.to_string(),
            bytes: bytes.clone(),
            stored_at,
        };
        if let Some(old) = kept.by_providers.insert(providers, body) {
            kept.bytes -= old.bytes.len();
        }
        kept.bytes += bytes.len();
        while kept.bytes > KEPT_BYTES {
            let Some(oldest) = kept
                .by_providers
                .iter()
                .min_by_key(|(_, b)| b.stored_at)
                .map(|(providers, _)| providers.clone())
            else {
                break;
            };
            if let Some(gone) = kept.by_providers.remove(&oldest) {
                kept.bytes -= gone.bytes.len();
            }
        }
    }

    /// Bytes kept.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.kept.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use registry_store::model::Tenant;

    use super::*;

    fn providers(ids: &[&str]) -> Vec<ServiceRef> {
        ids.iter()
            .map(|id| ServiceRef {
                tenant: Tenant::default(),
                id: (*id).into(),
            })
            .collect()
    }

    fn body(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[test]
    fn a_body_answers_only_for_its_providers_and_revision() {
        let bodies = FindBodies::default();
        let big = body(KEPT_FROM);
        bodies.put(providers(&["a"]), "r1", &big);
        assert_eq!(bodies.get(&providers(&["a"]), "r1"), Some(big.clone()));
        assert_eq!(bodies.get(&providers(&["a"]), "r2"), None, "another revision");
        assert_eq!(bodies.get(&providers(&["a", "b"]), "r1"), None, "other providers");
        bodies.put(providers(&["a"]), "r2", &body(KEPT_FROM + 1));
        assert_eq!(
            bodies.get(&providers(&["a"]), "r1"),
            None,
            "replaced by the newer revision"
        );
        assert_eq!(bodies.bytes(), KEPT_FROM + 1);
    }

    #[test]
    fn small_bodies_are_not_kept_and_the_oldest_go_past_the_bound() {
        let bodies = FindBodies::default();
        bodies.put(providers(&["small"]), "r", &body(KEPT_FROM - 1));
        assert_eq!(bodies.get(&providers(&["small"]), "r"), None);
        let quarter = KEPT_BYTES / 4;
        for id in ["1", "2", "3", "4", "5"] {
            bodies.put(providers(&[id]), "r", &body(quarter));
        }
        assert!(bodies.bytes() <= KEPT_BYTES);
        assert_eq!(bodies.get(&providers(&["1"]), "r"), None, "the oldest went");
        assert!(bodies.get(&providers(&["5"]), "r").is_some());
        assert!(bodies.get(&providers(&["2"]), "r").is_some());
    }
}
