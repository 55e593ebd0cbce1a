//! Criterion micro-benchmarks of the hot paths: applying a registration, the Eureka JSON and XML
//! encoders, ServiceCenter find, version rules, proposal decoding, the dashboard's overview (the part done
//! under the state lock against the whole of it), the leader's once-a-second lease round, and a
//! follower's catch-up (a snapshot built and installed, on sled).
//!
//! `cargo bench -p registry-bench --bench micro`
//!
//! They allocate with jemalloc, as `registryd` does.

#[path = "eureka_fixture.rs"]
mod eureka_fixture;

use std::hint::black_box;
use std::io::Write;

use criterion::criterion_group;
use criterion::criterion_main;
use criterion::BatchSize;
use criterion::Criterion;
use flate2::write::GzEncoder;
use flate2::Compression;
use openraft::storage::RaftStateMachine;
use openraft::CommittedLeaderId;
use openraft::EntryPayload;
use openraft::RaftSnapshotBuilder;
use registry_http::dashboard::overview::registry_view;
use registry_http::dashboard::overview::Filter;
use registry_http::dashboard::overview::Records;
use registry_http::eureka::view::all_of;
use registry_http::eureka::view::View;
use registry_http::servicecenter::discovery::instances_of;
use registry_http::servicecenter::discovery::select_providers;
use registry_http::servicecenter::discovery::ProviderQuery;
use registry_store::command::Batch;
use registry_store::command::Proposal;
use registry_store::lease::table::LeasePolicy;
use registry_store::lease::table::LeaseTable;
use registry_store::meters::StoreMeters;
use registry_store::model::Tenant;
use registry_store::protocol::eureka::json;
use registry_store::protocol::eureka::mapping::EurekaSettings;
use registry_store::protocol::eureka::xml;
use registry_store::protocol::servicecenter::version::VersionRule;
use registry_store::raft::types::Entry;
use registry_store::raft::types::LogId;
use registry_store::state::RegistryState;
use registry_store::storage;
use registry_store::storage::codec;

use eureka_fixture::registration;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const INSTANCES: u64 = 10_000;

/// A registry of `INSTANCES` Eureka instances, ten per app.
fn registry(settings: &EurekaSettings) -> RegistryState {
    let mut state = RegistryState::new();
    for n in 0..INSTANCES {
        state.apply(n + 1, &registration(settings, n));
    }
    state
}

fn apply(c: &mut Criterion) {
    let settings = EurekaSettings::default();
    let state = registry(&settings);
    let fresh = registration(&settings, INSTANCES + 1);
    c.bench_function("apply: register a new instance into 10k", |b| {
        b.iter_batched_ref(
            || state.clone(),
            |s| black_box(s.apply(INSTANCES + 2, &fresh)),
            BatchSize::LargeInput,
        )
    });
}

fn encoders(c: &mut Criterion) {
    let settings = EurekaSettings::default();
    let state = registry(&settings);
    let view = View {
        state: &state,
        settings: &settings,
        leases: None,
    };
    let app = view.app("BENCH-7").expect("registered");
    c.bench_function("eureka: one app (10 instances) as JSON", |b| {
        b.iter(|| black_box(json::encode_application(black_box(&app))))
    });
    c.bench_function("eureka: one app (10 instances) as XML", |b| {
        b.iter(|| black_box(xml::encode_application(black_box(&app))))
    });
    c.bench_function("eureka: look up one app among 10k instances", |b| {
        b.iter(|| black_box(view.app(black_box("BENCH-7"))))
    });
    let all = view.all();
    c.bench_function("eureka: all apps (10k instances) as JSON", |b| {
        b.iter(|| black_box(json::encode_applications(black_box(&all))))
    });
    c.bench_function("eureka: all apps (10k instances) as XML", |b| {
        b.iter(|| black_box(xml::encode_applications(black_box(&all))))
    });
}

fn servicecenter_find(c: &mut Criterion) {
    let settings = EurekaSettings::default();
    let state = registry(&settings);
    let tenant = Tenant::default();
    c.bench_function("servicecenter: find one service among 1k (10 instances)", |b| {
        b.iter(|| {
            let query = ProviderQuery {
                tenant: &tenant,
                env: "",
                app: "eureka",
                name: "bench-7",
                version: Some("latest"),
                tags: &[],
            };
            let providers = select_providers(&state, &query).expect("found");
            black_box(instances_of(&state, &providers))
        })
    });
}

fn version_rules(c: &mut Criterion) {
    let versions: Vec<String> = (0..100).map(|i| format!("1.{}.{}", i / 10, i % 10)).collect();
    for rule in ["latest", "1.2.0+", "1.2.0-1.5.0", "1.3.3"] {
        c.bench_function(&format!("version rule {rule:?} over 100 versions"), |b| {
            b.iter(|| {
                let parsed = VersionRule::parse(black_box(rule));
                black_box(parsed.select(versions.iter().collect(), |v| v.as_str()))
            })
        });
    }
}

fn dashboard(c: &mut Criterion) {
    let settings = EurekaSettings::default();
    let state = registry(&settings);
    c.bench_function(
        "dashboard: copy record pointers of 10k instances (under the lock)",
        |b| b.iter(|| black_box(Records::take(black_box(&state), INSTANCES))),
    );
    c.bench_function("dashboard: overview of 10k instances, 2,000 listed", |b| {
        b.iter(|| {
            let records = Records::take(&state, INSTANCES);
            black_box(registry_view(
                records,
                &Filter::default(),
                (Vec::new(), Vec::new()),
                None,
            ))
        })
    });
    let search = Filter {
        q: "bench-7".into(),
        ..Filter::default()
    };
    c.bench_function("dashboard: overview of 10k instances, searched", |b| {
        b.iter(|| {
            let records = Records::take(&state, INSTANCES);
            black_box(registry_view(records, &search, (Vec::new(), Vec::new()), None))
        })
    });
}

/// Decoding a proposal as a follower does for each entry it receives (the length check
/// included: it refuses declared lengths past the input before decoding).
fn decode(c: &mut Criterion) {
    let bytes = codec::encode(&registration(&EurekaSettings::default(), 7)).expect("encodes");
    c.bench_function("codec: decode one registration proposal", |b| {
        b.iter(|| black_box(codec::decode::<Proposal>(black_box(&bytes)).expect("decodes")))
    });
}

/// The leader's lease round at 100,000 and 1,000,000 leases, none overdue: the scan for
/// overdue leases and the mass-expiry tally (it runs every second, with the lease table
/// locked); and a new leader's table at a million.
fn lease_round(c: &mut Criterion) {
    let settings = EurekaSettings::default();
    let mut group = c.benchmark_group("lease round");
    group.sample_size(10);
    for size in [100_000, 1_000_000] {
        let mut state = RegistryState::new();
        for n in 0..size {
            state.apply(n + 1, &registration(&settings, n));
        }
        let mut table = LeaseTable::new_term(0, state.instances());
        let policy = LeasePolicy::default();
        group.bench_function(format!("{}k leases, none overdue", size / 1000), |b| {
            b.iter(|| black_box(table.evictable(1_000, &policy)))
        });
        if size == 1_000_000 {
            group.bench_function("a new term's table of 1M", |b| {
                b.iter(|| black_box(LeaseTable::new_term(0, state.instances())))
            });
        }
    }
    group.finish();
}

/// The full registry (`GET /apps`) of 100k instances, step by step: the records copied out of
/// the state, converted to Eureka's model, encoded, gzip'd (what one build of the payload costs).
fn full_registry(c: &mut Criterion) {
    let settings = EurekaSettings::default();
    let mut state = RegistryState::new();
    for n in 0..100_000 {
        state.apply(n + 1, &registration(&settings, n));
    }
    let view = View {
        state: &state,
        settings: &settings,
        leases: None,
    };
    let mut group = c.benchmark_group("full registry of 100k");
    group.sample_size(10);
    group.bench_function("records", |b| b.iter(|| black_box(view.records())));
    let records = view.records();
    group.bench_function("convert", |b| b.iter(|| black_box(all_of(&records, None))));
    let apps = all_of(&records, None);
    group.bench_function("encode JSON", |b| {
        b.iter(|| black_box(json::encode_applications(&apps)))
    });
    group.bench_function("encode XML", |b| b.iter(|| black_box(xml::encode_applications(&apps))));
    let plain = json::encode_applications(&apps);
    group.bench_function("gzip JSON (fast)", |b| {
        b.iter(|| {
            let mut gzip = GzEncoder::new(Vec::new(), Compression::fast());
            gzip.write_all(&plain).unwrap();
            black_box(gzip.finish().unwrap())
        })
    });
    group.finish();
}

/// A follower's catch-up at 100k instances (`MICRO_SNAPSHOT_RECORDS` for another count), on
/// sled in a temporary folder: the leader's snapshot built from its state, and that snapshot
/// installed into an empty store (what a wiped follower does before it serves).
fn snapshot(c: &mut Criterion) {
    let records: u64 = std::env::var("MICRO_SNAPSHOT_RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let settings = EurekaSettings::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let leader_dir = tempfile::tempdir().unwrap();
    let (_log, mut leader) = storage::open(leader_dir.path(), 100, &StoreMeters::default()).unwrap();
    let per_entry = 100;
    for first in (0..records).step_by(per_entry) {
        let proposals: Vec<Proposal> = (first..first + per_entry as u64)
            .map(|n| registration(&settings, n))
            .collect();
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), first / per_entry as u64 + 1),
            payload: EntryPayload::Normal(Batch::from(proposals)),
        };
        runtime.block_on(leader.apply([entry])).unwrap();
    }
    let mut group = c.benchmark_group(format!("snapshot of {}k", records / 1000));
    group.sample_size(10);
    group.bench_function("build", |b| {
        b.iter(|| black_box(runtime.block_on(leader.build_snapshot()).unwrap()))
    });
    let built = runtime.block_on(leader.build_snapshot()).unwrap();
    let data = built.snapshot.into_inner();
    group.bench_function("install into an empty store", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let (log, follower) = storage::open(dir.path(), 100, &StoreMeters::default()).unwrap();
                (dir, log, follower, Box::new(std::io::Cursor::new(data.clone())))
            },
            |(dir, log, mut follower, data)| {
                runtime.block_on(follower.install_snapshot(&built.meta, data)).unwrap();
                (dir, log, follower)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    snapshot,
    full_registry,
    lease_round,
    apply,
    encoders,
    servicecenter_find,
    version_rules,
    dashboard,
    decode
);
criterion_main!(benches);
