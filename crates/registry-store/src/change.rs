//! Changes produced by apply: what the change feed publishes and what storage writes through.
//!
//! Every mutation of [`crate::state::RegistryState`] emits exactly one [`Change`] per touched
//! record, so persistence and subscribers see the same thing.

use serde::Deserialize;
use serde::Serialize;

use crate::model::Revision;
use crate::record::Entity;

/// One record created, updated or deleted at a revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub revision: Revision,
    pub kind: ChangeKind,
    /// The record after the change; for deletions, the last value it had.
    pub entity: Entity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}
