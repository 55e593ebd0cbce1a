//! Versioned binary encoding of everything the store writes to disk or sends between nodes.
//!
//! One format byte, then MessagePack with field names (so fields can be added without a wipe).

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
    rmp_serde::encode::write_named(&mut out, value)?;
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
    fn refuses_unknown_versions_and_garbage() {
        assert!(matches!(decode::<u64>(&[]), Err(CodecError::Empty)));
        assert!(matches!(decode::<u64>(&[9, 1]), Err(CodecError::UnsupportedVersion(9))));
        assert!(matches!(
            decode::<Instance>(&[1, 0xc1, 0xff]),
            Err(CodecError::Decode(_))
        ));
    }
}
