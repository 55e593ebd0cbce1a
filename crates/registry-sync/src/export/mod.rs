//! The export worker of one peer: keeps the peer's copies of our instances equal to the store,
//! through the peer's [`Sink`] (one implementation per kind: [`eureka`], [`servicecenter`],
//! [`nacos`]).
//! Each round it registers what is new or changed, removes what is gone and renews each copy
//! at the instance's own renewal interval (a copy the peer lost is registered again). Never
//! exported: records mirrored from this very peer. Every copy carries this cluster as last hop,
//! so a new leader first adopts the copies already at the peer and removes those no longer
//! wanted, and an import from the same peer recognises them and skips them.

pub mod eureka;
pub mod nacos;
pub mod servicecenter;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::stream;
use futures::StreamExt;
use registry_store::model::Instance;
use registry_store::model::Revision;
use registry_store::model::Service;

use crate::error::SyncError;
use crate::hops;
use crate::Context;

/// Requests in flight to one peer at a time.
const CONCURRENCY: usize = 16;

/// A copy at the peer: how to address it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// Eureka: the app name; ServiceCenter: the service id at the peer.
    pub parent: String,
    pub id: String,
}

/// What this worker keeps at the peer, by the sink's key.
#[derive(Debug, Clone)]
struct Exported {
    remote: RemoteRef,
    /// The instance's `mod_revision` when sent (0: adopted, to be sent again).
    mod_revision: Revision,
    last_beat: Instant,
    beat_every: Duration,
}

/// A local instance the peer should have, with its service.
#[derive(Clone)]
pub struct Wanted {
    pub service: Arc<Service>,
    pub instance: Instance,
}

/// What an export needs from a remote, whatever its kind: find the copies this cluster made
/// there, and register, renew and remove copies. Each kind's module implements it;
/// [`crate::kinds::sink`] picks one when the worker starts.
pub trait Sink: Send + Sync {
    /// The key a copy of `w` has at the remote (the same for the copy [`Sink::adopt`] finds).
    fn key(&self, w: &Wanted) -> String;

    /// Whether the remote should have `w` at all (beyond the tenant and app filters every kind
    /// has): a kind with filters of its own says no here.
    fn wants(&self, _w: &Wanted) -> bool {
        true
    }

    /// How often a copy of `w` is renewed: by default the instance's own renewal interval.
    fn beat_every(&self, w: &Wanted) -> Duration {
        Duration::from_secs(u64::from(w.instance.lease.renewal_interval_secs.max(1)))
    }

    /// The copies at the remote this cluster made (last hop is `us`), by key.
    fn adopt<'a>(&'a self, us: &'a str) -> BoxFuture<'a, Result<BTreeMap<String, RemoteRef>, SyncError>>;

    fn register<'a>(&'a self, w: &'a Wanted) -> BoxFuture<'a, Result<RemoteRef, SyncError>>;

    /// Renews a copy (with the instance's current state, when the kind can carry it); `false`
    /// if the remote no longer has it.
    fn renew<'a>(&'a self, r: &'a RemoteRef, w: Option<&'a Wanted>) -> BoxFuture<'a, Result<bool, SyncError>>;

    fn remove<'a>(&'a self, r: &'a RemoteRef) -> BoxFuture<'a, Result<(), SyncError>>;
}

/// Runs the export to one peer until the task is aborted.
pub async fn run(ctx: Arc<Context>) {
    let Some(sink) = crate::kinds::sink(&ctx) else {
        return;
    };
    let sink = sink.as_ref();
    let name = ctx.peer.name.clone();
    let mut exported: Option<BTreeMap<String, Exported>> = None;
    loop {
        let round = match exported.as_mut() {
            None => match sink.adopt(&ctx.cluster).await {
                Ok(found) => {
                    let now = Instant::now();
                    exported = Some(
                        found
                            .into_iter()
                            .map(|(k, remote)| {
                                let e = Exported {
                                    remote,
                                    mod_revision: 0,
                                    last_beat: now,
                                    beat_every: Duration::from_secs(30),
                                };
                                (k, e)
                            })
                            .collect(),
                    );
                    continue;
                }
                Err(e) => Err(e),
            },
            Some(exported) => export_round(&ctx, sink, exported).await,
        };
        match round {
            Ok(()) => ctx.board.success(&name),
            Err(e) => {
                tracing::warn!(peer = %name, error = %e, "export round failed");
                ctx.board.failure(&name, &e.to_string());
            }
        }
        tokio::time::sleep(ctx.peer.interval).await;
    }
}

/// The instances the peer should have: the tenant's, wanted by the app filter, not mirrored
/// from this peer, stamped with our hop.
fn wanted(ctx: &Context, sink: &dyn Sink) -> BTreeMap<String, Wanted> {
    let applied = ctx.node.read();
    let state = &applied.state;
    let mut out = BTreeMap::new();
    for i in state.instances() {
        if i.tenant != ctx.peer.tenant || i.origin.source() == Some(ctx.peer.name.as_str()) {
            continue;
        }
        let Some(service) = state.service(&i.service_ref()) else {
            continue;
        };
        if !ctx.peer.wants_app(&service.name) {
            continue;
        }
        let mut instance = (**i).clone();
        hops::add_hop(&mut instance.metadata, &ctx.cluster);
        let w = Wanted {
            service: service.clone(),
            instance,
        };
        if sink.wants(&w) {
            out.insert(sink.key(&w), w);
        }
    }
    out
}

async fn export_round(
    ctx: &Context,
    sink: &dyn Sink,
    exported: &mut BTreeMap<String, Exported>,
) -> Result<(), SyncError> {
    let wanted = wanted(ctx, sink);
    let to_register: Vec<(String, Wanted)> = wanted
        .iter()
        .filter(|(k, w)| {
            exported
                .get(*k)
                .is_none_or(|e| e.mod_revision != w.instance.mod_revision)
        })
        .map(|(k, w)| (k.clone(), w.clone()))
        .collect();
    let to_remove: Vec<(String, RemoteRef)> = exported
        .iter()
        .filter(|(k, _)| !wanted.contains_key(*k))
        .map(|(k, e)| (k.clone(), e.remote.clone()))
        .collect();
    let to_renew: Vec<(String, RemoteRef)> = exported
        .iter()
        .filter(|(k, e)| e.last_beat.elapsed() >= e.beat_every && wanted.contains_key(*k))
        .filter(|(k, _)| !to_register.iter().any(|(r, _)| r == *k))
        .map(|(k, e)| (k.clone(), e.remote.clone()))
        .collect();
    let mut first_error = None;

    let registered: Vec<(String, Result<RemoteRef, SyncError>)> = stream::iter(to_register)
        .map(|(k, w)| async move {
            let result = sink.register(&w).await;
            (k, result)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut count = 0;
    for (k, result) in registered {
        match result {
            Ok(remote) => {
                let w = &wanted[&k];
                count += 1;
                exported.insert(
                    k,
                    Exported {
                        remote,
                        mod_revision: w.instance.mod_revision,
                        last_beat: Instant::now(),
                        beat_every: sink.beat_every(w),
                    },
                );
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    ctx.board.update(&ctx.peer.name, |s| s.exported.registered += count);

    let removed: Vec<(String, Result<(), SyncError>)> = stream::iter(to_remove)
        .map(|(k, r)| async move { (k, sink.remove(&r).await) })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut count = 0;
    for (k, result) in removed {
        match result {
            Ok(()) => {
                count += 1;
                exported.remove(&k);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    ctx.board.update(&ctx.peer.name, |s| s.exported.deleted += count);

    let wanted_ref = &wanted;
    let renewed: Vec<(String, Result<bool, SyncError>)> = stream::iter(to_renew)
        .map(|(k, r)| async move {
            let result = sink.renew(&r, wanted_ref.get(&k)).await;
            (k, result)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut count = 0;
    for (k, result) in renewed {
        match result {
            Ok(true) => {
                count += 1;
                if let Some(e) = exported.get_mut(&k) {
                    e.last_beat = Instant::now();
                }
            }
            // The peer lost it (expired, restarted): send it again next round.
            Ok(false) => {
                exported.remove(&k);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let total = exported.len() as u64;
    ctx.board.update(&ctx.peer.name, |s| {
        s.exported.heartbeats += count;
        s.exported.exported = total;
    });
    match first_error {
        None => Ok(()),
        Some(e) => Err(e),
    }
}
