//! Leases (D3): renewals never touch the log.
//!
//! [`table`] is the pure bookkeeping (deadlines, renewal rate, self-preservation, which leases to
//! evict); [`keeper`] runs it on the leader only: a new leader first gives every lease a full
//! fresh TTL, then proposes expired ones through the log as one eviction batch per round;
//! [`times`] is every node's copy of the leader's last renewals and deadlines, for the views.
//!
//! Two rules keep a partition from evicting live instances (both found by the chaos suite):
//! a leader answers renewals only while a quorum still follows it (a cut-off leader's renewals
//! would never reach its successor), and an eviction is valid only in the term whose leader
//! decided it (a leader back from a partition must not evict through its successor with a
//! table that missed the renewals taken meanwhile; the state machine skips such entries).

pub mod keeper;
pub mod table;
pub mod times;

pub use keeper::LeaseKeeper;
pub use table::GuardRule;
pub use table::LeasePolicy;
pub use table::LeaseStats;
pub use table::LeaseTable;
pub use times::LeaseTime;
pub use times::LeaseTimes;
