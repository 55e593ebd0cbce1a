//! Conversions between protobuf messages and openraft's types, one pair per message.
//!
//! Incoming messages are checked: a missing required field or an undecodable payload is a
//! [`ConvertError`], never a panic, so a malformed message from a peer cannot reach the log.

use openraft::raft::AppendEntriesRequest;
use openraft::raft::AppendEntriesResponse;
use openraft::raft::InstallSnapshotRequest;
use openraft::raft::InstallSnapshotResponse;
use openraft::raft::VoteRequest;
use openraft::raft::VoteResponse;
use openraft::CommittedLeaderId;
use openraft::SnapshotSegmentId;

use super::pb;
use crate::raft::types::Entry;
use crate::raft::types::LogId;
use crate::raft::types::NodeId;
use crate::raft::types::SnapshotMeta;
use crate::raft::types::TypeConfig;
use crate::raft::types::Vote;
use crate::storage::codec;
use crate::storage::codec::CodecError;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("missing field {0}")]
    Missing(&'static str),
    #[error("undecodable {field}: {source}")]
    Payload { field: &'static str, source: CodecError },
}

impl From<ConvertError> for tonic::Status {
    fn from(e: ConvertError) -> Self {
        tonic::Status::invalid_argument(e.to_string())
    }
}

type Result<T> = std::result::Result<T, ConvertError>;

pub fn log_id_to_pb(l: &LogId) -> pb::LogId {
    pb::LogId {
        term: l.leader_id.term,
        node_id: l.leader_id.node_id,
        index: l.index,
    }
}

pub fn log_id_from_pb(l: &pb::LogId) -> LogId {
    LogId::new(CommittedLeaderId::new(l.term, l.node_id), l.index)
}

fn opt_log_id_to_pb(l: &Option<LogId>) -> Option<pb::LogId> {
    l.as_ref().map(log_id_to_pb)
}

fn opt_log_id_from_pb(l: &Option<pb::LogId>) -> Option<LogId> {
    l.as_ref().map(log_id_from_pb)
}

pub fn vote_to_pb(v: &Vote) -> pb::Vote {
    pb::Vote {
        term: v.leader_id.term,
        node_id: v.leader_id.node_id,
        committed: v.committed,
    }
}

pub fn vote_from_pb(v: Option<&pb::Vote>) -> Result<Vote> {
    let v = v.ok_or(ConvertError::Missing("vote"))?;
    Ok(if v.committed {
        Vote::new_committed(v.term, v.node_id)
    } else {
        Vote::new(v.term, v.node_id)
    })
}

pub fn append_request_to_pb(
    r: &AppendEntriesRequest<TypeConfig>,
) -> std::result::Result<pb::AppendEntriesRequest, CodecError> {
    let entries = r
        .entries
        .iter()
        .map(|e| {
            Ok(pb::Entry {
                log_id: Some(log_id_to_pb(&e.log_id)),
                payload: codec::encode(&e.payload)?,
            })
        })
        .collect::<std::result::Result<Vec<_>, CodecError>>()?;
    Ok(pb::AppendEntriesRequest {
        vote: Some(vote_to_pb(&r.vote)),
        prev_log_id: opt_log_id_to_pb(&r.prev_log_id),
        entries,
        leader_commit: opt_log_id_to_pb(&r.leader_commit),
    })
}

pub fn append_request_from_pb(r: pb::AppendEntriesRequest) -> Result<AppendEntriesRequest<TypeConfig>> {
    let entries = r
        .entries
        .into_iter()
        .map(|e| {
            let log_id = log_id_from_pb(e.log_id.as_ref().ok_or(ConvertError::Missing("entry.log_id"))?);
            let payload =
                codec::decode(&e.payload).map_err(|source| ConvertError::Payload { field: "entry", source })?;
            Ok(Entry { log_id, payload })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(AppendEntriesRequest {
        vote: vote_from_pb(r.vote.as_ref())?,
        prev_log_id: opt_log_id_from_pb(&r.prev_log_id),
        entries,
        leader_commit: opt_log_id_from_pb(&r.leader_commit),
    })
}

pub fn append_response_to_pb(r: &AppendEntriesResponse<NodeId>) -> pb::AppendEntriesResponse {
    use pb::append_entries_response::PartialSuccess;
    use pb::append_entries_response::Result as R;
    let result = match r {
        AppendEntriesResponse::Success => R::Success(true),
        AppendEntriesResponse::PartialSuccess(m) => R::PartialSuccess(PartialSuccess {
            matching: opt_log_id_to_pb(m),
        }),
        AppendEntriesResponse::Conflict => R::Conflict(true),
        AppendEntriesResponse::HigherVote(v) => R::HigherVote(vote_to_pb(v)),
    };
    pb::AppendEntriesResponse { result: Some(result) }
}

pub fn append_response_from_pb(r: pb::AppendEntriesResponse) -> Result<AppendEntriesResponse<NodeId>> {
    use pb::append_entries_response::Result as R;
    Ok(match r.result.ok_or(ConvertError::Missing("result"))? {
        R::Success(_) => AppendEntriesResponse::Success,
        R::PartialSuccess(p) => AppendEntriesResponse::PartialSuccess(opt_log_id_from_pb(&p.matching)),
        R::Conflict(_) => AppendEntriesResponse::Conflict,
        R::HigherVote(v) => AppendEntriesResponse::HigherVote(vote_from_pb(Some(&v))?),
    })
}

pub fn vote_request_to_pb(r: &VoteRequest<NodeId>) -> pb::VoteRequest {
    pb::VoteRequest {
        vote: Some(vote_to_pb(&r.vote)),
        last_log_id: opt_log_id_to_pb(&r.last_log_id),
    }
}

pub fn vote_request_from_pb(r: pb::VoteRequest) -> Result<VoteRequest<NodeId>> {
    Ok(VoteRequest {
        vote: vote_from_pb(r.vote.as_ref())?,
        last_log_id: opt_log_id_from_pb(&r.last_log_id),
    })
}

pub fn vote_response_to_pb(r: &VoteResponse<NodeId>) -> pb::VoteResponse {
    pb::VoteResponse {
        vote: Some(vote_to_pb(&r.vote)),
        vote_granted: r.vote_granted,
        last_log_id: opt_log_id_to_pb(&r.last_log_id),
        not_member: false,
    }
}

pub fn vote_response_from_pb(r: pb::VoteResponse) -> Result<VoteResponse<NodeId>> {
    Ok(VoteResponse {
        vote: vote_from_pb(r.vote.as_ref())?,
        vote_granted: r.vote_granted,
        last_log_id: opt_log_id_from_pb(&r.last_log_id),
    })
}

fn snapshot_meta_to_pb(m: &SnapshotMeta) -> std::result::Result<pb::SnapshotMeta, CodecError> {
    Ok(pb::SnapshotMeta {
        last_log_id: opt_log_id_to_pb(&m.last_log_id),
        last_membership: codec::encode(&m.last_membership)?,
        snapshot_id: m.snapshot_id.clone(),
    })
}

fn snapshot_meta_from_pb(m: pb::SnapshotMeta) -> Result<SnapshotMeta> {
    Ok(SnapshotMeta {
        last_log_id: opt_log_id_from_pb(&m.last_log_id),
        last_membership: codec::decode(&m.last_membership).map_err(|source| ConvertError::Payload {
            field: "snapshot membership",
            source,
        })?,
        snapshot_id: m.snapshot_id,
    })
}

pub fn install_request_to_pb(
    r: &InstallSnapshotRequest<TypeConfig>,
) -> std::result::Result<pb::InstallSnapshotRequest, CodecError> {
    Ok(pb::InstallSnapshotRequest {
        vote: Some(vote_to_pb(&r.vote)),
        meta: Some(snapshot_meta_to_pb(&r.meta)?),
        offset: r.offset,
        data: r.data.clone(),
        done: r.done,
    })
}

pub fn install_request_from_pb(r: pb::InstallSnapshotRequest) -> Result<InstallSnapshotRequest<TypeConfig>> {
    Ok(InstallSnapshotRequest {
        vote: vote_from_pb(r.vote.as_ref())?,
        meta: snapshot_meta_from_pb(r.meta.ok_or(ConvertError::Missing("meta"))?)?,
        offset: r.offset,
        data: r.data,
        done: r.done,
    })
}

pub fn install_response_to_pb(r: &InstallSnapshotResponse<NodeId>) -> pb::InstallSnapshotResponse {
    pb::InstallSnapshotResponse {
        result: Some(pb::install_snapshot_response::Result::Vote(vote_to_pb(&r.vote))),
    }
}

pub fn segment_to_pb(s: &SnapshotSegmentId) -> pb::SnapshotSegment {
    pb::SnapshotSegment {
        snapshot_id: s.id.clone(),
        offset: s.offset,
    }
}

pub fn segment_from_pb(s: Option<pb::SnapshotSegment>) -> Result<SnapshotSegmentId> {
    let s = s.ok_or(ConvertError::Missing("segment"))?;
    Ok(SnapshotSegmentId {
        id: s.snapshot_id,
        offset: s.offset,
    })
}

#[cfg(test)]
mod tests {
    use openraft::EntryPayload;

    use super::*;
    use crate::command::Batch;
    use crate::command::Command;
    use crate::command::CreateTenant;
    use crate::command::Proposal;
    use crate::model::Tenant;

    #[test]
    fn append_request_round_trips() {
        let proposal = Proposal {
            at_ms: 5,
            command: Command::CreateTenant(CreateTenant {
                tenant: Tenant::new("a", "b"),
            }),
        };
        let req = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 1),
            prev_log_id: Some(LogId::new(CommittedLeaderId::new(2, 1), 7)),
            entries: vec![
                Entry {
                    log_id: LogId::new(CommittedLeaderId::new(3, 1), 8),
                    payload: EntryPayload::Normal(Batch::from(vec![proposal])),
                },
                Entry {
                    log_id: LogId::new(CommittedLeaderId::new(3, 1), 9),
                    payload: EntryPayload::Blank,
                },
            ],
            leader_commit: None,
        };
        let back = append_request_from_pb(append_request_to_pb(&req).unwrap()).unwrap();
        assert_eq!(format!("{back:?}"), format!("{req:?}"));
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        assert!(matches!(
            vote_request_from_pb(pb::VoteRequest::default()),
            Err(ConvertError::Missing("vote"))
        ));
        let bad = pb::AppendEntriesRequest {
            vote: Some(pb::Vote::default()),
            entries: vec![pb::Entry {
                log_id: Some(pb::LogId::default()),
                payload: vec![1, 0xc1],
            }],
            ..Default::default()
        };
        assert!(matches!(append_request_from_pb(bad), Err(ConvertError::Payload { .. })));
        assert!(append_response_from_pb(pb::AppendEntriesResponse::default()).is_err());
    }
}
