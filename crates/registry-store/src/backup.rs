//! Backups: every record of the registry at one revision in one file (`GET /admin/backup`,
//! `registryctl snapshot save`), and its restore into an empty registry as a series of
//! [`RestoreRecords`] commands through the log, so every node of the target cluster gets it.

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

/// Records per restore command: a few hundred kilobytes of log entry.
pub const RECORDS_PER_COMMAND: usize = 1_000;

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

    /// The commands that put the records back, in order.
    pub fn restore_commands(self) -> Vec<Command> {
        let mut records = self.records.into_iter().peekable();
        let mut commands = Vec::new();
        while records.peek().is_some() {
            let chunk: Vec<Entity> = records.by_ref().take(RECORDS_PER_COMMAND).collect();
            commands.push(Command::RestoreRecords(RestoreRecords { records: chunk }));
        }
        commands
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Instance;
    use crate::model::Tenant;

    #[test]
    fn a_backup_round_trips_and_restores_in_bounded_commands() {
        let records: Vec<Entity> = (0..2_500)
            .map(|n| Entity::Instance(Instance::new(Tenant::default(), "svc", format!("i-{n}"), "h").into()))
            .collect();
        let backup = Backup {
            revision: 9,
            taken_at_ms: 1,
            records,
        };
        assert_eq!(Backup::decode(&backup.encode().unwrap()).unwrap(), backup);
        let sizes: Vec<usize> = backup
            .restore_commands()
            .iter()
            .map(|c| match c {
                Command::RestoreRecords(r) => r.records.len(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sizes, [1_000, 1_000, 500]);
        let empty = Backup::of(&RegistryState::new(), 3, 4);
        assert_eq!(empty.revision, 3);
        assert!(
            empty.records.iter().all(|e| matches!(e, Entity::Tenant(_))),
            "only the default tenant"
        );
    }
}
