//! Typed key spaces of the state-machine tree: one prefix byte per record kind, components
//! separated by NUL (validation forbids control characters in names and ids).

use crate::model::ServiceRef;
use crate::model::Tenant;
use crate::record::Entity;

/// The state machine's seal: last applied log id, membership and the checksum of every record
/// (see `checksum`), one value written in the batch with the records, so the three can never
/// disagree on disk.
pub const META_SEAL: &[u8] = b"Mseal";
/// What stores written before the seal kept in three values (read when there is no seal).
pub const LEGACY_LAST_APPLIED: &[u8] = b"Mlast_applied";
pub const LEGACY_MEMBERSHIP: &[u8] = b"Mmembership";
pub const LEGACY_CHECKSUM: &[u8] = b"Mchecksum";

const TENANT: u8 = b'T';
const SERVICE: u8 = b'S';
const INSTANCE: u8 = b'I';
const SCHEMA: u8 = b'C';
const TAGS: u8 = b'G';
const NODE: u8 = b'N';
const CHECKPOINT: u8 = b'K';
const DEPENDENCY: u8 = b'D';

/// The prefixes under which records (not metadata) are stored.
pub const ENTITY_PREFIXES: [u8; 8] = [TENANT, SERVICE, INSTANCE, SCHEMA, TAGS, NODE, CHECKPOINT, DEPENDENCY];

fn key(prefix: u8, parts: &[&str]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    k.push(prefix);
    for (n, p) in parts.iter().enumerate() {
        if n > 0 {
            k.push(0);
        }
        k.extend_from_slice(p.as_bytes());
    }
    k
}

fn tenant_parts(t: &Tenant) -> [&str; 2] {
    [&t.domain, &t.project]
}

fn service_parts(s: &ServiceRef) -> [&str; 3] {
    [&s.tenant.domain, &s.tenant.project, &s.id]
}

/// Where an entity lives in the state-machine tree.
pub fn entity_key(entity: &Entity) -> Vec<u8> {
    match entity {
        Entity::Tenant(t) => key(TENANT, &tenant_parts(t)),
        Entity::Service(s) => key(SERVICE, &service_parts(&s.service_ref())),
        Entity::Instance(i) => key(INSTANCE, &[&i.tenant.domain, &i.tenant.project, &i.service_id, &i.id]),
        Entity::Schema(s) => {
            let [d, p, id] = service_parts(&s.service);
            key(SCHEMA, &[d, p, id, &s.schema_id])
        }
        Entity::Tags(t) => key(TAGS, &service_parts(&t.service)),
        Entity::Node(n) => {
            let mut k = vec![NODE];
            k.extend_from_slice(&n.node_id.to_be_bytes());
            k
        }
        Entity::Checkpoint(c) => key(CHECKPOINT, &[&c.source]),
        Entity::Dependency(d) => {
            let [dom, proj, id] = service_parts(&d.consumer);
            key(
                DEPENDENCY,
                &[
                    dom,
                    proj,
                    id,
                    &d.provider_environment,
                    &d.provider_app,
                    &d.provider_name,
                ],
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::Instance;

    #[test]
    fn keys_are_distinct_per_kind_and_component() {
        let a = Instance::new(Tenant::default(), "ab", "c", "h");
        let b = Instance::new(Tenant::default(), "a", "bc", "h");
        let ka = entity_key(&Entity::Instance(Arc::new(a)));
        let kb = entity_key(&Entity::Instance(Arc::new(b)));
        assert_ne!(ka, kb);
        assert_eq!(ka[0], INSTANCE);
        assert!(!ENTITY_PREFIXES.contains(&META_SEAL[0]));
    }
}
