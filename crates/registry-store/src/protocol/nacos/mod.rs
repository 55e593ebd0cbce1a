//! Nacos's naming objects (Open API v1 over HTTP) and their mapping to the unified model.
//!
//! - [`wire`]: the JSON Nacos clients read (`ServiceInfo` with its `hosts`, an instance's
//!   detail, the beat answer) and the beat they send (`RsInfo`).
//! - [`mapping`]: namespaces, groups, clusters and instances ↔ the unified model, documented as
//!   a table (and in `docs/nacos.md`).

pub mod mapping;
pub mod wire;
