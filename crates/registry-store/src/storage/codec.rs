//! Versioned binary encoding of everything the store writes to disk or sends between nodes.
//!
//! One format byte, then MessagePack with structs as arrays of their fields, in declaration
//! order: field names would double the size of a registration in the log and of an instance in
//! the state tree (824 -> 363 and 502 -> 250 bytes). The decoder also reads structs written as
//! maps with field names, the form records had before.
//!
//! So that older records keep reading, a stored struct only gains fields at its end, each with
//! `#[serde(default)]`; fields are never removed, reordered or skipped when serialising
//! (`skip_serializing_if` would shift the ones after it). `encoding_of_an_instance_is_stable`
//! catches accidental changes.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The current format marker; bump when a breaking change to stored types needs a migration.
const FORMAT_V1: u8 = 1;

/// Why a stored or received value could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty value")]
    Empty,
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    #[error("decode: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    #[error("encode: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
}

pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(128);
    out.push(FORMAT_V1);
    rmp_serde::encode::write(&mut out, value)?;
    Ok(out)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != FORMAT_V1 {
        return Err(CodecError::UnsupportedVersion(version));
    }
    Ok(rmp_serde::from_slice(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Instance;
    use crate::model::Tenant;

    #[test]
    fn round_trips_an_instance_with_protocol_fields() {
        let mut i = Instance::new(Tenant::default(), "svc", "id", "host");
        i.protocol_fields.insert(
            "eureka".into(),
            serde_json::json!({"vipAddress": "orders", "port": {"$": 8080}}).into(),
        );
        let bytes = encode(&i).unwrap();
        assert_eq!(decode::<Instance>(&bytes).unwrap(), i);
    }

    #[test]
    fn records_written_with_field_names_still_read() {
        let mut i = Instance::new(Tenant::default(), "svc", "id", "host");
        i.endpoints.push("rest://10.0.0.1:8080".into());
        i.metadata.insert("zone".into(), "a".into());
        let mut named = vec![FORMAT_V1];
        rmp_serde::encode::write_named(&mut named, &i).unwrap();
        assert_eq!(decode::<Instance>(&named).unwrap(), i);
        assert!(encode(&i).unwrap().len() < named.len() / 2);
    }

    /// Fails when a stored struct's fields change: see the module's rule before updating it.
    #[test]
    fn encoding_of_an_instance_is_stable() {
        let mut i = Instance::new(Tenant::default(), "svc", "id", "host");
        i.ip_addr = "10.0.0.1".into();
        i.endpoints.push("rest://10.0.0.1:8080".into());
        i.metadata.insert("k".into(), "v".into());
        i.protocol_fields
            .insert("eureka".into(), crate::model::RawJson::to_json(&1));
        i.create_revision = 7;
        let hex: String = encode(&i).unwrap().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "01dc001392a764656661756c74a764656661756c74a3737663a26964a4686f7374a831302e302e302e3191b4726573743a2f2f31302e302e302e313a38303830a25550c000a0a081a16ba176921e5a81a6657572656b61a131a54c6f63616c00000700"
        );
    }

    #[test]
    fn refuses_unknown_versions_and_garbage() {
        assert!(matches!(decode::<u64>(&[]), Err(CodecError::Empty)));
        assert!(matches!(decode::<u64>(&[9, 1]), Err(CodecError::UnsupportedVersion(9))));
        assert!(matches!(
            decode::<Instance>(&[1, 0xc1, 0xff]),
            Err(CodecError::Decode(_))
        ));
    }
}
