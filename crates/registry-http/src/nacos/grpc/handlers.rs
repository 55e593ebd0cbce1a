//! The requests served on `Request/request`, each read from its payload and answered with its
//! response type or Nacos's `ErrorResponse` (`naming/.../remote/rpc/handler/*`,
//! `core/.../remote/grpc/GrpcRequestAcceptor.java`): `ServerCheckRequest` on any connection;
//! the others only on a connection its stream set up (301 otherwise), unknown types 302, bodies
//! that do not parse 502, missing or illegal fields 400.

use std::net::SocketAddr;
use std::sync::Arc;

use registry_store::command::CancelInstance;
use registry_store::command::Command;
use registry_store::command::CommandOutcome;
use registry_store::model::InstanceKey;
use registry_store::model::LeaseSettings;
use registry_store::model::Tenant;
use registry_store::registry::Registry;

use super::codec;
use super::codec::GrpcError;
use super::codec::Incoming;
use super::codec::ResponseBase;
use super::connections::Connections;
use super::connections::SubscriptionKey;
use super::messages;
use super::messages::NamingTarget;
use super::messages::WireInstance;
use super::proto::Payload;
use crate::nacos::error::NacosError;
use crate::nacos::mapping;
use crate::nacos::mapping::IncomingError;
use crate::nacos::mapping::Registration;
use crate::nacos::mapping::ServiceName;
use crate::nacos::ops::Address;
use crate::nacos::ops::Nacos;

/// The lease of an instance registered over a connection: renewed every 5 s by the node
/// holding the connection, gone 60 s after the last renewal (the connection dropped, or the
/// node holding it died and the client has not registered again through another). 60 s: a
/// client of a node that dies must notice (its health check, 5 s idle), connect to another node
/// and register again before its lease runs out; nacos-sdk-python 2.0.11 registers again only at
/// its redo task's next 30 s tick, so up to ~45 s after the node died.
pub const CONNECTION_LEASE: LeaseSettings = LeaseSettings {
    renewal_interval_secs: 5,
    duration_secs: 60,
};

/// What the handlers serve from.
pub struct Handlers {
    pub nacos: Arc<Nacos>,
    pub registry: Arc<dyn Registry>,
    pub connections: Arc<Connections>,
}

/// The HTTP API's refusal as the handler's `NacosException`: 400 `INVALID_PARAM`, 404
/// `NOT_FOUND`, anything else (no leader, a stopped node) 500 `SERVER_ERROR`.
impl From<NacosError> for GrpcError {
    fn from(e: NacosError) -> Self {
        let code = match e.status().as_u16() {
            400 => codec::INVALID_PARAM,
            404 => codec::NOT_FOUND,
            _ => codec::SERVER_ERROR,
        };
        GrpcError::failed(code, e.to_string())
    }
}

impl From<mapping::MappingError> for GrpcError {
    fn from(e: mapping::MappingError) -> Self {
        GrpcError::failed(codec::INVALID_PARAM, e.0)
    }
}

/// The tenant and service a naming request names.
fn target(nacos: &Nacos, t: &NamingTarget) -> Result<(Tenant, String, ServiceName), GrpcError> {
    let namespace = t.namespace.clone().unwrap_or_default();
    let tenant = nacos.settings().tenant_of(&namespace)?;
    let name = ServiceName::parse(t.service_name.as_deref(), t.group_name.as_deref())?;
    let namespace = if namespace.trim().is_empty() {
        mapping::DEFAULT_NAMESPACE.to_string()
    } else {
        namespace
    };
    Ok((tenant, namespace, name))
}

/// The instance's address, or Nacos's refusals of a missing ip or an illegal port.
fn address_of(i: &WireInstance) -> Result<Address, GrpcError> {
    let r = registration(i)?;
    Ok(Address {
        ip: r.ip,
        port: r.port,
        cluster: r.cluster,
    })
}

fn registration(i: &WireInstance) -> Result<Registration, GrpcError> {
    mapping::registration_of(i).map_err(|e| match e {
        IncomingError::Missing(field) => GrpcError::missing(field),
        IncomingError::IllegalPort(_) => GrpcError::failed(codec::INVALID_PARAM, e.to_string()),
    })
}

impl Handlers {
    /// Answers one payload from `remote`. Never fails: a refusal is an `ErrorResponse`.
    pub async fn handle(&self, remote: SocketAddr, payload: &Payload) -> Payload {
        let incoming = Incoming::of(payload);
        let request_id = incoming.request_id();
        match self.dispatch(remote, &incoming, &request_id).await {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%remote, kind = incoming.kind, error = %e, "Nacos gRPC request refused");
                codec::error_payload(&e, &request_id)
            }
        }
    }

    async fn dispatch(&self, remote: SocketAddr, incoming: &Incoming<'_>, id: &str) -> Result<Payload, GrpcError> {
        const KNOWN: &[&str] = &[
            "ServerCheckRequest",
            "HealthCheckRequest",
            "InstanceRequest",
            "PersistentInstanceRequest",
            "BatchInstanceRequest",
            "ServiceQueryRequest",
            "SubscribeServiceRequest",
            "ServiceListRequest",
        ];
        if incoming.kind == "ServerCheckRequest" {
            let answer = messages::ServerCheckResponse {
                base: ResponseBase::ok(id),
                connection_id: self.connections.check(remote)?,
                support_ability_negotiation: false,
            };
            return Ok(codec::encode("ServerCheckResponse", &answer));
        }
        if !KNOWN.contains(&incoming.kind) {
            return Err(GrpcError::refused(codec::NO_HANDLER, "RequestHandler Not Found"));
        }
        self.connections.require(remote)?;
        let plain = |kind: &str| {
            codec::encode(
                kind,
                &messages::Plain {
                    base: ResponseBase::ok(id),
                },
            )
        };
        match incoming.kind {
            "HealthCheckRequest" => Ok(plain("HealthCheckResponse")),
            "InstanceRequest" => self.instance(remote, incoming.read()?, id, true).await,
            "PersistentInstanceRequest" => self.instance(remote, incoming.read()?, id, false).await,
            "BatchInstanceRequest" => self.batch(remote, incoming.read()?, id).await,
            "ServiceQueryRequest" => self.query(incoming.read()?, id),
            "SubscribeServiceRequest" => self.subscribe(remote, incoming.read()?, id),
            _ => self.service_list(incoming.read()?, id),
        }
    }

    /// `InstanceRequest` (ephemeral: the connection holds its lease) and
    /// `PersistentInstanceRequest` (a lease that never runs out).
    async fn instance(
        &self,
        remote: SocketAddr,
        r: messages::InstanceRequest,
        id: &str,
        ephemeral: bool,
    ) -> Result<Payload, GrpcError> {
        let (tenant, _, name) = target(&self.nacos, &r.target)?;
        let instance = r.instance.as_ref().ok_or_else(|| GrpcError::missing("instance"))?;
        let kind = r.r#type.clone().unwrap_or_default();
        match kind.as_str() {
            messages::REGISTER_INSTANCE => {
                // `NamingUtils.checkInstanceIsEphemeral`: the ephemeral client takes no
                // persistent instance.
                if ephemeral && !instance.ephemeral {
                    return Err(GrpcError::failed(
                        codec::INVALID_PARAM,
                        "a persistent instance (ephemeral=false) is registered with PersistentInstanceRequest",
                    ));
                }
                let mut reg = registration(instance)?;
                reg.ephemeral = ephemeral;
                if ephemeral {
                    self.connections.may_hold(remote, 1)?;
                    let key = self
                        .nacos
                        .register_leased(tenant, &name, &reg, CONNECTION_LEASE)
                        .await?;
                    self.connections.hold(remote, key);
                } else {
                    self.nacos.register(tenant, &name, &reg).await?;
                }
            }
            messages::DE_REGISTER_INSTANCE => {
                let address = address_of(instance)?;
                let id = mapping::instance_id(&address.ip, address.port, &address.cluster, &name);
                self.connections.release_id(remote, &tenant, &id);
                self.nacos.deregister(tenant, &name, &address).await?;
            }
            other => {
                return Err(GrpcError::failed(
                    codec::INVALID_PARAM,
                    format!("Unsupported request type {other}"),
                ))
            }
        }
        let answer = messages::InstanceResponse {
            base: ResponseBase::ok(id),
            r#type: kind,
        };
        Ok(codec::encode("InstanceResponse", &answer))
    }

    /// `BatchInstanceRequest`: the connection's instances of the service become those listed
    /// (Nacos's `batchRegisterInstance`; the Python client deregisters some by sending the
    /// rest).
    async fn batch(
        &self,
        remote: SocketAddr,
        r: messages::BatchInstanceRequest,
        id: &str,
    ) -> Result<Payload, GrpcError> {
        let (tenant, _, name) = target(&self.nacos, &r.target)?;
        let kind = r.r#type.clone().unwrap_or_default();
        if kind != messages::BATCH_REGISTER_INSTANCE {
            return Err(GrpcError::failed(
                codec::INVALID_PARAM,
                format!("Unsupported request type {kind}"),
            ));
        }
        let instances = r.instances.as_ref().ok_or_else(|| GrpcError::missing("instances"))?;
        let registrations = instances.iter().map(registration).collect::<Result<Vec<_>, _>>()?;
        let mut kept = Vec::new();
        for mut reg in registrations {
            reg.ephemeral = true;
            self.connections.may_hold(remote, 1)?;
            let key = self
                .nacos
                .register_leased(tenant.clone(), &name, &reg, CONNECTION_LEASE)
                .await?;
            self.connections.hold(remote, key.clone());
            kept.push(key);
        }
        if let Some(first) = kept.first() {
            for old in self.connections.held_in(remote, &tenant, &first.service_id) {
                if !kept.contains(&old) {
                    self.cancel(old).await?;
                }
            }
        }
        let answer = messages::InstanceResponse {
            base: ResponseBase::ok(id),
            r#type: kind,
        };
        Ok(codec::encode("BatchInstanceResponse", &answer))
    }

    /// Removes an instance a batch no longer lists.
    async fn cancel(&self, key: InstanceKey) -> Result<(), GrpcError> {
        self.connections.release(std::slice::from_ref(&key));
        let written = self
            .registry
            .write(Command::CancelInstance(CancelInstance { instance: key }))
            .await
            .map_err(NacosError::from)?;
        match written.outcome {
            CommandOutcome::Rejected(r) => match NacosError::from(r) {
                NacosError::NotFound(_) => Ok(()),
                other => Err(other.into()),
            },
            _ => Ok(()),
        }
    }

    /// The service's instances as a 2.x client reads them.
    pub fn service_info(
        &self,
        tenant: Tenant,
        name: &ServiceName,
        clusters: &str,
        healthy_only: bool,
    ) -> messages::ServiceInfo {
        let listed = self.nacos.list(tenant, name, clusters, healthy_only);
        messages::ServiceInfo {
            name: name.name.clone(),
            group_name: name.group.clone(),
            clusters: clusters.to_string(),
            cache_millis: listed.cache_millis,
            hosts: listed.hosts,
            last_ref_time: listed.last_ref_time,
            checksum: listed.checksum,
            all_ips: false,
            reach_protection_threshold: false,
            valid: true,
        }
    }

    fn query(&self, r: messages::ServiceQueryRequest, id: &str) -> Result<Payload, GrpcError> {
        let (tenant, _, name) = target(&self.nacos, &r.target)?;
        let clusters = r.cluster.unwrap_or_default();
        let info = self.service_info(tenant, &name, &clusters, r.healthy_only.unwrap_or(false));
        let answer = messages::ServiceInfoResponse {
            base: ResponseBase::ok(id),
            service_info: info,
        };
        Ok(codec::encode("QueryServiceResponse", &answer))
    }

    /// `SubscribeServiceRequest`: answers the instances now; while subscribed, changes are
    /// pushed on the connection's stream (see `push`).
    fn subscribe(
        &self,
        remote: SocketAddr,
        r: messages::SubscribeServiceRequest,
        id: &str,
    ) -> Result<Payload, GrpcError> {
        let (tenant, namespace, name) = target(&self.nacos, &r.target)?;
        let clusters = r.clusters.unwrap_or_default();
        let key = SubscriptionKey {
            tenant: tenant.clone(),
            namespace,
            grouped: name.grouped(),
            clusters: clusters.clone(),
        };
        let on = r.subscribe.unwrap_or(true);
        // Subscribed before the answer is read: a change applied in between is pushed (at
        // worst twice), never lost.
        self.connections.subscribe(remote, key.clone(), name.clone(), on);
        let info = self.service_info(tenant, &name, &clusters, false);
        if on {
            self.connections.sent(remote, &key, info.hosts.clone());
        }
        let answer = messages::ServiceInfoResponse {
            base: ResponseBase::ok(id),
            service_info: info,
        };
        Ok(codec::encode("SubscribeServiceResponse", &answer))
    }

    /// `ServiceListRequest`: the names of the group's services in the namespace, a page of them.
    fn service_list(&self, r: messages::ServiceListRequest, id: &str) -> Result<Payload, GrpcError> {
        let namespace = r.target.namespace.clone().unwrap_or_default();
        let tenant = self.nacos.settings().tenant_of(&namespace)?;
        let group = r
            .target
            .group_name
            .clone()
            .filter(|g| !g.trim().is_empty())
            .unwrap_or_else(|| mapping::DEFAULT_GROUP.to_string());
        let app = self.nacos.settings().app_of(&group);
        let mut names: Vec<String> = self.registry.read(|applied| {
            applied
                .state
                .services()
                .filter(|s| s.tenant == tenant && s.app == app)
                .map(|s| s.name.to_string())
                .collect()
        });
        names.sort();
        names.dedup();
        let page_size = r.page_size.filter(|s| *s > 0).unwrap_or(10) as usize;
        let page_no = r.page_no.filter(|p| *p > 0).unwrap_or(1) as usize;
        let page: Vec<String> = names
            .iter()
            .skip(page_size.saturating_mul(page_no - 1))
            .take(page_size)
            .cloned()
            .collect();
        let answer = messages::ServiceListResponse {
            base: ResponseBase::ok(id),
            count: names.len(),
            service_names: page,
        };
        Ok(codec::encode("ServiceListResponse", &answer))
    }
}
