//! HTTP calls from this node to the other members' HTTP listeners: asking the leader (which
//! alone holds the leases and runs the sync workers) for its reports, and probing a member's
//! `/health`. Addresses come from the node records members announce.

use std::time::Duration;

use registry_store::node::RegistryNode;
use registry_store::raft::types::NodeId;
use serde::de::DeserializeOwned;

use crate::auth::token::TokenKeys;
use crate::auth::NODE_PREFIX;

/// How long a call to another member may take: the dashboard and reports wait for it.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// A client for the other members' HTTP listeners.
#[derive(Clone)]
pub struct MemberHttp {
    node: RegistryNode,
    client: reqwest::Client,
    /// With authentication on: signs this node's own tokens (see [`crate::auth::NODE_PREFIX`]).
    tokens: Option<TokenKeys>,
    /// `http` or `https` (the members' listeners serve TLS).
    scheme: &'static str,
}

impl MemberHttp {
    /// Calls over HTTPS when `https`, trusting `ca_pem` (the cluster's CA) besides the usual roots.
    pub fn new(node: RegistryNode, tokens: Option<TokenKeys>, https: bool, ca_pem: Option<&[u8]>) -> Self {
        let mut builder = reqwest::Client::builder().timeout(CALL_TIMEOUT);
        let roots = ca_pem.map(reqwest::Certificate::from_pem_bundle);
        match roots {
            Some(Ok(roots)) => {
                for root in roots {
                    builder = builder.add_root_certificate(root);
                }
            }
            Some(Err(e)) => tracing::warn!(error = %e, "the cluster CA cannot be used for calls to members"),
            None => {}
        }
        let client = builder.build().unwrap_or_default();
        Self {
            node,
            client,
            tokens,
            scheme: if https { "https" } else { "http" },
        }
    }

    /// A GET of `url`, with this node's token when the cluster requires credentials.
    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let request = self.client.get(url);
        let token = self
            .tokens
            .as_ref()
            .and_then(|t| t.issue(&format!("{NODE_PREFIX}{}", self.node.node_id())).ok());
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// `http(s)://ADDR{path}` for member `id`, once it has announced its HTTP address.
    pub fn member_url(&self, id: NodeId, path: &str) -> Option<String> {
        let addr = {
            let applied = self.node.read();
            applied.state.node(id)?.http_addrs.first()?.clone()
        };
        let status = self.node.status();
        let raft_addr = status.members.iter().find(|m| m.id == id).map(|m| m.raft_addr.as_str());
        Some(format!("{}://{}{path}", self.scheme, reachable(&addr, raft_addr)))
    }

    /// The leader's `GET {path}` decoded, when another node leads and answers with success.
    pub async fn leader_json<T: DeserializeOwned>(&self, path: &str) -> Option<T> {
        let leader = self.node.leader().filter(|l| *l != self.node.node_id())?;
        self.member_json(leader, path).await.ok()
    }

    /// Member `id`'s `GET {path}` decoded, whatever the status (health answers 503 with a
    /// body); an error says why it could not be asked.
    pub async fn member_json<T: DeserializeOwned>(&self, id: NodeId, path: &str) -> Result<T, String> {
        let url = self
            .member_url(id, path)
            .ok_or_else(|| "has not announced an HTTP address".to_string())?;
        let response = self.get(&url).send().await.map_err(|e| describe(&e))?;
        response.json().await.map_err(|e| describe(&e))
    }
}

/// A member's HTTP address as another host reaches it: one announced on every interface
/// (`0.0.0.0:8761`) takes the host of its Raft address, which is advertised for others.
pub fn reachable(http_addr: &str, raft_addr: Option<&str>) -> String {
    let Some((host, port)) = http_addr.rsplit_once(':') else {
        return http_addr.to_string();
    };
    let unspecified = matches!(host, "0.0.0.0" | "[::]" | "::");
    match raft_addr.and_then(|r| r.rsplit_once(':')) {
        Some((raft_host, _)) if unspecified => format!("{raft_host}:{port}"),
        _ => http_addr.to_string(),
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "did not answer in time".into()
    } else if e.is_connect() {
        "unreachable".into()
    } else if e.is_decode() {
        "answered something other than JSON".into()
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_on_every_interface_takes_the_raft_host() {
        assert_eq!(reachable("0.0.0.0:8761", Some("registry-2:7100")), "registry-2:8761");
        assert_eq!(reachable("[::]:8761", Some("10.0.0.2:7100")), "10.0.0.2:8761");
        assert_eq!(reachable("10.0.0.3:8761", Some("registry-3:7100")), "10.0.0.3:8761");
        assert_eq!(reachable("0.0.0.0:8761", None), "0.0.0.0:8761");
    }
}
