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
    #[error("decode: {0}")]
    Malformed(&'static str),
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
    check_lengths(body)?;
    Ok(rmp_serde::from_slice(body)?)
}

/// Refuses MessagePack whose declared lengths exceed what the input holds, before a decoder
/// trusts them: some collections preallocate what a length says (a 24-byte message from a peer
/// could ask for gigabytes). One pass, no recursion: it counts the values still to read, and
/// each needs at least a byte.
fn check_lengths(mut buf: &[u8]) -> Result<(), CodecError> {
    use rmp::Marker;
    let short = CodecError::Malformed("a length runs past the end of the input");
    let mut pending: u64 = 1;
    while pending > 0 {
        pending -= 1;
        let (&first, rest) = buf.split_first().ok_or(CodecError::Malformed("truncated"))?;
        buf = rest;
        let mut take = |n: usize| -> Result<u64, CodecError> {
            if buf.len() < n {
                return Err(CodecError::Malformed("truncated"));
            }
            let (head, rest) = buf.split_at(n);
            buf = rest;
            Ok(head.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
        };
        // (bytes of payload to skip, values to add)
        let (skip, values): (u64, u64) = match Marker::from_u8(first) {
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => (0, 0),
            Marker::U8 | Marker::I8 => (1, 0),
            Marker::U16 | Marker::I16 => (2, 0),
            Marker::U32 | Marker::I32 | Marker::F32 => (4, 0),
            Marker::U64 | Marker::I64 | Marker::F64 => (8, 0),
            Marker::FixStr(n) => (u64::from(n), 0),
            Marker::Str8 | Marker::Bin8 => (take(1)?, 0),
            Marker::Str16 | Marker::Bin16 => (take(2)?, 0),
            Marker::Str32 | Marker::Bin32 => (take(4)?, 0),
            Marker::FixExt1 => (2, 0),
            Marker::FixExt2 => (3, 0),
            Marker::FixExt4 => (5, 0),
            Marker::FixExt8 => (9, 0),
            Marker::FixExt16 => (17, 0),
            Marker::Ext8 => (take(1)? + 1, 0),
            Marker::Ext16 => (take(2)? + 1, 0),
            Marker::Ext32 => (take(4)? + 1, 0),
            Marker::FixArray(n) => (0, u64::from(n)),
            Marker::Array16 => (0, take(2)?),
            Marker::Array32 => (0, take(4)?),
            Marker::FixMap(n) => (0, 2 * u64::from(n)),
            Marker::Map16 => (0, 2 * take(2)?),
            Marker::Map32 => (0, 2 * take(4)?),
            Marker::Reserved => return Err(CodecError::Malformed("reserved marker")),
        };
        let skip =
            usize::try_from(skip).map_err(|_| CodecError::Malformed("a length runs past the end of the input"))?;
        if skip > buf.len() {
            return Err(short);
        }
        buf = &buf[skip..];
        pending += values;
        if pending > buf.len() as u64 {
            return Err(short);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Instance;
    use crate::model::Tenant;

    #[test]
    fn declared_lengths_past_the_input_are_refused_before_decoding() {
        // Found by the command_decode fuzz target: an array32 of 282 million elements in 24
        // bytes made a map preallocate 11 GB.
        let bomb = [
            0x01, 0x81, 0x01, 0x81, 0x02, 0x81, 0x03, 0xdd, 0x10, 0xde, 0x01, 0x81, 0x01, 0x81, 0x07, 0xa3, 0x00, 0xd1,
            0x01, 0x83, 0x01, 0x01, 0x01, 0x68,
        ];
        assert!(matches!(
            decode::<crate::command::Proposal>(&bomb),
            Err(CodecError::Malformed(_))
        ));
        for bomb in [
            vec![FORMAT_V1, 0xdb, 0xff, 0xff, 0xff, 0xff],
            vec![FORMAT_V1, 0xdf, 0x7f, 0xff, 0xff, 0xff, 0x01],
            vec![FORMAT_V1, 0xc6, 0xff, 0xff, 0xff, 0xff],
            vec![FORMAT_V1, 0x92, 0x01],
        ] {
            assert!(
                matches!(decode::<serde_json::Value>(&bomb), Err(CodecError::Malformed(_))),
                "{bomb:x?}"
            );
        }
        // Whatever encodes passes the check.
        let i = Instance::new(Tenant::default(), "svc", "id", "host");
        check_lengths(&encode(&i).unwrap()[1..]).unwrap();
    }

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

    /// Log entries written before a registration could create its tenant or replace an older
    /// copy (or a service bring its tenant and tags) read as neither.
    #[test]
    fn commands_logged_before_their_newer_fields_still_read() {
        use crate::command::RegisterInstance;
        use crate::model::Service;

        #[derive(serde::Serialize)]
        struct Before {
            instance: Instance,
            create_service: Option<Service>,
        }
        let instance = Instance::new(Tenant::default(), "svc", "id", "host");
        let service = Service::new(Tenant::default(), "svc", "app", "svc");
        let create_service = Some(service.clone());
        let old = encode(&Before {
            instance: instance.clone(),
            create_service: create_service.clone(),
        })
        .unwrap();
        assert_eq!(
            decode::<RegisterInstance>(&old).unwrap(),
            RegisterInstance::new(instance, create_service)
        );

        // And services logged before they could bring their tenant and tags.
        #[derive(serde::Serialize)]
        struct ServiceBefore {
            service: Service,
        }
        let old = encode(&ServiceBefore {
            service: service.clone(),
        })
        .unwrap();
        assert_eq!(
            decode::<crate::command::CreateService>(&old).unwrap(),
            crate::command::CreateService::new(service)
        );
    }

    #[test]
    fn refuses_unknown_versions_and_garbage() {
        assert!(matches!(decode::<u64>(&[]), Err(CodecError::Empty)));
        assert!(matches!(decode::<u64>(&[9, 1]), Err(CodecError::UnsupportedVersion(9))));
        assert!(matches!(
            decode::<Instance>(&[1, 0xc1, 0xff]),
            Err(CodecError::Malformed(_))
        ));
        // Well-formed MessagePack of the wrong shape.
        assert!(matches!(decode::<Instance>(&[1, 0x07]), Err(CodecError::Decode(_))));
    }
}
