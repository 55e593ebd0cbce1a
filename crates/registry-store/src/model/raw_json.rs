//! [`RawJson`]: one JSON value kept as its compact text, the storage of protocol fields.
//!
//! A parsed `serde_json::Value` costs an allocation per key and value (about 3 KB for a Eureka
//! instance's extra fields); the text of the same object is a quarter of that, and the protocol
//! codecs parse it straight into their own typed structs when they render. In binary encodings
//! (the log, snapshots, the state tree) it is a string; in human-readable ones (JSON) it is the
//! JSON value itself, so admin and federation payloads look the same as before.
//!
//! Equal texts are shared: instances of one app carry the same extra fields, so each text is
//! kept once (interned) and every record holding it points at it (issue 23: a million
//! instances).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::LazyLock;

use parking_lot::Mutex;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde::Deserializer;
use serde::Serialize;
use serde::Serializer;
use serde_json::Value;

/// A JSON value as compact text. Always valid JSON.
#[derive(Clone, PartialEq, Eq)]
pub struct RawJson(Arc<str>);

/// Every text some [`RawJson`] holds, and the set's size after its last sweep.
struct Texts {
    set: HashSet<Arc<str>>,
    swept_len: usize,
}

/// The set is swept of texts no record holds any more when it has doubled since the last sweep.
const SWEEP_FLOOR: usize = 1024;

static TEXTS: LazyLock<Mutex<Texts>> = LazyLock::new(|| {
    Mutex::new(Texts {
        set: HashSet::new(),
        swept_len: 0,
    })
});

/// The shared copy of `text`.
fn intern(text: String) -> Arc<str> {
    let mut texts = TEXTS.lock();
    if let Some(shared) = texts.set.get(text.as_str()) {
        return shared.clone();
    }
    if texts.set.len() >= SWEEP_FLOOR.max(texts.swept_len * 2) {
        // Held only by the set: no record has it, and none can take it while the lock is held.
        texts.set.retain(|t| Arc::strong_count(t) > 1);
        texts.swept_len = texts.set.len();
    }
    let shared: Arc<str> = Arc::from(text);
    texts.set.insert(shared.clone());
    shared
}

impl RawJson {
    fn new(text: String) -> Self {
        Self(intern(text))
    }

    /// `value` as JSON text (`null` if it cannot be represented).
    pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Self {
        Self::new(serde_json::to_string(value).unwrap_or_else(|_| "null".into()))
    }

    /// Parses the text into `T`; `None` if it does not have that shape.
    pub fn parse<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(&self.0).ok()
    }

    /// The value as a `serde_json::Value`.
    pub fn to_value(&self) -> Value {
        self.parse().unwrap_or(Value::Null)
    }

    pub fn is_null(&self) -> bool {
        &*self.0 == "null"
    }

    /// The length of the JSON text in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Value> for RawJson {
    fn from(value: Value) -> Self {
        Self::new(value.to_string())
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            self.to_value().serialize(serializer)
        } else {
            serializer.serialize_str(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let human = deserializer.is_human_readable();
        let value = Value::deserialize(deserializer)?;
        match value {
            // Binary encodings carry the text; a stored object (older records) is taken as is.
            Value::String(text) if !human => {
                serde_json::from_str::<serde::de::IgnoredAny>(&text).map_err(serde::de::Error::custom)?;
                Ok(Self::new(text))
            }
            other => Ok(Self::from(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::storage::codec;

    #[test]
    fn binary_encodings_carry_text_and_json_carries_the_value() {
        let raw = RawJson::from(json!({"vipAddress": "orders", "port": {"$": 8080}}));
        assert_eq!(codec::decode::<RawJson>(&codec::encode(&raw).unwrap()).unwrap(), raw);
        let as_json = serde_json::to_value(&raw).unwrap();
        assert_eq!(as_json, json!({"vipAddress": "orders", "port": {"$": 8080}}));
        assert_eq!(serde_json::from_value::<RawJson>(as_json).unwrap(), raw);
    }

    #[test]
    fn a_stored_object_still_reads_and_garbage_text_is_refused() {
        let old = codec::encode(&json!({"a": 1})).unwrap();
        assert_eq!(codec::decode::<RawJson>(&old).unwrap().as_str(), r#"{"a":1}"#);
        let garbage = codec::encode("{not json").unwrap();
        assert!(codec::decode::<RawJson>(&garbage).is_err());
    }

    #[test]
    fn equal_texts_are_one_copy_and_unheld_ones_are_swept() {
        let a = RawJson::to_json(&json!({"shared": "by-two-records"}));
        let b = RawJson::from(json!({"shared": "by-two-records"}));
        assert!(Arc::ptr_eq(&a.0, &b.0));
        for n in 0..3 * SWEEP_FLOOR {
            drop(RawJson::to_json(&json!({ "gone": n })));
        }
        let texts = TEXTS.lock();
        assert!(
            texts.set.len() <= 2 * SWEEP_FLOOR.max(texts.swept_len * 2),
            "{}",
            texts.set.len()
        );
        assert!(texts.set.contains(a.as_str()));
    }

    #[test]
    fn parses_into_typed_structs() {
        #[derive(Deserialize)]
        struct Port {
            port: u16,
        }
        let raw = RawJson::to_json(&json!({"port": 8080}));
        assert_eq!(raw.parse::<Port>().map(|p| p.port), Some(8080));
        assert!(raw.parse::<Vec<u8>>().is_none());
        assert!(RawJson::from(Value::Null).is_null());
    }
}
