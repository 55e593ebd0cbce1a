//! The async runtime Raft runs on, apart from the one that serves clients.
//!
//! Raft's core, its replication and state-machine tasks, the gRPC server the other members call
//! and the channels this node calls them over all run here, on threads of their own. The HTTP
//! front shares the other runtime with work whose polls can be long (a full registry sent to
//! sixteen fetchers, ten thousand watchers woken at once): measured at a million instances, its
//! timers woke up to seconds late while a plain thread's woke on time, and every such stall past
//! the election timeout was an election (13 in one minute of reads). On a runtime of its own,
//! Raft gets the CPU the operating system gives a thread, which stays punctual when the machine
//! is not short of it.

use tokio::runtime::Handle;
use tokio::runtime::Runtime;

/// Worker threads: the core keeps one while the state machine applies a long run of entries.
const WORKERS: usize = 2;

/// The runtime, shut down without waiting when dropped (it may be dropped from within an async
/// context, where waiting is not allowed).
pub struct RaftRuntime {
    runtime: Option<Runtime>,
}

impl RaftRuntime {
    pub fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("raft")
            .enable_all()
            .build()?;
        Ok(Self { runtime: Some(runtime) })
    }

    pub fn handle(&self) -> &Handle {
        self.runtime.as_ref().expect("present until dropped").handle()
    }
}

impl Drop for RaftRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
