//! The worker (`eureka-full-fetch`) that keeps the full registry's wanted payloads current off
//! the request path: on every new revision, and every [`TICK`], it runs a pass of [`super::full_fetch::FullFetch::keep_current`], which starts background builds within
//! the CPU budget [`Keeping`] sets: formats clients fetch on the background builder thread
//! ([`super::cache::Priority::Background`]), JSON prepared ahead of any fetch on the preparing
//! thread at a lower priority ([`super::cache::Priority::Idle`]). At a million instances a build takes seconds: a client that starts (and fetches the
//! whole registry) meanwhile is answered with the payload of a few seconds ago rather than
//! waiting for it.

use std::sync::Arc;
use std::sync::Weak;
use std::time::Duration;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::FutureExt;
use registry_store::worker::stopped;
use registry_store::worker::StopSignal;
use registry_store::worker::Worker;
use registry_store::worker::WorkerStatus;

use super::cache::BuildAge;
use super::ops::Eureka;

/// How full fetches of a large registry are kept off the request path: when an older
/// revision's payload may answer, and when the keeper ([`super::full_fetch::FullFetch::keep_current`]) builds.
#[derive(Debug, Clone, Copy)]
pub struct Keeping {
    /// A payload whose build cost less than this is rebuilt for every new revision while the
    /// fetch waits: small registries answer with their current revision.
    pub older_from: Duration,
    /// An older revision's payload answers only if its build began at most this long ago
    /// (Netflix's read-only response cache is refreshed every 30 s).
    pub max_lag: Duration,
    /// The keeper starts a build no sooner than this many times the last build's cost after
    /// it ended (so at most a third of a core at 2), unless the payload would else grow older
    /// than [`Self::max_lag`].
    pub spacing_factor: u32,
    /// A format and detail fetched within this long is kept current.
    pub wanted_for: Duration,
    /// JSON in full detail, what every Eureka client fetches when it starts, is built whenever
    /// the registry has had no new revision for this long, fetched or not: ready for the
    /// clients that start after a storm of registrations, without slowing the storm.
    pub quiet: Duration,
}

impl Default for Keeping {
    fn default() -> Self {
        Self {
            older_from: Duration::from_millis(100),
            max_lag: Duration::from_secs(30),
            spacing_factor: 2,
            wanted_for: Duration::from_secs(600),
            quiet: Duration::from_secs(2),
        }
    }
}

impl Keeping {
    /// Whether a payload of an older revision, built as `age` says, may answer a fetch.
    pub(super) fn older_ok(&self, age: BuildAge) -> bool {
        age.cost >= self.older_from && age.began.elapsed() <= self.max_lag
    }

    /// Whether the keeper should build again, `now`, after a build that began and cost as
    /// `age` says, when the next is `expected` to cost so much: once the spacing has passed, or
    /// sooner if the payload would else be older than the allowed lag when the next is done.
    pub(super) fn due(&self, age: BuildAge, expected: Duration, now: Instant) -> bool {
        let spaced = age.began + age.cost * (1 + self.spacing_factor);
        let lagging = age.began + self.max_lag.saturating_sub(expected * 2);
        now >= spaced.min(lagging)
    }
}

/// How often a pass runs while nothing new arrives (a build may have become due).
const TICK: Duration = Duration::from_millis(250);

/// The keeper of `eureka`'s full-fetch payloads, until stopped or `eureka` dropped.
pub struct FullFetchKeeper {
    eureka: Weak<Eureka>,
}

impl FullFetchKeeper {
    pub fn new(eureka: &Arc<Eureka>) -> Self {
        Self {
            eureka: Arc::downgrade(eureka),
        }
    }

    async fn run(self, mut stop: StopSignal, status: WorkerStatus) {
        let Some(mut revisions) = self.eureka.upgrade().map(|e| e.registry.revisions()) else {
            return;
        };
        let mut changed_at = Instant::now();
        loop {
            tokio::select! {
                changed = revisions.changed() => match changed {
                    Ok(()) => changed_at = Instant::now(),
                    Err(_) => return,
                },
                () = tokio::time::sleep(TICK) => {},
                () = stopped(&mut stop) => return,
            }
            let Some(eureka) = self.eureka.upgrade() else {
                return;
            };
            let quiet = changed_at.elapsed() >= eureka.full_fetch.keeping().quiet;
            if !eureka
                .full_fetch
                .keep_current(&eureka.registry, &eureka.settings, quiet)
                .is_empty()
            {
                status.activity();
            }
        }
    }
}

impl Worker for FullFetchKeeper {
    fn name(&self) -> String {
        "eureka-full-fetch".into()
    }

    fn run(self: Box<Self>, stop: StopSignal, status: WorkerStatus) -> BoxFuture<'static, Result<(), String>> {
        async move {
            (*self).run(stop, status).await;
            Ok(())
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use registry_store::command::Command;
    use registry_store::command::RegisterInstance;
    use registry_store::protocol::eureka::mapping::to_instance;
    use registry_store::protocol::eureka::mapping::version_of;
    use registry_store::registry::Registry;
    use registry_store::testing::FakeRegistry;

    use super::*;
    use crate::eureka::format::Format;
    use crate::eureka::full_fetch::FullFetch;
    use crate::eureka::mapping::EurekaSettings;
    use crate::eureka::wire::Detail;
    use crate::eureka::wire::InstanceInfo;

    const JSON: (Format, Detail) = (Format::Json, Detail::Full);
    const XML: (Format, Detail) = (Format::Xml, Detail::Full);

    /// An empty fake registry, Eureka's default settings, and full fetches kept by `keeping`.
    fn set_up(keeping: Keeping) -> (Arc<dyn Registry>, EurekaSettings, FullFetch) {
        (FakeRegistry::new(), EurekaSettings::default(), FullFetch::new(keeping))
    }

    async fn register(registry: &Arc<dyn Registry>, settings: &EurekaSettings, host: &str) {
        let info = InstanceInfo::new("ORDERS", host);
        let command = Command::RegisterInstance(RegisterInstance {
            create_tenant: true,
            ..RegisterInstance::new(
                to_instance(settings, &info),
                Some(settings.service_for_app(&info.app, version_of(&info))),
            )
        });
        registry.write(command).await.expect("registered");
    }

    async fn fetch(fetch: &FullFetch, registry: &Arc<dyn Registry>, settings: &EurekaSettings) -> (u64, String) {
        let payload = fetch.get(registry, settings, Format::Json, Detail::Full).await;
        let text = String::from_utf8(payload.plain_bytes()).expect("UTF-8");
        (payload.revision, text)
    }

    /// Polls `done` every 10 ms, at most 5 s.
    async fn eventually(mut done: impl FnMut() -> bool) -> bool {
        for _ in 0..500 {
            if done() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn cheap_builds_answer_with_the_current_revision() {
        let (registry, settings, full) = set_up(Keeping::default());
        register(&registry, &settings, "a.example").await;
        assert!(fetch(&full, &registry, &settings).await.1.contains("a.example"));
        register(&registry, &settings, "b.example").await;
        let (revision, text) = fetch(&full, &registry, &settings).await;
        assert_eq!(revision, registry.revision());
        assert!(text.contains("b.example"), "the registration is shown at once");
    }

    #[tokio::test]
    async fn an_expensive_payload_answers_with_its_older_revision_while_the_next_is_built() {
        // Every build counts as expensive.
        let keeping = Keeping {
            older_from: Duration::ZERO,
            ..Keeping::default()
        };
        let (registry, settings, full) = set_up(keeping);
        register(&registry, &settings, "a.example").await;
        let (first, _) = fetch(&full, &registry, &settings).await;
        register(&registry, &settings, "b.example").await;
        let (revision, text) = fetch(&full, &registry, &settings).await;
        assert_eq!(revision, first, "the older payload answers at once");
        assert!(!text.contains("b.example"));
        // ...and the current one follows, built behind it.
        let mut shown = (0, String::new());
        for _ in 0..500 {
            shown = fetch(&full, &registry, &settings).await;
            if shown.0 == registry.revision() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(shown.0, registry.revision());
        assert!(shown.1.contains("b.example"));
    }

    #[tokio::test]
    async fn an_older_payload_past_the_allowed_lag_is_not_served() {
        let keeping = Keeping {
            older_from: Duration::ZERO,
            max_lag: Duration::ZERO,
            ..Keeping::default()
        };
        let (registry, settings, full) = set_up(keeping);
        register(&registry, &settings, "a.example").await;
        fetch(&full, &registry, &settings).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        register(&registry, &settings, "b.example").await;
        let (revision, text) = fetch(&full, &registry, &settings).await;
        assert_eq!(revision, registry.revision());
        assert!(text.contains("b.example"));
    }

    #[tokio::test]
    async fn the_keeper_builds_what_clients_fetch_before_they_ask() {
        let keeping = Keeping {
            older_from: Duration::ZERO,
            spacing_factor: 0,
            ..Keeping::default()
        };
        let (registry, settings, full) = set_up(keeping);
        register(&registry, &settings, "a.example").await;
        // Nothing while registrations flow and nobody fetches; JSON in full detail once the
        // registry is quiet; XML only once asked for.
        assert!(full.keep_current(&registry, &settings, false).is_empty());
        assert_eq!(full.keep_current(&registry, &settings, true), vec![JSON]);
        assert!(eventually(|| full.shown(&JSON) == Some(registry.revision())).await);
        assert_eq!(full.shown(&XML), None);
        register(&registry, &settings, "b.example").await;
        full.get(&registry, &settings, Format::Xml, Detail::Full).await;
        let revision = registry.revision();
        register(&registry, &settings, "c.example").await;
        // XML, fetched lately, is kept current while registrations flow; JSON waits for quiet.
        assert_eq!(full.keep_current(&registry, &settings, false), vec![XML]);
        let mut started = Vec::new();
        for _ in 0..500 {
            started = full.keep_current(&registry, &settings, true);
            if !started.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(started, vec![JSON]);
        let current = registry.revision();
        assert!(current > revision);
        assert!(eventually(|| full.shown(&JSON) == Some(current) && full.shown(&XML) == Some(current)).await);
        // Nothing behind: nothing to build.
        assert!(full.keep_current(&registry, &settings, true).is_empty());
    }

    #[tokio::test]
    async fn the_keeper_leaves_cheap_payloads_to_the_fetches() {
        let keeping = Keeping {
            older_from: Duration::from_secs(3600),
            spacing_factor: 0,
            ..Keeping::default()
        };
        let (registry, settings, full) = set_up(keeping);
        register(&registry, &settings, "a.example").await;
        assert_eq!(
            full.keep_current(&registry, &settings, true),
            vec![JSON],
            "the first, to learn its cost"
        );
        assert!(eventually(|| full.shown(&JSON).is_some()).await);
        register(&registry, &settings, "b.example").await;
        assert!(full.keep_current(&registry, &settings, true).is_empty());
    }

    #[test]
    fn builds_are_spaced_by_their_cost_unless_the_payload_would_lag_too_far() {
        let keeping = Keeping::default();
        let began = Instant::now();
        let at = |secs: u64| began + Duration::from_secs(secs);
        let second = Duration::from_secs(1);
        // A 1 s build: the next no sooner than 3 s after the last began (a third of a core).
        let age = BuildAge { began, cost: second };
        assert!(!keeping.due(age, second, at(2)));
        assert!(keeping.due(age, second, at(3)));
        // A 10 s build, expected to take 12 s next: started at once so that it is done within
        // the 30 s lag.
        let age = BuildAge {
            began,
            cost: second * 10,
        };
        assert!(keeping.due(age, second * 12, at(10)));
        assert!(!keeping.due(age, second * 5, at(10)));
        assert!(keeping.due(age, second * 5, at(20)));
    }
}
