//! Nacos's naming objects (Open API v1 and v2 over HTTP) and their mapping to the unified model.
//!
//! - [`wire`]: the JSON Nacos clients read (`ServiceInfo` with its `hosts`, an instance's
//!   detail, the beat answer, a service's detail and the service list) and the beat they send
//!   (`RsInfo`).
//! - [`mapping`]: namespaces, groups, clusters, instances and services' own fields ↔ the
//!   unified model, documented as a table (and in `docs/nacos.md`).

pub mod mapping;
pub mod wire;
