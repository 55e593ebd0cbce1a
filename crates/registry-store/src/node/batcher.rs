//! Group commit of writes: concurrent proposals on the leader share one Raft log entry.
//!
//! openraft appends, flushes and replicates one client write at a time, so proposing each
//! command as its own entry costs one fsync on every node per command. The batcher keeps at
//! most [`IN_FLIGHT`] entries in flight; proposals that arrive meanwhile wait in a queue and go
//! into the next entry together (up to [`MAX_COMMANDS`] commands or [`MAX_BYTES`] of encoded
//! commands). Under light load an entry carries one command and waits for nothing; under heavy
//! load each fsync carries many, and an entry lingers up to [`LINGER`] for as many commands as
//! the previous one carried. Every command keeps its own outcome, in order.

// openraft's own error type is what callers match on; boxing it would only add conversions.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use openraft::error::ClientWriteError;
use openraft::error::Fatal;
use openraft::error::RaftError;
use openraft::BasicNode;
use tokio::sync::mpsc;
use tokio::sync::oneshot;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::Written;
use crate::command::Batch;
use crate::command::Proposal;
use crate::raft::types::NodeId;
use crate::raft::types::Raft;

/// Entries proposed and not yet applied at once. One: every write that arrives while an entry
/// is appended, replicated and applied goes into the next (27 writes per flush in the register
/// storm against 15 with two in flight, at the same throughput).
const IN_FLIGHT: usize = 1;
/// Most commands in one entry.
const MAX_COMMANDS: usize = 1_024;
/// Most encoded command bytes in one entry (one large command still goes alone).
const MAX_BYTES: usize = 1024 * 1024;
/// Under load (the previous entry carried at least [`LINGER_FROM`] commands), an entry waits up
/// to [`LINGER`] for as many commands as the previous one: the writers answered by that entry
/// are about to send their next writes. Light load never waits.
const LINGER_FROM: usize = 16;
const LINGER: Duration = Duration::from_millis(2);
/// Proposals waiting for an entry; callers wait for room beyond this.
const QUEUE: usize = 8_192;

/// Why a proposal was not applied: openraft's own answer, shared by the whole entry.
pub type ProposeError = RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>;

/// One proposal waiting for its entry.
struct Pending {
    proposal: Proposal,
    encoded_len: usize,
    reply: oneshot::Sender<Result<Written, ProposeError>>,
}

/// The handle writers use; the packing loop runs as a task until every handle is gone.
#[derive(Clone)]
pub(super) struct Batcher {
    queue: mpsc::Sender<Pending>,
    /// Room for entries in flight: the packing loop takes a permit per entry.
    in_flight: Arc<Semaphore>,
}

/// While held, no entry is in flight and none is proposed; proposals wait in the queue.
pub(super) struct Paused(#[allow(dead_code)] OwnedSemaphorePermit);

impl Batcher {
    /// Starts the packing loop for `raft`.
    pub(super) fn start(raft: Raft) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
        tokio::spawn(pack_and_propose(raft, rx, in_flight.clone()));
        Self { queue, in_flight }
    }

    /// Waits until the entries in flight are applied, then holds further ones until the
    /// returned guard is dropped (a leadership hand-over: nothing may renew the followers'
    /// leader lease meanwhile).
    pub(super) async fn pause(&self) -> Option<Paused> {
        let all = u32::try_from(IN_FLIGHT).ok()?;
        self.in_flight.clone().acquire_many_owned(all).await.ok().map(Paused)
    }

    /// Proposes `proposal` (`encoded_len` is its encoded size) and waits until it is applied on
    /// this node, the leader; a follower gets `ForwardToLeader` like from openraft itself.
    pub(super) async fn propose(&self, proposal: Proposal, encoded_len: usize) -> Result<Written, ProposeError> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            proposal,
            encoded_len,
            reply,
        };
        if self.queue.send(pending).await.is_err() {
            return Err(stopped());
        }
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> ProposeError {
    RaftError::Fatal(Fatal::Stopped)
}

async fn pack_and_propose(raft: Raft, mut rx: mpsc::Receiver<Pending>, in_flight: Arc<Semaphore>) {
    let mut carried: Option<Pending> = None;
    let mut previous_len = 0;
    loop {
        let first = match carried.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        // Wait for room before packing: whatever arrives meanwhile joins this entry.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut bytes = first.encoded_len;
        let mut batch = vec![first];
        // How many commands are worth waiting for (none under light load).
        let wanted = if previous_len >= LINGER_FROM { previous_len } else { 0 };
        let linger_until = Instant::now() + LINGER;
        while batch.len() < MAX_COMMANDS {
            let next = match rx.try_recv() {
                Ok(next) => next,
                Err(_) if batch.len() < wanted => match tokio::time::timeout_at(linger_until, rx.recv()).await {
                    Ok(Some(next)) => next,
                    Ok(None) | Err(_) => break,
                },
                Err(_) => break,
            };
            if bytes + next.encoded_len > MAX_BYTES {
                carried = Some(next);
                break;
            }
            bytes += next.encoded_len;
            batch.push(next);
        }
        previous_len = batch.len();
        let raft = raft.clone();
        tokio::spawn(async move {
            let (proposals, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|p| (p.proposal, p.reply)).unzip();
            let result = raft.client_write(Batch::from(proposals)).await;
            drop(permit);
            match result {
                Ok(resp) => {
                    let revision = resp.log_id.index;
                    for (reply, outcome) in replies.into_iter().zip(resp.data) {
                        let _ = reply.send(Ok(Written { outcome, revision }));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        });
    }
}
