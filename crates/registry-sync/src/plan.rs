//! One import round for one peer, as pure bookkeeping: from what the peer listed and what was
//! mirrored from it before, the `MirrorBatch` to propose, under the rules that keep a bad peer
//! from emptying the registry (D6):
//!
//! - deletions come only from a complete listing (or explicit deletions a delta reported), so
//!   nothing is reaped before the first complete listing;
//! - a round that would delete more than `max_delete_share` of the peer's instances is held
//!   until a second complete listing confirms the same deletions;
//! - a peer silent for longer than its grace period loses its instances, all at once and
//!   reported, never silently;
//! - unchanged records are not sent again (equal but for bookkeeping).

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::Arc;

use registry_store::command::MirrorBatch;
use registry_store::model::Instance;
use registry_store::model::InstanceKey;
use registry_store::model::Millis;
use registry_store::model::Service;
use registry_store::state::RegistryState;
use smol_str::SmolStr;

/// What the peer said this round. Every record carries `Origin::Mirrored` from this peer.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub services: Vec<Service>,
    pub instances: Vec<Instance>,
    /// The peer's complete set (a full listing): anything mirrored but not listed is gone.
    pub complete: bool,
    /// Deletions the peer reported explicitly (a delta's DELETED records), as the remote ids
    /// mirrored records carry in their origin.
    pub removed: Vec<String>,
    /// Where the next round resumes (a revision, a delta version...).
    pub checkpoint: String,
}

/// What a planner remembers between rounds for one peer.
#[derive(Debug, Clone, Default)]
pub struct PlannerState {
    /// Mass deletions waiting for a second complete listing.
    held: Option<BTreeSet<InstanceKey>>,
}

/// The outcome of planning one round.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// `None` when there is nothing to propose.
    pub batch: Option<MirrorBatch>,
    pub upserts: usize,
    pub deletes: usize,
    /// Deletions held back by the mass-deletion guard this round.
    pub held: usize,
}

/// Plans one round for `source`: `mirrored` is what the store holds from it now, with the
/// services it belongs to; `last_checkpoint` what the store last recorded.
pub fn plan_round(
    source: &str,
    mirrored: &[Arc<Instance>],
    mirrored_services: &[Arc<Service>],
    listing: Listing,
    last_checkpoint: Option<&str>,
    max_delete_share: f64,
    state: &mut PlannerState,
) -> Plan {
    let current: BTreeMap<InstanceKey, &Arc<Instance>> = mirrored.iter().map(|i| (i.key(), i)).collect();
    let upserts: Vec<Instance> = listing
        .instances
        .iter()
        .filter(|i| current.get(&i.key()).is_none_or(|c| !c.same_content(i)))
        .cloned()
        .collect();
    let needed: BTreeSet<(String, SmolStr)> = upserts
        .iter()
        .map(|i| (i.tenant.to_string(), i.service_id.clone()))
        .collect();
    let services: Vec<Service> = listing
        .services
        .iter()
        .filter(|s| needed.contains(&(s.tenant.to_string(), s.id.clone())))
        .filter(|s| {
            mirrored_services
                .iter()
                .find(|m| m.service_ref() == s.service_ref())
                .is_none_or(|m| !m.same_content(s))
        })
        .cloned()
        .collect();

    let reported: BTreeSet<&str> = listing.removed.iter().map(String::as_str).collect();
    let mut deletes: BTreeSet<InstanceKey> = mirrored
        .iter()
        .filter(|i| i.origin.remote_id().is_some_and(|r| reported.contains(r)))
        .map(|i| i.key())
        .collect();
    let mut held = 0;
    if listing.complete {
        let listed: BTreeSet<InstanceKey> = listing.instances.iter().map(Instance::key).collect();
        let gone: BTreeSet<InstanceKey> = current.keys().filter(|k| !listed.contains(*k)).cloned().collect();
        let too_many = current.len() >= 2 && gone.len() as f64 > max_delete_share * current.len() as f64;
        match (too_many, state.held.take()) {
            (false, _) => deletes.extend(gone),
            // Confirmed by a second complete listing: what is still gone now goes.
            (true, Some(before)) => deletes.extend(gone.intersection(&before).cloned()),
            (true, None) => {
                held = gone.len();
                state.held = Some(gone);
            }
        }
    }
    let checkpoint_moved = last_checkpoint != Some(listing.checkpoint.as_str());
    let (upserted, deleted) = (upserts.len(), deletes.len());
    let batch = (upserted > 0 || deleted > 0 || checkpoint_moved).then(|| MirrorBatch {
        source: source.to_string(),
        services,
        upserts,
        deletes: deletes.into_iter().collect(),
        checkpoint: listing.checkpoint,
    });
    Plan {
        batch,
        upserts: upserted,
        deletes: deleted,
        held,
    }
}

/// Plans one round for `source` against the store's `state`: what it holds from `source` now,
/// and what other origins hold at the keys the listing names.
pub fn plan_against(
    state: &RegistryState,
    source: &str,
    listing: Listing,
    last_checkpoint: Option<&str>,
    max_delete_share: f64,
    planner: &mut PlannerState,
) -> Plan {
    let mirrored: Vec<Arc<Instance>> = state
        .instances()
        .filter(|i| i.origin.source() == Some(source))
        .cloned()
        .collect();
    let services: Vec<Arc<Service>> = state
        .services()
        .filter(|s| s.origin.source() == Some(source))
        .cloned()
        .collect();
    plan_round(
        source,
        &mirrored,
        &services,
        listing,
        last_checkpoint,
        max_delete_share,
        planner,
    )
}

/// Whether a peer last heard from at `last_success_ms` is past its grace period at `now_ms`.
pub fn past_grace(last_success_ms: Millis, now_ms: Millis, grace_ms: Millis) -> bool {
    now_ms.saturating_sub(last_success_ms) > grace_ms
}

/// The batch that removes everything mirrored from a peer that stayed silent past its grace
/// period, recording `checkpoint` (empty, so a returning peer starts with a complete listing).
pub fn expire_peer(source: &str, mirrored: &[Arc<Instance>], checkpoint: &str) -> Option<MirrorBatch> {
    (!mirrored.is_empty()).then(|| MirrorBatch {
        source: source.to_string(),
        services: Vec::new(),
        upserts: Vec::new(),
        deletes: mirrored.iter().map(|i| i.key()).collect(),
        checkpoint: checkpoint.to_string(),
    })
}

/// Most records (instance upserts and deletions) in one proposed `MirrorBatch`. A batch is one
/// log entry, and an entry must reach a follower within one AppendEntries deadline (the
/// heartbeat interval, 50 ms): a large peer's complete listing in one entry (50,000 instances,
/// about 15 MB) might never replicate, and the cluster would stop committing.
pub const MAX_RECORDS_PER_BATCH: usize = 1_000;

/// Splits `batch` into batches of at most [`MAX_RECORDS_PER_BATCH`] records, proposed in order:
/// the services go with the first, the new checkpoint with the last; the others record
/// `previous_checkpoint` again, so a round cut short part way is repeated by the next, not
/// skipped.
pub fn into_chunks(batch: MirrorBatch, previous_checkpoint: &str) -> Vec<MirrorBatch> {
    let MirrorBatch {
        source,
        mut services,
        upserts,
        deletes,
        checkpoint,
    } = batch;
    let mut chunks = Vec::new();
    let mut upserts = upserts.into_iter().peekable();
    let mut deletes = deletes.into_iter().peekable();
    loop {
        let chunk_upserts: Vec<Instance> = upserts.by_ref().take(MAX_RECORDS_PER_BATCH).collect();
        let room = MAX_RECORDS_PER_BATCH - chunk_upserts.len();
        let chunk_deletes: Vec<InstanceKey> = deletes.by_ref().take(room).collect();
        let last = upserts.peek().is_none() && deletes.peek().is_none();
        chunks.push(MirrorBatch {
            source: source.clone(),
            services: std::mem::take(&mut services),
            upserts: chunk_upserts,
            deletes: chunk_deletes,
            checkpoint: if last {
                checkpoint.clone()
            } else {
                previous_checkpoint.to_string()
            },
        });
        if last {
            return chunks;
        }
    }
}

#[cfg(test)]
mod tests {
    use registry_store::model::MirroredFrom;
    use registry_store::model::Origin;
    use registry_store::model::Tenant;

    use super::*;

    fn mirrored(id: &str, host: &str, observed: Millis) -> Instance {
        let mut i = Instance::new(Tenant::default(), "svc", id, host);
        i.origin = Origin::Mirrored(Box::new(MirroredFrom {
            source: "dc2".into(),
            remote_id: id.into(),
            remote_revision: None,
            observed_at_ms: observed,
        }));
        i
    }

    fn stored(ids: &[&str]) -> Vec<Arc<Instance>> {
        ids.iter().map(|id| Arc::new(mirrored(id, "h", 1))).collect()
    }

    fn listing(ids: &[&str], complete: bool) -> Listing {
        Listing {
            instances: ids.iter().map(|id| mirrored(id, "h", 99)).collect(),
            complete,
            checkpoint: "cp".into(),
            ..Listing::default()
        }
    }

    fn ids(keys: &[InstanceKey]) -> Vec<&str> {
        keys.iter().map(|k| k.id.as_str()).collect()
    }

    #[test]
    fn only_new_or_changed_records_are_sent() {
        let mut state = PlannerState::default();
        let mut l = listing(&["a", "b"], true);
        l.instances.push(mirrored("c", "h", 99));
        l.instances[1].host_name = "moved".into();
        let plan = plan_round("dc2", &stored(&["a", "b"]), &[], l, Some("cp"), 0.5, &mut state);
        let batch = plan.batch.unwrap();
        assert_eq!(
            batch.upserts.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            vec!["b", "c"]
        );
        assert!(batch.deletes.is_empty());
        // Nothing new at all, same checkpoint: nothing to propose.
        let quiet = plan_round(
            "dc2",
            &stored(&["a"]),
            &[],
            listing(&["a"], true),
            Some("cp"),
            0.5,
            &mut state,
        );
        assert_eq!(quiet.batch, None);
    }

    #[test]
    fn partial_listings_delete_only_what_they_report() {
        let mut state = PlannerState::default();
        let mut delta = listing(&["a"], false);
        delta.removed = vec!["b".into(), "never-mirrored".into()];
        let plan = plan_round("dc2", &stored(&["a", "b", "c"]), &[], delta, None, 0.5, &mut state);
        assert_eq!(ids(&plan.batch.unwrap().deletes), vec!["b"]);
    }

    #[test]
    fn a_complete_listing_deletes_what_is_gone() {
        let mut state = PlannerState::default();
        let plan = plan_round(
            "dc2",
            &stored(&["a", "b", "c", "d"]),
            &[],
            listing(&["a", "b", "c"], true),
            None,
            0.5,
            &mut state,
        );
        assert_eq!(ids(&plan.batch.unwrap().deletes), vec!["d"]);
    }

    #[test]
    fn mass_deletions_wait_for_a_second_complete_listing() {
        let mut state = PlannerState::default();
        let before = stored(&["a", "b", "c", "d"]);
        let first = plan_round("dc2", &before, &[], listing(&["a"], true), Some("cp"), 0.5, &mut state);
        assert_eq!((first.deletes, first.held), (0, 3));
        assert_eq!(first.batch, None);
        // The second listing confirms b and c are gone; d came back.
        let second = plan_round(
            "dc2",
            &before,
            &[],
            listing(&["a", "d"], true),
            Some("cp"),
            0.5,
            &mut state,
        );
        assert_eq!(ids(&second.batch.unwrap().deletes), vec!["b", "c"]);
        // A glitch that lists nothing once, then everything again, deletes nothing.
        let mut state = PlannerState::default();
        let empty = plan_round("dc2", &before, &[], listing(&[], true), Some("cp"), 0.5, &mut state);
        assert_eq!(empty.held, 4);
        let back = plan_round(
            "dc2",
            &before,
            &[],
            listing(&["a", "b", "c", "d"], true),
            Some("cp"),
            0.5,
            &mut state,
        );
        assert_eq!(back.batch, None);
    }

    #[test]
    fn a_silent_peer_loses_its_instances_after_the_grace_period() {
        assert!(!past_grace(1_000, 300_999, 300_000));
        assert!(past_grace(1_000, 301_001, 300_000));
        let batch = expire_peer("dc2", &stored(&["a", "b"]), "cp").unwrap();
        assert_eq!(ids(&batch.deletes), vec!["a", "b"]);
        assert_eq!(expire_peer("dc2", &[], "cp"), None);
    }

    #[test]
    fn a_large_batch_is_proposed_in_chunks_with_the_checkpoint_on_the_last() {
        let upserts: Vec<Instance> = (0..2_500).map(|n| mirrored(&format!("u{n}"), "h", 1)).collect();
        let deletes: Vec<InstanceKey> = (0..700).map(|n| mirrored(&format!("d{n}"), "h", 1).key()).collect();
        let batch = MirrorBatch {
            source: "dc2".into(),
            services: vec![Service::new(Tenant::default(), "svc", "app", "svc")],
            upserts: upserts.clone(),
            deletes: deletes.clone(),
            checkpoint: "cp-new".into(),
        };
        let chunks = into_chunks(batch, "cp-old");
        let sizes: Vec<(usize, usize)> = chunks.iter().map(|c| (c.upserts.len(), c.deletes.len())).collect();
        assert_eq!(sizes, [(1_000, 0), (1_000, 0), (500, 500), (0, 200)]);
        let checkpoints: Vec<&str> = chunks.iter().map(|c| c.checkpoint.as_str()).collect();
        assert_eq!(checkpoints, ["cp-old", "cp-old", "cp-old", "cp-new"]);
        assert_eq!(chunks[0].services.len(), 1, "services go with the first chunk");
        assert!(chunks[1..].iter().all(|c| c.services.is_empty()));
        let all_upserts: Vec<Instance> = chunks.iter().flat_map(|c| c.upserts.clone()).collect();
        let all_deletes: Vec<InstanceKey> = chunks.iter().flat_map(|c| c.deletes.clone()).collect();
        assert_eq!(
            (all_upserts, all_deletes),
            (upserts, deletes),
            "every record once, in order"
        );

        let small = MirrorBatch {
            source: "dc2".into(),
            services: Vec::new(),
            upserts: Vec::new(),
            deletes: Vec::new(),
            checkpoint: "cp-new".into(),
        };
        let chunks = into_chunks(small.clone(), "cp-old");
        assert_eq!(chunks, vec![small], "a batch that fits is proposed as it is");
    }
}
