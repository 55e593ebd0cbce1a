//! Server side of the cluster RPCs (`ClusterService`): what followers ask of the leader
//! (forwarded writes, batched renewals, the leader's lease times, read index, membership
//! changes), the hand-over election trigger, and who this member is (asked before it is added).
//!
//! The node decides the answers through [`ClusterHandler`]; this module only serves them, with
//! the cluster's message size limits.

use tonic::Request;
use tonic::Response;
use tonic::Status;

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
    handler: H,
}

impl<H: ClusterHandler> ClusterGrpcService<H> {
    pub fn new(handler: H) -> Self {
        Self { handler }
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

    async fn lease_times(
        &self,
        request: Request<pb::LeaseTimesRequest>,
    ) -> Result<Response<pb::LeaseTimesResponse>, Status> {
        self.handler.lease_times(request.into_inner()).await.map(Response::new)
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
        self.handler
            .change_membership(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn identify(&self, _: Request<pb::IdentifyRequest>) -> Result<Response<pb::IdentifyResponse>, Status> {
        self.handler.identify().await.map(Response::new)
    }
}
