//! The gRPC transport between members, both directions, and the only module that names
//! openraft's network types.
//!
//! - [`raft_service`]: the server side of Raft RPCs (vote, append, snapshot), fed to the local
//!   openraft instance.
//! - [`network`]: the client side: lazily connected channels per address ([`network::PeerChannels`])
//!   and openraft's `RaftNetworkFactory` over them, sized by [`pacing`].
//! - [`contact`]: what members' answers say (when each last answered, whether one said this node
//!   was removed); the network writes it, the node reads it.
//! - [`auth`]: member-to-member authentication (a credential derived from the cluster secret,
//!   mutual TLS).
//! - [`convert`]: protobuf ↔ openraft conversions, one pair per message.
//! - [`pb`]: the generated code for `proto/raft.proto`.

pub mod auth;
pub mod contact;
pub mod convert;
pub mod network;
mod pacing;
pub mod raft_service;

/// Generated protobuf and gRPC code for `proto/raft.proto`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("registry.cluster.v1");
}

/// Largest gRPC message accepted or sent between nodes (big append batches, snapshot chunks).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;
