//! Where a record came from: registered here, or mirrored from another registry (D6).

use serde::Deserialize;
use serde::Serialize;

use super::Millis;

/// The origin of a service or instance record.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Origin {
    /// Registered through one of this cluster's own APIs.
    #[default]
    Local,
    /// Copied from an external registry by an adapter worker.
    Mirrored {
        /// The configured name of the peer it came from; exporters never send it back there.
        source: String,
        /// The record's id at the source.
        remote_id: String,
        /// The source's revision (or timestamp) when this copy was observed, if it has one.
        remote_revision: Option<String>,
        /// When the adapter observed it (proposer's clock).
        observed_at_ms: Millis,
    },
}

impl Origin {
    /// The mirrored source's name, or `None` for local records.
    pub fn source(&self) -> Option<&str> {
        match self {
            Origin::Local => None,
            Origin::Mirrored { source, .. } => Some(source),
        }
    }

    /// The record's id at its mirrored source, or `None` for local records.
    pub fn remote_id(&self) -> Option<&str> {
        match self {
            Origin::Local => None,
            Origin::Mirrored { remote_id, .. } => Some(remote_id),
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Origin::Local)
    }

    /// This origin with `stored`'s observation time: two observations of the same remote record
    /// compare equal however far apart they were made.
    pub fn observed_like(&self, stored: &Origin) -> Origin {
        match (stored, self) {
            (
                Origin::Mirrored { observed_at_ms, .. },
                Origin::Mirrored {
                    source,
                    remote_id,
                    remote_revision,
                    ..
                },
            ) => Origin::Mirrored {
                source: source.clone(),
                remote_id: remote_id.clone(),
                remote_revision: remote_revision.clone(),
                observed_at_ms: *observed_at_ms,
            },
            _ => self.clone(),
        }
    }
}
