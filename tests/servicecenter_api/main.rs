//! The ServiceCenter v4 API against a real single-node store in process: the SDK flow of
//! `../shared/specs/servicecenter.md` §4, one registry seen through both APIs, and bad input.

#[path = "../eureka_api/support.rs"]
mod support;
#[path = "../common/ws_events.rs"]
mod ws_events;

mod cross_protocol;
mod errors;
mod flow;
mod log_entries;
mod watch;
