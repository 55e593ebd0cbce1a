//! Encoded Eureka payloads kept while what they show is unchanged: `/apps` and `/apps/delta` per
//! format, detail and revision, one app per format, detail and the app's own revision. A hit is checked against
//! a validator computed from the current state on every request, so a cached payload is never
//! stale (D2); the cache only saves the conversion and encoding. A payload whose validator was
//! last found current at the registry's present revision and lease epoch is served without
//! computing it again ([`PayloadCache::seen_at`]): nothing it shows can have changed since.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use axum::body::Bytes;
use parking_lot::Mutex;
use parking_lot::RwLock;
use registry_store::model::Revision;

use super::format::Format;
use super::full_fetch::Payload;
use super::wire::Detail;

/// The registry revision and lease-times epoch at which a validator was computed.
pub type Seen = (Revision, u64);

/// One kept payload: the validator it was built for, and where that validator was last seen
/// current (if the caller says).
struct Entry<V> {
    validator: V,
    bytes: Bytes,
    seen: Option<Seen>,
}

/// Payloads by key, each valid while its validator is unchanged. Holds at most `capacity` keys;
/// past that, new keys are built without being kept.
pub struct PayloadCache<K, V> {
    /// Read-locked by hits, so concurrent readers do not queue on each other.
    entries: RwLock<HashMap<K, Entry<V>>>,
    capacity: usize,
    /// Held while building, so concurrent misses build once and the rest reuse it.
    building: Mutex<()>,
}

impl<K: Hash + Eq, V: PartialEq> PayloadCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            capacity,
            building: Mutex::new(()),
        }
    }

    /// The payload cached for `key` if it was built for `validator`, else the one `build` makes
    /// (then cached).
    pub fn get_or_build(&self, key: K, validator: V, build: impl FnOnce() -> Vec<u8>) -> Bytes {
        self.get_or_build_seen(key, validator, None, build)
    }

    /// [`Self::get_or_build`], noting that `validator` is current at `seen` (it was computed
    /// from the state at that revision and epoch).
    pub fn get_or_build_seen(
        &self,
        key: K,
        validator: V,
        seen: Option<Seen>,
        build: impl FnOnce() -> Vec<u8>,
    ) -> Bytes {
        if let Some(hit) = self.valid(&key, &validator, seen) {
            return hit;
        }
        let _building = self.building.lock();
        if let Some(hit) = self.valid(&key, &validator, seen) {
            return hit;
        }
        let bytes = Bytes::from(build());
        let mut entries = self.entries.write();
        if entries.len() < self.capacity || entries.contains_key(&key) {
            let entry = Entry {
                validator,
                bytes: bytes.clone(),
                seen,
            };
            entries.insert(key, entry);
        }
        bytes
    }

    /// The payload cached for `key` if its validator was last found current at `seen`: the
    /// registry has not changed since, so neither has the validator.
    pub fn seen_at<Q>(&self, key: &Q, seen: Seen) -> Option<Bytes>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.entries.read().get(key) {
            Some(entry) if entry.seen == Some(seen) => Some(entry.bytes.clone()),
            _ => None,
        }
    }

    fn valid(&self, key: &K, validator: &V, seen: Option<Seen>) -> Option<Bytes> {
        let entries = self.entries.upgradable_read();
        let entry = entries.get(key)?;
        if entry.validator != *validator {
            return None;
        }
        let bytes = entry.bytes.clone();
        if seen.is_some() && entry.seen != seen {
            let mut entries = parking_lot::RwLockUpgradableReadGuard::upgrade(entries);
            if let Some(entry) = entries.get_mut(key) {
                entry.seen = seen;
            }
        }
        Some(bytes)
    }
}

/// Payloads too large to build on a runtime thread (which also drives Raft and leases), by key:
/// the full registry and the delta. Each is built on a blocking thread, once for all who ask
/// meanwhile (they wait without holding a thread). One whose content (`V`: the revision, ...) is
/// current but whose freshness (`E`: the lease times' epoch, ...) is older is served at once
/// while one rebuild runs in the background: at a hundred thousand instances a build takes
/// seconds, and lease times move every few seconds while clients renew. A caller may also accept
/// older content ([`Self::get_or_older`]). A build returns the content it shows with the payload.
pub struct OffRuntimePayloads<K, V, T, E = u64> {
    built: Mutex<HashMap<K, Built<V, E, T>>>,
    /// Each key's build lock: at most one build per key at a time.
    building: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

/// One kept payload: what it shows and how fresh, and its build's start and cost.
struct Built<V, E, T> {
    content: V,
    freshness: E,
    payload: T,
    began: Instant,
    cost: Duration,
}

/// Of the payload kept for a key: when its build began (when it read the state) and what it
/// cost.
#[derive(Debug, Clone, Copy)]
pub struct BuildAge {
    pub began: Instant,
    pub cost: Duration,
}

impl<K, V, T, E> Default for OffRuntimePayloads<K, V, T, E> {
    fn default() -> Self {
        Self {
            built: Mutex::new(HashMap::new()),
            building: Mutex::new(HashMap::new()),
        }
    }
}

impl<K, V, T, E> OffRuntimePayloads<K, V, T, E>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: PartialEq + Clone + Send + 'static,
    T: Clone + Send + 'static,
    E: PartialEq + Send + 'static,
{
    /// The payload for `key` showing `content` as fresh as `epoch`, built by `build` when
    /// there is none for `content`.
    pub async fn get(
        self: &Arc<Self>,
        key: K,
        content: V,
        epoch: E,
        build: impl FnOnce() -> (V, T) + Send + 'static,
    ) -> T {
        self.get_or_older(key, content, epoch, |_| false, build).await
    }

    /// [`Self::get`], but a payload of older content is served too when `older_ok` says so of
    /// its build, with a rebuild started behind it (unless one runs).
    pub async fn get_or_older(
        self: &Arc<Self>,
        key: K,
        content: V,
        epoch: E,
        older_ok: impl Fn(BuildAge) -> bool,
        build: impl FnOnce() -> (V, T) + Send + 'static,
    ) -> T {
        let kept = match self.built.lock().get(&key) {
            Some(b) if b.content == content && b.freshness == epoch => return b.payload.clone(),
            Some(b) if b.content == content || older_ok(b.age()) => Some(b.payload.clone()),
            _ => None,
        };
        if let Some(kept) = kept {
            self.rebuild(key, epoch, Priority::Background, build);
            return kept;
        }
        let _building = self.build_lock(&key).lock_owned().await;
        if let Some(b) = self.built.lock().get(&key) {
            if b.content == content && b.freshness == epoch {
                return b.payload.clone();
            }
        }
        self.build(key, epoch, build, Priority::Waited).await
    }

    /// Starts a build of `key` in the background, at `priority` ([`Priority::Background`] or
    /// [`Priority::Idle`]), unless one runs; whether it started one.
    pub fn rebuild(
        self: &Arc<Self>,
        key: K,
        epoch: E,
        priority: Priority,
        build: impl FnOnce() -> (V, T) + Send + 'static,
    ) -> bool {
        let Ok(building) = self.build_lock(&key).try_lock_owned() else {
            return false;
        };
        let this = self.clone();
        tokio::spawn(async move {
            let _building = building;
            this.build(key, epoch, build, priority).await;
        });
        true
    }

    /// What the payload kept for `key` shows, and its build's age; `None` before the first.
    pub fn kept(&self, key: &K) -> Option<(V, BuildAge)> {
        self.built.lock().get(key).map(|b| (b.content.clone(), b.age()))
    }

    fn build_lock(&self, key: &K) -> Arc<tokio::sync::Mutex<()>> {
        self.building.lock().entry(key.clone()).or_default().clone()
    }

    async fn build(&self, key: K, epoch: E, build: impl FnOnce() -> (V, T) + Send + 'static, priority: Priority) -> T {
        let timed = move || {
            let began = Instant::now();
            let built = build();
            (built, began, began.elapsed())
        };
        let ((content, payload), began, cost) = match priority {
            Priority::Waited => match tokio::task::spawn_blocking(timed).await {
                Ok(built) => built,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            },
            Priority::Background | Priority::Idle => {
                let (done, built) = tokio::sync::oneshot::channel();
                background_builder(priority).run(Box::new(move || {
                    let _ = done.send(timed());
                }));
                match built.await {
                    Ok(built) => built,
                    // The build panicked (the builder reported it and goes on): nothing to keep.
                    Err(_) => panic!("a background payload build panicked"),
                }
            }
        };
        let built = Built {
            content,
            freshness: epoch,
            payload: payload.clone(),
            began,
            cost,
        };
        self.built.lock().insert(key, built);
        payload
    }
}

/// How a build runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A fetch waits on it: on the blocking pool.
    Waited,
    /// Clients fetch it (an older payload is served meanwhile): on the background builder
    /// thread, at normal priority. At a lower one (nice 10) these starved while renewals
    /// saturated the cores, took longer than the 30 s an older payload may be served, and the
    /// fetches then waited on them (1M: p99 12.8 s). The keeper's spacing bounds their share.
    Background,
    /// Nobody fetches it yet (prepared while the registry is quiet): on the preparing thread at
    /// nice [`IDLE_NICE`], so that it takes what catch-ups, restarts and Raft leave.
    Idle,
}

/// The nice value of the preparing thread (Linux: a per-thread value; 0 is the default, 19 the
/// lowest).
pub const IDLE_NICE: i32 = 10;

/// The names of the builder threads (`/proc/PID/task/*/comm`): both start with `payload-`.
pub const BACKGROUND_THREAD: &str = "payload-build";
pub const IDLE_THREAD: &str = "payload-prepare";

/// One build job.
type Job = Box<dyn FnOnce() + Send>;

/// One of the process's threads for background builds: builds run one after another there.
/// Long-lived, so its CPU time is its own to read.
struct BackgroundBuilder {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl BackgroundBuilder {
    fn start(name: &str, nice: i32) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let started = std::thread::Builder::new().name(name.into()).spawn(move || {
            if nice != 0 {
                lower_this_threads_priority(nice);
            }
            // Until every sender is gone (never, for the process's builders).
            while let Ok(job) = queue.recv() {
                // A panicking build drops its result sender: its waiter hears of it.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
        });
        if let Err(e) = started {
            tracing::error!("cannot start the payload builder {name}: {e}");
        }
        Self {
            jobs: std::sync::Mutex::new(jobs),
        }
    }

    /// Queues `job`; if the builder is gone (it could not start), runs it on the blocking pool.
    fn run(&self, job: Job) {
        let refused = match self.jobs.lock() {
            Ok(jobs) => jobs.send(job).err().map(|e| e.0),
            Err(_) => None,
        };
        if let Some(job) = refused {
            tokio::task::spawn_blocking(job);
        }
    }
}

/// The builder thread of a background `priority`.
fn background_builder(priority: Priority) -> &'static BackgroundBuilder {
    static BUILDER: std::sync::OnceLock<BackgroundBuilder> = std::sync::OnceLock::new();
    static PREPARER: std::sync::OnceLock<BackgroundBuilder> = std::sync::OnceLock::new();
    match priority {
        Priority::Idle => PREPARER.get_or_init(|| BackgroundBuilder::start(IDLE_THREAD, IDLE_NICE)),
        Priority::Waited | Priority::Background => {
            BUILDER.get_or_init(|| BackgroundBuilder::start(BACKGROUND_THREAD, 0))
        }
    }
}

/// Raises the calling thread's nice value to `nice` (nothing elsewhere than Linux).
fn lower_this_threads_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority and gettid take plain integers and touch no memory of ours. On Linux
    // a nice value belongs to a thread, so this changes the calling thread alone.
    unsafe {
        let thread = libc::gettid() as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, thread, nice) != 0 {
            tracing::debug!("could not lower the preparing thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

impl<V, E, T> Built<V, E, T> {
    fn age(&self) -> BuildAge {
        BuildAge {
            began: self.began,
            cost: self.cost,
        }
    }
}

/// What a delta payload shows: the revision and how many changes ever entered the delta window.
pub type DeltaContent = (Revision, u64);

/// How fresh a delta payload is: its lease times' epoch and how many changes had left the window.
/// A payload of the current content that is not this fresh shows a few more changes that have
/// left the window (or older renewal times); a client applies them again harmlessly (its
/// hashcode check is of the registry at the revision, which is the same), so it is served while
/// one rebuild runs: at a hundred thousand instances the window drains every second after a
/// storm, and each fetcher would otherwise wait for a rebuild.
pub type DeltaFreshness = (u64, u64);

/// The Eureka API's payload caches, each by format and detail (`X-Eureka-Accept`).
/// Every payload shows the leader's last renewals (`lastRenewalTimestamp`), so each is also
/// valid for one epoch of this node's lease times (which moves at most every few seconds).
pub struct EurekaPayloads {
    /// `/apps/delta`, plain and gzip'd, for one revision and one state of the delta window.
    pub delta: Arc<OffRuntimePayloads<(Format, Detail), DeltaContent, Payload, DeltaFreshness>>,
    /// One app by upper-case name, valid for the app's own revision and size, and one epoch.
    pub app: PayloadCache<(Format, Detail, String), (Revision, usize, u64)>,
}

/// Apps whose payloads are kept (the rest are built on each request).
const APPS_KEPT: usize = 16_384;

impl Default for EurekaPayloads {
    fn default() -> Self {
        Self {
            delta: Arc::default(),
            app: PayloadCache::new(APPS_KEPT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_served_while_its_validator_holds() {
        let cache = PayloadCache::<&str, u64>::new(2);
        let a = cache.get_or_build("json", 7, || b"seven".to_vec());
        let b = cache.get_or_build("json", 7, || b"rebuilt".to_vec());
        assert_eq!(a, b);
        assert_eq!(cache.get_or_build("xml", 7, || b"xml".to_vec()), "xml");
        assert_eq!(cache.get_or_build("json", 8, || b"eight".to_vec()), "eight");
        assert_eq!(cache.get_or_build("json", 8, || b"again".to_vec()), "eight");
    }

    #[test]
    fn past_capacity_new_keys_are_built_but_not_kept() {
        let cache = PayloadCache::<u32, u64>::new(1);
        cache.get_or_build(1, 0, || b"one".to_vec());
        assert_eq!(cache.get_or_build(2, 0, || b"two".to_vec()), "two");
        assert_eq!(cache.get_or_build(2, 0, || b"built again".to_vec()), "built again");
        assert_eq!(cache.get_or_build(1, 0, || b"not used".to_vec()), "one");
    }

    /// Whether the payload kept for `key` comes to show `content` (polled every 10 ms, 5 s at
    /// most).
    async fn kept_shows<T>(payloads: &OffRuntimePayloads<&'static str, u64, T>, key: &'static str, content: u64) -> bool
    where
        T: Clone + Send + 'static,
    {
        for _ in 0..500 {
            if payloads.kept(&key).is_some_and(|(shown, _)| shown == content) {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        false
    }

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or_default().to_string()
    }

    #[tokio::test]
    async fn background_builds_run_on_the_builder_thread_and_waited_ones_do_not() {
        let payloads = Arc::new(OffRuntimePayloads::<&str, u64, String>::default());
        let waited = payloads.get("json", 1, 0, || (1, thread_name())).await;
        assert_ne!(waited, BACKGROUND_THREAD);
        assert!(payloads.rebuild("json", 0, Priority::Background, || (2, thread_name())));
        assert!(kept_shows(&payloads, "json", 2).await);
        let background = payloads.get("json", 2, 0, || (2, "not built".into())).await;
        assert_eq!(background, BACKGROUND_THREAD);
        // A build that panics ends its waiter, not the builder.
        assert!(payloads.rebuild("xml", 0, Priority::Background, || panic!("a failing build")));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(payloads.rebuild("json", 0, Priority::Background, || (3, thread_name())));
        assert!(
            kept_shows(&payloads, "json", 3).await,
            "the builder goes on after a panicking build"
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn idle_builds_run_on_the_preparing_thread_at_a_lower_priority() {
        /// The calling thread's name and nice value.
        fn thread() -> (String, i32) {
            // SAFETY: plain integers in and out.
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
            (thread_name(), nice)
        }
        let ours = thread().1;
        let payloads = Arc::new(OffRuntimePayloads::<&str, u64, (String, i32)>::default());
        assert!(payloads.rebuild("json", 0, Priority::Idle, || (1, thread())));
        assert!(kept_shows(&payloads, "json", 1).await);
        let built = payloads.get("json", 1, 0, || (1, ("not built".into(), 0))).await;
        assert_eq!(built, (IDLE_THREAD.to_string(), (ours + IDLE_NICE).min(19)));
    }

    #[tokio::test]
    async fn off_runtime_payloads_serve_older_lease_times_while_rebuilding() {
        let payloads = Arc::new(OffRuntimePayloads::<&str, u64, &str>::default());
        let first = payloads.get("json", 1, 10, || (1, "rev1 epoch10")).await;
        assert_eq!(first, "rev1 epoch10");
        let same = payloads.get("json", 1, 10, || (1, "not built")).await;
        assert_eq!(same, "rev1 epoch10");
        // Only the lease times moved: the old payload at once, a rebuild behind it.
        let stale = payloads.get("json", 1, 11, || (1, "rev1 epoch11")).await;
        assert_eq!(stale, "rev1 epoch10");
        let mut rebuilt = "";
        for _ in 0..200 {
            rebuilt = payloads.get("json", 1, 11, || (1, "not built")).await;
            if rebuilt == "rev1 epoch11" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(rebuilt, "rev1 epoch11");
        // New content is always waited for.
        let next = payloads.get("json", 2, 11, || (2, "rev2")).await;
        assert_eq!(next, "rev2");
    }
}
