//! Client side of the Raft transport: openraft's `RaftNetworkFactory` over gRPC.
//!
//! Connections are lazy and shared per address ([`PeerChannels`]); transport failures become
//! `Unreachable` (openraft backs off) and remote fatal errors `NetworkError`.

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
use tonic::transport::Endpoint;

use super::convert;
use super::pb;
use super::pb::raft_service_client::RaftServiceClient;
use super::types::NodeId;
use super::types::TypeConfig;
use super::MAX_MESSAGE_BYTES;

/// Lazily connected gRPC channels to peers, one per address, shared by every client.
#[derive(Clone, Default)]
pub struct PeerChannels {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid peer address {addr}: {reason}")]
pub struct BadAddress {
    pub addr: String,
    pub reason: String,
}

impl PeerChannels {
    /// The channel to `addr` (`host:port`), created on first use.
    pub fn get(&self, addr: &str) -> Result<Channel, BadAddress> {
        let mut channels = self.channels.lock();
        if let Some(c) = channels.get(addr) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| BadAddress {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        let channel = endpoint.connect_lazy();
        channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }
}

/// Builds one [`GrpcNetwork`] per replication target.
#[derive(Clone, Default)]
pub struct GrpcNetworkFactory {
    pub channels: PeerChannels,
}

impl RaftNetworkFactory<TypeConfig> for GrpcNetworkFactory {
    type Network = GrpcNetwork;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        let client = self.channels.get(&node.addr).map(|c| {
            RaftServiceClient::new(c)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES)
        });
        GrpcNetwork {
            target,
            client,
            budget: AppendBudget::default(),
        }
    }
}

/// Fewest and most encoded entry bytes one AppendEntries may carry, and where it starts.
const MIN_APPEND_BYTES: usize = 64 * 1024;
const MAX_APPEND_BYTES: usize = 4 * 1024 * 1024;
const FIRST_APPEND_BYTES: usize = 1024 * 1024;

/// How many entry bytes one AppendEntries to a peer carries, adapted to what the peer takes
/// within the RPC's deadline.
///
/// openraft gives every AppendEntries the heartbeat interval as its deadline (50 ms by default)
/// and drops it when that passes. Entries are batches of commands, so openraft's count limit
/// alone could send megabytes that a busy or catching-up follower cannot write in time: each
/// such RPC would be lost work and a stall until the next heartbeat. The budget halves when an
/// RPC never finished and grows by a quarter while RPCs that use most of it finish within half
/// their deadline. (Most of an RPC's time is the follower's flush, whatever its size, so a slow
/// RPC that finished is no reason to send less.)
#[derive(Debug)]
struct AppendBudget {
    bytes: usize,
    /// The entry bytes of the RPC under way. Still set when the next RPC starts: openraft
    /// dropped it at its deadline.
    in_flight: Option<usize>,
}

impl Default for AppendBudget {
    fn default() -> Self {
        Self {
            bytes: FIRST_APPEND_BYTES,
            in_flight: None,
        }
    }
}

impl AppendBudget {
    /// How many leading entries fit in the budget (at least one), if not all of them do.
    /// Notes a previous RPC that never finished.
    fn entries_that_fit(&mut self, req: &pb::AppendEntriesRequest) -> Option<u64> {
        if self.in_flight.take().is_some() {
            self.shrink();
        }
        let mut total = 0;
        for (n, entry) in req.entries.iter().enumerate() {
            total += entry.payload.len();
            if total > self.bytes && n > 0 {
                return Some(n as u64);
            }
        }
        None
    }

    fn started(&mut self, bytes: usize) {
        self.in_flight = Some(bytes);
    }

    /// Adapts to an RPC that finished after `took` of its `deadline`.
    fn finished(&mut self, took: Duration, deadline: Duration) {
        let Some(sent) = self.in_flight.take() else { return };
        if took < deadline / 2 && sent >= self.bytes / 2 {
            self.bytes = (self.bytes + self.bytes / 4).min(MAX_APPEND_BYTES);
        }
    }

    fn shrink(&mut self) {
        self.bytes = (self.bytes / 2).max(MIN_APPEND_BYTES);
    }
}

/// The connection to one peer.
pub struct GrpcNetwork {
    target: NodeId,
    client: Result<RaftServiceClient<Channel>, BadAddress>,
    budget: AppendBudget,
}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

fn status_to_rpc<E: std::error::Error>(status: tonic::Status) -> RPCError<NodeId, BasicNode, E> {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
            RPCError::Unreachable(Unreachable::new(&status))
        }
        _ => RPCError::Network(NetworkError::new(&status)),
    }
}

impl GrpcNetwork {
    fn client<E: std::error::Error>(&self) -> Result<RaftServiceClient<Channel>, RPCError<NodeId, BasicNode, E>> {
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

async fn send_append(
    client: &mut RaftServiceClient<Channel>,
    req: pb::AppendEntriesRequest,
) -> Result<pb::AppendEntriesResponse, RpcErr> {
    let resp = client.append_entries(req).await.map_err(status_to_rpc)?;
    Ok(resp.into_inner())
}

impl RaftNetwork<TypeConfig> for GrpcNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        let req = convert::append_request_to_pb(&rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        // openraft drops an AppendEntries at its deadline itself (a `Timeout`, retried at the next
        // heartbeat); a timeout of ours racing it would be `Unreachable` and back off for 500 ms.
        let mut client = self.client()?;
        if req.entries.is_empty() {
            let resp = send_append(&mut client, req).await?;
            return convert::append_response_from_pb(resp).map_err(|e| RPCError::Network(NetworkError::new(&e)));
        }
        if let Some(fit) = self.budget.entries_that_fit(&req) {
            return Err(RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint(fit)));
        }
        self.budget.started(req.entries.iter().map(|e| e.payload.len()).sum());
        let started = Instant::now();
        let resp = send_append(&mut client, req).await;
        self.budget.finished(started.elapsed(), option.hard_ttl());
        convert::append_response_from_pb(resp?).map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<InstallSnapshotError>> {
        let req = convert::install_request_to_pb(&rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut client = self.client()?;
        let resp = with_ttl(&option, client.install_snapshot(req)).await?;
        use pb::install_snapshot_response::Result as R;
        let network = |e: convert::ConvertError| RPCError::Network(NetworkError::new(&e));
        match resp
            .result
            .ok_or(convert::ConvertError::Missing("result"))
            .map_err(network)?
        {
            R::Vote(v) => Ok(InstallSnapshotResponse {
                vote: convert::vote_from_pb(Some(&v)).map_err(network)?,
            }),
            R::Mismatch(m) => {
                let mismatch = SnapshotMismatch {
                    expect: convert::segment_from_pb(m.expect).map_err(network)?,
                    got: convert::segment_from_pb(m.got).map_err(network)?,
                };
                let err = RaftError::APIError(InstallSnapshotError::SnapshotMismatch(mismatch));
                Err(RPCError::RemoteError(RemoteError::new(self.target, err)))
            }
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> Result<VoteResponse<NodeId>, RpcErr> {
        let mut client = self.client()?;
        let resp = with_ttl(&option, client.vote(convert::vote_request_to_pb(&rpc))).await?;
        convert::vote_response_from_pb(resp).map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(sizes: &[usize]) -> pb::AppendEntriesRequest {
        pb::AppendEntriesRequest {
            entries: sizes
                .iter()
                .map(|&n| pb::Entry {
                    log_id: None,
                    payload: vec![0; n],
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn large_appends_are_cut_to_the_budget_and_one_entry_always_goes() {
        let mib = 1024 * 1024;
        let mut budget = AppendBudget {
            bytes: 4 * mib,
            in_flight: None,
        };
        assert_eq!(budget.entries_that_fit(&request(&[mib, mib, mib])), None);
        assert_eq!(
            budget.entries_that_fit(&request(&[mib, 2 * mib, 2 * mib, mib])),
            Some(2)
        );
        assert_eq!(budget.entries_that_fit(&request(&[8 * mib, mib])), Some(1));
        assert_eq!(budget.entries_that_fit(&request(&[8 * mib])), None);
    }

    #[test]
    fn the_budget_follows_how_long_the_peer_takes() {
        let deadline = Duration::from_millis(100);
        let mut budget = AppendBudget::default();
        let slow = |b: &mut AppendBudget| {
            b.started(b.bytes);
            b.finished(Duration::from_millis(80), deadline);
        };
        slow(&mut budget);
        assert_eq!(
            budget.bytes, FIRST_APPEND_BYTES,
            "a slow RPC that finished changes nothing"
        );

        // A dropped RPC (openraft's deadline passed) halves it when the next one starts.
        let mut budget = AppendBudget::default();
        for _ in 0..20 {
            budget.started(budget.bytes);
            budget.entries_that_fit(&request(&[10]));
        }
        assert_eq!(budget.bytes, MIN_APPEND_BYTES);

        // Fast RPCs that use the budget grow it up to the cap; small ones do not.
        let mut budget = AppendBudget::default();
        budget.started(10);
        budget.finished(Duration::from_millis(1), deadline);
        assert_eq!(budget.bytes, FIRST_APPEND_BYTES);
        for _ in 0..40 {
            budget.started(budget.bytes);
            budget.finished(Duration::from_millis(10), deadline);
        }
        assert_eq!(budget.bytes, MAX_APPEND_BYTES);
    }
}
