//! Backups: every record of the registry at one revision in one file (`GET /admin/backup`,
//! `registryctl snapshot save`), and its restore into an empty registry as a series of
//! [`RestoreRecords`] commands through the log, so every node of the target cluster gets it:
//! checked whole before anything is written, and started only where the registry is empty
//! when the first command applies.

use serde::Deserialize;
use serde::Serialize;

use crate::command::Command;
use crate::command::CommandOutcome;
use crate::command::RestoreRecords;
use crate::model::Millis;
use crate::model::Revision;
use crate::record::Entity;
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

    /// The commands that put the records back, in order: chunks of a few hundred kilobytes (a
    /// log entry must reach the followers within a heartbeat interval), the first of which
    /// applies only to an empty registry, so of two restores sent at once only one starts.
    /// Check them all first with [`Backup::check`]: then none is refused for its records.
    pub fn restore_commands(self) -> Vec<Command> {
        let mut records = self.records.into_iter().peekable();
        let mut commands = Vec::new();
        while records.peek().is_some() {
            let chunk: Vec<Entity> = records.by_ref().take(RECORDS_PER_COMMAND).collect();
            commands.push(Command::RestoreRecords(RestoreRecords {
                records: chunk,
                into_empty: commands.is_empty(),
            }));
        }
        commands
    }

    /// Applies `commands` to a scratch registry, as they would apply to an empty one: the
    /// first refusal, if any, so a restore can refuse a bad backup before writing anything.
    pub fn check(commands: &[Command]) -> Result<(), crate::command::Rejection> {
        let mut scratch = RegistryState::new();
        for (n, command) in commands.iter().enumerate() {
            let proposal = crate::command::Proposal {
                at_ms: 0,
                command: command.clone(),
            };
            if let CommandOutcome::Rejected(r) = scratch.apply(n as Revision + 1, &proposal).0 {
                return Err(r);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::Instance;
    use crate::model::Tenant;

    #[test]
    fn a_backup_round_trips_and_restores_in_bounded_commands_checked_first() {
        let mut records: Vec<Entity> = vec![Entity::Service(Arc::new(crate::model::Service::new(
            Tenant::default(),
            "svc",
            "app",
            "svc",
        )))];
        records.extend(
            (0..2_500).map(|n| Entity::Instance(Instance::new(Tenant::default(), "svc", format!("i-{n}"), "h").into())),
        );
        let backup = Backup {
            revision: 9,
            taken_at_ms: 1,
            records,
        };
        assert_eq!(Backup::decode(&backup.encode().unwrap()).unwrap(), backup);
        let commands = backup.clone().restore_commands();
        let shapes: Vec<(usize, bool)> = commands
            .iter()
            .map(|c| match c {
                Command::RestoreRecords(r) => (r.records.len(), r.into_empty),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(shapes, [(1_000, true), (1_000, false), (501, false)]);
        Backup::check(&commands).unwrap();
        let mut bad = backup;
        bad.records.push(Entity::Instance(
            Instance::new(Tenant::default(), "svc", "", "h").into(),
        ));
        assert!(
            Backup::check(&bad.restore_commands()).is_err(),
            "the last record is refused"
        );

        let empty = Backup::of(&RegistryState::new(), 3, 4);
        assert_eq!(empty.revision, 3);
        assert!(
            empty.records.iter().all(|e| matches!(e, Entity::Tenant(_))),
            "only the default tenant"
        );
    }
}
