//! Backups: every record of the registry at one revision in one file (`GET /admin/backup`,
//! `registryctl snapshot save`), and its restore into an empty registry as one
//! [`RestoreRecords`] command through the log, so every node of the target cluster gets it
//! whole or not at all, and the emptiness is checked where it applies.

use serde::Deserialize;
use serde::Serialize;

use crate::change::Entity;
use crate::command::Command;
use crate::command::RestoreRecords;
use crate::model::Millis;
use crate::model::Revision;
use crate::state::RegistryState;
use crate::storage::codec;
use crate::storage::codec::CodecError;

/// Most records a restore takes (one log entry; about a million instances).
pub const MAX_RESTORE_RECORDS: usize = 1_500_000;

/// A point-in-time copy of the registry. Node records are left out: they describe the cluster
/// the backup came from, not the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backup {
    /// The revision the copy was taken at.
    pub revision: Revision,
    pub taken_at_ms: Millis,
    /// Tenants, services, instances, schemas, tags, mirror checkpoints, dependencies: a
    /// record always comes after what it refers to.
    pub records: Vec<Entity>,
}

impl Backup {
    /// Every record of `state`, which is at `revision`.
    pub fn of(state: &RegistryState, revision: Revision, taken_at_ms: Millis) -> Self {
        Self {
            revision,
            taken_at_ms,
            records: state.entities().filter(|e| !matches!(e, Entity::Node(_))).collect(),
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode(bytes)
    }

    /// The command that puts the records back, all or nothing, into an empty registry.
    pub fn restore_command(self) -> Command {
        Command::RestoreRecords(RestoreRecords {
            records: self.records,
            into_empty: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Instance;
    use crate::model::Tenant;

    #[test]
    fn a_backup_round_trips_and_restores_in_one_command_into_an_empty_registry() {
        let records: Vec<Entity> = (0..2_500)
            .map(|n| Entity::Instance(Instance::new(Tenant::default(), "svc", format!("i-{n}"), "h").into()))
            .collect();
        let backup = Backup {
            revision: 9,
            taken_at_ms: 1,
            records,
        };
        assert_eq!(Backup::decode(&backup.encode().unwrap()).unwrap(), backup);
        match backup.restore_command() {
            Command::RestoreRecords(r) => assert_eq!((r.records.len(), r.into_empty), (2_500, true)),
            other => panic!("{other:?}"),
        }
        let empty = Backup::of(&RegistryState::new(), 3, 4);
        assert_eq!(empty.revision, 3);
        assert!(
            empty.records.iter().all(|e| matches!(e, Entity::Tenant(_))),
            "only the default tenant"
        );
    }
}
