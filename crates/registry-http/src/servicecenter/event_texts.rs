//! The watchers' event texts, encoded once per change: thousands of watchers of one provider
//! each send the same text for the same change, so the first watcher to need it encodes it and
//! the others share its bytes (the consumer decides only whether an event is sent, not what it
//! says).

use std::collections::VecDeque;

use axum::extract::ws::Utf8Bytes;
use parking_lot::Mutex;
use registry_store::change::ChangeKind;
use registry_store::model::InstanceKey;
use registry_store::model::Revision;

/// Texts of the last few changes.
pub struct EventTexts {
    recent: Mutex<VecDeque<(Key, Utf8Bytes)>>,
}

/// One change of one instance.
type Key = (Revision, ChangeKind, InstanceKey);

/// Changes whose texts are kept: watchers read the feed at their own pace, so a slow one may
/// ask for a change that has left; it is then encoded again.
const KEPT: usize = 256;

impl Default for EventTexts {
    fn default() -> Self {
        Self {
            recent: Mutex::new(VecDeque::with_capacity(KEPT)),
        }
    }
}

impl EventTexts {
    /// The text of the change `(revision, kind, key)`, encoded by `encode` if no watcher has yet.
    pub fn get_or_encode(
        &self,
        revision: Revision,
        kind: ChangeKind,
        key: &InstanceKey,
        encode: impl FnOnce() -> Option<String>,
    ) -> Option<Utf8Bytes> {
        let found = self
            .recent
            .lock()
            .iter()
            .rev()
            .find(|((r, k, i), _)| *r == revision && *k == kind && i == key)
            .map(|(_, text)| text.clone());
        if found.is_some() {
            return found;
        }
        let text = Utf8Bytes::from(encode()?);
        let mut recent = self.recent.lock();
        if recent.len() == KEPT {
            recent.pop_front();
        }
        recent.push_back(((revision, kind, key.clone()), text.clone()));
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry_store::model::Tenant;

    fn key(id: &str) -> InstanceKey {
        InstanceKey {
            tenant: Tenant::default_tenant(),
            service_id: "svc".into(),
            id: id.into(),
        }
    }

    #[test]
    fn a_change_is_encoded_once_and_another_change_again() {
        let texts = EventTexts::default();
        let a = texts.get_or_encode(7, ChangeKind::Created, &key("a"), || Some("first".into()));
        let again = texts.get_or_encode(7, ChangeKind::Created, &key("a"), || Some("second".into()));
        assert_eq!((a.as_deref(), again.as_deref()), (Some("first"), Some("first")));
        let other = texts.get_or_encode(7, ChangeKind::Updated, &key("a"), || Some("update".into()));
        assert_eq!(other.as_deref(), Some("update"));
        let b = texts.get_or_encode(7, ChangeKind::Created, &key("b"), || None);
        assert_eq!(b, None);
    }

    #[test]
    fn only_the_last_changes_are_kept() {
        let texts = EventTexts::default();
        for revision in 0..(KEPT as u64 + 1) {
            texts.get_or_encode(revision, ChangeKind::Created, &key("a"), || Some(revision.to_string()));
        }
        let first = texts.get_or_encode(0, ChangeKind::Created, &key("a"), || Some("again".into()));
        assert_eq!(first.as_deref(), Some("again"));
    }
}
