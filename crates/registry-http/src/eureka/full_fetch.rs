//! The full registry (`GET /apps`), which every Eureka client fetches every 30 s: built per
//! revision for each format and detail, on a blocking thread, never on the runtime threads that
//! also drive Raft and leases, from record pointers copied under the state lock (released before
//! anything is converted or encoded). Fetchers of the same payload wait for its one build
//! without holding a thread; at most one build per format and detail runs at a time.
//!
//! **A new revision re-encodes only what changed.** Each service's instances, in the order they
//! were last written, are cut into runs at boundaries set by the instances' own ids (so adding
//! or removing one instance moves no boundary but its own); each run is encoded once and kept
//! under a fingerprint of what it shows (the service's and its instances' ids and revisions).
//! The document, apps in name order, is cut into segments of a few dozen kilobytes (many small
//! apps, or the runs of a large one) at boundaries set by the runs' keys; each segment is
//! deflated once ([`super::pieces`]) and kept under a fingerprint of its runs and text. A build
//! fingerprints every run (a few hundred nanoseconds per instance), encodes the runs and
//! deflates the segments it has not seen, and puts the payload together from the kept ones: at
//! a million instances a registration costs its own run and segment, not the registry. A
//! revision that changed nothing the Eureka view shows (a write in another tenant) reuses all.
//!
//! **Large registries are built ahead of the fetches.** When a build costs more than
//! [`Keeping::older_from`] (100 ms, some twenty thousand instances), a fetch is answered with
//! the last payload while the current revision's is built behind it, provided that payload's
//! build began at most [`Keeping::max_lag`] (30 s, Netflix's read-only cache refresh) ago; and
//! the [`super::keeper`] worker builds the formats fetched in the last ten minutes (and JSON in
//! full detail, always) as the registry changes, spaced by their cost. Each payload carries its
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
use super::format::Format;
use super::hashcode::apps_hashcode;
use super::keeper::Keeping;
use super::mapping::status_from_store;
use super::mapping::to_instance_info;
use super::mapping::EurekaSettings;
use super::pieces::Assembly;
use super::pieces::Deflater;
use super::pieces::Piece;
use super::view::with_renewal;
use super::view::View;
use super::wire::Detail;
use super::wire::InstanceInfo;

/// One format's and detail's payload, plain and gzip'd, each as chunks to send in order.
#[derive(Clone)]
pub struct Payload {
    pub revision: Revision,
    pub plain: Arc<[Bytes]>,
    pub gzip: Arc<[Bytes]>,
}

impl Payload {
    /// A payload of one piece (the delta).
    pub fn whole(revision: Revision, plain: Vec<u8>) -> Payload {
        let mut assembly = Assembly::default();
        assembly.piece(&Deflater::default().piece(plain));
        let (plain, gzip) = assembly.finish();
        Payload {
            revision,
            plain: plain.into(),
            gzip: gzip.into(),
        }
    }

    /// This payload as the answer to a request with `headers`: gzip'd if it accepts gzip.
    pub fn respond(&self, format: Format, headers: &axum::http::HeaderMap) -> axum::response::Response {
        use axum::http::header;
        use axum::http::HeaderValue;
        let gzip = accepts_gzip(headers);
        let chunks = if gzip { &self.gzip } else { &self.plain };
        let mut response = super::handlers::respond(
            format,
            self.revision,
            axum::body::Body::new(super::pieces::ChunkedBody::new(chunks)),
        );
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

/// What every Eureka client fetches first (JSON, full detail): always kept current.
const ALWAYS_WANTED: Key = (Format::Json, Detail::Full);

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

    /// One pass of the keeper: starts a background build of each wanted format and detail whose
    /// payload is behind the registry's revision and expensive to build, when one is due (see
    /// [`Keeping`]); the first of JSON in full detail regardless. Which it started.
    pub fn keep_current(&self, node: &Arc<dyn Registry>, settings: &EurekaSettings) -> Vec<Key> {
        let now = Instant::now();
        let mut wanted: Vec<Key> = self
            .asked
            .lock()
            .iter()
            .filter(|(_, at)| now.duration_since(**at) <= self.keeping.wanted_for)
            .map(|(key, _)| *key)
            .collect();
        if !wanted.contains(&ALWAYS_WANTED) {
            wanted.push(ALWAYS_WANTED);
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
            if due && self.payloads.rebuild(key, epoch, self.builder(node, settings, key)) {
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
/// [`SEGMENT_SPREAD`] once it holds this many bytes...
const SEGMENT_MIN: usize = 32 * 1024;
const SEGMENT_SPREAD: u64 = 4;
/// ...and after the first run past this many.
const SEGMENT_MAX: usize = 512 * 1024;

/// One format's and detail's pieces, locked by its build (one at a time).
type SharedPieces = Arc<Mutex<Pieces>>;

/// One format's and detail's encoded runs and segments, and its last payload.
#[derive(Default)]
pub struct Pieces {
    runs: HashMap<RunKey, Arc<Run>>,
    segments: HashMap<SegmentKey, Piece>,
    last: Option<Payload>,
    /// When every run was last encoded afresh, and what that took.
    refreshed: Option<(Instant, Duration)>,
    /// Segments the last build deflated (not kept from the one before).
    deflated: usize,
}

/// What a run shows: a fingerprint of its service's and instances' ids and revisions, and how
/// many instances it has.
type RunKey = (u64, usize);

/// A run's piece: the run, and the piece's index in it.
type PieceAt = (RunKey, usize);

/// What a segment holds: a fingerprint of its text and runs, and its length.
type SegmentKey = (u64, usize);

/// A run's instances, encoded by app name (one entry but for instances whose Eureka app name
/// differs from their neighbours'). Once in a segment, each text is a slice of the segment's.
struct Run {
    pieces: Vec<(String, Bytes)>,
}

/// What goes into a segment: text between runs, or a run's piece (by run and index).
enum Part<'a> {
    Text(Vec<u8>),
    Run(PieceAt, &'a Bytes),
}

impl Pieces {
    /// The payload of `records` (the Eureka tenant's, in store order: grouped by service) at
    /// `revision`, re-encoding only runs not encoded before, or all of them when lease times are
    /// due a refresh. A call for the revision of the last payload is one for lease times alone:
    /// the last payload again unless a refresh is due.
    ///
    /// The document is cut into segments of a few dozen kilobytes (many apps of a few instances,
    /// or runs of one large app) at boundaries set by the runs' keys, each deflated on its own
    /// and kept under a fingerprint of what it holds: a change re-deflates its own segment.
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
        let encoded = runs_of(records, &kept_runs, lease_of, format, detail);
        drop(kept_runs);
        let mut apps: BTreeMap<&str, Vec<(PieceAt, &Bytes)>> = BTreeMap::new();
        for (key, run) in &encoded {
            for (index, (app, plain)) in run.pieces.iter().enumerate() {
                apps.entry(app.as_str()).or_default().push(((*key, index), plain));
            }
        }
        let mut segments = Segments {
            kept: kept_segments,
            made: HashMap::new(),
            order: Vec::new(),
            moved: HashMap::new(),
            deflater: Deflater::default(),
            deflated: 0,
        };
        let mut parts = Vec::new();
        let mut length = 0;
        for (n, (app, pieces)) in apps.iter().enumerate() {
            let mut text = Vec::new();
            if n > 0 {
                text.extend_from_slice(format.separator());
            }
            format.application_head(&mut text, app);
            for (m, (at, plain)) in pieces.iter().enumerate() {
                if m > 0 {
                    text.extend_from_slice(format.separator());
                }
                length += text.len() + plain.len();
                parts.push(Part::Text(std::mem::take(&mut text)));
                parts.push(Part::Run(*at, plain));
                let boundary = hash_of(at) % SEGMENT_SPREAD == 0;
                if (length >= SEGMENT_MIN && boundary) || length >= SEGMENT_MAX {
                    segments.close(std::mem::take(&mut parts));
                    length = 0;
                }
            }
            text.extend_from_slice(format.application_tail());
            length += text.len();
            parts.push(Part::Text(text));
        }
        segments.close(parts);
        drop(apps);

        let mut assembly = Assembly::default();
        let hashcode = apps_hashcode(records.iter().map(|(_, i)| status_from_store(i.status)));
        format.applications_head(assembly.text(), "1", &hashcode);
        for key in &segments.order {
            assembly.piece(&segments.made[key]);
        }
        assembly.text().extend_from_slice(format.applications_tail());
        let (plain, gzip) = assembly.finish();
        let payload = Payload {
            revision,
            plain: plain.into(),
            gzip: gzip.into(),
        };

        // Runs in new segments now point into them (their old texts are freed with the old ones).
        let mut runs = HashMap::with_capacity(encoded.len());
        for (key, run) in encoded {
            let run = if run
                .pieces
                .iter()
                .enumerate()
                .any(|(i, _)| segments.moved.contains_key(&(key, i)))
            {
                let pieces = run
                    .pieces
                    .iter()
                    .enumerate()
                    .map(|(i, (app, plain))| {
                        let plain = segments.moved.remove(&(key, i)).unwrap_or_else(|| plain.clone());
                        (app.clone(), plain)
                    })
                    .collect();
                Arc::new(Run { pieces })
            } else {
                run
            };
            runs.insert(key, run);
        }
        self.runs = runs;
        self.deflated = segments.deflated;
        self.segments = segments.made;
        if refresh_due {
            self.refreshed = Some((Instant::now(), started.elapsed()));
        }
        self.last = Some(payload.clone());
        payload
    }
}

/// The runs of `records`, in order: kept ones reused, the others encoded.
fn runs_of(
    records: &[(Arc<Service>, Arc<Instance>)],
    kept: &HashMap<RunKey, Arc<Run>>,
    lease_of: &dyn Fn(&Instance) -> Option<LeaseTime>,
    format: Format,
    detail: Detail,
) -> Vec<(RunKey, Arc<Run>)> {
    let mut encoded = Vec::with_capacity(kept.len().max(records.len() / RUN_TARGET as usize));
    let mut order: Vec<&Arc<Instance>> = Vec::new();
    for service in records.chunk_by(|a, b| Arc::ptr_eq(&a.0, &b.0)) {
        let owner = &service[0].0;
        order.clear();
        order.extend(service.iter().map(|(_, i)| i));
        // The order they were written in: new instances join the last run.
        order.sort_unstable_by(|a, b| (a.mod_revision, &a.id).cmp(&(b.mod_revision, &b.id)));
        for run in split_into_runs(&order) {
            let key = fingerprint(owner, run);
            let run = match kept.get(&key) {
                Some(run) => run.clone(),
                None => Arc::new(encode_run(owner, run, lease_of, format, detail)),
            };
            encoded.push((key, run));
        }
    }
    encoded
}

/// The segments of one build: those kept from the last build, those of this one in order, and
/// where the runs of newly made ones now live.
struct Segments {
    kept: HashMap<SegmentKey, Piece>,
    made: HashMap<SegmentKey, Piece>,
    order: Vec<SegmentKey>,
    moved: HashMap<PieceAt, Bytes>,
    deflater: Deflater,
    deflated: usize,
}

impl Segments {
    /// Ends a segment of `parts`: kept if it holds the same as one of the last build's, else
    /// made (copied together and deflated) and its runs' texts moved into it.
    fn close(&mut self, parts: Vec<Part<'_>>) {
        if parts.is_empty() {
            return;
        }
        let mut hasher = std::hash::DefaultHasher::new();
        let mut length = 0;
        for part in &parts {
            match part {
                Part::Text(text) => text.hash(&mut hasher),
                Part::Run(at, plain) => {
                    at.hash(&mut hasher);
                    length += plain.len();
                }
            }
            if let Part::Text(text) = part {
                length += text.len();
            }
        }
        let key = (hasher.finish(), length);
        self.order.push(key);
        if self.made.contains_key(&key) {
            return;
        }
        if let Some(segment) = self.kept.remove(&key) {
            self.made.insert(key, segment);
            return;
        }
        let mut plain = Vec::with_capacity(length);
        let mut placed = Vec::new();
        for part in &parts {
            match part {
                Part::Text(text) => plain.extend_from_slice(text),
                Part::Run(at, run) => {
                    placed.push((*at, plain.len()..plain.len() + run.len()));
                    plain.extend_from_slice(run);
                }
            }
        }
        let segment = self.deflater.piece(plain);
        self.deflated += 1;
        for (at, range) in placed {
            self.moved.insert(at, segment.plain.slice(range));
        }
        self.made.insert(key, segment);
    }
}

/// `order` cut after each instance whose id hashes to a boundary, and every [`RUN_MAX`].
fn split_into_runs<'a>(order: &'a [&'a Arc<Instance>]) -> impl Iterator<Item = &'a [&'a Arc<Instance>]> + 'a {
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

fn encode_run(
    service: &Service,
    run: &[&Arc<Instance>],
    lease_of: &dyn Fn(&Instance) -> Option<LeaseTime>,
    format: Format,
    detail: Detail,
) -> Run {
    let infos: Vec<InstanceInfo> = run
        .iter()
        .map(|i| with_renewal(to_instance_info(service, i), lease_of(i)))
        .collect();
    let mut pieces = Vec::with_capacity(1);
    for same_app in infos.chunk_by(|a, b| a.app == b.app) {
        let mut plain = Vec::with_capacity(same_app.len() * 1024);
        format.encode_instances(&mut plain, same_app, detail);
        pieces.push((same_app[0].app.clone(), Bytes::from(plain)));
    }
    Run { pieces }
}

/// The whole payload in one buffer (tests, and callers that need it whole).
pub fn joined(chunks: &[Bytes]) -> Vec<u8> {
    let mut all = Vec::with_capacity(super::pieces::length_of(chunks) as usize);
    for chunk in chunks {
        all.extend_from_slice(chunk);
    }
    all
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
                let check = |pieces: &mut Pieces, state: &RegistryState, revision| {
                    let payload = pieces.build(revision, &records(state, &settings), &none, format, detail);
                    let whole = expected(state, &settings, format, detail);
                    assert!(joined(&payload.plain) == whole, "{format:?} {detail:?} plain differs");
                    assert!(gunzip(&payload.gzip) == whole, "{format:?} {detail:?} gzip differs");
                    assert_eq!(payload.revision, revision);
                };
                check(&mut pieces, &state, revision);
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
                check(&mut pieces, &changed, at);
                // Back to the first state: its runs were dropped, so it is encoded again, right.
                check(&mut pieces, &state, revision + 100);
            }
        }
    }

    /// Lease times alone (the same revision) re-encode nothing until a refresh is due (twenty
    /// times the last full encoding's cost, at most [`LEASE_TIMES_LAG_MAX`]); then everything
    /// is encoded again with the new renewal times.
    #[test]
    fn lease_times_are_refreshed_only_when_a_refresh_is_due() {
        let settings = EurekaSettings::default();
        let mut state = RegistryState::new();
        let mut revision = 0;
        for n in 0..500 {
            register(&mut state, &mut revision, &settings, &format!("APP-{}", n % 5), n);
        }
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
        assert!(!String::from_utf8(joined(&payload.plain))
            .unwrap()
            .contains("1999999999999"));
        // Due: the last full encoding is older than its cost allows for.
        pieces.refreshed = Some((Instant::now() - Duration::from_secs(2), Duration::from_millis(1)));
        encoded.set(0);
        let payload = pieces.build(revision, &records, &lease_of, Format::Json, Detail::Full);
        assert_eq!(encoded.get(), 500);
        let text = String::from_utf8(joined(&payload.plain)).unwrap();
        assert_eq!(text.matches(r#""lastRenewalTimestamp":1999999999999"#).count(), 500);
        assert!(gunzip(&payload.gzip) == text.as_bytes());
    }

    #[test]
    fn a_change_re_encodes_its_own_run_not_the_registry() {
        let settings = EurekaSettings::default();
        let mut state = RegistryState::new();
        let mut revision = 0;
        for n in 0..3_000 {
            register(&mut state, &mut revision, &settings, &format!("APP-{}", n % 10), n);
        }
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
            (1..=RUN_MAX).contains(&encoded.get()),
            "{} instances encoded again for one registration",
            encoded.get()
        );
        assert!(joined(&payload.plain) == expected(&state, &settings, Format::Json, Detail::Full));
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
        assert!(encoded.get() <= 2 * RUN_MAX, "{} encoded again", encoded.get());
        assert!(joined(&payload.plain) == expected(&state, &settings, Format::Json, Detail::Full));
    }
}
