//! Where a record came from: registered here, or mirrored from another registry (D6).

use serde::Deserialize;
use serde::Serialize;
use smol_str::SmolStr;

use super::Millis;

/// The origin of a service or instance record.
///
/// Local records, nearly all of them, carry no more than the tag: a mirrored origin's details
/// are boxed. (Encoded, a boxed struct is the same as the struct variant this once was.)
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Origin {
    /// Registered through one of this cluster's own APIs.
    #[default]
    Local,
    /// Copied from an external registry by an adapter worker.
    Mirrored(Box<MirroredFrom>),
}

/// Where a mirrored record came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirroredFrom {
    /// The configured name of the peer it came from; exporters never send it back there.
    pub source: SmolStr,
    /// The record's id at the source.
    pub remote_id: SmolStr,
    /// The source's revision (or timestamp) when this copy was observed, if it has one.
    pub remote_revision: Option<SmolStr>,
    /// When the adapter observed it (proposer's clock).
    pub observed_at_ms: Millis,
}

impl Origin {
    /// The mirrored source's name, or `None` for local records.
    pub fn source(&self) -> Option<&str> {
        match self {
            Origin::Local => None,
            Origin::Mirrored(m) => Some(&m.source),
        }
    }

    /// The record's id at its mirrored source, or `None` for local records.
    pub fn remote_id(&self) -> Option<&str> {
        match self {
            Origin::Local => None,
            Origin::Mirrored(m) => Some(&m.remote_id),
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Origin::Local)
    }

    /// This origin with `stored`'s observation time: two observations of the same remote record
    /// compare equal however far apart they were made.
    pub fn observed_like(&self, stored: &Origin) -> Origin {
        match (stored, self) {
            (Origin::Mirrored(old), Origin::Mirrored(new)) => Origin::Mirrored(Box::new(MirroredFrom {
                observed_at_ms: old.observed_at_ms,
                ..(**new).clone()
            })),
            _ => self.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde::Serialize;

    use super::*;
    use crate::storage::codec;

    /// The struct variant `Origin` had before its details were boxed.
    #[derive(Serialize, Deserialize)]
    enum Unboxed {
        #[allow(dead_code)]
        Local,
        Mirrored {
            source: String,
            remote_id: String,
            remote_revision: Option<String>,
            observed_at_ms: Millis,
        },
    }

    #[test]
    fn boxed_details_encode_as_the_struct_variant_did() {
        let unboxed = Unboxed::Mirrored {
            source: "dc2".into(),
            remote_id: "orders/i-1".into(),
            remote_revision: Some("42".into()),
            observed_at_ms: 7,
        };
        let boxed = Origin::Mirrored(Box::new(MirroredFrom {
            source: "dc2".into(),
            remote_id: "orders/i-1".into(),
            remote_revision: Some("42".into()),
            observed_at_ms: 7,
        }));
        assert_eq!(codec::encode(&boxed).unwrap(), codec::encode(&unboxed).unwrap());
        let old = codec::encode(&unboxed).unwrap();
        assert_eq!(codec::decode::<Origin>(&old).unwrap(), boxed);
        assert_eq!(
            serde_json::to_value(&boxed).unwrap(),
            serde_json::to_value(&unboxed).unwrap()
        );
        assert_eq!(std::mem::size_of::<Origin>(), std::mem::size_of::<usize>());
    }
}
