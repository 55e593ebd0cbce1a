//! The protocol-neutral registry model (D1): tenants, services, instances and where they came from.
//!
//! One schema holds what every protocol registers. Fields that only one protocol has (Eureka's
//! `vipAddress` or `leaseInfo`, ServiceCenter's `healthCheck` or `framework`) live in
//! [`ProtocolFields`], keyed by protocol name, so each API round-trips its own objects exactly.
//! Nothing here knows about Raft, sled, tokio or HTTP.

mod instance;
mod origin;
mod raw_json;
mod service;
mod tenant;

use litemap::LiteMap;
use smol_str::SmolStr;

pub use instance::Instance;
pub use instance::InstanceKey;
pub use instance::InstanceStatus;
pub use instance::LeaseSettings;
pub use origin::MirroredFrom;
pub use origin::Origin;
pub use raw_json::RawJson;
pub use service::Service;
pub use service::ServiceKey;
pub use service::ServiceRef;
pub use tenant::Tenant;

/// String-to-string metadata / properties, ordered so encodings are deterministic. A sorted
/// vector: instances carry a handful of entries, for which a `BTreeMap` node costs ~0.5 KB.
pub type Properties = LiteMap<SmolStr, SmolStr>;

/// Fields one protocol carries and the neutral model has no column for, kept losslessly.
///
/// Keyed by protocol name (`"eureka"`, `"servicecenter"`); each value is that protocol's own JSON
/// object of extra fields, kept as compact text ([`RawJson`]). The neutral fields stay authoritative: a protocol codec writes its extras
/// here and reads them back when it renders its own wire format.
pub type ProtocolFields = LiteMap<SmolStr, RawJson>;

/// Milliseconds since the Unix epoch, stamped by the proposing node and carried in commands (D1).
pub type Millis = u64;

/// A Raft log index, which is the registry's revision (D2).
pub type Revision = u64;
