//! Node-to-node authentication. With a cluster secret configured, every gRPC call a node makes
//! to another carries `authorization: Bearer <credential>`, a digest of the secret (the secret
//! itself never crosses the network), and a node's gRPC server refuses calls without it
//! (`UNAUTHENTICATED`). With TLS material configured, nodes talk mutual TLS: each presents a
//! certificate the cluster's CA signed and accepts only such peers. Without either, nodes trust
//! their network.
//!
//! The settings for both ([`ClusterSecret`], [`MemberTls`]) are defined here, below the node's
//! config that holds them, so the transport never reaches up into the node.

use sha2::Digest;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Certificate;
use tonic::transport::Channel;
use tonic::transport::ClientTlsConfig;
use tonic::transport::Identity;
use tonic::transport::ServerTlsConfig;
use tonic::Request;
use tonic::Status;

/// PEM material for mutual TLS between nodes; the key is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct MemberTls {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub ca_pem: Vec<u8>,
}

impl std::fmt::Debug for MemberTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemberTls(..)")
    }
}

/// The secret every node shares; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterSecret(pub String);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

/// A channel to a peer whose calls carry this node's credential.
pub type MemberChannel = InterceptedService<Channel, MemberCredential>;

/// The header value nodes present: `Bearer` and the hex digest of the secret.
fn credential(secret: &ClusterSecret) -> Option<AsciiMetadataValue> {
    let digest = Sha256::new()
        .chain_update(b"registry node credential:")
        .chain_update(secret.0.as_bytes())
        .finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("Bearer {hex}").parse().ok()
}

/// A short digest of the cluster secret that nodes compare when one is added to a cluster (empty
/// without a secret). Derived apart from the credential, so showing it reveals neither.
pub fn fingerprint(secret: Option<&ClusterSecret>) -> String {
    let Some(secret) = secret else {
        return String::new();
    };
    let digest = Sha256::new()
        .chain_update(b"registry cluster fingerprint:")
        .chain_update(secret.0.as_bytes())
        .finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Adds this node's credential to each outgoing call.
#[derive(Clone, Default)]
pub struct MemberCredential(Option<AsciiMetadataValue>);

impl MemberCredential {
    pub fn new(secret: Option<&ClusterSecret>) -> Self {
        Self(secret.and_then(credential))
    }
}

impl Interceptor for MemberCredential {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// Refuses incoming calls that do not carry the cluster's credential.
#[derive(Clone, Default)]
pub struct MemberCheck(Option<AsciiMetadataValue>);

impl MemberCheck {
    pub fn new(secret: Option<&ClusterSecret>) -> Self {
        Self(secret.and_then(credential))
    }
}

impl Interceptor for MemberCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.0 else {
            return Ok(request);
        };
        let presented = request.metadata().get("authorization");
        let matches = presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(expected.as_bytes())));
        if matches {
            Ok(request)
        } else {
            Err(Status::unauthenticated(
                "this node's cluster requires the shared cluster secret",
            ))
        }
    }
}

/// The gRPC server's side of mutual TLS: this node's certificate, peers' checked against the CA.
pub fn server_tls(tls: &MemberTls) -> ServerTlsConfig {
    ServerTlsConfig::new()
        .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem))
        .client_ca_root(Certificate::from_pem(&tls.ca_pem))
}

/// The client's side: the peer's certificate checked against the CA, this node's presented.
pub fn client_tls(tls: &MemberTls) -> ClientTlsConfig {
    ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&tls.ca_pem))
        .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> ClusterSecret {
        ClusterSecret(s.into())
    }

    #[test]
    fn only_calls_with_the_same_secret_pass() {
        let ours = secret("a-long-shared-secret");
        let mut check = MemberCheck::new(Some(&ours));
        let outgoing = |s: Option<&ClusterSecret>| MemberCredential::new(s).call(Request::new(())).unwrap();
        assert!(check.call(outgoing(Some(&ours))).is_ok());
        let refused = check.call(outgoing(Some(&secret("another-long-secret")))).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        assert!(check.call(outgoing(None)).is_err());
        // The secret itself is not what travels.
        let sent = outgoing(Some(&ours));
        let header = sent.metadata().get("authorization").unwrap().to_str().unwrap();
        assert!(!header.contains("a-long-shared-secret"));
        // Without a secret, every call passes.
        assert!(MemberCheck::new(None).call(outgoing(None)).is_ok());
    }

    #[test]
    fn fingerprints_tell_secrets_apart_without_showing_them() {
        let ours = fingerprint(Some(&secret("a-long-shared-secret")));
        assert_eq!(ours, fingerprint(Some(&secret("a-long-shared-secret"))));
        assert_ne!(ours, fingerprint(Some(&secret("another-long-secret"))));
        assert_eq!(fingerprint(None), "");
        assert_eq!(ours.len(), 16);
        let header = credential(&secret("a-long-shared-secret")).unwrap();
        assert!(!header.to_str().unwrap().contains(&ours));
    }
}
