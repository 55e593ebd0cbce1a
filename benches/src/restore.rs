//! A big registry in seconds, for the stages that only read it: the register storm's Eureka
//! instances as a backup, restored through `POST /admin/restore` (one log entry per thousand
//! records instead of one registration per instance). The records come from the store's own
//! Eureka mapping of the storm's request bodies, so they are what the storm would have stored.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use registry_store::backup::Backup;
use registry_store::protocol::eureka::json;
use registry_store::protocol::eureka::mapping::to_instance;
use registry_store::protocol::eureka::mapping::version_of;
use registry_store::protocol::eureka::mapping::EurekaSettings;
use registry_store::record::Entity;

use crate::conn::Conn;
use crate::conn::Target;
use crate::driver::eureka::app_name;
use crate::driver::eureka::instance_json;
use crate::driver::Shape;
use crate::error::BenchError;

/// The backup of instances `0..shape.instances`, spread over the shape's apps as the storm
/// spreads them, with the shape's lease; encoded as `GET /admin/backup` writes it.
pub fn eureka_backup(shape: &Shape) -> Result<Vec<u8>, BenchError> {
    let settings = EurekaSettings::default();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut services = BTreeMap::new();
    let mut instances = Vec::with_capacity(shape.instances as usize);
    for n in 0..shape.instances {
        let body = instance_json(&app_name(shape, n), n, shape.lease_secs);
        let info = json::decode_instance(body.as_bytes())
            .map_err(|e| BenchError::Setup(format!("the storm's body of instance {n} does not decode: {e:?}")))?;
        let version = version_of(&info);
        let service = settings.service_for_app(&info.app, version);
        services.entry(service.id.clone()).or_insert(service);
        let mut instance = to_instance(&settings, &info);
        instance.registered_at_ms = now_ms;
        instance.updated_at_ms = now_ms;
        instances.push(Entity::Instance(Arc::new(instance)));
    }
    // A record comes after what it refers to: every service before the instances.
    let mut records: Vec<Entity> = services.into_values().map(|s| Entity::Service(Arc::new(s))).collect();
    records.extend(instances);
    let backup = Backup {
        revision: 1,
        taken_at_ms: now_ms,
        records,
    };
    backup
        .encode()
        .map_err(|e| BenchError::Setup(format!("encoding the backup: {e}")))
}

/// Restores `backup` into the empty registry of the cluster `leader` (a node's root) belongs to;
/// returns once the leader applied it all.
pub async fn restore(leader: &Target, backup: Vec<u8>) -> Result<(), BenchError> {
    let mut conn = Conn::new(leader.clone()).with_timeout(std::time::Duration::from_secs(300));
    let request = Request::builder()
        .method("POST")
        .uri("/admin/restore")
        .header(hyper::header::CONTENT_TYPE, "application/octet-stream")
        .body(Full::new(Bytes::from(backup)))
        .expect("static request parts are valid");
    conn.send_expecting(request, "restoring the backup", |s| s.is_success())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backup_holds_every_app_before_its_instances() {
        let shape = Shape {
            instances: 25,
            apps: 3,
            lease_secs: 3600,
        };
        let backup = Backup::decode(&eureka_backup(&shape).unwrap()).unwrap();
        let kinds: Vec<bool> = backup.records.iter().map(|r| matches!(r, Entity::Service(_))).collect();
        assert_eq!(kinds.iter().filter(|s| **s).count(), 3);
        assert_eq!(kinds.len(), 28);
        assert!(kinds[..3].iter().all(|s| *s), "services first");
        let Entity::Instance(first) = &backup.records[3] else {
            panic!("an instance after the services")
        };
        assert_eq!(first.lease.duration_secs, 3600);
        assert!(Backup::check(&backup.restore_commands()).is_ok());
    }
}
