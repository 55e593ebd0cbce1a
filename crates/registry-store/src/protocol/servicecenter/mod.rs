//! ServiceCenter v4's wire objects.
//!
//! - [`wire`]: ServiceCenter's JSON objects; [`version`]: version rules for `find`.
//! - [`mapping`]: ServiceCenter objects ↔ the unified model, documented as a table.

pub mod mapping;
pub mod version;
pub mod wire;
