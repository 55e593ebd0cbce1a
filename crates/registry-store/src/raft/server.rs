//! Server side of the Raft transport: hands incoming gRPC calls to the local openraft instance.

use openraft::error::InstallSnapshotError;
use openraft::error::RaftError;
use tonic::Request;
use tonic::Response;
use tonic::Status;

use super::convert;
use super::pb;
use super::pb::raft_service_server::RaftService;
use super::types::Raft;

/// The `RaftService` gRPC implementation for one node.
pub struct RaftGrpcService {
    raft: Raft,
}

impl RaftGrpcService {
    pub fn new(raft: Raft) -> Self {
        Self { raft }
    }

    /// The tonic server wrapper with the cluster's message size limits.
    pub fn into_server(self) -> pb::raft_service_server::RaftServiceServer<Self> {
        pb::raft_service_server::RaftServiceServer::new(self)
            .max_decoding_message_size(super::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(super::MAX_MESSAGE_BYTES)
    }
}

fn fatal(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("raft stopped: {e}"))
}

#[tonic::async_trait]
impl RaftService for RaftGrpcService {
    async fn append_entries(
        &self,
        request: Request<pb::AppendEntriesRequest>,
    ) -> Result<Response<pb::AppendEntriesResponse>, Status> {
        let req = convert::append_request_from_pb(request.into_inner())?;
        let resp = self.raft.append_entries(req).await.map_err(fatal)?;
        Ok(Response::new(convert::append_response_to_pb(&resp)))
    }

    async fn vote(&self, request: Request<pb::VoteRequest>) -> Result<Response<pb::VoteResponse>, Status> {
        let req = convert::vote_request_from_pb(request.into_inner())?;
        let resp = self.raft.vote(req).await.map_err(fatal)?;
        Ok(Response::new(convert::vote_response_to_pb(&resp)))
    }

    async fn install_snapshot(
        &self,
        request: Request<pb::InstallSnapshotRequest>,
    ) -> Result<Response<pb::InstallSnapshotResponse>, Status> {
        let req = convert::install_request_from_pb(request.into_inner())?;
        match self.raft.install_snapshot(req).await {
            Ok(resp) => Ok(Response::new(convert::install_response_to_pb(&resp))),
            Err(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m))) => {
                let mismatch = pb::install_snapshot_response::Mismatch {
                    expect: Some(convert::segment_to_pb(&m.expect)),
                    got: Some(convert::segment_to_pb(&m.got)),
                };
                Ok(Response::new(pb::InstallSnapshotResponse {
                    result: Some(pb::install_snapshot_response::Result::Mismatch(mismatch)),
                }))
            }
            Err(e) => Err(fatal(e)),
        }
    }
}
