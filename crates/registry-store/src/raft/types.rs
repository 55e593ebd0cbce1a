//! openraft's type configuration for the registry: log data is a [`Batch`] of proposals, the
//! response their [`CommandOutcome`]s in order, nodes are `u64` ids with their Raft gRPC address.

use std::io::Cursor;

use crate::command::Batch;
use crate::command::CommandOutcome;

openraft::declare_raft_types!(
    /// The registry's Raft type configuration.
    pub TypeConfig:
        D = Batch,
        R = Vec<CommandOutcome>,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type NodeId = u64;
pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type RaftMetrics = openraft::RaftMetrics<NodeId, openraft::BasicNode>;
