//! The registry itself as ServiceCenter's `SERVICECENTER` service (app `default`, shared with
//! every tenant): one instance per cluster member, with its HTTP endpoints.
//!
//! ServiceCenter registers itself so (`server/core/microservice.go` `InitRegistration`), and the
//! SDKs find every registry node through it to fail over: `GET /registry/health` (sc-client
//! `SyncEndpoints`, java-chassis `getServiceCenterInstances`) or a find of `default/SERVICECENTER`
//! with `global=true`. Here it is derived from the membership on every read and never stored:
//! nothing to renew or expire, nothing for federation to mirror.

use registry_store::model::Tenant;
use registry_store::registry::Registry;

use super::wire::HealthCheck;
use super::wire::MicroService;
use super::wire::MicroServiceInstance;

/// The service's id (ServiceCenter generates one at first start; ours is fixed, so every node
/// and every restart answers the same).
pub const SERVICE_ID: &str = "servicecenter";
pub const APP: &str = "default";
pub const NAME: &str = "SERVICECENTER";
/// ServiceCenter's own environment (`discovery.ENV_PROD`).
pub const ENVIRONMENT: &str = "production";

/// Whether a find by `app` and `name` (or alias: ServiceCenter's alias is also `SERVICECENTER`)
/// asks for the registry itself.
pub fn is_named(app: &str, name: &str) -> bool {
    app == APP && name == NAME
}

/// Shared services belong to `default/default` and are visible to other tenants with
/// `global=true` (ServiceCenter's `registry.service.globalVisible`).
pub fn visible_to(tenant: &Tenant, global: bool) -> bool {
    global || (tenant.domain == "default" && tenant.project == "default")
}

/// The service record.
pub fn service() -> MicroService {
    MicroService {
        service_id: SERVICE_ID.into(),
        app_id: APP.into(),
        service_name: NAME.into(),
        alias: NAME.into(),
        version: version(),
        level: "BACK".into(),
        status: "UP".into(),
        environment: ENVIRONMENT.into(),
        properties: [("allowCrossApp".to_string(), "true".to_string())].into(),
        ..MicroService::default()
    }
}

/// The crate's version as a ServiceCenter version (numbers only: a pre-release tag is dropped).
fn version() -> String {
    env!("CARGO_PKG_VERSION")
        .split(['-', '+'])
        .next()
        .unwrap_or("0.0.1")
        .to_string()
}

/// One instance per member that has announced its HTTP addresses (this node from its own
/// settings until its announcement is applied), each address an endpoint (`rest://host:port/`,
/// as ServiceCenter's `getEndpoints` writes them).
pub fn instances(registry: &dyn Registry, tls: bool) -> Vec<MicroServiceInstance> {
    let status = registry.status();
    let own = registry.own_record();
    let records: Vec<_> = registry.read(|applied| {
        status
            .members
            .iter()
            .filter_map(|member| {
                let record = match applied.state.node(member.id) {
                    Some(record) => record.clone(),
                    None if member.id == own.node_id => own.clone(),
                    None => return None,
                };
                Some((member, record))
            })
            .collect()
    });
    records
        .into_iter()
        .map(|(member, record)| {
            let endpoints: Vec<String> = record
                .http_addrs
                .iter()
                .map(|addr| {
                    let addr = crate::member_http::reachable(addr, Some(&member.raft_addr));
                    let ssl = if tls { "?sslEnabled=true" } else { "" };
                    format!("rest://{addr}/{ssl}")
                })
                .collect();
            let host_name = endpoints
                .first()
                .and_then(|e| e.strip_prefix("rest://"))
                .and_then(|hp| hp.rsplit_once(':'))
                .map_or_else(|| format!("registry-node-{}", member.id), |(host, _)| host.to_string());
            MicroServiceInstance {
                instance_id: format!("registry-node-{}", member.id),
                service_id: SERVICE_ID.into(),
                endpoints,
                host_name,
                status: "UP".into(),
                health_check: Some(HealthCheck {
                    mode: "push".into(),
                    interval: 30,
                    times: 3,
                    ..HealthCheck::default()
                }),
                version: version(),
                ..MicroServiceInstance::default()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_is_valid_as_servicecenter_checks_services() {
        super::super::validate::service(&service()).unwrap();
        assert!(is_named("default", "SERVICECENTER"));
        assert!(!is_named("other", "SERVICECENTER"));
        assert!(visible_to(&Tenant::new("default", "default"), false));
        assert!(!visible_to(&Tenant::new("acme", "default"), false));
        assert!(visible_to(&Tenant::new("acme", "default"), true));
    }
}
