//! The full registry (`GET /apps`), which every Eureka client fetches every 30 s: built per
//! revision for each format and detail, on a blocking thread, never on the runtime threads that
//! also drive Raft and leases, from record pointers copied under the state lock (released before
//! anything is converted or encoded). Fetchers of the same payload wait for its one build
//! without holding a thread; at most one build per format and detail runs at a time.
//!
//! **A new revision re-encodes only what changed.** Each service's instances, in the order they
//! were last written, are cut into runs at boundaries set by the instances' own ids (so adding
//! or removing one instance moves no boundary but its own); a run's key is a fingerprint of what
//! it shows (the service's and its instances' ids and revisions). The document, apps in name
//! order, is cut into segments of a few dozen to a few hundred instances (many small apps, or
//! the runs of a large one) at boundaries set by the runs' keys; each segment is encoded and
//! deflated once ([`super::pieces`]) and kept, deflated, under a fingerprint of its runs and
//! text. A build fingerprints every run (a few hundred nanoseconds per instance), encodes and
//! deflates the segments it has not seen, and puts the payload together from the kept ones: at
//! a million instances a registration costs its own segment, not the registry. A revision that
//! changed nothing the Eureka view shows (a write in another tenant) reuses all.
//!
//! **Plain text is kept only for small payloads** ([`PLAIN_KEPT_MAX`], 64 MB): a million
//! instances are some 900 MB of JSON but 70 MB gzip'd, and every Eureka client we know of asks
//! for gzip. A plain fetch of a larger payload is inflated from the gzip'd segments as it is
//! sent.
//!
//! **Large registries are built ahead of the fetches.** When a build costs more than
//! [`Keeping::older_from`] (100 ms, some twenty thousand instances), a fetch is answered with
//! the last payload while the current revision's is built behind it, provided that payload's
//! build began at most [`Keeping::max_lag`] (30 s, Netflix's read-only cache refresh) ago; and
//! the [`super::keeper`] worker builds the formats fetched in the last ten minutes as the
//! registry changes, spaced by their cost, and JSON in full detail whenever the registry has
//! been quiet for two seconds (ready after a storm, without slowing it). Each payload carries its
//! own revision (`X-Registry-Revision`) and the hashcode of what it shows, so a client's delta
//! reconciliation stays exact. Smaller registries answer with the current revision.
//!
//! **Lease times follow at a bounded cost.** What renewals change is `lastRenewalTimestamp` of
//! every instance, so refreshing them means encoding everything again: that is done when a
//! payload of the current revision is asked for with newer lease times (served the older one at
//! once meanwhile, see [`OffRuntimePayloads`]) and the last full encoding is older than twenty
//! times what it cost (at most five per cent of a core on it), and at least every
//! [`LEASE_TIMES_LAG_MAX`] otherwise. Netflix's server shows renewal times up to its cache's
//! 180 s expiry late; clients do not read them.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::hash::Hash;
use std::hash::Hasher;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use axum::body::Bytes;
use parking_lot::Mutex;
use registry_store::lease::LeaseTime;
use registry_store::model::Instance;
use registry_store::model::Revision;
use registry_store::model::Service;
use registry_store::registry::Registry;

use super::cache::OffRuntimePayloads;
use super::cache::Priority;
use super::format::Format;
use super::hashcode::apps_hashcode;
use super::keeper::Keeping;
use super::mapping::app_of;
use super::mapping::status_from_store;
use super::mapping::to_instance_info;
use super::mapping::EurekaSettings;
use super::off_runtime_body::OffRuntimeBody;
use super::pieces::inflate_all;
use super::pieces::Assembly;
use super::pieces::ChunkedBody;
use super::pieces::Deflater;
use super::pieces::FramedBody;
use super::pieces::InflatingBody;
use super::pieces::Piece;
use super::view::with_renewal;
use super::view::View;
use super::wire::Detail;
use super::wire::InstanceInfo;

/// One format's and detail's payload: gzip'd, as chunks to send in order, and plain, kept as
/// chunks too while it is at most [`PLAIN_KEPT_MAX`] (else inflated for each plain fetch).
#[derive(Clone)]
pub struct Payload {
    pub revision: Revision,
    pub gzip: Arc<[Bytes]>,
    /// Plain bytes in all.
    pub length: u64,
    plain: Option<Arc<[Bytes]>>,
}

/// Plain text up to this size is kept beside the gzip'd (served as it is); larger payloads
/// (a million instances are some 900 MB of JSON, 70 MB gzip'd) are inflated for the rare
/// client that does not accept gzip.
pub const PLAIN_KEPT_MAX: u64 = 64 << 20;

impl Payload {
    /// A payload of one piece (the delta).
    pub fn whole(revision: Revision, plain: Vec<u8>) -> Payload {
        let keep = plain.len() as u64 <= PLAIN_KEPT_MAX;
        let mut assembly = Assembly::default();
        assembly.piece(&Deflater::default().piece(plain, keep));
        Payload::assembled(revision, assembly, PLAIN_KEPT_MAX)
    }

    /// The payload `assembly` makes, its plain chunks kept if it has them and they are at most
    /// `plain_kept_max` bytes.
    pub fn assembled(revision: Revision, assembly: Assembly, plain_kept_max: u64) -> Payload {
        let assembled = assembly.finish();
        Payload {
            revision,
            gzip: assembled.gzip.into(),
            length: assembled.length,
            plain: assembled
                .plain
                .filter(|_| assembled.length <= plain_kept_max)
                .map(Into::into),
        }
    }

    /// The plain text in one buffer (tests, and callers that need it whole).
    pub fn plain_bytes(&self) -> Vec<u8> {
        match &self.plain {
            Some(chunks) => chunks.iter().flat_map(|c| c.iter().copied()).collect(),
            None => inflate_all(&self.gzip, self.length),
        }
    }

    /// The plain text as a response body: the kept chunks, or the gzip'd ones inflated (on the
    /// blocking pool: see [`OffRuntimeBody`]).
    fn plain_body(&self) -> axum::body::Body {
        match &self.plain {
            Some(chunks) => axum::body::Body::new(FramedBody(ChunkedBody::new(chunks))),
            None => axum::body::Body::new(OffRuntimeBody::new(InflatingBody::new(&self.gzip, self.length))),
        }
    }

    /// Whether the plain text is kept (not inflated for each plain fetch).
    #[cfg(test)]
    fn keeps_plain(&self) -> bool {
        self.plain.is_some()
    }

    /// This payload as the answer to a request with `headers`: gzip'd if it accepts gzip.
    pub fn respond(&self, format: Format, headers: &axum::http::HeaderMap) -> axum::response::Response {
        use axum::http::header;
        use axum::http::HeaderValue;
        let gzip = accepts_gzip(headers);
        let body = if gzip {
            axum::body::Body::new(FramedBody(ChunkedBody::new(&self.gzip)))
        } else {
            self.plain_body()
        };
        let mut response = super::handlers::respond(format, self.revision, body);
        let headers = response.headers_mut();
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        if gzip {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    }
}

/// Whether a request with `headers` accepts a gzip'd answer (RFC 9110 §12.5.3): `gzip` (or
/// `x-gzip`) with a non-zero weight, or else `*` with one. `gzip;q=0` refuses it even where `*`
/// would allow it. Every Accept-Encoding header counts, and an unreadable one accepts nothing.
pub fn accepts_gzip(headers: &axum::http::HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    let codings = headers
        .get_all(axum::http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for coding in codings {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let weight = parts
            .filter_map(|param| param.split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1.0), |(_, q)| q.trim().parse::<f32>().ok());
        let accepted = weight.is_some_and(|q| q > 0.0);
        if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(gzip.unwrap_or(false) || accepted);
        } else if name == "*" {
            any = Some(any.unwrap_or(false) || accepted);
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// A payload's format and detail.
pub type Key = (Format, Detail);

/// What every Eureka client fetches first (JSON, full detail): prepared whenever the registry
/// is quiet, fetched or not.
const PREPARED: Key = (Format::Json, Detail::Full);

/// The payloads by format and detail, each shown for its revision (see
/// [`OffRuntimePayloads`]: built off the runtime, served with older lease times while rebuilt,
/// and with an older revision while [`Keeping`] allows), and the pieces each was put together
/// from.
#[derive(Default)]
pub struct FullFetch {
    payloads: Arc<OffRuntimePayloads<Key, Revision, Payload>>,
    pieces: Mutex<HashMap<Key, SharedPieces>>,
    keeping: Keeping,
    /// When each format and detail was last fetched.
    asked: Mutex<HashMap<Key, Instant>>,
    /// The store's instance count when each payload was last built (a build's cost grows with it).
    sizes: Arc<Mutex<HashMap<Key, usize>>>,
}

impl FullFetch {
    pub fn new(keeping: Keeping) -> Self {
        Self {
            keeping,
            ..Self::default()
        }
    }

    /// The payload for `format` and `detail`: the current revision's, built if need be, or an
    /// older one's (at most [`Keeping::max_lag`] old, when builds are expensive) while the
    /// current one is built; if only its lease times are out of date, served as it is while a
    /// rebuild runs.
    pub async fn get(
        &self,
        node: &Arc<dyn Registry>,
        settings: &EurekaSettings,
        format: Format,
        detail: Detail,
    ) -> Payload {
        let key = (format, detail);
        self.asked.lock().insert(key, Instant::now());
        // The epoch read first, so a newer one rebuilds.
        let epoch = node.lease_times().epoch();
        let build = self.builder(node, settings, key);
        self.payloads
            .get_or_older(key, node.revision(), epoch, |age| self.keeping.older_ok(age), build)
            .await
    }

    /// How payloads are kept.
    pub fn keeping(&self) -> &Keeping {
        &self.keeping
    }

    /// One pass of the keeper: starts a background build of each wanted format and detail whose
    /// payload is behind the registry's revision and expensive to build, when one is due (see
    /// [`Keeping`]). Wanted are those fetched lately and, when the registry is `quiet` (no new
    /// revision for [`Keeping::quiet`]), JSON in full detail (its first build regardless of
    /// cost). Which it started.
    pub fn keep_current(&self, node: &Arc<dyn Registry>, settings: &EurekaSettings, quiet: bool) -> Vec<Key> {
        let now = Instant::now();
        let mut wanted: Vec<Key> = self
            .asked
            .lock()
            .iter()
            .filter(|(_, at)| now.duration_since(**at) <= self.keeping.wanted_for)
            .map(|(key, _)| *key)
            .collect();
        let fetched = wanted.clone();
        if quiet && !wanted.contains(&PREPARED) {
            wanted.push(PREPARED);
        }
        let revision = node.revision();
        let instances = node.read(|applied| applied.state.instance_count());
        let mut started = Vec::new();
        for key in wanted {
            let due = match self.payloads.kept(&key) {
                None => true,
                Some((shown, _)) if shown == revision => false,
                Some((_, age)) => {
                    let built_for = self.sizes.lock().get(&key).copied().unwrap_or(0).max(1);
                    let growth = (instances as f64 / built_for as f64).max(1.0);
                    let expected = age.cost.mul_f64(growth);
                    expected >= self.keeping.older_from && self.keeping.due(age, expected, now)
                }
            };
            let epoch = node.lease_times().epoch();
            // Prepared ahead of any fetch: at a low priority, as nobody waits for it yet.
            let priority = if fetched.contains(&key) {
                Priority::Background
            } else {
                Priority::Idle
            };
            if due
                && self
                    .payloads
                    .rebuild(key, epoch, priority, self.builder(node, settings, key))
            {
                started.push(key);
            }
        }
        started
    }

    /// The revision the payload kept for `key` shows; `None` before its first build.
    pub fn shown(&self, key: &Key) -> Option<Revision> {
        self.payloads.kept(key).map(|(revision, _)| revision)
    }

    /// The build of `key`'s payload from the registry's state when it runs.
    fn builder(
        &self,
        node: &Arc<dyn Registry>,
        settings: &EurekaSettings,
        key: Key,
    ) -> impl FnOnce() -> (Revision, Payload) + Send + 'static {
        let pieces = self.pieces.lock().entry(key).or_default().clone();
        let (node, settings, sizes) = (node.clone(), settings.clone(), self.sizes.clone());
        move || {
            let (revision, instances, records) = node.read(|applied| {
                let view = View {
                    state: &applied.state,
                    settings: &settings,
                    leases: None,
                };
                (applied.revision(), applied.state.instance_count(), view.records())
            });
            let lease_of = |i: &Instance| node.lease_times().get(&i.key());
            let (format, detail) = key;
            let payload = pieces.lock().build(revision, &records, &lease_of, format, detail);
            sizes.lock().insert(key, instances);
            (revision, payload)
        }
    }
}

/// Lease times are refreshed at least this often while clients fetch (Netflix's response
/// cache entries expire after 180 s).
pub const LEASE_TIMES_LAG_MAX: Duration = Duration::from_secs(180);

/// A full encoding is repeated for lease times no sooner than this many times its cost after it.
const LEASE_REFRESH_COST_FACTOR: u32 = 20;

/// Instances per run on average: a run ends after an instance whose id hashes to 0 modulo this.
const RUN_TARGET: u64 = 64;

/// No run is longer (ids that never hash to a boundary).
const RUN_MAX: usize = 256;

/// A segment (what is deflated and sent as one) ends after a run whose key hashes to 0 modulo
/// [`SEGMENT_SPREAD`] once it holds this many instances (some 32 KB of JSON)...
const SEGMENT_MIN: usize = 40;
const SEGMENT_SPREAD: u64 = 4;
/// ...and after the first run past this many (some 512 KB).
const SEGMENT_MAX: usize = 600;

/// What a first build guesses each instance's plain text takes (to decide whether to keep it).
const GUESSED_BYTES_PER_INSTANCE: u64 = 1_000;

/// One format's and detail's pieces, locked by its build (one at a time).
type SharedPieces = Arc<Mutex<Pieces>>;

/// One format's and detail's runs and deflated segments, and its last payload.
pub struct Pieces {
    /// What each run seen is made of (its apps), by its key.
    runs: HashMap<RunKey, Arc<RunShape>>,
    segments: HashMap<SegmentKey, Piece>,
    last: Option<Payload>,
    /// How many instances the last payload shows.
    last_instances: usize,
    /// When every run was last encoded afresh, and what that took.
    refreshed: Option<(Instant, Duration)>,
    /// Segments the last build deflated (not kept from the one before), and instances it encoded.
    deflated: usize,
    encoded: usize,
    /// Plain text is kept for payloads of at most this many bytes ([`PLAIN_KEPT_MAX`]).
    plain_kept_max: u64,
}

impl Default for Pieces {
    fn default() -> Self {
        Self {
            runs: HashMap::new(),
            segments: HashMap::new(),
            last: None,
            last_instances: 0,
            refreshed: None,
            deflated: 0,
            encoded: 0,
            plain_kept_max: PLAIN_KEPT_MAX,
        }
    }
}

/// What a run shows: a fingerprint of its service's and instances' ids and revisions, and how
/// many instances it has.
type RunKey = (u64, usize);

/// What a segment holds: a fingerprint of its text and runs' pieces, and how many parts.
type SegmentKey = (u64, usize);

/// A run's instances by app name: consecutive ones listed under the same app form a piece (one,
/// but for instances whose Eureka app name differs from their neighbours').
struct RunShape {
    pieces: Vec<(String, Range<usize>)>,
}

/// A run of this build: its key, its service and instances, and its shape.
struct RunOf<'a> {
    key: RunKey,
    service: &'a Service,
    instances: Vec<&'a Arc<Instance>>,
    shape: Arc<RunShape>,
}

/// What goes into a segment: text between runs, or a run's piece (by run, in this build's list,
/// and piece).
enum Part {
    Text(Vec<u8>),
    Run(usize, usize),
}

/// How a build encodes: its format, detail and lease times.
struct Encoding<'a> {
    format: Format,
    detail: Detail,
    lease_of: &'a dyn Fn(&Instance) -> Option<LeaseTime>,
}

impl Pieces {
    /// The payload of `records` (the Eureka tenant's, in store order: grouped by service) at
    /// `revision`, encoding and deflating only segments not made before, or all of them when
    /// lease times are due a refresh. A call for the revision of the last payload is one for
    /// lease times alone: the last payload again unless a refresh is due.
    ///
    /// The document is cut into segments of a few dozen to a few hundred instances (many apps
    /// of a few instances, or runs of one large app) at boundaries set by the runs' keys, each
    /// deflated on its own and kept under a fingerprint of what it holds: a change encodes and
    /// deflates its own segment again. Segments keep their plain text too while the payload is
    /// small enough to keep it ([`PLAIN_KEPT_MAX`]).
    pub fn build(
        &mut self,
        revision: Revision,
        records: &[(Arc<Service>, Arc<Instance>)],
        lease_of: &dyn Fn(&Instance) -> Option<LeaseTime>,
        format: Format,
        detail: Detail,
    ) -> Payload {
        let refresh_due = self
            .refreshed
            .is_none_or(|(at, cost)| at.elapsed() >= (cost * LEASE_REFRESH_COST_FACTOR).min(LEASE_TIMES_LAG_MAX));
        if let Some(last) = &self.last {
            if last.revision == revision && !refresh_due {
                return last.clone();
            }
        }
        let started = Instant::now();
        let (kept_runs, kept_segments) = if refresh_due {
            (HashMap::new(), HashMap::new())
        } else {
            (std::mem::take(&mut self.runs), std::mem::take(&mut self.segments))
        };
        let runs = runs_of(records, &kept_runs);
        drop(kept_runs);
        let mut apps: BTreeMap<&str, Vec<(usize, usize)>> = BTreeMap::new();
        for (r, run) in runs.iter().enumerate() {
            for (p, (app, _)) in run.shape.pieces.iter().enumerate() {
                apps.entry(app.as_str()).or_default().push((r, p));
            }
        }
        let per_instance = match (&self.last, self.last_instances) {
            (Some(last), instances) if instances > 0 => last.length / instances as u64,
            _ => GUESSED_BYTES_PER_INSTANCE,
        };
        let mut segments = Segments {
            kept: kept_segments,
            made: HashMap::new(),
            order: Vec::new(),
            deflater: Deflater::default(),
            deflated: 0,
            encoded: 0,
            keep_plain: per_instance.saturating_mul(records.len() as u64) <= self.plain_kept_max,
        };
        let encoding = Encoding {
            format,
            detail,
            lease_of,
        };
        let mut parts = Vec::new();
        let mut held = 0;
        for (n, (app, pieces)) in apps.iter().enumerate() {
            let mut text = Vec::new();
            if n > 0 {
                text.extend_from_slice(format.separator());
            }
            format.application_head(&mut text, app);
            for (m, &(r, p)) in pieces.iter().enumerate() {
                if m > 0 {
                    text.extend_from_slice(format.separator());
                }
                parts.push(Part::Text(std::mem::take(&mut text)));
                parts.push(Part::Run(r, p));
                held += runs[r].shape.pieces[p].1.len();
                let boundary = hash_of((runs[r].key, p)) % SEGMENT_SPREAD == 0;
                if (held >= SEGMENT_MIN && boundary) || held >= SEGMENT_MAX {
                    segments.close(std::mem::take(&mut parts), &runs, &encoding);
                    held = 0;
                }
            }
            text.extend_from_slice(format.application_tail());
            parts.push(Part::Text(text));
        }
        segments.close(parts, &runs, &encoding);
        drop(apps);

        let mut assembly = Assembly::default();
        let hashcode = apps_hashcode(records.iter().map(|(_, i)| status_from_store(i.status)));
        format.applications_head(assembly.text(), "1", &hashcode);
        for key in &segments.order {
            assembly.piece(&segments.made[key]);
        }
        assembly.text().extend_from_slice(format.applications_tail());
        let payload = Payload::assembled(revision, assembly, self.plain_kept_max);

        self.runs = runs.into_iter().map(|run| (run.key, run.shape)).collect();
        self.deflated = segments.deflated;
        self.encoded = segments.encoded;
        self.segments = segments.made;
        if refresh_due {
            self.refreshed = Some((Instant::now(), started.elapsed()));
        }
        self.last = Some(payload.clone());
        self.last_instances = records.len();
        payload
    }
}

/// The runs of `records`, in order, with their shapes (kept ones reused).
fn runs_of<'a>(records: &'a [(Arc<Service>, Arc<Instance>)], kept: &HashMap<RunKey, Arc<RunShape>>) -> Vec<RunOf<'a>> {
    let mut runs = Vec::with_capacity(kept.len().max(records.len() / RUN_TARGET as usize));
    let mut order: Vec<&Arc<Instance>> = Vec::new();
    for service in records.chunk_by(|a, b| Arc::ptr_eq(&a.0, &b.0)) {
        let owner: &Service = &service[0].0;
        order.clear();
        order.extend(service.iter().map(|(_, i)| i));
        // The order they were written in: new instances join the last run.
        order.sort_unstable_by(|a, b| (a.mod_revision, &a.id).cmp(&(b.mod_revision, &b.id)));
        for run in split_into_runs(&order) {
            let key = fingerprint(owner, run);
            let shape = match kept.get(&key) {
                Some(shape) => shape.clone(),
                None => Arc::new(shape_of(owner, run)),
            };
            runs.push(RunOf {
                key,
                service: owner,
                instances: run.to_vec(),
                shape,
            });
        }
    }
    runs
}

/// A run's pieces: its instances grouped by the app each is listed under.
fn shape_of(service: &Service, run: &[&Arc<Instance>]) -> RunShape {
    let mut pieces: Vec<(String, Range<usize>)> = Vec::with_capacity(1);
    for (n, instance) in run.iter().enumerate() {
        let app = app_of(service, instance);
        match pieces.last_mut() {
            Some((last, range)) if *last == app => range.end = n + 1,
            _ => pieces.push((app, n..n + 1)),
        }
    }
    RunShape { pieces }
}

/// The segments of one build: those kept from the last build, and those of this one in order.
struct Segments {
    kept: HashMap<SegmentKey, Piece>,
    made: HashMap<SegmentKey, Piece>,
    order: Vec<SegmentKey>,
    deflater: Deflater,
    deflated: usize,
    encoded: usize,
    /// Whether segments keep their plain text (the payload is small enough).
    keep_plain: bool,
}

impl Segments {
    /// Ends a segment of `parts`: kept if it holds the same as one of the last build's, else
    /// made (its runs' pieces encoded, and deflated).
    fn close(&mut self, parts: Vec<Part>, runs: &[RunOf<'_>], encoding: &Encoding<'_>) {
        if parts.is_empty() {
            return;
        }
        let mut hasher = std::hash::DefaultHasher::new();
        for part in &parts {
            match part {
                Part::Text(text) => text.hash(&mut hasher),
                Part::Run(r, p) => (runs[*r].key, *p).hash(&mut hasher),
            }
        }
        let key = (hasher.finish(), parts.len());
        self.order.push(key);
        if self.made.contains_key(&key) {
            return;
        }
        if let Some(segment) = self.kept.remove(&key) {
            self.made.insert(key, segment.keeping_plain(self.keep_plain));
            return;
        }
        let mut plain = Vec::new();
        for part in &parts {
            match part {
                Part::Text(text) => plain.extend_from_slice(text),
                Part::Run(r, p) => {
                    let run = &runs[*r];
                    let instances = &run.instances[run.shape.pieces[*p].1.clone()];
                    self.encoded += instances.len();
                    encode_piece(&mut plain, run.service, instances, encoding);
                }
            }
        }
        let segment = self.deflater.piece(plain, self.keep_plain);
        self.deflated += 1;
        self.made.insert(key, segment);
    }
}

/// `order` cut after each instance whose id hashes to a boundary, and every [`RUN_MAX`].
fn split_into_runs<'o, 'a: 'o>(order: &'o [&'a Arc<Instance>]) -> impl Iterator<Item = &'o [&'a Arc<Instance>]> + 'o {
    let mut rest = order;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .iter()
            .take(RUN_MAX)
            .position(|i| hash_of(&i.id) % RUN_TARGET == 0)
            .map_or(rest.len().min(RUN_MAX), |at| at + 1);
        let (run, after) = rest.split_at(end);
        rest = after;
        Some(run)
    })
}

fn hash_of(value: impl Hash) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// What a run of `service`'s instances shows, short of lease times.
fn fingerprint(service: &Service, run: &[&Arc<Instance>]) -> RunKey {
    let mut hasher = std::hash::DefaultHasher::new();
    (&service.id, service.mod_revision).hash(&mut hasher);
    for instance in run {
        (&instance.id, instance.mod_revision).hash(&mut hasher);
    }
    (hasher.finish(), run.len())
}

/// `instances` of `service` (one piece: all listed under one app), encoded onto `out`.
fn encode_piece(out: &mut Vec<u8>, service: &Service, instances: &[&Arc<Instance>], encoding: &Encoding<'_>) {
    let infos: Vec<InstanceInfo> = instances
        .iter()
        .map(|i| with_renewal(to_instance_info(service, i), (encoding.lease_of)(i)))
        .collect();
    encoding.format.encode_instances(out, &infos, encoding.detail);
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use axum::http::HeaderMap;
    use axum::http::HeaderValue;

    use registry_store::command::CancelInstance;
    use registry_store::command::Command;
    use registry_store::command::Proposal;
    use registry_store::command::RegisterInstance;
    use registry_store::model::InstanceStatus;
    use registry_store::protocol::eureka::mapping::to_instance;
    use registry_store::protocol::eureka::mapping::version_of;
    use registry_store::state::RegistryState;

    use super::*;
    use crate::eureka::view::all_of;
    use registry_store::lease::LeaseTime;

    fn register(state: &mut RegistryState, revision: &mut Revision, settings: &EurekaSettings, app: &str, n: u32) {
        let mut info = InstanceInfo::new(app, &format!("10.0.{}.{}", n / 250, n % 250));
        info.instance_id = Some(format!("{app}-{n}"));
        info.metadata.insert("n".into(), n.to_string());
        *revision += 1;
        state.apply(
            *revision,
            &Proposal {
                at_ms: 1_700_000_000_000 + u64::from(n),
                command: Command::RegisterInstance(RegisterInstance {
                    create_tenant: true,
                    ..RegisterInstance::new(
                        to_instance(settings, &info),
                        Some(settings.service_for_app(&info.app, version_of(&info))),
                    )
                }),
            },
        );
    }

    /// `n` instances registered round-robin over `apps` apps: the state, its revision.
    fn registry_of(settings: &EurekaSettings, n: u32, apps: u32) -> (RegistryState, Revision) {
        let mut state = RegistryState::new();
        let mut revision = 0;
        for k in 0..n {
            register(&mut state, &mut revision, settings, &format!("APP-{}", k % apps), k);
        }
        (state, revision)
    }

    fn records(state: &RegistryState, settings: &EurekaSettings) -> Vec<(Arc<Service>, Arc<Instance>)> {
        View {
            state,
            settings,
            leases: None,
        }
        .records()
    }

    /// The whole document as the one-piece encoder writes it, instances in the order the
    /// pieces use (each service's in the order they were written).
    fn expected(state: &RegistryState, settings: &EurekaSettings, format: Format, detail: Detail) -> Vec<u8> {
        let mut records = records(state, settings);
        records.sort_by(|(sa, a), (sb, b)| (&sa.id, a.mod_revision, &a.id).cmp(&(&sb.id, b.mod_revision, &b.id)));
        format.encode_applications(&all_of(&records, None), detail)
    }

    fn joined(chunks: &[Bytes]) -> Vec<u8> {
        chunks.iter().flat_map(|c| c.iter().copied()).collect()
    }

    fn gunzip(chunks: &[Bytes]) -> Vec<u8> {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&joined(chunks)[..])
            .read_to_end(&mut plain)
            .expect("one valid gzip member");
        plain
    }

    #[test]
    fn gzip_is_accepted_only_with_a_non_zero_weight() {
        let accepts = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(
                    axum::http::header::ACCEPT_ENCODING,
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            accepts_gzip(&headers)
        };
        // What the real clients send: py-eureka-client "gzip, deflate", the Java client "gzip".
        assert!(accepts(&["gzip, deflate"]));
        assert!(accepts(&["gzip"]));
        assert!(accepts(&["deflate", "GZIP;q=0.5"]));
        assert!(accepts(&["x-gzip"]));
        assert!(accepts(&["br, *"]));
        assert!(!accepts(&[]));
        assert!(!accepts(&["identity"]));
        assert!(!accepts(&["deflate, br"]));
        assert!(!accepts(&["gzip;q=0"]));
        assert!(!accepts(&["gzip; q=0.000"]));
        assert!(!accepts(&["*;q=0"]));
        assert!(!accepts(&["gzip;q=0, *"]), "an explicit refusal of gzip outweighs *");
        assert!(!accepts(&["gzip;q=nonsense"]));
    }

    #[test]
    fn payloads_put_together_from_pieces_are_the_whole_document_byte_for_byte() {
        let settings = EurekaSettings::default();
        let mut state = RegistryState::new();
        let mut revision = 0;
        // One app of many runs, a few small ones.
        for n in 0..1_500 {
            register(&mut state, &mut revision, &settings, "BIG", n);
        }
        for n in 0..40 {
            register(&mut state, &mut revision, &settings, &format!("APP-{}", n % 7), n);
        }
        let none = |_: &Instance| None;
        for format in [Format::Json, Format::Xml] {
            for detail in [Detail::Full, Detail::Compact] {
                let mut pieces = Pieces::default();
                let check = |pieces: &mut Pieces, state: &RegistryState, revision, keeps_plain: bool| {
                    let payload = pieces.build(revision, &records(state, &settings), &none, format, detail);
                    let whole = expected(state, &settings, format, detail);
                    assert_eq!(payload.keeps_plain(), keeps_plain);
                    assert_eq!(payload.length, whole.len() as u64);
                    assert!(payload.plain_bytes() == whole, "{format:?} {detail:?} plain differs");
                    assert!(gunzip(&payload.gzip) == whole, "{format:?} {detail:?} gzip differs");
                    assert_eq!(payload.revision, revision);
                };
                check(&mut pieces, &state, revision, true);
                let mut changed = state.clone();
                let mut at = revision;
                register(&mut changed, &mut at, &settings, "BIG", 5_000);
                register(&mut changed, &mut at, &settings, "NEW", 1);
                let gone = records(&changed, &settings)[700].1.key();
                at += 1;
                changed.apply(
                    at,
                    &Proposal {
                        at_ms: 1_800_000_000_000,
                        command: Command::CancelInstance(CancelInstance { instance: gone }),
                    },
                );
                // Too large to keep the plain text: it is inflated from the gzip'd segments,
                // kept ones and new ones alike.
                pieces.plain_kept_max = 0;
                check(&mut pieces, &changed, at, false);
                // Back to the first state, plain text kept again: its runs were dropped, so it is
                // encoded again, right.
                pieces.plain_kept_max = PLAIN_KEPT_MAX;
                check(&mut pieces, &state, revision + 100, true);
            }
        }
    }

    /// A payload as a real HTTP client receives it (hyper's server, reqwest, over loopback),
    /// plain text kept and inflated as it is sent, and gzip'd: the whole document each time,
    /// with a Content-Length that matches what is sent (hyper refuses a body that runs short or
    /// long of its size hint).
    #[tokio::test]
    async fn a_payload_is_received_whole_over_http_in_every_form() {
        let settings = EurekaSettings::default();
        let (state, revision) = registry_of(&settings, 2_000, 7);
        let whole = expected(&state, &settings, Format::Json, Detail::Full);
        let none = |_: &Instance| None;
        let mut kept = Pieces::default();
        let mut inflated = Pieces {
            plain_kept_max: 0,
            ..Pieces::default()
        };
        let records = records(&state, &settings);
        let payloads = [
            kept.build(revision, &records, &none, Format::Json, Detail::Full),
            inflated.build(revision, &records, &none, Format::Json, Detail::Full),
        ];
        assert!(payloads[0].keeps_plain() && !payloads[1].keeps_plain());
        let payloads = Arc::new(payloads);
        let app = axum::Router::new().route(
            "/apps/{n}",
            axum::routing::get({
                let payloads = payloads.clone();
                move |axum::extract::Path(n): axum::extract::Path<usize>, headers: axum::http::HeaderMap| async move {
                    payloads[n].respond(Format::Json, &headers)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();
        for n in 0..2 {
            for gzip in [false, true] {
                let mut request = client.get(format!("http://{addr}/apps/{n}"));
                if gzip {
                    request = request.header("Accept-Encoding", "gzip");
                }
                let answer = request.send().await.unwrap();
                let length = answer.headers().get("content-length").cloned();
                let encoding = answer.headers().get("content-encoding").cloned();
                let body = answer.bytes().await.unwrap();
                assert_eq!(length.unwrap().to_str().unwrap(), body.len().to_string());
                assert_eq!(encoding.is_some(), gzip, "payload {n}, gzip {gzip}");
                let plain = if gzip { gunzip(&[body]) } else { body.to_vec() };
                assert!(plain == whole, "payload {n}, gzip {gzip}: not the whole document");
            }
        }
        server.abort();
    }

    /// Lease times alone (the same revision) re-encode nothing until a refresh is due (twenty
    /// times the last full encoding's cost, at most [`LEASE_TIMES_LAG_MAX`]); then everything
    /// is encoded again with the new renewal times.
    #[test]
    fn lease_times_are_refreshed_only_when_a_refresh_is_due() {
        let settings = EurekaSettings::default();
        let (state, revision) = registry_of(&settings, 500, 5);
        let renewed = std::cell::Cell::new(None);
        let encoded = std::cell::Cell::new(0);
        let lease_of = |_: &Instance| {
            encoded.set(encoded.get() + 1);
            renewed.get().map(|ms| LeaseTime {
                renewed_ms: ms,
                expires_ms: ms + 90_000,
            })
        };
        let records = records(&state, &settings);
        let mut pieces = Pieces::default();
        pieces.build(revision, &records, &lease_of, Format::Json, Detail::Full);
        assert_eq!(encoded.get(), 500);
        renewed.set(Some(1_999_999_999_999));
        // Not due: the last full encoding is recent and cost an hour.
        pieces.refreshed = Some((Instant::now(), Duration::from_secs(3600)));
        encoded.set(0);
        let payload = pieces.build(revision, &records, &lease_of, Format::Json, Detail::Full);
        assert_eq!(encoded.get(), 0);
        assert!(!String::from_utf8(payload.plain_bytes())
            .unwrap()
            .contains("1999999999999"));
        // Due: the last full encoding is older than its cost allows for.
        pieces.refreshed = Some((Instant::now() - Duration::from_secs(2), Duration::from_millis(1)));
        encoded.set(0);
        let payload = pieces.build(revision, &records, &lease_of, Format::Json, Detail::Full);
        assert_eq!(encoded.get(), 500);
        let text = String::from_utf8(payload.plain_bytes()).unwrap();
        assert_eq!(text.matches(r#""lastRenewalTimestamp":1999999999999"#).count(), 500);
        assert!(gunzip(&payload.gzip) == text.as_bytes());
    }

    #[test]
    fn a_change_re_encodes_its_own_segment_not_the_registry() {
        let settings = EurekaSettings::default();
        let (mut state, mut revision) = registry_of(&settings, 3_000, 10);
        let encoded = std::cell::Cell::new(0);
        let counting = |_: &Instance| {
            encoded.set(encoded.get() + 1);
            None
        };
        let build_json = |pieces: &mut Pieces, state: &RegistryState, revision| {
            pieces.build(
                revision,
                &records(state, &settings),
                &counting,
                Format::Json,
                Detail::Full,
            )
        };
        let mut pieces = Pieces::default();
        build_json(&mut pieces, &state, revision);
        assert_eq!(encoded.get(), 3_000);
        // The first build is a full encoding; make the next lease refresh due far later.
        pieces.refreshed = Some((Instant::now(), Duration::from_secs(3600)));
        encoded.set(0);
        register(&mut state, &mut revision, &settings, "APP-3", 10_000);
        let payload = build_json(&mut pieces, &state, revision);
        assert!(
            (1..=2 * (SEGMENT_MAX + RUN_MAX)).contains(&encoded.get()),
            "{} instances encoded again for one registration",
            encoded.get()
        );
        assert_eq!(pieces.encoded, encoded.get());
        assert!(payload.plain_bytes() == expected(&state, &settings, Format::Json, Detail::Full));
        let segments = pieces.segments.len();
        assert!(segments > 8, "{segments} segments for 3,000 instances");
        assert!(
            pieces.deflated <= 2,
            "{} of {segments} segments deflated again",
            pieces.deflated
        );
        // The same revision again (only lease times moved), no refresh due: nothing encoded.
        encoded.set(0);
        build_json(&mut pieces, &state, revision);
        assert_eq!(encoded.get(), 0);
        // A status change moves the instance to the end of its service's order: two runs.
        let key = records(&state, &settings)[42].1.key();
        revision += 1;
        state.apply(
            revision,
            &Proposal {
                at_ms: 1_800_000_000_000,
                command: Command::SetInstanceStatus(registry_store::command::SetInstanceStatus {
                    instance: key,
                    status: InstanceStatus::Down,
                    status_override: registry_store::command::OverrideChange::Keep,
                    client_modified_ms: None,
                    protocol_fields: None,
                }),
            },
        );
        encoded.set(0);
        let payload = build_json(&mut pieces, &state, revision);
        assert!(pieces.deflated <= 4, "{} segments deflated again", pieces.deflated);
        assert!(payload.plain_bytes() == expected(&state, &settings, Format::Json, Detail::Full));
    }
}
