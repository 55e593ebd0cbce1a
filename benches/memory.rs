//! Heap bytes per instance of the registry's in-memory state, measured with a counting
//! allocator: the state alone, and with the change feed's history of the same registrations.
//! The quick suite's `bytes_per_instance` is the whole process (RSS); this says how much of it
//! is the model.
//!
//! `cargo bench -p registry-bench --bench memory [-- INSTANCES]`

#[path = "eureka_fixture.rs"]
mod eureka_fixture;

use std::alloc::GlobalAlloc;
use std::alloc::Layout;
use std::alloc::System;
use std::sync::atomic::AtomicIsize;
use std::sync::atomic::Ordering;

use registry_store::feed::ChangeFeed;
use registry_store::protocol::eureka::mapping::EurekaSettings;
use registry_store::state::RegistryState;

use eureka_fixture::registration;
use registry_store::storage::codec;

/// Live heap bytes, counted on every allocation and free.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn main() {
    let instances: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let settings = EurekaSettings::default();
    let sample = registration(&settings, 1);
    let encoded = codec::encode(&sample).expect("encodable").len();

    let before = live();
    let mut state = RegistryState::new();
    let feed = ChangeFeed::new(0, instances as usize);
    for n in 0..instances {
        let (_, changes) = state.apply(n + 1, &registration(&settings, n));
        feed.publish(changes);
    }
    let with_feed = live() - before;
    drop(feed);
    let state_only = live() - before;
    let per = |bytes: isize| bytes as f64 / instances as f64;
    println!("instances: {instances}");
    println!("one registration, encoded for the log: {encoded} bytes");
    println!("state: {:.0} bytes per instance", per(state_only));
    println!(
        "state and change feed history: {:.0} bytes per instance",
        per(with_feed)
    );
    drop(state);
}
