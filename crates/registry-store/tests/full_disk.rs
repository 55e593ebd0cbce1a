//! A full disk at each point where the store writes, for real: the data directory sits on a
//! small tmpfs, filled to a chosen number of spare bytes right before a log append, an apply or
//! a snapshot, so sled fails with ENOSPC there or at the flush after it.
//! The directory is then copied as it is on "disk" (what a crash leaves), and again after the disk
//! is freed with the store still open (what a node that keeps running leaves), and each copy is
//! opened as a restarted node would: Raft's start-up, then the entries a leader would send.
//!
//! What must hold every time: the store either opens in exactly the state of the revision it
//! claims (no silent divergence: issue 19, attack 1) and catches up to the same state as a store
//! that never failed, or it refuses to open with a message that says what to do. The log never
//! holds anything but a prefix of the entries appended.
//!
//! Why a store could diverge at all: sled's `apply_batch` inserts one write after another and
//! returns at the first that fails (a blob file it cannot write), keeping the ones before it, so
//! a batch is not atomic on a full disk. Records and their seal can disagree; the store finds it
//! on opening and rebuilds from its snapshot and log (see `storage::state_machine`), and a log
//! truncation removes its last entry first so that, cut short, it leaves a prefix.
//!
//! Needs root (mount); the test command runs as root.

use std::io::Write;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command as Process;
use std::time::Duration;

use openraft::storage::RaftLogStorage;
use openraft::storage::RaftLogStorageExt;
use openraft::storage::RaftStateMachine;
use openraft::storage::StorageHelper;
use openraft::CommittedLeaderId;
use openraft::EntryPayload;
use openraft::RaftLogReader;
use openraft::RaftSnapshotBuilder;
use registry_store::command::Batch;
use registry_store::command::CancelInstance;
use registry_store::command::Command;
use registry_store::command::Proposal;
use registry_store::command::RegisterInstance;
use registry_store::meters::StoreMeters;
use registry_store::model::Instance;
use registry_store::model::Service;
use registry_store::model::Tenant;
use registry_store::raft::types::Entry;
use registry_store::raft::types::LogId;
use registry_store::state::RegistryState;
use registry_store::storage;
use registry_store::storage::codec;
use registry_store::storage::SledLogStore;
use registry_store::storage::SledStateMachine;

/// Entries in the scripted history.
const ENTRIES: u64 = 24;
/// A snapshot is built (and the log purged behind it) after every this many entries.
const SNAPSHOT_EVERY: u64 = 8;
/// Entries the log keeps behind a snapshot, as openraft does.
const KEEP_BEHIND_SNAPSHOT: u64 = 2;
/// Bytes of metadata on a bulky instance (sled writes values and tree nodes over 128 KiB as
/// blobs, each a file of its own).
const BULKY_BYTES: usize = 100_000;
/// Bulky registrations in every fourth entry.
const TRIO: usize = 6;

/// Where the disk is filled, and where a write fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    LogAppend,
    Apply,
    Snapshot,
}

/// One run: the disk is filled, leaving `spare` bytes, right before `fill_before` for entry
/// `at`. Where a write then fails depends on what fits: sled takes small writes (and an apply's
/// records) into memory and fails at the next flush, a log append waits for that flush, and big
/// values (log entries of bulky registrations, snapshots) are files of their own written at once.
#[derive(Debug, Clone, Copy)]
struct Case {
    fill_before: Point,
    at: u64,
    spare: u64,
}

fn instance(id: &str, bulk: Option<char>) -> Instance {
    let mut i = Instance::new(Tenant::default(), "svc", id, "10.0.0.1");
    if let Some(fill) = bulk {
        for k in 0..(BULKY_BYTES / 5_000) {
            i.metadata
                .insert(format!("k{k}").into(), fill.to_string().repeat(5_000).into());
        }
    }
    i
}

fn register(i: Instance) -> Proposal {
    let service = Service::new(Tenant::default(), "svc", "app", "svc");
    Proposal {
        at_ms: 1,
        command: Command::RegisterInstance(RegisterInstance::new(i, Some(service))),
    }
}

/// The scripted history, indexed by log index: the membership first (as openraft's
/// initialisation writes it, at index 0), then bulky and small registrations, entries of three
/// bulky ones at once (an apply that writes three blobs, so the disk can run out in the middle
/// of it), updates and cancellations.
fn history() -> Vec<Entry> {
    let membership = Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), 0),
        payload: EntryPayload::Membership(openraft::Membership::new(
            vec![std::collections::BTreeSet::from([1])],
            None,
        )),
    };
    let normal = (1..=ENTRIES).map(|index| {
        let proposals = match index % 4 {
            0 => vec![register(instance(&format!("bulky-{index}"), Some('a')))],
            1 => vec![register(instance(&format!("small-{index}"), None))],
            2 => (0..TRIO)
                .map(|n| register(instance(&format!("trio-{index}-{n}"), Some('b'))))
                .collect(),
            _ if index > 8 => vec![
                // Re-register an earlier bulky instance with other metadata, cancel a trio.
                register(instance(&format!("bulky-{}", index - 7), Some('c'))),
                Proposal {
                    at_ms: 1,
                    command: Command::CancelInstance(CancelInstance {
                        instance: instance(&format!("trio-{}-1", index - 5), None).key(),
                    }),
                },
            ],
            _ => vec![register(instance(&format!("small-{index}"), None))],
        };
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Batch::from(proposals)),
        }
    });
    std::iter::once(membership).chain(normal).collect()
}

/// Every record, encoded and sorted: equal fingerprints mean equal states.
fn fingerprint(state: &RegistryState) -> Vec<Vec<u8>> {
    let mut records: Vec<Vec<u8>> = state.entities().map(|e| codec::encode(&e).unwrap()).collect();
    records.sort();
    records
}

/// The state after each entry of `history`, as a store that never failed has it.
fn reference(history: &[Entry]) -> Vec<Vec<Vec<u8>>> {
    let mut state = RegistryState::new();
    let mut after = Vec::new();
    for entry in history {
        if let EntryPayload::Normal(batch) = &entry.payload {
            for proposal in batch.proposals.iter() {
                state.apply(entry.log_id.index, proposal);
            }
        }
        after.push(fingerprint(&state));
    }
    after
}

/// A tmpfs of its own, filled on demand.
struct SmallDisk {
    mount: PathBuf,
}

impl SmallDisk {
    fn mount(at: &Path) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let status = Process::new("mount")
            .args(["-t", "tmpfs", "-o", "size=40m", "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (the test command runs as root)"
        );
        SmallDisk {
            mount: at.to_path_buf(),
        }
    }

    /// Fills the disk, then gives `spare` bytes back.
    fn fill(&self, spare: u64) {
        let path = self.mount.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        // 24 MiB: the loop ends at ENOSPC long before this bound.
        for _ in 0..100_000 {
            if !matches!(file.write(&chunk), Ok(n) if n > 0) {
                break;
            }
        }
        for _ in 0..64 * 1024 {
            if !matches!(file.write(&[0u8]), Ok(1)) {
                break;
            }
        }
        let len = file.metadata().unwrap().len();
        file.set_len(len.saturating_sub(spare)).unwrap();
    }

    fn free(&self) {
        let _ = std::fs::remove_file(self.mount.join("filler"));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Process::new("umount").arg("-l").arg(&self.mount).status();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            // A file sled removes meanwhile is simply not in the copy, as after a crash.
            let _ = std::fs::copy(entry.path(), &target);
        }
    }
}

/// How long the stores under test wait for a flush before counting the disk as wedged.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);

fn open(dir: &Path) -> Result<(SledLogStore, SledStateMachine), storage::OpenError> {
    storage::open_with_flush_limit(dir, 100, &StoreMeters::default(), FLUSH_LIMIT)
}

/// The index of the first entry the log does not hold.
async fn failed_index(stores: &(SledLogStore, SledStateMachine)) -> usize {
    let mut log = stores.0.clone();
    let held = log.get_log_state().await.unwrap().last_log_id;
    held.map_or(0, |l| l.index as usize + 1).min(ENTRIES as usize)
}

/// Writes the history as Raft would, filling the disk where the case says; the point where a
/// write failed (the store is left open, as a node that has not exited yet leaves it).
async fn run_until_failure(
    case: Case,
    disk: &SmallDisk,
    stores: &mut (SledLogStore, SledStateMachine),
    history: &[Entry],
) -> Option<Point> {
    let (log, sm) = stores;
    for entry in history {
        let index = entry.log_id.index;
        let fill_before = |point| case.at == index && case.fill_before == point;
        if fill_before(Point::LogAppend) {
            disk.fill(case.spare);
        }
        if log.blocking_append([entry.clone()]).await.is_err() {
            return Some(Point::LogAppend);
        }
        if fill_before(Point::Apply) {
            disk.fill(case.spare);
        }
        if sm.apply([entry.clone()]).await.is_err() {
            return Some(Point::Apply);
        }
        if log.save_committed(Some(entry.log_id)).await.is_err() {
            return Some(Point::Apply);
        }
        if index > 0 && index % SNAPSHOT_EVERY == 0 {
            if fill_before(Point::Snapshot) {
                disk.fill(case.spare);
            }
            if sm.build_snapshot().await.is_err() {
                return Some(Point::Snapshot);
            }
            let behind = LogId::new(CommittedLeaderId::new(1, 1), index - KEEP_BEHIND_SNAPSHOT);
            if log.purge(behind).await.is_err() {
                return Some(Point::Snapshot);
            }
        }
    }
    None
}

/// Opens a copy as a restarted node: `Ok(revision it opened at)` once it has caught up with
/// the whole history and holds the reference state, or `Err(its refusal)`.
async fn restart(dir: &Path, history: &[Entry], reference: &[Vec<Vec<u8>>]) -> Result<u64, String> {
    let (mut log, mut sm) = open(dir).map_err(|e| e.to_string())?;
    StorageHelper::new(&mut log, &mut sm)
        .get_initial_state()
        .await
        .map_err(|e| format!("Raft's start-up failed: {e}"))?;
    let (applied, _) = sm.applied_state().await.unwrap();
    let revision = applied.map_or(0, |l| l.index);
    let state = sm.state_handle();
    let empty = fingerprint(&RegistryState::new());
    let claimed = applied.map_or(&empty, |l| &reference[l.index as usize]);
    assert!(
        fingerprint(&state.read().state) == *claimed,
        "{}: opened at revision {revision} with a state that is not that revision's",
        dir.display()
    );

    // The log holds a prefix of the history: every entry it has is the one appended there.
    let held = log.get_log_state().await.unwrap();
    let first = held.last_purged_log_id.map_or(0, |l| l.index + 1);
    let next_to_append = held.last_log_id.map_or(0, |l| l.index + 1);
    let entries = log.try_get_log_entries(first..next_to_append).await.unwrap();
    assert_eq!(entries.len() as u64, next_to_append - first, "a gap in the log");
    for entry in &entries {
        let expected = &history[entry.log_id.index as usize];
        assert_eq!(
            codec::encode(entry).unwrap(),
            codec::encode(expected).unwrap(),
            "log entry {} is not the one appended",
            entry.log_id.index
        );
    }

    // What the leader sends next, and what Raft applies.
    if next_to_append <= ENTRIES {
        log.blocking_append(history[next_to_append as usize..].to_vec())
            .await
            .unwrap();
    }
    let from = applied.map_or(0, |l| l.index + 1) as usize;
    sm.apply(history[from..].to_vec()).await.unwrap();
    assert!(
        fingerprint(&state.read().state) == reference[ENTRIES as usize],
        "{}: caught up from revision {revision} to a state that differs from a store that never failed",
        dir.display()
    );
    Ok(revision)
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for spare in [0, 100_000, 400_000, 700_000] {
        for at in [6, 10, 14] {
            cases.push(Case {
                fill_before: Point::LogAppend,
                at,
                spare,
            });
            cases.push(Case {
                fill_before: Point::Apply,
                at,
                spare,
            });
        }
    }
    for spare in [0, 500_000, 2_000_000] {
        cases.push(Case {
            fill_before: Point::Snapshot,
            at: 16,
            spare,
        });
    }
    cases
}

/// Set in the child process that runs one case: `INDEX SCRATCH_DIR`.
const CASE_VAR: &str = "FULL_DISK_CASE";

/// One case, in a process of its own (sled's concurrency control is process-wide, and a store
/// wedged by a failed write would block every other store in the process): fills the disk,
/// writes until a write fails, leaves the two copies in the scratch folder and prints where it
/// failed.
async fn run_case(n: usize, scratch: &Path) {
    let history = history();
    let case = cases()[n];
    let disk = SmallDisk::mount(&scratch.join(format!("disk-{n}")));
    let data = disk.mount.join("data");
    let mut stores = open(&data).unwrap();
    let failed = run_until_failure(case, &disk, &mut stores, &history)
        .await
        .unwrap_or_else(|| panic!("{case:?}: the disk filled but no write failed"));
    // What a crash leaves, then what a node still running leaves once the disk has room.
    copy_dir(&data, &scratch.join(format!("crashed-{n}")));
    disk.free();
    tokio::time::sleep(Duration::from_millis(700)).await;
    copy_dir(&data, &scratch.join(format!("survived-{n}")));
    // Once a write failed, sled's flush may wait forever (it did, after a failed snapshot):
    // the store answers within its flush limit all the same, so Raft stops and the node exits
    // instead of staying up stuck.
    let next = history[failed_index(&stores).await].clone();
    let answered = tokio::time::timeout(FLUSH_LIMIT * 5, stores.0.blocking_append([next])).await;
    assert!(answered.is_ok(), "{case:?}: an append after the failure never returned");
    println!("FAILED AT {failed:?}");
    // Not dropped: sled's drop flushes, and that flush may wait forever too (the node exits
    // without dropping it); nor waited for.
    std::mem::forget(stores);
    drop(disk);
    std::process::exit(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_at_any_point_leaves_the_committed_state_or_a_clear_refusal() {
    if let Ok(spec) = std::env::var(CASE_VAR) {
        let (n, scratch) = spec.split_once(' ').expect("INDEX SCRATCH_DIR");
        run_case(n.parse().unwrap(), Path::new(scratch)).await;
        return;
    }
    let history = history();
    let reference = reference(&history);
    let scratch = tempfile::tempdir().unwrap();
    let mut report = Vec::new();
    let mut points_hit = Vec::new();
    for (n, case) in cases().into_iter().enumerate() {
        let child = Process::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_full_disk_at_any_point_leaves_the_committed_state_or_a_clear_refusal",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CASE_VAR, format!("{n} {}", scratch.path().display()))
            .output()
            .expect("run the case's process");
        let stdout = String::from_utf8_lossy(&child.stdout);
        let failed = stdout
            .lines()
            .find_map(|l| l.split_once("FAILED AT ").map(|(_, point)| point))
            .unwrap_or_else(|| {
                panic!(
                    "{case:?}: the case's process failed: {}\n{stdout}",
                    String::from_utf8_lossy(&child.stderr)
                )
            })
            .to_string();
        points_hit.push(failed.clone());
        for copy in ["crashed", "survived"] {
            let copy = scratch.path().join(format!("{copy}-{n}"));
            let outcome = restart(&copy, &history, &reference).await;
            if let Err(refusal) = &outcome {
                assert!(
                    refusal.contains("--join") || refusal.contains("Keep the directory"),
                    "{case:?}: refused without saying what to do: {refusal}"
                );
            }
            report.push(format!("{case:?}: failed at {failed}; {copy:?} → {outcome:?}"));
        }
    }
    println!("{}", report.join("\n"));
    // An apply itself never fails here (its records go to memory; the flush after it does):
    // the cases that fill the disk before an apply lose its records on disk instead.
    for point in [Point::LogAppend, Point::Snapshot] {
        assert!(
            points_hit.contains(&format!("{point:?}")),
            "no case made a write fail at {point:?}: {report:#?}"
        );
    }
}

/// A node started on a disk with no room left (a fresh data directory, where sled must write its
/// first files) is refused with what happened and what to do, not as "corrupt" nor a bare I/O
/// error (CI saw "IO error: No space left on device" from the open alone).
#[test]
fn opening_on_a_full_disk_says_the_disk_is_full_and_what_to_do() {
    let scratch = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(&scratch.path().join("disk"));
    disk.fill(0);
    let refusal = match open(&disk.mount.join("data")) {
        Ok(_) => panic!("a store opened on a disk with no room"),
        Err(e) => e,
    };
    assert!(
        matches!(refusal, storage::OpenError::NoSpace { .. }),
        "refused as {refusal:?}"
    );
    let text = refusal.to_string();
    assert!(
        text.contains("disk is full") && text.contains("Keep the directory") && text.contains("free space"),
        "{text}"
    );
}
