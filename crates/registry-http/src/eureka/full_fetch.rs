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

use std::collections::HashMap;
use std::io::Write;

use axum::body::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use registry_store::model::Revision;
use registry_store::registry::Registry;
use std::sync::Arc;

use super::format::Format;
use super::mapping::EurekaSettings;
use super::view::all_of;
use super::view::View;
use super::wire::Detail;

/// What a built payload is valid for: the revision and the lease-times epoch.
type Validator = (Revision, u64);

/// One format's and detail's payload, plain and gzip'd.
#[derive(Clone)]
pub struct Payload {
    pub revision: Revision,
    pub plain: Bytes,
    pub gzip: Bytes,
}

/// A slot: the payload last built and what it is valid for, and the lock its builder holds.
#[derive(Default)]
struct Slot {
    built: parking_lot::Mutex<Option<(Validator, Payload)>>,
    building: Arc<tokio::sync::Mutex<()>>,
}

impl Slot {
    fn built(&self) -> Option<(Validator, Payload)> {
        self.built.lock().clone()
    }
}

/// The payloads by format and detail.
pub struct FullFetch {
    slots: HashMap<(Format, Detail), Arc<Slot>>,
}

impl Default for FullFetch {
    fn default() -> Self {
        let mut slots = HashMap::new();
        for format in [Format::Json, Format::Xml] {
            for detail in [Detail::Full, Detail::Compact] {
                slots.insert((format, detail), Arc::default());
            }
        }
        Self { slots }
    }
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
        let slot = self
            .slots
            .get(&(format, detail))
            .expect("every format and detail has a slot");
        let current = (node.revision(), node.lease_times().epoch());
        match slot.built() {
            Some((valid_for, payload)) if valid_for == current => return payload,
            Some(((revision, _), payload)) if revision == current.0 => {
                if let Ok(building) = slot.building.clone().try_lock_owned() {
                    let (slot, node, settings) = (slot.clone(), node.clone(), settings.clone());
                    tokio::spawn(async move {
                        let _building = building;
                        rebuild_if_stale(&slot, &node, &settings, format, detail).await;
                    });
                }
                return payload;
            }
            _ => {}
        }
        let _building = slot.building.lock().await;
        rebuild_if_stale(slot, node, settings, format, detail).await
    }
}

/// With the slot's build lock held: the slot's payload if it is current, else a new one.
async fn rebuild_if_stale(
    slot: &Slot,
    node: &Arc<dyn Registry>,
    settings: &EurekaSettings,
    format: Format,
    detail: Detail,
) -> Payload {
    if let Some((valid_for, payload)) = slot.built() {
        if valid_for == (node.revision(), node.lease_times().epoch()) {
            return payload;
        }
    }
    // Pointers only, under the state lock; the epoch read first, so a newer one rebuilds.
    let epoch = node.lease_times().epoch();
    let (revision, records) = node.read(|applied| {
        let view = View {
            state: &applied.state,
            settings,
            leases: None,
        };
        (applied.revision(), view.records())
    });
    let builder = node.clone();
    let built = tokio::task::spawn_blocking(move || {
        let apps = all_of(&records, Some(builder.lease_times()));
        let plain = format.encode_applications(&apps, detail);
        let mut gzip = GzEncoder::new(Vec::with_capacity(plain.len() / 8), Compression::fast());
        // Writing to memory cannot fail.
        let _ = gzip.write_all(&plain);
        let gzip = gzip.finish().unwrap_or_default();
        Payload {
            revision,
            plain: Bytes::from(plain),
            gzip: Bytes::from(gzip),
        }
    })
    .await
    .expect("encoding the registry does not panic");
    *slot.built.lock() = Some(((revision, epoch), built.clone()));
    built
}
