//! The gRPC transport between members, both directions, and the only module that names
//! openraft's network types.
//!
//! - [`server`]: the one gRPC server a member serves, carrying both services:
//!   [`raft_service`], the Raft RPCs (vote, append, snapshot) fed to the local openraft instance,
//!   and [`cluster_service`], the cluster RPCs (forwarded writes and renewals, read index,
//!   membership), answered by the node through [`cluster_service::ClusterHandler`].
//! - [`network`]: the client side: lazily connected channels per address ([`network::MemberChannels`])
//!   and openraft's `RaftNetworkFactory` over them, sized by [`pacing`].
//! - [`contact`]: what members' answers say (when each last answered, whether one said this node
//!   was removed); the network writes it, the node reads it.
//! - [`auth`]: member-to-member authentication (a credential derived from the cluster secret,
//!   mutual TLS).
//! - [`convert`]: protobuf ↔ openraft conversions, one pair per message.
//! - [`pb`]: the generated code for `proto/raft.proto`.
//!
//! The node composes: it builds the network factory for openraft, starts [`server::serve`] and
//! calls members' cluster RPCs through [`network::MemberChannels`].

pub mod auth;
pub mod cluster_service;
pub mod contact;
pub mod convert;
pub mod network;
mod pacing;
pub mod raft_service;
pub mod server;

/// Generated protobuf and gRPC code for `proto/raft.proto`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("registry.cluster.v1");
}

/// Largest gRPC message accepted or sent between nodes (big append batches, snapshot chunks).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;
