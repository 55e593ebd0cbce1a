//! Server side of the cluster RPCs (`ClusterService`): what followers ask of the leader
//! (forwarded writes, batched renewals, unary or on a stream per follower, the leader's lease
//! times, read index, membership changes), the hand-over election trigger, and who this member
//! is (asked before it is added).
//!
//! The node decides the answers through [`ClusterHandler`]; this module only serves them, with
//! the cluster's message size limits. The server runs on Raft's runtime (see
//! `node::raft_runtime`). Most calls are answered there: they wait on Raft (forwarded writes,
//! read index, elections), read a constant (identity), or look up a batch of forwarded
//! renewals under the registry's and the lease table's locks, which a lease round holds for
//! at most tens of milliseconds at a million leases. Sent across to the client runtime and
//! back, a batch cost the leader 8.7 and 13.2 µs per renewal at 10k and 100k instances against
//! 5.1 and 7.7 µs answered in place (one scale run each, `benches/results/2026-12-07d`). Two
//! run on the runtime given here, the one that serves clients: the leader's lease times, which
//! walk every lease, and membership changes.

use std::future::Future;
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::runtime::Handle;
use tonic::Request;
use tonic::Response;
use tonic::Status;
use tonic::Streaming;

use super::pb;
use super::pb::cluster_service_server::ClusterService;
use super::pb::cluster_service_server::ClusterServiceServer;
use super::MAX_MESSAGE_BYTES;

/// What a member answers to the others' cluster RPCs, one method per RPC. A `Status` error is
/// sent as it is.
#[tonic::async_trait]
pub trait ClusterHandler: Send + Sync + 'static {
    async fn forward_write(&self, request: pb::ForwardWriteRequest) -> Result<pb::ForwardWriteResponse, Status>;
    async fn forward_heartbeats(
        &self,
        request: pb::ForwardHeartbeatsRequest,
    ) -> Result<pb::ForwardHeartbeatsResponse, Status>;
    async fn lease_times(&self, request: pb::LeaseTimesRequest) -> Result<pb::LeaseTimesResponse, Status>;
    async fn read_index(&self) -> Result<pb::ReadIndexResponse, Status>;
    async fn trigger_election(&self) -> Result<(), Status>;
    async fn change_membership(
        &self,
        request: pb::ChangeMembershipRequest,
    ) -> Result<pb::ChangeMembershipResponse, Status>;
    async fn identify(&self) -> Result<pb::IdentifyResponse, Status>;
}

/// The `ClusterService` gRPC implementation over a [`ClusterHandler`].
pub struct ClusterGrpcService<H> {
    handler: Arc<H>,
    /// Where the handlers run.
    work: Handle,
}

impl<H: ClusterHandler> ClusterGrpcService<H> {
    pub fn new(handler: H, work: Handle) -> Self {
        Self {
            handler: Arc::new(handler),
            work,
        }
    }

    /// Runs `call` on the handler, on the work runtime, and answers with what it returns.
    async fn on_work_runtime<T, F>(&self, call: impl FnOnce(Arc<H>) -> F) -> Result<Response<T>, Status>
    where
        F: Future<Output = Result<T, Status>> + Send + 'static,
        T: Send + 'static,
    {
        match self.work.spawn(call(self.handler.clone())).await {
            Ok(answer) => answer.map(Response::new),
            Err(e) => Err(Status::internal(format!("the cluster RPC's handler failed: {e}"))),
        }
    }

    /// The tonic server wrapper with the cluster's message size limits.
    pub fn into_server(self) -> ClusterServiceServer<Self> {
        ClusterServiceServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

#[tonic::async_trait]
impl<H: ClusterHandler> ClusterService for ClusterGrpcService<H> {
    async fn forward_write(
        &self,
        request: Request<pb::ForwardWriteRequest>,
    ) -> Result<Response<pb::ForwardWriteResponse>, Status> {
        self.handler
            .forward_write(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn forward_heartbeats(
        &self,
        request: Request<pb::ForwardHeartbeatsRequest>,
    ) -> Result<Response<pb::ForwardHeartbeatsResponse>, Status> {
        self.handler
            .forward_heartbeats(request.into_inner())
            .await
            .map(Response::new)
    }

    type RenewStreamStream = BoxStream<'static, Result<pb::ForwardHeartbeatsResponse, Status>>;

    /// Each batch that arrives is answered in turn, as a unary `ForwardHeartbeats` would be.
    async fn renew_stream(
        &self,
        request: Request<Streaming<pb::ForwardHeartbeatsRequest>>,
    ) -> Result<Response<Self::RenewStreamStream>, Status> {
        let handler = self.handler.clone();
        let answers = request.into_inner().then(move |batch| {
            let handler = handler.clone();
            async move { handler.forward_heartbeats(batch?).await }
        });
        Ok(Response::new(answers.boxed()))
    }

    async fn lease_times(
        &self,
        request: Request<pb::LeaseTimesRequest>,
    ) -> Result<Response<pb::LeaseTimesResponse>, Status> {
        let request = request.into_inner();
        self.on_work_runtime(|h| async move { h.lease_times(request).await })
            .await
    }

    async fn read_index(&self, _: Request<pb::ReadIndexRequest>) -> Result<Response<pb::ReadIndexResponse>, Status> {
        self.handler.read_index().await.map(Response::new)
    }

    async fn trigger_election(
        &self,
        _: Request<pb::TriggerElectionRequest>,
    ) -> Result<Response<pb::TriggerElectionResponse>, Status> {
        self.handler.trigger_election().await?;
        Ok(Response::new(pb::TriggerElectionResponse {}))
    }

    async fn change_membership(
        &self,
        request: Request<pb::ChangeMembershipRequest>,
    ) -> Result<Response<pb::ChangeMembershipResponse>, Status> {
        let request = request.into_inner();
        self.on_work_runtime(|h| async move { h.change_membership(request).await })
            .await
    }

    async fn identify(&self, _: Request<pb::IdentifyRequest>) -> Result<Response<pb::IdentifyResponse>, Status> {
        self.handler.identify().await.map(Response::new)
    }
}
