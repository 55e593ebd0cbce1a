//! Raft: openraft's type configuration and the gRPC transport between nodes.
//!
//! Only this module names openraft's network types. [`network`] is the client side
//! (`RaftNetworkFactory`), [`server`] the gRPC service that feeds incoming RPCs to the local Raft,
//! [`convert`] the protobuf ↔ openraft conversions, one pair per message.

pub mod convert;
pub mod network;
pub mod server;
pub mod types;

/// Generated protobuf and gRPC code for `proto/raft.proto`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("registry.cluster.v1");
}

/// Largest gRPC message accepted or sent between nodes (big append batches, snapshot chunks).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;
