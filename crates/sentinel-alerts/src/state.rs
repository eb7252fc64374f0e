//! The alert state machine: `ok` → `firing` when the rule's condition holds
//! over its window, `firing` → `ok` (announced as `resolved`) when it no
//! longer does. Pure: the stored state and the verdict in, what to write out.
//!
//! A firing rule stays firing for at least one window (`window_ms` since it
//! began), so a signal hovering at its threshold cannot announce more than
//! one firing and one resolution per window.
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

/// The step at `now` for a rule whose stored state is `stored` and whose
/// condition holds (`breached`) or not.
pub fn step(stored: Option<&AlertState>, breached: bool, now: i64, window_ms: i64) -> Step {
    match stored {
        None => Step::Start { firing: breached },
        Some(s) if s.state == FIRING && !breached && now - s.since < window_ms => {
            Step::Stay { version: s.version }
        }
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

    const WINDOW: i64 = 60_000;

    #[test]
    fn first_evaluation_starts_the_state() {
        assert_eq!(step(None, false, 0, WINDOW), Step::Start { firing: false });
        assert_eq!(step(None, true, 0, WINDOW), Step::Start { firing: true });
    }

    #[test]
    fn ok_fires_and_firing_resolves_after_a_window() {
        assert_eq!(
            step(Some(&stored(OK, 3, 10)), true, 20, WINDOW),
            Step::Fire { version: 3 }
        );
        let firing = stored(FIRING, 4, 20);
        // Within a window of the firing: held.
        assert_eq!(
            step(Some(&firing), false, 20 + WINDOW - 1, WINDOW),
            Step::Stay { version: 4 }
        );
        assert_eq!(
            step(Some(&firing), false, 20 + WINDOW, WINDOW),
            Step::Resolve {
                version: 4,
                started_at: 20
            }
        );
    }

    #[test]
    fn a_lasting_state_is_announced_once() {
        // Evaluations of a firing rule over an hour: no further announcement.
        let firing = stored(FIRING, 7, 20);
        for minute in 0..60 {
            assert_eq!(
                step(Some(&firing), true, 20 + minute * 60_000, WINDOW),
                Step::Stay { version: 7 }
            );
        }
        assert_eq!(
            step(Some(&stored(OK, 2, 0)), false, 1_000_000, WINDOW),
            Step::Stay { version: 2 }
        );
    }

    #[test]
    fn a_flapping_signal_announces_at_most_once_per_window() {
        // The condition flips at every 10 s evaluation for ten minutes.
        let mut state: Option<AlertState> = None;
        let mut events = 0;
        for i in 0..60 {
            let now = i * 10_000;
            let (next, version) = match step(state.as_ref(), i % 2 == 0, now, WINDOW) {
                Step::Start { firing } => (if firing { FIRING } else { OK }, 1),
                Step::Stay { .. } => continue,
                Step::Fire { version } => {
                    events += 1;
                    (FIRING, version + 1)
                }
                Step::Resolve { version, .. } => {
                    events += 1;
                    (OK, version + 1)
                }
            };
            state = Some(stored(next, version, now));
        }
        // Each firing lasts at least a window (6 evaluations): at most one
        // firing and one resolution per 70 s.
        assert!(
            events <= 2 * 600 / 70 + 2,
            "{events} announcements in ten minutes"
        );
        assert!(events >= 2, "it did fire and resolve");
    }
}
