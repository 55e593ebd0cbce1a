//! Nacos naming Open API v1 calls shared by import and export: the services of a group (paged,
//! bounded), a service's instances (all of them, healthy or not), register, beat and
//! deregister, all in the peer's namespace. Hosts are read leniently: servers differ in the
//! fields they add (r-nacos leaves out the preserved-metadata getters Nacos writes).

use std::collections::BTreeMap;

use registry_store::protocol::nacos::mapping;
use registry_store::protocol::nacos::mapping::Registration;
use registry_store::protocol::nacos::mapping::ServiceName;
use registry_store::protocol::nacos::wire::BEAT_NOT_FOUND;
use reqwest::Method;
use reqwest::RequestBuilder;
use serde::Deserialize;
use serde_json::json;

use super::http::RemoteHttp;
use crate::error::SyncError;

/// Services asked for per `service/list` page.
pub const PAGE_SIZE: usize = 200;
/// Most pages read per group in one listing (so at most 100,000 services a group): a peer
/// answering more is refused rather than followed forever.
pub const MAX_PAGES: usize = 500;

#[derive(Deserialize, Default)]
struct ServiceList {
    #[serde(default)]
    count: usize,
    #[serde(default)]
    doms: Vec<String>,
}

#[derive(Deserialize, Default)]
struct InstanceList {
    #[serde(default)]
    hosts: Vec<RemoteHost>,
}

/// One host of an instance list, as any Nacos server writes it (read leniently).
pub use registry_store::protocol::nacos::wire::IncomingInstance as RemoteHost;

/// Where a copy lives at the peer: its service and its address (Nacos's instance key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub ip: String,
    pub port: u16,
    pub cluster: String,
}

impl Address {
    /// `ip#port#cluster` (the first three parts of Nacos's `simple` instance id).
    pub fn encode(&self) -> String {
        format!("{}#{}#{}", self.ip, self.port, self.cluster)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.rsplitn(3, '#');
        let cluster = parts.next()?.to_string();
        let port = parts.next()?.parse().ok()?;
        let ip = parts.next()?.to_string();
        Some(Self { ip, port, cluster })
    }
}

/// A Nacos peer, in one namespace.
#[derive(Clone)]
pub struct NacosClient {
    pub http: RemoteHttp,
    /// `None`: the server's default namespace (no `namespaceId` sent).
    pub namespace: Option<String>,
}

impl NacosClient {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self
            .http
            .request(method, &format!("/nacos/v1/ns{path}"))
            .header("Accept", "application/json");
        match &self.namespace {
            Some(n) => request.query(&[("namespaceId", n.as_str())]),
            None => request,
        }
    }

    /// The names of every service of `group`, page by page (at most [`MAX_PAGES`]).
    pub async fn services(&self, group: &str) -> Result<Vec<String>, SyncError> {
        let mut names = Vec::new();
        for page in 1..=MAX_PAGES {
            let request = self.request(Method::GET, "/service/list").query(&[
                ("groupName", group),
                ("pageNo", &page.to_string()),
                ("pageSize", &PAGE_SIZE.to_string()),
            ]);
            let body = self.http.send(request).await?.success_body("service/list")?;
            let list: ServiceList = parse(&body, "service/list")?;
            let last = list.doms.len() < PAGE_SIZE;
            names.extend(list.doms);
            if last || names.len() >= list.count {
                names.sort();
                names.dedup();
                return Ok(names);
            }
        }
        Err(SyncError::BadBody(format!(
            "service/list of group {group:?} goes on past {MAX_PAGES} pages of {PAGE_SIZE}"
        )))
    }

    /// Every instance of `name`, healthy or not.
    pub async fn instances(&self, name: &ServiceName) -> Result<Vec<RemoteHost>, SyncError> {
        let request = self.request(Method::GET, "/instance/list").query(&[
            ("serviceName", name.grouped().as_str()),
            ("groupName", name.group.as_str()),
            ("healthyOnly", "false"),
        ]);
        let body = self.http.send(request).await?.success_body("instance/list")?;
        Ok(parse::<InstanceList>(&body, "instance/list")?.hosts)
    }

    /// Registers (or updates) an ephemeral instance.
    pub async fn register(&self, name: &ServiceName, r: &Registration) -> Result<(), SyncError> {
        let metadata = serde_json::to_string(&r.metadata).map_err(|e| SyncError::BadBody(e.to_string()))?;
        let request = self.request(Method::POST, "/instance").query(&[
            ("serviceName", name.name.as_str()),
            ("groupName", name.group.as_str()),
            ("ip", r.ip.as_str()),
            ("port", &r.port.to_string()),
            ("clusterName", r.cluster.as_str()),
            ("weight", &r.weight.to_string()),
            ("healthy", if r.healthy { "true" } else { "false" }),
            ("enabled", if r.enabled { "true" } else { "false" }),
            ("ephemeral", "true"),
            ("metadata", metadata.as_str()),
        ]);
        self.http.send(request).await?.success_body("register instance")?;
        Ok(())
    }

    /// A beat for the instance at `address`, carrying its metadata (a server that lost the
    /// instance and takes the beat as a registration, as r-nacos does, gets it back with its hop
    /// path). `false` when the server answers that it holds no such instance.
    pub async fn beat(
        &self,
        name: &ServiceName,
        address: &Address,
        weight: f64,
        metadata: &BTreeMap<String, String>,
    ) -> Result<bool, SyncError> {
        let beat = json!({
            "serviceName": name.grouped(),
            "ip": address.ip,
            "port": address.port,
            "cluster": address.cluster,
            "weight": weight,
            "metadata": metadata,
            "scheduled": true,
            "period": mapping::DEFAULT_BEAT_INTERVAL_MS,
            "stopped": false,
        });
        let request = self.request(Method::PUT, "/instance/beat").query(&[
            ("serviceName", name.grouped().as_str()),
            ("groupName", name.group.as_str()),
            ("ip", address.ip.as_str()),
            ("port", &address.port.to_string()),
            ("clusterName", address.cluster.as_str()),
            ("ephemeral", "true"),
            ("beat", &beat.to_string()),
        ]);
        let answer = self.http.send(request).await?;
        if !answer.is_success() {
            return Err(answer.error("instance/beat"));
        }
        let code = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("code").and_then(serde_json::Value::as_u64));
        Ok(code != Some(u64::from(BEAT_NOT_FOUND)))
    }

    /// Deregisters the instance at `address` (one already gone counts as done).
    pub async fn deregister(&self, name: &ServiceName, address: &Address) -> Result<(), SyncError> {
        let request = self.request(Method::DELETE, "/instance").query(&[
            ("serviceName", name.name.as_str()),
            ("groupName", name.group.as_str()),
            ("ip", address.ip.as_str()),
            ("port", &address.port.to_string()),
            ("clusterName", address.cluster.as_str()),
            ("ephemeral", "true"),
        ]);
        let answer = self.http.send(request).await?;
        if answer.is_success() || answer.status == 404 {
            Ok(())
        } else {
            Err(answer.error("deregister instance"))
        }
    }
}

fn parse<T: for<'de> Deserialize<'de> + Default>(body: &[u8], what: &str) -> Result<T, SyncError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| SyncError::BadBody(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_as_r_nacos_and_nacos_write_them() {
        // r-nacos: no preserved-metadata getters, port as a u32, extra fields.
        let body = br#"{"name":"DEFAULT_GROUP@@orders","hosts":[{"service":"DEFAULT_GROUP@@orders",
            "ip":"10.0.0.1","port":8080,"clusterName":"DEFAULT","weight":1.0,"healthy":true,
            "instanceId":"x","metadata":{"a":"b"},"marked":true,"enabled":true,"ephemeral":true}]}"#;
        let hosts = parse::<InstanceList>(body, "t").unwrap().hosts;
        let r = mapping::registration_of(&hosts[0]).unwrap();
        assert_eq!(
            (r.ip.as_str(), r.port, r.cluster.as_str()),
            ("10.0.0.1", 8080, "DEFAULT")
        );
        assert_eq!(r.metadata.get("a").map(String::as_str), Some("b"));
        // Fields left out take Nacos's defaults; a port past u16 is no registration.
        let bare = parse::<InstanceList>(br#"{"hosts":[{"ip":"h","port":70000}]}"#, "t").unwrap();
        assert_eq!(mapping::incoming_cluster(&bare.hosts[0]), "DEFAULT");
        assert!(bare.hosts[0].healthy && bare.hosts[0].enabled && bare.hosts[0].weight == 1.0);
        assert!(mapping::registration_of(&bare.hosts[0]).is_err());
        assert!(parse::<InstanceList>(b"{", "t").is_err());
    }

    #[test]
    fn addresses_survive_their_encoding() {
        for a in [
            Address {
                ip: "10.0.0.1".into(),
                port: 80,
                cluster: "DEFAULT".into(),
            },
            Address {
                ip: "fe80::1".into(),
                port: 8080,
                cluster: "zone-a".into(),
            },
        ] {
            assert_eq!(Address::decode(&a.encode()), Some(a));
        }
        assert_eq!(Address::decode("h#notaport#c"), None);
        assert_eq!(Address::decode("nohash"), None);
    }
}
