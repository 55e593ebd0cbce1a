//! The one place a remote's kind is matched: which [`Source`] imports from it, which [`Sink`]
//! exports to it, and which settings it can use (so [`crate::config`] refuses the others).
//! Adding a kind is a variant of [`PeerKind`], its modules under `import/` and `export/`, and
//! one arm in each function here.

use crate::config::PeerKind;
use crate::export::Sink;
use crate::import::Source;
use crate::Context;

/// The import side of the worker's remote, chosen once when the worker starts.
pub fn source(ctx: &Context) -> Box<dyn Source> {
    match ctx.peer.kind {
        PeerKind::Eureka => Box::new(crate::import::eureka::EurekaSource::new(ctx)),
        PeerKind::Servicecenter => Box::new(crate::import::servicecenter::ScSource::new(ctx)),
        PeerKind::Cluster => Box::new(crate::import::cluster::ClusterSource::new(ctx)),
    }
}

/// The export side of the worker's remote, chosen once when the worker starts; `None` for a
/// kind that only imports (the configuration refuses to export to it).
pub fn sink(ctx: &Context) -> Option<Box<dyn Sink>> {
    match ctx.peer.kind {
        PeerKind::Eureka => Some(Box::new(crate::export::eureka::EurekaSink::new(ctx))),
        PeerKind::Servicecenter => Some(Box::new(crate::export::servicecenter::ScSink::new(ctx))),
        PeerKind::Cluster => None,
    }
}

/// What a kind of remote can do with the `[[sync]]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abilities {
    /// It has a [`Sink`]: `direction = "export"` or `"both"` is possible.
    pub exports: bool,
    /// It has tenants of its own, so `remote_tenant` means something.
    pub has_tenants: bool,
    /// Its rounds are not all complete listings, so `full_sync_secs` says how often one is.
    pub partial_rounds: bool,
}

/// What `kind` can do.
pub fn abilities(kind: PeerKind) -> Abilities {
    match kind {
        PeerKind::Eureka => Abilities {
            exports: true,
            has_tenants: false,
            partial_rounds: true,
        },
        PeerKind::Servicecenter => Abilities {
            exports: true,
            has_tenants: true,
            partial_rounds: false,
        },
        PeerKind::Cluster => Abilities {
            exports: false,
            has_tenants: true,
            partial_rounds: true,
        },
    }
}
