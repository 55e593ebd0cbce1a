//! Leases (D3): renewals never touch the log.
//!
//! [`table`] is the pure bookkeeping (deadlines, renewal rate, self-preservation, which leases to
//! evict); [`keeper`] runs it on the leader only: a new leader first gives every lease a full
//! fresh TTL, then proposes expired ones through the log as one eviction batch per round.

pub mod keeper;
pub mod table;

pub use keeper::LeaseKeeper;
pub use table::LeasePolicy;
pub use table::LeaseStats;
pub use table::LeaseTable;
