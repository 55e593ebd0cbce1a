//! The wall clock, read only where a proposal is stamped or a report timed, never in apply (D1).

use crate::model::Millis;

/// The wall clock in ms since the epoch: the proposer's stamp carried in every command (D1).
pub fn wall_clock_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}
