//! The protocols' wire objects and their mapping to the unified model, shared by the HTTP front
//! (which serves them) and the adapters (which speak them to peers). Pure: no I/O.
//!
//! - [`eureka`]: `InstanceInfo` and friends, exact JSON and XML codecs, `apps__hashcode`, and
//!   `InstanceInfo` ↔ model.
//! - [`servicecenter`]: ServiceCenter v4 objects, version rules, and objects ↔ model.
//! - [`nacos`]: Nacos naming objects (Open API v1) and namespaces, groups, instances ↔ model.

pub mod eureka;
pub mod nacos;
pub mod servicecenter;
