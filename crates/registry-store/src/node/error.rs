//! What can go wrong talking to the node, and its [`ErrorClass`]: invalid, refused, retryable
//! or fatal.

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

/// What a caller can do about a [`NodeError`]: every variant falls in exactly one class, so
/// callers decide by the class, never by the variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request or the settings are wrong; sending the same again fails the same way.
    Invalid,
    /// The cluster refused the change as it stands (a membership change that does not fit).
    Refused,
    /// Transient: no leader known, or the leader or a quorum did not answer in time. The same
    /// request may succeed if sent again shortly.
    Retryable,
    /// This node cannot serve: it is stopping, Raft or its storage failed, or it could not
    /// start. Retrying here does not help; another node, or a restart, may.
    Fatal,
}

impl NodeError {
    /// Which [`ErrorClass`] this error is.
    pub fn class(&self) -> ErrorClass {
        match self {
            NodeError::Invalid(_) | NodeError::Config(_) => ErrorClass::Invalid,
            NodeError::Membership(_) => ErrorClass::Refused,
            NodeError::NoLeader | NodeError::Unavailable(_) => ErrorClass::Retryable,
            NodeError::Stopped(_) | NodeError::Open(_) | NodeError::Listen(_) => ErrorClass::Fatal,
        }
    }

    /// Whether the same request may succeed if sent again shortly.
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    /// Whether this node cannot serve any more (see [`ErrorClass::Fatal`]).
    pub fn is_fatal(&self) -> bool {
        self.class() == ErrorClass::Fatal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_are_retryable_and_a_stopped_node_is_fatal() {
        assert!(NodeError::NoLeader.is_retryable());
        assert!(NodeError::Unavailable("slow quorum".into()).is_retryable());
        assert!(!NodeError::Stopped("raft stopped".into()).is_retryable());
        assert!(NodeError::Stopped("raft stopped".into()).is_fatal());
        assert!(NodeError::Listen("address in use".into()).is_fatal());
        assert!(!NodeError::Membership("not a member".into()).is_retryable());
        assert!(!NodeError::Membership("not a member".into()).is_fatal());
        assert_eq!(NodeError::Config("bad".into()).class(), ErrorClass::Invalid);
    }
}
