//! Which code serves each kind of remote: the [`Source`] an import reads from it and the
//! [`Sink`] an export writes to it. Adding a kind is a variant of [`PeerKind`] with its name and
//! [`crate::config::Abilities`] (in [`crate::config`]), its modules under `import/` and
//! `export/`, and one arm in each function here.

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
        PeerKind::Nacos => Box::new(crate::import::nacos::NacosSource::new(ctx)),
    }
}

/// The export side of the worker's remote, chosen once when the worker starts; `None` for a
/// kind that only imports (the configuration refuses to export to it).
pub fn sink(ctx: &Context) -> Option<Box<dyn Sink>> {
    match ctx.peer.kind {
        PeerKind::Eureka => Some(Box::new(crate::export::eureka::EurekaSink::new(ctx))),
        PeerKind::Servicecenter => Some(Box::new(crate::export::servicecenter::ScSink::new(ctx))),
        PeerKind::Cluster => None,
        PeerKind::Nacos => Some(Box::new(crate::export::nacos::NacosSink::new(ctx))),
    }
}
