//! Server side of the Raft transport: hands incoming gRPC calls to the local openraft instance.
//!
//! A vote refused to a candidate that the cluster removed says so (`not_member`): openraft 0.9
//! stops replicating to a removed voter before it sees the membership without it, so otherwise
//! it would campaign forever.

use std::time::Instant;

use openraft::error::InstallSnapshotError;
use openraft::error::RaftError;
use openraft::LogId;
use parking_lot::Mutex;
use tonic::Request;
use tonic::Response;
use tonic::Status;

use super::convert;
use super::pb;
use super::pb::raft_service_server::RaftService;
use crate::meters::StoreMeters;
use crate::raft::types::NodeId;
use crate::raft::types::Raft;

/// The `RaftService` gRPC implementation for one node.
pub struct RaftGrpcService {
    raft: Raft,
    meters: StoreMeters,
    /// When the last AppendEntries arrived, for the gap to the next one.
    last_append: Mutex<Option<Instant>>,
}

impl RaftGrpcService {
    pub fn new(raft: Raft, meters: StoreMeters) -> Self {
        Self {
            raft,
            meters,
            last_append: Mutex::new(None),
        }
    }

    /// Counts the gap since the previous AppendEntries: what this node's election timer saw.
    fn note_append_arrival(&self, now: Instant) {
        if let Some(last) = self.last_append.lock().replace(now) {
            self.meters
                .append_gap_seconds
                .observe(now.saturating_duration_since(last).as_secs_f64());
        }
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
        let arrived = Instant::now();
        self.note_append_arrival(arrived);
        let req = convert::append_request_from_pb(request.into_inner())?;
        let resp = self.raft.append_entries(req).await.map_err(fatal)?;
        self.meters.append_seconds.observe(arrived.elapsed().as_secs_f64());
        Ok(Response::new(convert::append_response_to_pb(&resp)))
    }

    async fn vote(&self, request: Request<pb::VoteRequest>) -> Result<Response<pb::VoteResponse>, Status> {
        let req = convert::vote_request_from_pb(request.into_inner())?;
        let candidate = req.vote.leader_id().voted_for();
        let candidate_last = req.last_log_id;
        let resp = self.raft.vote(req).await.map_err(fatal)?;
        let mut answer = convert::vote_response_to_pb(&resp);
        if !resp.vote_granted {
            let m = self.raft.metrics().borrow().clone();
            let stored = &m.membership_config;
            let in_membership = stored.membership().nodes().any(|(id, _)| Some(*id) == candidate);
            answer.not_member = removed_candidate(in_membership, *stored.log_id(), m.last_applied, candidate_last);
        }
        Ok(Response::new(answer))
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

/// Whether a candidate is one the cluster removed: it is not in this node's membership (at
/// `membership_at`), that membership is committed (applied here), and the candidate's log ends
/// before it. A candidate that holds that entry or a later one may have been added back since, so
/// it is never told.
fn removed_candidate(
    in_membership: bool,
    membership_at: Option<LogId<NodeId>>,
    applied: Option<LogId<NodeId>>,
    candidate_last: Option<LogId<NodeId>>,
) -> bool {
    let Some(at) = membership_at else {
        return false;
    };
    let committed = applied.is_some_and(|a| a.index >= at.index);
    !in_membership && committed && candidate_last < Some(at)
}

#[cfg(test)]
mod tests {
    use openraft::CommittedLeaderId;

    use super::*;

    fn log_id(term: u64, index: u64) -> Option<LogId<NodeId>> {
        Some(LogId::new(CommittedLeaderId::new(term, 1), index))
    }

    #[test]
    fn only_a_candidate_behind_a_committed_membership_without_it_is_told() {
        // Removed at index 10, committed here; the candidate stopped at the joint config (9).
        assert!(removed_candidate(false, log_id(1, 10), log_id(1, 12), log_id(1, 9)));
        // Still a member, or the membership not committed yet, or none at all: never told.
        assert!(!removed_candidate(true, log_id(1, 10), log_id(1, 12), log_id(1, 9)));
        assert!(!removed_candidate(false, log_id(1, 10), log_id(1, 9), log_id(1, 9)));
        assert!(!removed_candidate(false, None, log_id(1, 9), None));
        // It holds that entry or a later one: it may have been added back since.
        assert!(!removed_candidate(false, log_id(1, 10), log_id(1, 12), log_id(1, 10)));
        assert!(!removed_candidate(false, log_id(1, 10), log_id(1, 12), log_id(2, 11)));
        // A candidate with an empty log is behind every membership.
        assert!(removed_candidate(false, log_id(1, 10), log_id(1, 12), None));
    }
}
