//! Eureka's v1 wire format.
//!
//! - [`wire`]: Eureka's objects as typed values; [`json`] and [`xml`] turn them into the exact
//!   bytes real clients expect and read them back leniently; [`hashcode`] is `apps__hashcode`.
//! - [`mapping`]: `InstanceInfo` ↔ the unified model, documented as a table.

pub mod hashcode;
pub mod json;
pub mod mapping;
mod stored;
pub mod wire;
pub mod xml;

/// Why a body could not be read as a Eureka object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed {format}: {reason}")]
    Malformed { format: &'static str, reason: String },
    #[error("{format} body has no {expected} object")]
    MissingRoot {
        format: &'static str,
        expected: &'static str,
    },
    /// Readable, but past one of the decoders' caps (attributes, depth, elements, metadata
    /// entries): refused before it costs more than reading it once (issue 19, attack 2).
    #[error("{format} body refused: {reason}")]
    OverLimit { format: &'static str, reason: String },
    #[error("{format} field `{field}`: {reason}")]
    InvalidField {
        format: &'static str,
        field: String,
        reason: String,
    },
}
