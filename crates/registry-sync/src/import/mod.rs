//! The import worker of one peer: takes listings from the peer's [`Source`] (one implementation
//! per kind: [`eureka`], [`servicecenter`], [`cluster`], [`nacos`]), prepares them (app
//! filter, loop check, hop path, local service ids), plans the round and proposes one
//! `MirrorBatch`. A failed round resets the source, which then starts again from a complete
//! listing or from the checkpoint stored in the store, so nothing is lost across failures or a
//! change of leader. A peer silent past its grace period loses its instances, logged and counted.

pub mod cluster;
pub mod eureka;
pub mod nacos;
pub mod servicecenter;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use futures::future::BoxFuture;
use registry_store::command::Command;
use registry_store::command::MirrorBatch;
use registry_store::model::Instance;
use registry_store::model::Service;
use registry_store::node::wall_clock_ms;
use registry_store::node::NodeError;
use registry_store::node::Written;
use registry_store::state::RegistryState;
use smol_str::SmolStr;

use crate::config::RemoteConfig;
use crate::error::SyncError;
use crate::hops;
use crate::plan;
use crate::plan::Listing;
use crate::plan::PlannerState;
use crate::status::PeerState;
use crate::Context;

/// Checkpoint-only rounds (nothing mirrored changed) are written at most this often.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// What an import needs from a remote, whatever its kind: listings of its records (complete,
/// or changes since the last), and a way to start over. Each kind's module implements it;
/// [`crate::kinds::source`] picks one when the worker starts.
pub trait Source: Send {
    /// The next listing: after the remote's interval for polled kinds, as soon as the remote
    /// sends one for streamed ones. `checkpoint` is where the store says the last round ended
    /// (a streamed kind resumes from it after [`Source::reset`]).
    fn next<'a>(&'a mut self, checkpoint: Option<&'a str>) -> BoxFuture<'a, Result<Listing, SyncError>>;

    /// Forget what was streamed or cached: the next listing is complete or resumes from the
    /// store's checkpoint.
    fn reset(&mut self);
}

/// How long a key another origin let go stays free before this peer takes its shadowed copy
/// over: long enough for a deletion travelling through both peers to arrive here too.
fn takeover_settle(peer: &RemoteConfig) -> Duration {
    peer.interval.saturating_mul(2).max(TAKEOVER_SETTLE_MIN)
}

/// The shortest settling time before a take-over (see [`takeover_settle`]).
const TAKEOVER_SETTLE_MIN: Duration = Duration::from_secs(5);

/// Runs the import of one peer until the task is aborted (leadership lost or shutdown).
pub async fn run(ctx: Arc<Context>) {
    let name = ctx.peer.name.clone();
    let mut source = crate::kinds::source(&ctx);
    let mut planner = PlannerState::new(takeover_settle(&ctx.peer));
    // The grace period counts from when this leader took over: a new leader never reaps on
    // the strength of a silence it did not see.
    let mut last_success = wall_clock_ms();
    let mut last_checkpoint_write = Instant::now() - CHECKPOINT_EVERY;
    let mut failures: u32 = 0;
    loop {
        let checkpoint = ctx.node.read().state.checkpoint(&name).map(|c| c.value.clone());
        let round = match source.next(checkpoint.as_deref()).await {
            Ok(listing) => propose(&ctx, listing, checkpoint, &mut planner, &mut last_checkpoint_write).await,
            Err(e) => Err(e),
        };
        match round {
            Ok(()) => {
                failures = 0;
                last_success = wall_clock_ms();
                ctx.board.success(&name);
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(peer = %name, error = %e, "sync round failed");
                ctx.board.failure(&name, &e.to_string());
                source.reset();
                planner.after_failure();
                expire_if_silent(&ctx, last_success).await;
                let backoff = ctx
                    .peer
                    .interval
                    .saturating_mul(failures.min(5))
                    .min(Duration::from_secs(5));
                tokio::time::sleep(backoff.max(Duration::from_millis(100))).await;
            }
        }
    }
}

/// Plans and proposes one round.
async fn propose(
    ctx: &Context,
    mut listing: Listing,
    checkpoint: Option<String>,
    planner: &mut PlannerState,
    last_checkpoint_write: &mut Instant,
) -> Result<(), SyncError> {
    let name = &ctx.peer.name;
    let (plan, mirrored) = {
        let applied = ctx.node.read();
        let state = &applied.state;
        let loops = prepare(&ctx.peer, &ctx.cluster, state, &mut listing);
        ctx.board.update(name, |s| s.imported.loops_skipped += loops);
        let plan = plan::plan_against(
            state,
            name,
            listing,
            checkpoint.as_deref(),
            ctx.peer.max_delete_share,
            wall_clock_ms(),
            planner,
        );
        let mirrored = state.instances().filter(|i| i.origin.source() == Some(name)).count();
        (plan, mirrored)
    };
    let Some(batch) = plan.batch else {
        ctx.board.update(name, |s| {
            s.imported.rounds += 1;
            s.imported.held = plan.held as u64;
            s.imported.mirrored = mirrored as u64;
            s.imported.shadowed = plan.shadowed as u64;
        });
        return Ok(());
    };
    let only_checkpoint = plan.upserts == 0 && plan.deletes == 0;
    if only_checkpoint && last_checkpoint_write.elapsed() < CHECKPOINT_EVERY {
        // Not written yet, but reported: a mass deletion held this round shows at once.
        ctx.board.update(name, |s| {
            s.imported.rounds += 1;
            s.imported.held = plan.held as u64;
            s.imported.mirrored = mirrored as u64;
            s.imported.shadowed = plan.shadowed as u64;
        });
        return Ok(());
    }
    let new_checkpoint = batch.checkpoint.clone();
    let written = write_in_chunks(ctx, batch, checkpoint.as_deref().unwrap_or_default()).await?;
    tracing::info!(
        target: "registry::audit",
        who = "sync",
        origin = %name,
        upserts = plan.upserts,
        deletes = plan.deletes,
        revision = written.revision,
        "mirror batch"
    );
    *last_checkpoint_write = Instant::now();
    if plan.held > 0 {
        tracing::warn!(peer = %name, held = plan.held, "a listing would delete too many instances; waiting for a second listing to confirm");
    }
    if plan.deletes > 0 {
        tracing::info!(peer = %name, deleted = plan.deletes, "mirrored instances removed");
    }
    ctx.board.update(name, |s| {
        s.imported.rounds += 1;
        s.imported.upserted += plan.upserts as u64;
        s.imported.deleted += plan.deletes as u64;
        s.imported.held = plan.held as u64;
        s.imported.mirrored = (mirrored + plan.upserts).saturating_sub(plan.deletes) as u64;
        s.imported.shadowed = plan.shadowed as u64;
        s.checkpoint = Some(new_checkpoint);
    });
    Ok(())
}

/// Fits a listing to this cluster: drops what the app filter excludes and what already passed
/// through this cluster (counted), marks the rest with this cluster's hop, and points instances
/// at the local id of a service that exists here under another id. Returns how many records
/// the loop check dropped.
fn prepare(peer: &RemoteConfig, us: &str, state: &RegistryState, listing: &mut Listing) -> u64 {
    let services = std::mem::take(&mut listing.services);
    listing
        .instances
        .retain(|i| peer.wants_app(&service_name(services.iter().find(|s| s.id == i.service_id), i)));
    listing.services = services;
    listing.services.retain(|s| peer.wants_app(&s.name));
    let before = listing.instances.len();
    listing.instances.retain(|i| !hops::visited(&i.metadata, us));
    let loops = (before - listing.instances.len()) as u64;
    let mut local_ids: BTreeMap<SmolStr, SmolStr> = BTreeMap::new();
    listing.services.retain(|s| match state.service_by_key(&s.key()) {
        Some(local) if local.id != s.id => {
            local_ids.insert(s.id.clone(), local.id.clone());
            false
        }
        _ => true,
    });
    for i in &mut listing.instances {
        hops::add_hop(&mut i.metadata, us);
        if let Some(local) = local_ids.get(&i.service_id) {
            i.service_id = local.clone();
        }
    }
    loops
}

/// The name the app filter matches: the service's name, else the instance's service id.
fn service_name(service: Option<&Service>, i: &Instance) -> String {
    service.map_or_else(|| i.service_id.to_string(), |s| s.name.clone())
}

/// Proposes `batch` as one or more log entries (see [`plan::into_chunks`]), in order, stopping at
/// the first refused; the last write.
async fn write_in_chunks(ctx: &Context, batch: MirrorBatch, previous_checkpoint: &str) -> Result<Written, NodeError> {
    let mut written = None;
    for chunk in plan::into_chunks(batch, previous_checkpoint) {
        written = Some(ctx.node.write(Command::MirrorBatch(chunk)).await?);
    }
    Ok(written.expect("into_chunks yields at least one batch"))
}

/// After the grace period of silence, removes everything mirrored from the peer.
async fn expire_if_silent(ctx: &Context, last_success: u64) {
    let name = &ctx.peer.name;
    let now = wall_clock_ms();
    if !plan::past_grace(last_success, now, ctx.peer.grace_period.as_millis() as u64) {
        return;
    }
    let (batch, count) = {
        let applied = ctx.node.read();
        let mirrored: Vec<Arc<Instance>> = applied
            .state
            .instances()
            .filter(|i| i.origin.source() == Some(name))
            .cloned()
            .collect();
        // The checkpoint is cleared: a peer that comes back starts over with a complete listing.
        (plan::expire_peer(name, &mirrored, ""), mirrored.len())
    };
    let silent_secs = now.saturating_sub(last_success) / 1000;
    let reason = format!(
        "no answer for {silent_secs} s, past the grace period of {} s: its mirrored instances were removed",
        ctx.peer.grace_period.as_secs()
    );
    let Some(batch) = batch else {
        ctx.board.update(name, |s| {
            s.state = PeerState::Expired;
            s.reason = Some(reason.clone());
        });
        return;
    };
    match write_in_chunks(ctx, batch, "").await {
        Ok(written) => {
            tracing::info!(
                target: "registry::audit",
                who = "sync",
                origin = %name,
                deletes = count,
                revision = written.revision,
                "mirror expired"
            );
            tracing::warn!(peer = %name, removed = count, silent_secs, "peer silent past its grace period; removed its mirrored instances");
            ctx.board.update(name, |s| {
                s.state = PeerState::Expired;
                s.reason = Some(reason.clone());
                s.imported.expired += count as u64;
                s.imported.mirrored = 0;
            });
        }
        Err(e) => {
            tracing::warn!(peer = %name, error = %e, "could not remove the instances of a silent peer; will retry")
        }
    }
}

#[cfg(test)]
mod tests {
    use registry_store::command::CreateService;
    use registry_store::command::Proposal;
    use registry_store::model::Tenant;

    use super::*;
    use crate::config::PeerFile;

    fn peer(apps: &[&str]) -> RemoteConfig {
        let text = format!(
            "name = \"dc-a\"\nkind = \"cluster\"\nurl = \"http://h:1\"\ndirection = \"import\"\napps = {apps:?}"
        );
        toml::from_str::<PeerFile>(&text).unwrap().validate().unwrap()
    }

    fn instance(service: &str, id: &str, hops: Option<&str>) -> Instance {
        let mut i = Instance::new(Tenant::default(), service, id, "h");
        if let Some(h) = hops {
            i.metadata.insert(hops::HOPS_KEY.into(), h.into());
        }
        i
    }

    #[test]
    fn listings_are_filtered_stamped_and_pointed_at_local_services() {
        // Locally, orders 1.0 exists as "local-orders"; the peer calls it "remote-orders".
        let mut state = RegistryState::new();
        let mut local = Service::new(Tenant::default(), "local-orders", "shop", "orders");
        local.version = "1.0".into();
        let create = Proposal {
            at_ms: 1,
            command: Command::CreateService(CreateService::new(local.clone())),
        };
        state.apply(1, &create);
        let mut remote = local.clone();
        remote.id = "remote-orders".into();
        let billing = Service::new(Tenant::default(), "billing", "shop", "billing");
        let mut listing = Listing {
            services: vec![remote, billing],
            instances: vec![
                instance("remote-orders", "o1", Some("dc-a")),
                instance("remote-orders", "o2", Some("hub,dc-a")),
                instance("billing", "b1", None),
            ],
            complete: true,
            ..Listing::default()
        };
        let loops = prepare(&peer(&["orders"]), "hub", &state, &mut listing);
        assert_eq!(loops, 1, "o2 passed through this cluster already");
        assert_eq!(listing.instances.len(), 1, "billing is not in the app filter");
        let o1 = &listing.instances[0];
        assert_eq!((o1.id.as_str(), o1.service_id.as_str()), ("o1", "local-orders"));
        assert_eq!(o1.metadata.get(hops::HOPS_KEY).unwrap(), "dc-a,hub");
        assert_eq!(o1.metadata.get(hops::ORIGIN_KEY).unwrap(), "dc-a");
        assert!(
            listing.services.is_empty(),
            "the local service is used, billing filtered out"
        );
    }
}
