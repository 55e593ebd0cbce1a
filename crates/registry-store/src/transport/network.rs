//! Client side of the Raft transport: openraft's `RaftNetworkFactory` over gRPC.
//!
//! Connections are lazy and shared per address ([`MemberChannels`]); transport failures become
//! `Unreachable` (openraft backs off) and remote fatal errors `NetworkError`. Every answer is
//! noted in [`MemberContacts`], with a vote refused because this node is no longer a member.

// openraft's trait signatures fix these error types; boxing them here would only add conversions.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use openraft::error::InstallSnapshotError;
use openraft::error::NetworkError;
use openraft::error::PayloadTooLarge;
use openraft::error::RPCError;
use openraft::error::RaftError;
use openraft::error::RemoteError;
use openraft::error::SnapshotMismatch;
use openraft::error::Unreachable;
use openraft::network::RPCOption;
use openraft::network::RaftNetwork;
use openraft::network::RaftNetworkFactory;
use openraft::raft::AppendEntriesRequest;
use openraft::raft::AppendEntriesResponse;
use openraft::raft::InstallSnapshotRequest;
use openraft::raft::InstallSnapshotResponse;
use openraft::raft::VoteRequest;
use openraft::raft::VoteResponse;
use openraft::BasicNode;
use parking_lot::Mutex;
use tonic::transport::Channel;
use tonic::transport::ClientTlsConfig;
use tonic::transport::Endpoint;

use super::auth::MemberChannel;
use super::auth::MemberCredential;
use super::contact::MemberContacts;
use super::convert;
use super::pacing::AppendPacing;
use super::pb;
use super::pb::cluster_service_client::ClusterServiceClient;
use super::pb::raft_service_client::RaftServiceClient;
use super::MAX_MESSAGE_BYTES;
use crate::raft::types::NodeId;
use crate::raft::types::TypeConfig;

/// Lazily connected gRPC channels to peers, one per address, shared by every client.
#[derive(Clone, Default)]
pub struct MemberChannels {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
    /// What this node presents to its peers (node-to-node authentication).
    credential: MemberCredential,
    /// Mutual TLS with peers, when configured.
    tls: Option<ClientTlsConfig>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid peer address {addr}: {reason}")]
pub struct BadAddress {
    pub addr: String,
    pub reason: String,
}

impl MemberChannels {
    /// Channels whose calls present `credential`, over mutual TLS when `tls` is given.
    pub fn new(credential: MemberCredential, tls: Option<ClientTlsConfig>) -> Self {
        Self {
            channels: Arc::default(),
            credential,
            tls,
        }
    }

    /// The channel to `addr` (`host:port`), created on first use.
    pub fn get(&self, addr: &str) -> Result<MemberChannel, BadAddress> {
        let mut channels = self.channels.lock();
        if let Some(c) = channels.get(addr) {
            return Ok(MemberChannel::new(c.clone(), self.credential.clone()));
        }
        let bad = |e: tonic::transport::Error| BadAddress {
            addr: addr.to_string(),
            reason: e.to_string(),
        };
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}")).map_err(bad)?;
        if let Some(tls) = &self.tls {
            endpoint = endpoint.tls_config(tls.clone()).map_err(bad)?;
        }
        let endpoint = endpoint
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        let channel = endpoint.connect_lazy();
        channels.insert(addr.to_string(), channel.clone());
        Ok(MemberChannel::new(channel, self.credential.clone()))
    }
}

impl MemberChannels {
    /// A client for the cluster RPCs of the member at `addr`, with the cluster's message size
    /// limits.
    pub fn cluster_client(&self, addr: &str) -> Result<ClusterServiceClient<MemberChannel>, BadAddress> {
        Ok(ClusterServiceClient::new(self.get(addr)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }
}

/// Builds one [`GrpcNetwork`] per replication target.
#[derive(Clone, Default)]
pub struct GrpcNetworkFactory {
    pub channels: MemberChannels,
    /// Where the clients note each peer's answers.
    pub contacts: MemberContacts,
}

impl RaftNetworkFactory<TypeConfig> for GrpcNetworkFactory {
    type Network = GrpcNetwork;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        let client = self.channels.get(&node.addr).map(|c| {
            RaftServiceClient::new(c)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES)
        });
        self.contacts.calling(target);
        GrpcNetwork {
            target,
            client,
            pacing: AppendPacing::default(),
            contacts: self.contacts.clone(),
        }
    }
}

/// The connection to one peer.
pub struct GrpcNetwork {
    target: NodeId,
    client: Result<RaftServiceClient<MemberChannel>, BadAddress>,
    pacing: AppendPacing,
    contacts: MemberContacts,
}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

fn status_to_rpc<E: std::error::Error>(status: tonic::Status) -> RPCError<NodeId, BasicNode, E> {
    match status.code() {
        // A peer that refuses this node's credential or certificate will go on refusing:
        // openraft backs off from unreachable peers instead of retrying at once.
        tonic::Code::Unavailable
        | tonic::Code::DeadlineExceeded
        | tonic::Code::Cancelled
        | tonic::Code::Unauthenticated
        | tonic::Code::PermissionDenied => RPCError::Unreachable(Unreachable::new(&status)),
        _ => RPCError::Network(NetworkError::new(&status)),
    }
}

impl GrpcNetwork {
    fn client<E: std::error::Error>(&self) -> Result<RaftServiceClient<MemberChannel>, RPCError<NodeId, BasicNode, E>> {
        self.client
            .clone()
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }
}

async fn with_ttl<T, E: std::error::Error>(
    option: &RPCOption,
    fut: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, RPCError<NodeId, BasicNode, E>> {
    match tokio::time::timeout(option.hard_ttl(), fut).await {
        Ok(Ok(resp)) => Ok(resp.into_inner()),
        Ok(Err(status)) => Err(status_to_rpc(status)),
        Err(elapsed) => Err(RPCError::Unreachable(Unreachable::new(&elapsed))),
    }
}

/// A message for or from the peer that does not convert (or encode).
fn bad_message<E: std::error::Error>(e: impl std::error::Error + 'static) -> RPCError<NodeId, BasicNode, E> {
    RPCError::Network(NetworkError::new(&e))
}

async fn send_append(
    client: &mut RaftServiceClient<MemberChannel>,
    req: pb::AppendEntriesRequest,
) -> Result<pb::AppendEntriesResponse, tonic::Status> {
    Ok(client.append_entries(req).await?.into_inner())
}

impl RaftNetwork<TypeConfig> for GrpcNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        let prev = rpc.prev_log_id;
        if let Some(limit) = self.pacing.probe_limit(prev, rpc.entries.len()) {
            return Err(RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint(limit)));
        }
        let req = convert::append_request_to_pb(&rpc).map_err(bad_message)?;
        let sizes: Vec<usize> = req.entries.iter().map(|e| e.payload.len()).collect();
        if let Some(limit) = self.pacing.budget_limit(&sizes) {
            return Err(RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint(limit)));
        }
        // openraft drops an AppendEntries at its deadline itself (a `Timeout`, retried at the next
        // heartbeat); a timeout of ours racing it would be `Unreachable` and back off for 500 ms.
        let mut client = self.client()?;
        self.pacing.started(sizes.iter().sum());
        let started = Instant::now();
        let resp = match send_append(&mut client, req).await {
            Ok(resp) => {
                self.contacts.answered(self.target);
                Ok(resp)
            }
            Err(status) => {
                self.contacts.failed(self.target, status.message());
                Err(status_to_rpc(status))
            }
        };
        let resp = resp.and_then(|r| convert::append_response_from_pb(r).map_err(bad_message));
        let matched = match &resp {
            Ok(AppendEntriesResponse::Success) => rpc.entries.last().map(|e| e.log_id).or(prev),
            Ok(AppendEntriesResponse::PartialSuccess(m)) => *m,
            _ => None,
        };
        self.pacing.finished(started.elapsed(), option.hard_ttl(), matched);
        resp
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<InstallSnapshotError>> {
        let req = convert::install_request_to_pb(&rpc).map_err(bad_message)?;
        let mut client = self.client()?;
        let resp = with_ttl(&option, client.install_snapshot(req)).await?;
        self.contacts.answered(self.target);
        use pb::install_snapshot_response::Result as R;
        match resp
            .result
            .ok_or(convert::ConvertError::Missing("result"))
            .map_err(bad_message)?
        {
            R::Vote(v) => Ok(InstallSnapshotResponse {
                vote: convert::vote_from_pb(Some(&v)).map_err(bad_message)?,
            }),
            R::Mismatch(m) => {
                let mismatch = SnapshotMismatch {
                    expect: convert::segment_from_pb(m.expect).map_err(bad_message)?,
                    got: convert::segment_from_pb(m.got).map_err(bad_message)?,
                };
                let err = RaftError::APIError(InstallSnapshotError::SnapshotMismatch(mismatch));
                Err(RPCError::RemoteError(RemoteError::new(self.target, err)))
            }
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> Result<VoteResponse<NodeId>, RpcErr> {
        let mut client = self.client()?;
        let resp = match with_ttl(&option, client.vote(convert::vote_request_to_pb(&rpc))).await {
            // A peer that cannot be reached (not started yet, or down) does not grant the vote:
            // openraft treats an error no differently, but logs it at ERROR for every peer each
            // election round, which a node waiting for its peers does many times (issue 21).
            Err(RPCError::Unreachable(e)) => {
                tracing::debug!(target = self.target, error = %e, "vote request: peer unreachable, not granted");
                return Ok(VoteResponse {
                    vote: rpc.vote,
                    vote_granted: false,
                    last_log_id: None,
                });
            }
            other => other?,
        };
        self.contacts.answered(self.target);
        if resp.not_member {
            self.contacts.told_removed(self.target);
        }
        convert::vote_response_from_pb(resp).map_err(bad_message)
    }
}
