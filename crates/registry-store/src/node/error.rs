//! What can go wrong talking to the node, split into what a client may retry and what not.

use crate::storage::OpenError;
use crate::validate::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The command breaks the store's limits; nothing was proposed.
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),
    /// No leader is known (election in progress, or this node is cut off). Retry.
    #[error("no leader is known right now; retry shortly")]
    NoLeader,
    /// The leader or a quorum could not be reached in time. Retry.
    #[error("the cluster did not answer in time: {0}")]
    Unavailable(String),
    /// This node is shutting down or Raft stopped.
    #[error("this node is stopping: {0}")]
    Stopped(String),
    /// A membership change was refused.
    #[error("membership change refused: {0}")]
    Membership(String),
    /// The node could not start.
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot listen: {0}")]
    Listen(String),
}

impl NodeError {
    /// Whether the same request may succeed if sent again shortly.
    pub fn is_retryable(&self) -> bool {
        matches!(self, NodeError::NoLeader | NodeError::Unavailable(_))
    }
}
