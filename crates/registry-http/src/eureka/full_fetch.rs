//! The full registry (`GET /apps`), which every Eureka client fetches every 30 s: built once per
//! revision (and lease-times epoch) for each format and detail, on a blocking thread, never on
//! the runtime threads that also drive Raft and leases, from record pointers copied under the
//! state lock (released before anything is converted or encoded), and gzip'd once as well.
//! Fetchers of the same payload wait for its one build without holding a thread; at most one
//! build per format and detail runs at a time.
//!
//! A payload whose revision is current but whose lease times are older (renewals arrived since)
//! is served at once while one rebuild runs in the background: what changed is only
//! `lastRenewalTimestamp`, and at a million instances a rebuild takes seconds, which every
//! fetcher would otherwise wait for each time lease times move (every few seconds while
//! clients renew). A new revision (a registration, a status, a removal) is always waited for.
//! (The mechanism is [`super::cache::OffRuntimePayloads`], which the delta shares.)

use std::io::Write;

use axum::body::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use registry_store::model::Revision;
use registry_store::registry::Registry;
use std::sync::Arc;

use super::cache::OffRuntimePayloads;
use super::format::Format;
use super::mapping::EurekaSettings;
use super::view::all_of;
use super::view::View;
use super::wire::Detail;

/// One format's and detail's payload, plain and gzip'd.
#[derive(Clone)]
pub struct Payload {
    pub revision: Revision,
    pub plain: Bytes,
    pub gzip: Bytes,
}

/// The payloads by format and detail, each shown for its revision (see
/// [`OffRuntimePayloads`]: built off the runtime, served with older lease times while rebuilt).
#[derive(Default)]
pub struct FullFetch {
    payloads: Arc<OffRuntimePayloads<(Format, Detail), Revision, Payload>>,
}

impl FullFetch {
    /// The current payload for `format` and `detail`: built if its revision is out of date;
    /// if only its lease times are, served as it is while a rebuild runs.
    pub async fn get(
        &self,
        node: &Arc<dyn Registry>,
        settings: &EurekaSettings,
        format: Format,
        detail: Detail,
    ) -> Payload {
        // The epoch read first, so a newer one rebuilds.
        let epoch = node.lease_times().epoch();
        let (node, settings) = (node.clone(), settings.clone());
        self.payloads
            .get((format, detail), node.revision(), epoch, move || {
                build(&node, &settings, format, detail)
            })
            .await
    }
}

/// The registry as `format` and `detail`, plain and gzip'd: record pointers copied under the
/// state lock, converted and encoded after it is released.
fn build(node: &Arc<dyn Registry>, settings: &EurekaSettings, format: Format, detail: Detail) -> (Revision, Payload) {
    let (revision, records) = node.read(|applied| {
        let view = View {
            state: &applied.state,
            settings,
            leases: None,
        };
        (applied.revision(), view.records())
    });
    let apps = all_of(&records, Some(node.lease_times()));
    let plain = format.encode_applications(&apps, detail);
    let mut gzip = GzEncoder::new(Vec::with_capacity(plain.len() / 8), Compression::fast());
    // Writing to memory cannot fail.
    let _ = gzip.write_all(&plain);
    let gzip = gzip.finish().unwrap_or_default();
    let payload = Payload {
        revision,
        plain: Bytes::from(plain),
        gzip: Bytes::from(gzip),
    };
    (revision, payload)
}
