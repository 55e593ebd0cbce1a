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
//! - unchanged records are not sent again (equal but for bookkeeping);
//! - a record another origin holds is not sent at all, but kept in the peer's shadow and taken
//!   over when the key is freed ([`crate::shadow`]).

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use registry_store::command::MirrorBatch;
use registry_store::model::Instance;
use registry_store::model::InstanceKey;
use registry_store::model::Millis;
use registry_store::model::Service;
use registry_store::state::RegistryState;
use smol_str::SmolStr;

use crate::shadow::Holder;
use crate::shadow::Shadow;

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
    /// What the peer lists that another origin holds (see [`crate::shadow`]).
    shadow: Shadow,
    /// How long a shadowed record's key stays free before this peer takes it over.
    takeover_after_ms: Millis,
}

impl PlannerState {
    /// A planner that takes a shadowed record over once its key has been free for `settle`.
    pub fn new(settle: Duration) -> Self {
        Self {
            takeover_after_ms: settle.as_millis() as Millis,
            ..Self::default()
        }
    }

    /// After a failed round: held deletions need two fresh listings again; the shadow stays
    /// (the source resumes, or lists completely, and keeps it current).
    pub fn after_failure(&mut self) {
        self.held = None;
    }
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
    /// Records the peer lists that another origin holds (not written; see [`crate::shadow`]).
    pub shadowed: usize,
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
        shadowed: 0,
    }
}

/// Plans one round for `source` against the store's `state` at `now_ms`: what it holds from
/// `source` now, and who holds the keys the listing names (a key another origin holds is
/// shadowed, not written; see [`crate::shadow`]).
pub fn plan_against(
    state: &RegistryState,
    source: &str,
    mut listing: Listing,
    last_checkpoint: Option<&str>,
    max_delete_share: f64,
    now_ms: Millis,
    planner: &mut PlannerState,
) -> Plan {
    let holder = |key: &InstanceKey| match state.instance(key) {
        None => Holder::Free,
        Some(i) if i.origin.source() == Some(source) => Holder::Us,
        Some(_) => Holder::Other,
    };
    let settle = planner.takeover_after_ms;
    planner.shadow.sort(
        &mut listing.instances,
        &listing.removed,
        listing.complete,
        holder,
        now_ms,
        settle,
    );
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
    let mut plan = plan_round(
        source,
        &mirrored,
        &services,
        listing,
        last_checkpoint,
        max_delete_share,
        planner,
    );
    plan.shadowed = planner.shadow.len();
    plan
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

    /// A store the tests plan rounds of several sources against, as the import does.
    mod two_sources {
        use registry_store::command::Command;
        use registry_store::command::CreateService;
        use registry_store::command::Proposal;
        use registry_store::command::RegisterInstance;
        use registry_store::state::RegistryState;

        use super::*;

        pub struct Store {
            pub state: RegistryState,
            revision: u64,
            pub planners: BTreeMap<String, PlannerState>,
            /// The clock rounds are planned at, in ms.
            pub now: Millis,
        }

        impl Store {
            pub fn new() -> Self {
                let mut s = Self {
                    state: RegistryState::new(),
                    revision: 0,
                    planners: BTreeMap::new(),
                    now: 1_000_000,
                };
                let svc = Service::new(Tenant::default(), "svc", "app", "svc");
                s.apply(Command::CreateService(CreateService::new(svc)));
                s
            }

            pub fn apply(&mut self, command: Command) {
                self.revision += 1;
                let proposal = Proposal {
                    at_ms: self.revision,
                    command,
                };
                self.state.apply(self.revision, &proposal);
            }

            pub fn register_local(&mut self, id: &str) {
                let i = Instance::new(Tenant::default(), "svc", id, "local");
                self.apply(Command::RegisterInstance(RegisterInstance::new(i, None)));
            }

            /// One round of `source` listing `ids` (with hop path `hops`): plans against the store
            /// as the import does and applies the batch; the plan.
            pub fn round(&mut self, source: &str, hops: &str, ids: &[&str], complete: bool) -> Plan {
                let listing = Listing {
                    instances: ids.iter().map(|id| from(source, id, hops)).collect(),
                    complete,
                    checkpoint: "cp".into(),
                    ..Listing::default()
                };
                let planner = self
                    .planners
                    .entry(source.to_string())
                    .or_insert_with(|| PlannerState::new(std::time::Duration::from_millis(SETTLE)));
                let plan = plan_against(&self.state, source, listing, Some("cp"), 0.5, self.now, planner);
                if let Some(batch) = plan.batch.clone() {
                    self.apply(Command::MirrorBatch(batch));
                }
                plan
            }

            pub fn holder(&self, id: &str) -> Option<String> {
                let key = Instance::new(Tenant::default(), "svc", id, "h").key();
                let i = self.state.instance(&key)?;
                Some(i.origin.source().unwrap_or("local").to_string())
            }
        }

        /// The take-over settling time the tests plan with, in ms.
        pub const SETTLE: Millis = 5_000;

        fn from(source: &str, id: &str, hops: &str) -> Instance {
            let mut i = Instance::new(Tenant::default(), "svc", id, "h");
            i.metadata.insert(crate::hops::HOPS_KEY.into(), hops.into());
            i.origin = Origin::Mirrored(Box::new(MirroredFrom {
                source: source.into(),
                remote_id: id.into(),
                remote_revision: None,
                observed_at_ms: 1,
            }));
            i
        }
    }

    #[test]
    fn a_record_listed_by_two_sources_is_written_once_not_every_round() {
        // The hub follows dc-a directly and through dc-b (which follows dc-a too).
        let mut store = two_sources::Store::new();
        let mut writes = 0;
        for round in 0..6 {
            for (source, hops) in [("dc-a", "dc-a,hub"), ("dc-b", "dc-a,dc-b,hub")] {
                let plan = store.round(source, hops, &["x", "y"], true);
                if round > 0 {
                    writes += plan.upserts + plan.deletes;
                }
            }
        }
        assert_eq!(writes, 0, "once converged, no import writes the shared records again");
        assert_eq!(store.holder("x").as_deref(), Some("dc-a"));
    }

    #[test]
    fn a_freed_record_is_taken_over_once_it_stays_free() {
        let mut store = two_sources::Store::new();
        store.round("dc-a", "dc-a,hub", &["x", "y"], true);
        let b = store.round("dc-b", "dc-a,dc-b,hub", &["x", "y"], true);
        assert_eq!((b.batch, b.shadowed), (None, 2));
        // dc-a stops listing x (the link to it lost it); dc-b still lists it.
        let a = store.round("dc-a", "dc-a,hub", &["y"], true);
        assert_eq!(a.deletes, 1);
        assert_eq!(store.holder("x"), None);
        let waiting = store.round("dc-b", "dc-a,dc-b,hub", &["x", "y"], true);
        assert_eq!(
            (waiting.upserts, waiting.shadowed),
            (0, 2),
            "the key must stay free a while"
        );
        store.now += two_sources::SETTLE;
        let taken = store.round("dc-b", "dc-a,dc-b,hub", &["x", "y"], true);
        assert_eq!((taken.upserts, taken.shadowed), (1, 1), "one write takes x over");
        assert_eq!(store.holder("x").as_deref(), Some("dc-b"));
        // Settled: neither writes again, and dc-a (listing only y) leaves x to dc-b.
        let mut writes = 0;
        for _ in 0..4 {
            store.now += 1_000;
            for (source, hops) in [("dc-a", "dc-a,hub"), ("dc-b", "dc-a,dc-b,hub")] {
                let plan = store.round(source, hops, &["x", "y"][usize::from(source == "dc-a")..], true);
                writes += plan.upserts + plan.deletes;
            }
        }
        assert_eq!(writes, 0);
        // dc-b stops listing x too: its copy goes, as any mirrored deletion.
        let gone = store.round("dc-b", "dc-a,dc-b,hub", &["y"], true);
        assert_eq!(gone.deletes, 1);
        assert_eq!(store.holder("x"), None);
    }

    #[test]
    fn a_deletion_arriving_through_both_peers_is_not_brought_back() {
        let mut store = two_sources::Store::new();
        store.round("dc-a", "dc-a,hub", &["x", "y", "z"], true);
        store.round("dc-b", "dc-a,dc-b,hub", &["x", "y", "z"], true);
        // x is deleted at its origin: dc-a reports it first, dc-b a moment later.
        assert_eq!(store.round("dc-a", "dc-a,hub", &["y", "z"], true).deletes, 1);
        store.now += 200;
        let b = store.round("dc-b", "dc-a,dc-b,hub", &["x", "y", "z"], true);
        assert_eq!(b.upserts, 0, "not taken over before it settles");
        store.now += 200;
        let b = store.round("dc-b", "dc-a,dc-b,hub", &["y", "z"], true);
        assert_eq!((b.upserts, b.deletes, b.shadowed), (0, 0, 2));
        store.now += two_sources::SETTLE * 2;
        let b = store.round("dc-b", "dc-a,dc-b,hub", &["y", "z"], true);
        assert_eq!(b.batch, None);
        assert_eq!(store.holder("x"), None, "x stays deleted");
        // A delta that reports the deletion drops it from the shadow as well.
        store.round("dc-a", "dc-a,hub", &["z"], true);
        let mut delta = Listing {
            removed: vec!["y".into()],
            checkpoint: "cp".into(),
            ..Listing::default()
        };
        delta.complete = false;
        let planner = store.planners.get_mut("dc-b").unwrap();
        let plan = plan_against(&store.state, "dc-b", delta, Some("cp"), 0.5, store.now, planner);
        assert_eq!(plan.shadowed, 1, "only z is still shadowed");
        store.now += two_sources::SETTLE * 2;
        assert_eq!(store.round("dc-b", "dc-a,dc-b,hub", &["z"], false).upserts, 0);
        assert_eq!(store.holder("y"), None);
    }

    #[test]
    fn a_native_record_is_never_replaced_by_a_mirror() {
        let mut store = two_sources::Store::new();
        store.register_local("x");
        for _ in 0..3 {
            let plan = store.round("dc-a", "dc-a,hub", &["x"], true);
            assert_eq!((plan.batch, plan.shadowed), (None, 1));
            store.now += two_sources::SETTLE;
        }
        assert_eq!(store.holder("x").as_deref(), Some("local"));
    }

    #[test]
    fn the_mass_deletion_guard_counts_only_the_sources_own_copies() {
        let mut store = two_sources::Store::new();
        let all = ["a", "b", "c", "d", "e", "f"];
        store.round("dc-a", "dc-a,hub", &all[..4], true);
        store.round("dc-b", "dc-a,dc-b,hub", &all, true);
        assert_eq!(store.holder("e").as_deref(), Some("dc-b"));
        // dc-b lists only a once: its own copies (e, f) all gone is a mass deletion, held for
        // a second listing; the shadowed b, c, d are simply forgotten.
        let b = store.round("dc-b", "dc-a,dc-b,hub", &["a"], true);
        assert_eq!((b.deletes, b.held, b.shadowed), (0, 2, 1));
        let b = store.round("dc-b", "dc-a,dc-b,hub", &all, true);
        assert_eq!((b.batch, b.deletes, b.shadowed), (None, 0, 4));
        // Confirmed by a second listing: e and f go.
        store.round("dc-b", "dc-a,dc-b,hub", &all[..4], true);
        let b = store.round("dc-b", "dc-a,dc-b,hub", &all[..4], true);
        assert_eq!(b.deletes, 2);
        assert_eq!((store.holder("e"), store.holder("a").as_deref()), (None, Some("dc-a")));
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
