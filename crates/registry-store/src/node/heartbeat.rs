//! Lease renewals: applied to the leader's in-memory table, never to the log (D3). Followers
//! queue renewals and send whatever has accumulated as one batch while the previous one is in
//! flight, so batches grow with load; batches go on one stream per leader
//! ([`super::renew_stream`]). A small batch lingers a moment for more before it is sent, so a
//! steady trickle of renewals costs the leader one batch per dozen or so, not one each: a unary
//! call cost the leader some 80 µs, a renewal in it under 2 µs (profiled at 16 renewals a call,
//! `benches/quick --only scale`). A client renews every 30 s: a couple of
//! milliseconds more on its answer is nothing. Lingering longer while renewals keep coming
//! (up to 10 ms, until a 2 ms gap) was tried: the scale stage's batches stayed at 16 (its
//! renewal load has 16 connections), and a closed loop of 64 at a follower went from 13,436
//! to 11,522 renewals a second, as every batch then waited for its last arrival.

use std::sync::Weak;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::oneshot;
use tokio::sync::watch;

use super::renew_stream::RenewLink;
use super::upgrade;
use super::Inner;
use super::NodeError;
use super::RegistryNode;
use crate::model::InstanceKey;
use crate::model::Tenant;
use crate::raft::types::NodeId;
use crate::transport::pb;

/// Most renewals sent to the leader in one call.
const MAX_BATCH: usize = 10_000;
/// Attempts at reaching a leader for one batch.
const ATTEMPTS: usize = 20;
/// How long a batch smaller than [`FULL_ENOUGH`] waits for more renewals after its first.
const LINGER: Duration = Duration::from_millis(2);
/// A batch this large is sent without lingering.
const FULL_ENOUGH: usize = 256;
/// Longest pause between attempts; a new leader ends it at once.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

pub(super) struct Batch {
    keys: Vec<InstanceKey>,
    reply: oneshot::Sender<Result<Vec<bool>, NodeError>>,
}

impl RegistryNode {
    /// Renews the leases of `keys`. Per key: `true` if registered, `false` if the client must
    /// register again.
    pub async fn renew(&self, keys: Vec<InstanceKey>) -> Result<Vec<bool>, NodeError> {
        if let Some(found) = self.renew_as_leader(&keys).await {
            return Ok(found);
        }
        let (reply, answer) = oneshot::channel();
        self.inner
            .heartbeats
            .send(Batch { keys, reply })
            .await
            .map_err(|_| NodeError::Stopped("heartbeat forwarder stopped".into()))?;
        answer
            .await
            .map_err(|_| NodeError::Stopped("heartbeat forwarder stopped".into()))?
    }

    /// Renews here if this node leads and a quorum still follows it; `None` otherwise.
    ///
    /// A leader cut off from the others keeps its role until it hears of a newer term, while
    /// they may already have elected a successor, whose lease table never sees what the old one
    /// renews: the renewal would be acknowledged, then the instance evicted anyway (the chaos
    /// suite caught exactly this). Followers refuse to vote for anyone for the longest election
    /// timeout after a heartbeat of the leader reached them (openraft's leader lease), so a
    /// quorum acknowledgement younger than the shortest election timeout proves there is no
    /// successor yet; an older one is refreshed by one round of heartbeats first.
    pub(super) async fn renew_as_leader(&self, keys: &[InstanceKey]) -> Option<Vec<bool>> {
        if !self.inner.leases.is_leading() {
            return None;
        }
        if !self.quorum_acknowledged_recently() {
            let (_, longest) = self.inner.config.election_timeout;
            let confirmed = tokio::time::timeout(longest, self.inner.raft.ensure_linearizable()).await;
            if !matches!(confirmed, Ok(Ok(_))) {
                return None;
            }
        }
        self.inner.leases.renew(keys)
    }

    /// Dated when the metrics arrived (see `quorum_ack`): a core wedged on its disk publishes
    /// nothing, and its last `millis_since_quorum_ack` would stay fresh for as long as it is.
    fn quorum_acknowledged_recently(&self) -> bool {
        let limit = self.inner.config.election_timeout.0;
        self.inner.quorum_ack.within(std::time::Instant::now(), limit)
    }

    /// Renews on the leader, wherever it is, retrying while leadership moves; forwarded
    /// through `link`.
    async fn renew_at_leader(&self, keys: &[InstanceKey], link: &mut RenewLink) -> Result<Vec<bool>, NodeError> {
        let mut last = NodeError::NoLeader;
        for _ in 0..ATTEMPTS {
            if let Some(found) = self.renew_as_leader(keys).await {
                return Ok(found);
            }
            let tried = self.leader();
            match self.forward_heartbeats(keys, link).await {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => last = NodeError::NoLeader,
                Err(e) => last = e,
            }
            self.await_renewal_chance(tried, RETRY_PAUSE).await;
        }
        Err(last)
    }

    /// Waits up to `max` for a reason to try again sooner: a leader other than `tried` becomes
    /// known, or this node starts leading (a new leader answers renewals once it applied its
    /// first entry). No fixed pause, so renewals resume as soon as a failover ends.
    async fn await_renewal_chance(&self, tried: Option<NodeId>, max: Duration) {
        let mut leading = self.inner.leading.subscribe();
        if leading.borrow_and_update().is_some() {
            self.await_leader_change(tried, max).await;
            return;
        }
        tokio::select! {
            _ = self.await_leader_change(tried, max) => {}
            _ = tokio::time::timeout(max, leading.wait_for(|l| l.is_some())) => {}
        }
    }

    /// `Ok(None)`: the node asked does not lead (any more).
    async fn forward_heartbeats(
        &self,
        keys: &[InstanceKey],
        link: &mut RenewLink,
    ) -> Result<Option<Vec<bool>>, NodeError> {
        let (leader, mut client) = self.leader_client()?;
        if leader == self.node_id() {
            return Ok(None);
        }
        let instances = keys.iter().map(key_to_pb).collect();
        let resp = link
            .send(leader, &mut client, pb::ForwardHeartbeatsRequest { instances })
            .await?;
        if resp.not_leader.is_some() || resp.found.len() != keys.len() {
            return Ok(None);
        }
        Ok(Some(resp.found))
    }
}

pub(super) fn key_to_pb(k: &InstanceKey) -> pb::InstanceKey {
    pb::InstanceKey {
        domain: k.tenant.domain.to_string(),
        project: k.tenant.project.to_string(),
        service_id: k.service_id.to_string(),
        instance_id: k.id.to_string(),
    }
}

pub(super) fn key_from_pb(k: pb::InstanceKey) -> InstanceKey {
    InstanceKey {
        tenant: Tenant::new(k.domain, k.project),
        service_id: k.service_id.into(),
        id: k.instance_id.into(),
    }
}

/// Sends queued renewals to the leader, one batch at a time, batching what queued meanwhile.
pub(super) async fn forward_loop(weak: Weak<Inner>, mut rx: mpsc::Receiver<Batch>, mut stop: watch::Receiver<bool>) {
    let mut link = RenewLink::default();
    loop {
        let first = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            b = rx.recv() => match b { Some(b) => b, None => return },
        };
        let batches = gather(&mut rx, first, |b| b.keys.len()).await;
        let Some(node) = upgrade(&weak) else { return };
        let keys: Vec<InstanceKey> = batches.iter().flat_map(|b| b.keys.iter().cloned()).collect();
        match node.renew_at_leader(&keys, &mut link).await {
            Ok(found) => {
                let mut found = found.into_iter();
                for b in batches {
                    let part: Vec<bool> = found.by_ref().take(b.keys.len()).collect();
                    let _ = b.reply.send(Ok(part));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for b in batches {
                    let err = if e.is_retryable() {
                        NodeError::Unavailable(message.clone())
                    } else {
                        NodeError::Stopped(message.clone())
                    };
                    let _ = b.reply.send(Err(err));
                }
            }
        }
    }
}

/// One call's worth of queued items behind `first` (each `len` renewals): what has queued
/// already, then more for up to [`LINGER`] after the first until [`FULL_ENOUGH`] renewals; at
/// most [`MAX_BATCH`].
async fn gather<T>(rx: &mut mpsc::Receiver<T>, first: T, len: impl Fn(&T) -> usize) -> Vec<T> {
    let lingering_until = tokio::time::Instant::now() + LINGER;
    let mut total = len(&first);
    let mut gathered = vec![first];
    while total < MAX_BATCH {
        let next = match rx.try_recv() {
            Ok(item) => Some(item),
            Err(mpsc::error::TryRecvError::Empty) if total < FULL_ENOUGH => {
                tokio::time::timeout_at(lingering_until, rx.recv()).await.ok().flatten()
            }
            Err(_) => None,
        };
        let Some(item) = next else { break };
        total += len(&item);
        gathered.push(item);
    }
    gathered
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;

    /// A queue of renewal counts, and its sender.
    fn queue() -> (mpsc::Sender<usize>, mpsc::Receiver<usize>) {
        mpsc::channel(100_000)
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_stream_is_gathered_for_the_whole_linger() {
        let (tx, mut rx) = queue();
        // Five renewals every millisecond (tokio's timer tick), for longer than the linger.
        tokio::spawn(async move {
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(1)).await;
                for _ in 0..5 {
                    if tx.send(1).await.is_err() {
                        return;
                    }
                }
            }
        });
        let first = rx.recv().await.unwrap();
        let began = Instant::now();
        let gathered = gather(&mut rx, first, |n| *n).await;
        assert_eq!(began.elapsed(), LINGER);
        assert!((9..=11).contains(&gathered.len()), "{} gathered", gathered.len());
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_waits_the_linger_for_more() {
        let (tx, mut rx) = queue();
        for _ in 0..5 {
            tx.send(1).await.unwrap();
        }
        let first = rx.recv().await.unwrap();
        let began = Instant::now();
        let gathered = gather(&mut rx, first, |n| *n).await;
        assert_eq!(gathered.len(), 5);
        assert_eq!(began.elapsed(), LINGER);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_goes_at_once_and_a_queue_past_the_most_is_split() {
        let (tx, mut rx) = queue();
        tx.send(FULL_ENOUGH).await.unwrap();
        let first = rx.recv().await.unwrap();
        let began = Instant::now();
        assert_eq!(gather(&mut rx, first, |n| *n).await, vec![FULL_ENOUGH]);
        assert_eq!(began.elapsed(), Duration::ZERO);

        for _ in 0..3 {
            tx.send(MAX_BATCH / 2).await.unwrap();
        }
        let first = rx.recv().await.unwrap();
        assert_eq!(gather(&mut rx, first, |n| *n).await, vec![MAX_BATCH / 2; 2]);
        assert_eq!(rx.try_recv(), Ok(MAX_BATCH / 2), "the rest waits for the next call");
    }
}
