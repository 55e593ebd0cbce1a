//! Input limits at the store's boundary: every command is checked before it is proposed, and
//! again at apply (a hostile peer cannot slip an invalid record into the state).
//!
//! These are the store's own outer limits, generous enough for every protocol; each API adds its
//! protocol's stricter rules (ServiceCenter's name patterns, ...) on top.

use crate::command::Command;
use crate::model::Instance;
use crate::model::InstanceKey;
use crate::model::Properties;
use crate::model::ProtocolFields;
use crate::model::Service;
use crate::model::ServiceRef;
use crate::model::Tenant;
use crate::record::Dependency;
use crate::record::Entity;
use crate::record::NodeRecord;

/// Longest name (tenant parts, app, service name, version, environment), in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Longest id (service id, instance id, schema id), in bytes.
pub const MAX_ID_LEN: usize = 256;
/// Longest free text (host, endpoint, description, alias, metadata value), in bytes.
pub const MAX_TEXT_LEN: usize = 4096;
/// Most entries in one metadata / property / tag map.
pub const MAX_MAP_ENTRIES: usize = 512;
/// Most endpoints per instance.
pub const MAX_ENDPOINTS: usize = 64;
/// Largest schema content, in bytes.
pub const MAX_SCHEMA_LEN: usize = 4 * 1024 * 1024;
/// Largest protocol-field object, encoded as JSON, in bytes.
pub const MAX_PROTOCOL_FIELDS_LEN: usize = 64 * 1024;
/// Most items in one batch command (eviction, mirror round).
pub const MAX_BATCH_ITEMS: usize = 200_000;

/// Why a command was refused at the boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is {len} bytes long; at most {max} are allowed")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field} has {count} entries; at most {max} are allowed")]
    TooMany {
        field: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{field} contains a control character")]
    ControlCharacter { field: &'static str },
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

type Result<T = ()> = std::result::Result<T, ValidationError>;

/// A service's schema (contract), as `PutSchema` writes it and a backup carries it.
fn schema(service: &ServiceRef, schema_id: &str, content: &str, summary: &str) -> Result {
    service_ref(service)?;
    id("schema_id", schema_id)?;
    bounded("schema content", content, MAX_SCHEMA_LEN)?;
    text("schema summary", summary, MAX_TEXT_LEN)
}

/// A service's tags, as `PutTags` writes them and a backup carries them.
fn tags(service: &ServiceRef, tags: &Properties) -> Result {
    service_ref(service)?;
    map("tags", tags)
}

/// A record from a backup: checked like the command that would have written it.
fn restorable(record: &Entity) -> Result {
    match record {
        Entity::Tenant(t) => tenant(t),
        Entity::Service(s) => service(s),
        Entity::Instance(i) => instance(i),
        Entity::Schema(s) => schema(&s.service, &s.schema_id, &s.content, &s.summary),
        Entity::Tags(t) => tags(&t.service, &t.tags),
        Entity::Dependency(d) => service_ref(&d.consumer),
        Entity::Checkpoint(c) => name("checkpoint source", &c.source),
        Entity::Node(_) => Err(ValidationError::Invalid {
            field: "records",
            reason: "node records describe the cluster a backup came from; they are not restored".into(),
        }),
    }
}

/// Checks a command against the store's limits.
pub fn validate_command(command: &Command) -> Result {
    match command {
        Command::CreateTenant(c) => tenant(&c.tenant),
        Command::CreateService(c) => {
            service(&c.service)?;
            map("tags", &c.tags)
        }
        Command::UpdateService(c) => {
            service_ref(&c.service)?;
            if let Some(d) = &c.description {
                text("description", d, MAX_TEXT_LEN)?;
            }
            if let Some(p) = &c.properties {
                map("properties", p)?;
            }
            if let Some(p) = &c.protocol_fields {
                protocol_fields(p)?;
            }
            Ok(())
        }
        Command::DeleteService(c) => service_ref(&c.service),
        Command::RegisterInstance(c) => {
            instance(&c.instance)?;
            if let Some(s) = &c.create_service {
                service(s)?;
                if s.tenant != c.instance.tenant || s.id != c.instance.service_id {
                    return Err(ValidationError::Invalid {
                        field: "create_service",
                        reason: "must be the instance's own service".into(),
                    });
                }
            }
            if let Some(old) = &c.replaces {
                instance_key(old)?;
                let new = c.instance.key();
                if old.tenant != new.tenant || old.id != new.id || old.service_id == new.service_id {
                    return Err(ValidationError::Invalid {
                        field: "replaces",
                        reason: "must be the same instance (tenant and id) under another service".into(),
                    });
                }
            }
            Ok(())
        }
        Command::CancelInstance(c) => instance_key(&c.instance),
        Command::SetInstanceStatus(c) => {
            instance_key(&c.instance)?;
            c.protocol_fields.as_ref().map_or(Ok(()), protocol_fields)
        }
        Command::UpdateInstanceMetadata(c) => {
            instance_key(&c.instance)?;
            map("metadata", &c.metadata)?;
            c.protocol_fields.as_ref().map_or(Ok(()), protocol_fields)
        }
        Command::PutSchema(c) => schema(&c.service, &c.schema_id, &c.content, &c.summary),
        Command::ReplaceSchemas(c) => {
            count("schemas", c.schemas.len(), MAX_BATCH_ITEMS)?;
            service_ref(&c.service)?;
            c.schemas
                .iter()
                .try_for_each(|s| schema(&c.service, &s.schema_id, &s.content, &s.summary))
        }
        Command::DeleteServices(c) => {
            count("services", c.services.len(), MAX_BATCH_ITEMS)?;
            c.services.iter().try_for_each(service_ref)
        }
        Command::DeleteSchema(c) => {
            service_ref(&c.service)?;
            id("schema_id", &c.schema_id)
        }
        Command::PutTags(c) => tags(&c.service, &c.tags),
        Command::DeleteTags(c) => {
            service_ref(&c.service)?;
            count("tag keys", c.keys.len(), MAX_MAP_ENTRIES)?;
            c.keys.iter().try_for_each(|k| name("tag key", k))
        }
        Command::EvictInstances(c) => {
            count("eviction items", c.items.len(), MAX_BATCH_ITEMS)?;
            c.items.iter().try_for_each(|i| instance_key(&i.instance))
        }
        Command::RestoreRecords(c) => {
            count("restored records", c.records.len(), MAX_BATCH_ITEMS)?;
            c.records.iter().try_for_each(restorable)
        }
        Command::MirrorBatch(c) => {
            name("source", &c.source)?;
            text("checkpoint", &c.checkpoint, MAX_TEXT_LEN)?;
            count(
                "mirror items",
                c.services.len() + c.upserts.len() + c.deletes.len(),
                MAX_BATCH_ITEMS,
            )?;
            c.services.iter().try_for_each(service)?;
            c.upserts.iter().try_for_each(instance)?;
            c.deletes.iter().try_for_each(instance_key)
        }
        Command::AnnounceNode(c) => node(&c.node),
        Command::AddDependency(c) => dependency(&c.dependency),
        Command::PutDependencies(c) => {
            count("dependencies", c.dependencies.len(), MAX_BATCH_ITEMS)?;
            c.dependencies.iter().try_for_each(dependency)
        }
    }
}

fn dependency(d: &Dependency) -> Result {
    service_ref(&d.consumer)?;
    optional_name("provider environment", &d.provider_environment)?;
    name("provider app", &d.provider_app)?;
    name("provider name", &d.provider_name)
}

pub fn tenant(t: &Tenant) -> Result {
    name("tenant domain", &t.domain)?;
    name("tenant project", &t.project)?;
    if t.domain.contains('/') || t.project.contains('/') {
        return Err(ValidationError::Invalid {
            field: "tenant",
            reason: "must not contain '/'".into(),
        });
    }
    Ok(())
}

pub fn service_ref(s: &ServiceRef) -> Result {
    tenant(&s.tenant)?;
    id("service id", &s.id)
}

pub fn instance_key(k: &InstanceKey) -> Result {
    tenant(&k.tenant)?;
    id("service id", &k.service_id)?;
    id("instance id", &k.id)
}

pub fn service(s: &Service) -> Result {
    tenant(&s.tenant)?;
    id("service id", &s.id)?;
    name("app", &s.app)?;
    name("service name", &s.name)?;
    name("version", &s.version)?;
    optional_name("environment", &s.environment)?;
    text("description", &s.description, MAX_TEXT_LEN)?;
    text("alias", &s.alias, MAX_NAME_LEN)?;
    map("properties", &s.properties)?;
    count("schemas", s.schemas.len(), MAX_MAP_ENTRIES)?;
    s.schemas.iter().try_for_each(|i| id("schema id", i))?;
    protocol_fields(&s.protocol_fields)
}

pub fn instance(i: &Instance) -> Result {
    tenant(&i.tenant)?;
    id("service id", &i.service_id)?;
    id("instance id", &i.id)?;
    name("host name", &i.host_name)?;
    text("ip address", &i.ip_addr, MAX_NAME_LEN)?;
    count("endpoints", i.endpoints.len(), MAX_ENDPOINTS)?;
    for e in &i.endpoints {
        if e.trim().is_empty() {
            return Err(ValidationError::Empty { field: "endpoint" });
        }
        text("endpoint", e, MAX_TEXT_LEN)?;
    }
    text("zone", &i.zone, MAX_NAME_LEN)?;
    text("region", &i.region, MAX_NAME_LEN)?;
    map("metadata", &i.metadata)?;
    if i.lease.duration_secs == 0 {
        return Err(ValidationError::Invalid {
            field: "lease duration",
            reason: "must be at least 1 s".into(),
        });
    }
    protocol_fields(&i.protocol_fields)
}

fn node(n: &NodeRecord) -> Result {
    if n.node_id == 0 {
        return Err(ValidationError::Invalid {
            field: "node id",
            reason: "must be at least 1".into(),
        });
    }
    name("raft address", &n.raft_addr)?;
    count("http addresses", n.http_addrs.len(), 16)?;
    n.http_addrs.iter().try_for_each(|a| name("http address", a))
}

fn name(field: &'static str, value: &str) -> Result {
    if value.trim().is_empty() {
        return Err(ValidationError::Empty { field });
    }
    text(field, value, MAX_NAME_LEN)
}

fn optional_name(field: &'static str, value: &str) -> Result {
    text(field, value, MAX_NAME_LEN)
}

fn id(field: &'static str, value: &str) -> Result {
    if value.trim().is_empty() {
        return Err(ValidationError::Empty { field });
    }
    text(field, value, MAX_ID_LEN)
}

fn bounded(field: &'static str, value: &str, max: usize) -> Result {
    if value.len() > max {
        return Err(ValidationError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

fn text(field: &'static str, value: &str, max: usize) -> Result {
    bounded(field, value, max)?;
    if value.chars().any(char::is_control) {
        return Err(ValidationError::ControlCharacter { field });
    }
    Ok(())
}

fn count(field: &'static str, count: usize, max: usize) -> Result {
    if count > max {
        return Err(ValidationError::TooMany { field, count, max });
    }
    Ok(())
}

fn map(field: &'static str, m: &Properties) -> Result {
    count(field, m.len(), MAX_MAP_ENTRIES)?;
    for (k, v) in m {
        if k.is_empty() {
            return Err(ValidationError::Empty { field });
        }
        text(field, k, MAX_NAME_LEN)?;
        bounded(field, v, MAX_TEXT_LEN)?;
    }
    Ok(())
}

fn protocol_fields(p: &ProtocolFields) -> Result {
    for (k, v) in p {
        name("protocol name", k)?;
        let len = v.len();
        if len > MAX_PROTOCOL_FIELDS_LEN {
            return Err(ValidationError::TooLong {
                field: "protocol fields",
                len,
                max: MAX_PROTOCOL_FIELDS_LEN,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::CancelInstance;
    use crate::command::RegisterInstance;
    use smol_str::SmolStr;
    use std::sync::Arc;

    fn inst() -> Instance {
        Instance::new(Tenant::default(), "svc", "i-1", "host-1")
    }

    #[test]
    fn accepts_a_plain_instance() {
        let c = Command::RegisterInstance(RegisterInstance::new(inst(), None));
        assert_eq!(validate_command(&c), Ok(()));
    }

    #[test]
    fn restored_records_are_checked_like_their_commands_and_node_records_refused() {
        let restore = |records| {
            Command::RestoreRecords(crate::command::RestoreRecords {
                records,
                into_empty: true,
            })
        };
        let ok = vec![Entity::Instance(Arc::new(inst()))];
        assert_eq!(validate_command(&restore(ok)), Ok(()));
        let mut bad = inst();
        bad.id = SmolStr::default();
        let bad = vec![Entity::Instance(Arc::new(bad))];
        assert_eq!(
            validate_command(&restore(bad)),
            Err(ValidationError::Empty { field: "instance id" })
        );
        let node = NodeRecord {
            node_id: 1,
            raft_addr: "127.0.0.1:7100".into(),
            http_addrs: Vec::new(),
        };
        let refused = validate_command(&restore(vec![Entity::Node(Box::new(node))]));
        assert!(
            matches!(refused, Err(ValidationError::Invalid { field: "records", .. })),
            "{refused:?}"
        );
    }

    #[test]
    fn rejects_empty_and_oversized_ids() {
        let mut i = inst();
        i.id = SmolStr::default();
        assert_eq!(instance(&i), Err(ValidationError::Empty { field: "instance id" }));
        i.id = "x".repeat(MAX_ID_LEN + 1).into();
        assert!(matches!(
            instance(&i),
            Err(ValidationError::TooLong {
                field: "instance id",
                ..
            })
        ));
        let mut i = inst();
        i.host_name = "  ".into();
        assert_eq!(instance(&i), Err(ValidationError::Empty { field: "host name" }));
    }

    #[test]
    fn rejects_bad_tenants_and_control_characters() {
        let key = InstanceKey {
            tenant: Tenant::new("", "p"),
            service_id: "s".into(),
            id: "i".into(),
        };
        let c = Command::CancelInstance(CancelInstance { instance: key });
        assert_eq!(
            validate_command(&c),
            Err(ValidationError::Empty { field: "tenant domain" })
        );
        let mut i = inst();
        i.service_id = "a\nb".into();
        assert_eq!(
            instance(&i),
            Err(ValidationError::ControlCharacter { field: "service id" })
        );
    }

    #[test]
    fn rejects_oversized_metadata() {
        let mut i = inst();
        for n in 0..=MAX_MAP_ENTRIES {
            i.metadata.insert(format!("k{n}").into(), "v".into());
        }
        assert!(matches!(
            instance(&i),
            Err(ValidationError::TooMany { field: "metadata", .. })
        ));
    }

    #[test]
    fn create_service_must_match_instance() {
        let s = Service::new(Tenant::default(), "other", "app", "name");
        let c = Command::RegisterInstance(RegisterInstance::new(inst(), Some(s)));
        assert!(matches!(
            validate_command(&c),
            Err(ValidationError::Invalid {
                field: "create_service",
                ..
            })
        ));
    }
}
