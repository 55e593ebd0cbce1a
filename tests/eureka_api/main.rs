//! The Eureka REST API against a real single-node store in process (router driven by
//! `oneshot`, no socket for HTTP): semantics of `../shared/specs/eureka.md` §2 and §5, and the
//! 400/404 cases. Real clients run against real processes in `tests/clients`.

mod support;

mod auth;
mod delta;
mod errors;
mod hostile_bodies;
mod lean;
mod limits;
mod log_entries;
mod peer;
mod reads;
mod registration;
mod request_ids;
mod status;
