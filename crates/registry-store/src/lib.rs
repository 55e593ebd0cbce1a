//! The registry's replicated store.
//!
//! How the parts fit:
//! - [`model`]: the protocol-neutral records (tenant, service, instance, origin) (D1).
//! - [`record`]: the other records stored beside them (schemas, tags, dependencies, member
//!   addresses, mirror checkpoints) and [`record::Entity`], a record of any kind.
//! - [`command`]: every state change as one typed command; [`validate`] checks its limits.
//! - [`state`]: the in-memory registry and its deterministic `apply` (no clock, no randomness).
//! - [`change`] and [`feed`]: what apply changed, persisted by storage and streamed to
//!   subscribers from any recent revision (the revision is the Raft log index, D2).
//! - [`storage`]: the Raft log and state machine on sled, behind openraft's storage traits (D5).
//! - [`raft`]: openraft's type configuration.
//! - [`transport`]: the gRPC transport between members: both services, the clients, auth.
//! - [`lease`]: lease deadlines held by the leader in memory, renewals that never touch the log,
//!   eviction through the log and self-preservation (D3).
//! - [`protocol`]: the Eureka and ServiceCenter wire objects and their mapping to the model,
//!   shared by the HTTP front and the adapters.
//! - [`node`]: one cluster member put together: start, write (forwarded to the leader), read
//!   (local or linearizable, D4), renew, membership, shutdown.
//! - [`clock`]: the wall clock that stamps proposals and reports (never read by apply).
//! - [`registry`]: the `Registry` trait, all a protocol front may ask of the store (copy-out
//!   views, writes, renewals, change subscription); [`testing`]: an in-memory fake of it.
//! - [`worker`]: the `Worker` trait and the supervisor every crate's background work runs
//!   under (the node's own: the lease keeper and the announcer, see `RegistryNode::workers`).

pub mod backup;
pub mod change;
pub mod clock;
pub mod command;
pub mod feed;
mod instance_index;
pub mod lease;
pub mod meters;
pub mod model;
pub mod node;
pub mod protocol;
pub mod raft;
pub mod record;
pub mod registry;
pub mod state;
pub mod storage;
#[doc(hidden)]
pub mod testing;
pub mod transport;
pub mod validate;
pub mod worker;
