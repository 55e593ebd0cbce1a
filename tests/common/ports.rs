//! Loopback ports for the servers tests and benches start (shared with `#[path]`).
//!
//! Binding port 0 and releasing it leaves a window in which a parallel test, or the OS picking
//! an ephemeral port for an outgoing connection, takes the same port. So ports come from one
//! process-wide counter (never handed out twice), from below the OS's ephemeral range
//! (32768–60999 on Linux), each checked free by binding it once.

use std::net::TcpListener;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering;

const LOW: u32 = 20_000;
const HIGH: u32 = 32_000;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A loopback port no other caller in this process has been given, free right now.
pub fn free_port() -> u16 {
    let span = HIGH - LOW;
    // Each process starts elsewhere in the range, so concurrent test binaries rarely meet.
    let start = std::process::id().wrapping_mul(97) % span;
    for _ in 0..span {
        let port = LOW + (start + NEXT.fetch_add(1, Ordering::SeqCst)) % span;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
    panic!("no free loopback port between {LOW} and {HIGH}");
}
