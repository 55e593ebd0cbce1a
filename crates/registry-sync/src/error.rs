//! Why a round with a peer failed.

use registry_store::node::NodeError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot reach the peer: {0}")]
    Unreachable(String),
    #[error("the peer answered {status} to {what}: {body}")]
    Status { what: String, status: u16, body: String },
    #[error("the peer sent something unreadable: {0}")]
    BadBody(String),
    #[error("the peer refused the follow stream: {0}")]
    Refused(String),
    #[error("the local store did not take the round: {0}")]
    Store(#[from] NodeError),
}
