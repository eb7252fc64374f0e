//! The alert state machine: `ok` → `firing` when the rule's condition holds
//! over its window, `firing` → `ok` (announced as `resolved`) when it no
//! longer does. Pure: the stored state and the verdict in, what to write out.
//!
//! Invariant: only a change of state produces an event, so a rule that
//! stays firing is announced once; the store's compare-and-set on
//! `version` makes sure one replica writes (and announces) each change.

use sentinel_core::AlertState;

/// The stored state name of a rule whose condition does not hold.
pub const OK: &str = "ok";
/// The stored state name of a rule whose condition holds.
pub const FIRING: &str = "firing";
/// The event announcing the end of a firing.
pub const RESOLVED: &str = "resolved";

/// What an evaluation writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// First evaluation of the rule: store the state; announce it only when
    /// it is firing.
    Start { firing: bool },
    /// The state did not change: refresh value and time.
    Stay { version: i64 },
    /// `ok` → `firing`: announce `firing`.
    Fire { version: i64 },
    /// `firing` → `ok`: announce `resolved` for the firing that began at
    /// `started_at`.
    Resolve { version: i64, started_at: i64 },
}

/// The step for a rule whose stored state is `stored` and whose condition
/// holds (`breached`) or not.
pub fn step(stored: Option<&AlertState>, breached: bool) -> Step {
    match stored {
        None => Step::Start { firing: breached },
        Some(s) => match (s.state == FIRING, breached) {
            (false, true) => Step::Fire { version: s.version },
            (true, false) => Step::Resolve {
                version: s.version,
                started_at: s.since,
            },
            _ => Step::Stay { version: s.version },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(state: &str, version: i64, since: i64) -> AlertState {
        AlertState {
            env_id: "e".into(),
            rule: "r".into(),
            state: state.into(),
            value: None,
            since,
            evaluated_at: since,
            version,
        }
    }

    #[test]
    fn first_evaluation_starts_the_state() {
        assert_eq!(step(None, false), Step::Start { firing: false });
        assert_eq!(step(None, true), Step::Start { firing: true });
    }

    #[test]
    fn ok_fires_and_firing_resolves() {
        assert_eq!(
            step(Some(&stored(OK, 3, 10)), true),
            Step::Fire { version: 3 }
        );
        assert_eq!(
            step(Some(&stored(FIRING, 4, 20)), false),
            Step::Resolve {
                version: 4,
                started_at: 20
            }
        );
    }

    #[test]
    fn a_lasting_state_is_announced_once() {
        // Ten evaluations of a firing rule: no further announcement.
        let firing = stored(FIRING, 7, 20);
        for _ in 0..10 {
            assert_eq!(step(Some(&firing), true), Step::Stay { version: 7 });
        }
        assert_eq!(
            step(Some(&stored(OK, 2, 0)), false),
            Step::Stay { version: 2 }
        );
    }
}
