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

use serde::de;
use serde::de::DeserializeOwned;
use serde::de::MapAccess;
use serde::de::SeqAccess;
use serde::de::Visitor;
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

/// The shared copy of `text`, if some record holds it (or held it since the last sweep).
fn interned(text: &str) -> Option<Arc<str>> {
    TEXTS.lock().set.get(text).cloned()
}

/// The shared copy of `text`.
fn intern(text: &str) -> Arc<str> {
    let mut texts = TEXTS.lock();
    if let Some(shared) = texts.set.get(text) {
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
    fn new(text: &str) -> Self {
        Self(intern(text))
    }

    /// Text read from a binary encoding. Only texts not held already are checked: every held
    /// one was valid JSON when it was first taken (at a million instances, mostly sharing their
    /// texts, the check was a tenth of decoding the stored records).
    fn from_stored_text(text: &str) -> Result<Self, serde_json::Error> {
        if let Some(shared) = interned(text) {
            return Ok(Self(shared));
        }
        serde_json::from_str::<serde::de::IgnoredAny>(text)?;
        Ok(Self::new(text))
    }

    /// `value` as JSON text (`null` if it cannot be represented).
    pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Self {
        Self::new(&serde_json::to_string(value).unwrap_or_else(|_| "null".into()))
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
        Self::new(&value.to_string())
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
        if deserializer.is_human_readable() {
            Value::deserialize(deserializer).map(Self::from)
        } else {
            deserializer.deserialize_any(StoredVisitor)
        }
    }
}

/// Reads a binary encoding's [`RawJson`]: a string is the text (borrowed from the input where
/// the decoder allows, so a text held already costs no copy); any other value (an older
/// record's stored object, say) is taken as the JSON value it is.
struct StoredVisitor;

impl StoredVisitor {
    fn value<E>(value: Value) -> Result<RawJson, E> {
        Ok(RawJson::from(value))
    }
}

impl<'de> Visitor<'de> for StoredVisitor {
    type Value = RawJson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON text, or a JSON value")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<RawJson, E> {
        RawJson::from_stored_text(text).map_err(E::custom)
    }

    fn visit_bool<E>(self, v: bool) -> Result<RawJson, E> {
        Self::value(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<RawJson, E> {
        Self::value(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<RawJson, E> {
        Self::value(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<RawJson, E> {
        Self::value(Value::from(v))
    }

    fn visit_unit<E>(self) -> Result<RawJson, E> {
        Self::value(Value::Null)
    }

    fn visit_none<E>(self) -> Result<RawJson, E> {
        Self::value(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<RawJson, D::Error> {
        inner.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawJson, A::Error> {
        Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(RawJson::from)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawJson, A::Error> {
        Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawJson::from)
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
        let trailing = codec::encode("{} {").unwrap();
        assert!(codec::decode::<RawJson>(&trailing).is_err());
    }

    /// Older records stored protocol fields as the values themselves; each kind still reads as
    /// the same JSON, inside the records' other fields too.
    #[test]
    fn stored_values_of_every_kind_read_as_their_json() {
        let values = [
            json!([1, "two", {"three": 3.5}]),
            json!(true),
            json!(-7),
            json!(u64::MAX),
            json!(2.25),
            json!(null),
            json!({"nested": {"a": [null, false]}}),
        ];
        for value in values {
            let read: (u8, RawJson, String) = codec::decode(&codec::encode(&(1u8, &value, "after")).unwrap()).unwrap();
            assert_eq!(
                (read.1.to_value(), read.2.as_str()),
                (value.clone(), "after"),
                "{value}"
            );
        }
        let optional: Option<RawJson> = codec::decode(&codec::encode(&Some(json!({"b": 2}))).unwrap()).unwrap();
        assert_eq!(optional.map(|raw| raw.to_value()), Some(json!({"b": 2})));
    }

    #[test]
    fn a_stored_text_held_already_reads_as_the_shared_copy() {
        let held = RawJson::to_json(&json!({"held": "by-a-record"}));
        let read: RawJson = codec::decode(&codec::encode(&held).unwrap()).unwrap();
        assert!(Arc::ptr_eq(&held.0, &read.0));
        assert_eq!(read, held);
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
