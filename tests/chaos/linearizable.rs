//! A linearizability checker for the history of one key: registrations (each with its own value),
//! cancellations and consistent reads, as the clients saw them. The model is a register holding
//! the registered value or nothing.
//!
//! The search is Wing and Gong's with memoisation (as in Lowe's and Porcupine's checkers): pick
//! an operation that may take effect next (no other pending operation finished before it began),
//! apply it to the model, go on; a pair (operations taken, model state) seen before is not
//! searched again. An operation that failed or timed out may have taken effect at any time after
//! it began, or never: it never has to be taken, and it is never the reason another must wait.
//! Failed reads tell nothing and are left out by the caller.

use std::collections::HashSet;

/// Microseconds since the start of the run.
pub type Micros = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Registers the key with this value (unique per registration).
    Register(u64),
    Cancel,
    /// A linearizable read.
    Read,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged.
    Registered,
    /// Acknowledged; `existed` false when the store answered that the key was not registered
    /// (which a cancel retried inside the store also answers, so it says nothing about the state
    /// before).
    Cancelled { existed: bool },
    /// What a read saw: the value, or nothing registered.
    Read(Option<u64>),
    /// No answer, or a retryable error: may or may not have taken effect.
    Unknown,
}

#[derive(Debug, Clone)]
pub struct Op {
    pub call: Call,
    pub outcome: Outcome,
    pub invoked: Micros,
    /// When the answer came; `None` for [`Outcome::Unknown`].
    pub completed: Option<Micros>,
}

/// The model's step: the state after `op`, or `None` if `op` cannot take effect in `state`.
fn step(state: Option<u64>, op: &Op) -> Option<Option<u64>> {
    match (op.call, op.outcome) {
        (Call::Register(v), Outcome::Registered | Outcome::Unknown) => Some(Some(v)),
        (Call::Cancel, Outcome::Cancelled { existed: true }) => state.map(|_| None),
        (Call::Cancel, Outcome::Cancelled { existed: false } | Outcome::Unknown) => Some(None),
        (Call::Read, Outcome::Read(seen)) => (seen == state).then_some(state),
        _ => None,
    }
}

/// Bit set of operations already taken.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Taken(Vec<u64>);

impl Taken {
    fn new(n: usize) -> Self {
        Taken(vec![0; n.div_ceil(64)])
    }
    fn has(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn with(&self, i: usize) -> Self {
        let mut t = self.clone();
        t.0[i / 64] |= 1 << (i % 64);
        t
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order explains what the clients saw.
    Violation,
    /// The search gave up after this many states (the history is too concurrent to decide).
    Undecided(usize),
}

/// Whether `ops` (one key's history, from an empty start) is linearizable; explores at most
/// `budget` states.
pub fn check(ops: &[Op], budget: usize) -> Verdict {
    let n = ops.len();
    let must: Vec<usize> = (0..n).filter(|&i| ops[i].completed.is_some()).collect();
    let mut seen: HashSet<(Taken, Option<u64>)> = HashSet::new();
    let mut stack = vec![(Taken::new(n), None::<u64>)];
    while let Some((taken, state)) = stack.pop() {
        if must.iter().all(|&i| taken.has(i)) {
            return Verdict::Linearizable;
        }
        if seen.len() >= budget {
            return Verdict::Undecided(seen.len());
        }
        // Whatever goes next must have begun before the earliest answer still to be explained.
        let horizon = must
            .iter()
            .filter(|&&i| !taken.has(i))
            .filter_map(|&i| ops[i].completed)
            .min()
            .unwrap_or(Micros::MAX);
        for (i, op) in ops.iter().enumerate() {
            if taken.has(i) || op.invoked > horizon {
                continue;
            }
            if let Some(next) = step(state, op) {
                let candidate = (taken.with(i), next);
                if seen.insert(candidate.clone()) {
                    stack.push(candidate);
                }
            }
        }
    }
    Verdict::Violation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(call: Call, outcome: Outcome, invoked: Micros, completed: Micros) -> Op {
        Op {
            call,
            outcome,
            invoked,
            completed: (outcome != Outcome::Unknown).then_some(completed),
        }
    }

    const REG: fn(u64) -> Call = Call::Register;
    const OK: Outcome = Outcome::Registered;

    fn read(v: Option<u64>) -> Outcome {
        Outcome::Read(v)
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let h = [
            op(REG(1), OK, 0, 10),
            op(Call::Read, read(Some(1)), 11, 20),
            op(Call::Cancel, Outcome::Cancelled { existed: true }, 21, 30),
            op(Call::Read, read(None), 31, 40),
        ];
        assert_eq!(check(&h, 10_000), Verdict::Linearizable);
    }

    #[test]
    fn a_stale_read_after_an_acknowledged_write_is_a_violation() {
        let h = [
            op(REG(1), OK, 0, 10),
            op(REG(2), OK, 11, 20),
            op(Call::Read, read(Some(1)), 21, 30),
        ];
        assert_eq!(check(&h, 10_000), Verdict::Violation);
    }

    #[test]
    fn a_lost_acknowledged_registration_is_a_violation() {
        let h = [op(REG(1), OK, 0, 10), op(Call::Read, read(None), 20, 30)];
        assert_eq!(check(&h, 10_000), Verdict::Violation);
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        let h = [
            op(REG(1), OK, 0, 50),
            op(REG(2), OK, 10, 40),
            op(Call::Read, read(Some(1)), 60, 70),
        ];
        assert_eq!(check(&h, 10_000), Verdict::Linearizable);
        // But a read may not flip back once both are done and another read saw the later one.
        let h = [
            op(REG(1), OK, 0, 50),
            op(REG(2), OK, 10, 40),
            op(Call::Read, read(Some(1)), 60, 70),
            op(Call::Read, read(Some(2)), 80, 90),
        ];
        assert_eq!(check(&h, 10_000), Verdict::Violation);
    }

    #[test]
    fn an_unanswered_write_may_apply_late_or_never() {
        let late = [
            op(REG(1), OK, 0, 10),
            op(REG(2), Outcome::Unknown, 20, 0),
            op(Call::Read, read(Some(1)), 30, 40),
            op(Call::Read, read(Some(2)), 50, 60),
        ];
        assert_eq!(check(&late, 10_000), Verdict::Linearizable);
        let never = [
            op(REG(1), OK, 0, 10),
            op(REG(2), Outcome::Unknown, 20, 0),
            op(Call::Read, read(Some(1)), 30, 40),
        ];
        assert_eq!(check(&never, 10_000), Verdict::Linearizable);
        // It cannot apply before it was sent.
        let early = [
            op(Call::Read, read(Some(2)), 0, 10),
            op(REG(2), Outcome::Unknown, 20, 0),
        ];
        assert_eq!(check(&early, 10_000), Verdict::Violation);
    }

    #[test]
    fn a_cancel_that_found_the_key_needs_it_registered() {
        let h = [op(Call::Cancel, Outcome::Cancelled { existed: true }, 0, 10)];
        assert_eq!(check(&h, 10_000), Verdict::Violation);
        let h = [op(Call::Cancel, Outcome::Cancelled { existed: false }, 0, 10)];
        assert_eq!(check(&h, 10_000), Verdict::Linearizable);
    }

    #[test]
    fn a_register_applied_twice_around_a_cancel_is_a_violation() {
        // Register 1 is acknowledged, a later cancel finds it, then a read sees it again: what
        // a register applied a second time (a retried duplicate) would look like.
        let h = [
            op(REG(1), OK, 0, 10),
            op(Call::Cancel, Outcome::Cancelled { existed: true }, 20, 30),
            op(Call::Read, read(Some(1)), 40, 50),
        ];
        assert_eq!(check(&h, 10_000), Verdict::Violation);
    }

    #[test]
    fn the_budget_bounds_the_search() {
        // Many concurrent unanswered writes and a read no order explains: the search runs out.
        let mut h: Vec<Op> = (0..40).map(|v| op(REG(v), Outcome::Unknown, 0, 0)).collect();
        h.push(op(Call::Read, read(Some(99)), 10, 20));
        assert!(matches!(check(&h, 1_000), Verdict::Undecided(_)));
    }
}
