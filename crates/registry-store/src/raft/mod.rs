//! Raft: openraft's type configuration and the gRPC transport between nodes.
//!
//! Only this module names openraft's network types. [`network`] is the client side
//! (`RaftNetworkFactory`, sized by [`pacing`]), [`server`] the gRPC service that feeds incoming RPCs to the local Raft,
//! [`convert`] the protobuf ↔ openraft conversions, one pair per message. [`contact`] keeps what
//! peers' answers say: when each last answered, and whether one said this node was removed.

pub mod contact;
pub mod convert;
pub mod network;
mod pacing;
pub mod peer_auth;
pub mod server;
pub mod types;

/// Generated protobuf and gRPC code for `proto/raft.proto`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("registry.cluster.v1");
}

/// Most encoded entry bytes one AppendEntries carries (see [`pacing`]); the log store reads no
/// more than this for one.
pub const MAX_APPEND_BYTES: usize = 4 * 1024 * 1024;

/// Largest gRPC message accepted or sent between nodes (big append batches, snapshot chunks).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;
