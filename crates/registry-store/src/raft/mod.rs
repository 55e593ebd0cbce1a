//! Raft: openraft's type configuration for the registry (what a log entry carries, what applying
//! one answers, the node and snapshot types). The gRPC transport between members is
//! [`crate::transport`].

pub mod types;

/// Most encoded entry bytes one AppendEntries carries (see the transport's pacing); the log
/// store reads no more than this for one.
pub const MAX_APPEND_BYTES: usize = 4 * 1024 * 1024;
