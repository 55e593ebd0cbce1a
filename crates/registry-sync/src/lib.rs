//! Adapter workers that mirror external registries into the store and export ours to them (D6).
//!
//! Built so far:
//! - [`config`]: the `[[sync]]` tables (peer name, kind, URL, direction, tenant mapping, app
//!   filter, interval, grace period, deletion guard, credentials), validated;
//! - [`plan`]: one import round as pure bookkeeping: what to upsert and delete, with the rules
//!   that keep a bad peer from emptying the registry.
//!
//! Still to come (see the federation issue): the per-kind clients (Eureka, ServiceCenter,
//! cluster change-feed stream), the leader-bound worker loop that proposes the planned
//! `MirrorBatch`es, exporters, and `/admin/sync`.

pub mod config;
pub mod plan;
