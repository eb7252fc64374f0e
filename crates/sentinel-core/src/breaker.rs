//! A circuit breaker per endpoint (provider + upstream model), as a small
//! state machine over explicit time.
//!
//! - **closed** passes traffic and counts outcomes in a sliding window; when
//!   the window holds at least `min_requests` outcomes and the failure ratio
//!   reaches `failure_ratio`, it opens;
//! - **open** rejects traffic until `open_for` has passed, then half-opens;
//! - **half-open** lets up to `half_open_probes` requests through; a success
//!   closes the circuit (with a fresh window), a failure opens it again.
//!
//! Rate limiting (429) and client errors are not failures: the endpoint is
//! healthy, the request or the quota is the problem.

use crate::UnixMillis;

/// Breaker settings, validated by the config compiler.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerParams {
    /// Failure ratio in `(0, 1]` that opens the circuit.
    pub failure_ratio: f64,
    /// Outcomes needed in the window before the ratio counts.
    pub min_requests: u32,
    /// Length of the sliding window.
    pub window_ms: i64,
    /// How long the circuit stays open before probing.
    pub open_ms: i64,
    /// Concurrent probes allowed while half-open.
    pub half_open_probes: u32,
}

impl Default for BreakerParams {
    fn default() -> Self {
        Self {
            failure_ratio: 0.5,
            min_requests: 20,
            window_ms: 30_000,
            open_ms: 30_000,
            half_open_probes: 1,
        }
    }
}

/// Buckets the window is divided into.
const BUCKETS: usize = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Start of the bucket's time slice; stale buckets are reset on use.
    start: UnixMillis,
    successes: u32,
    failures: u32,
}

/// The breaker's state, for health reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open { until: UnixMillis },
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open { .. } => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// Whether a request may go to the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send it; report the outcome with [`Breaker::record`].
    Allowed,
    /// Send it as a half-open probe; report the outcome.
    Probe,
    /// Do not send; the circuit is open until this time.
    Rejected { until: UnixMillis },
}

/// A state change, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
}

/// One endpoint's circuit breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    params: BreakerParams,
    state: BreakerState,
    buckets: [Bucket; BUCKETS],
    probes_in_flight: u32,
}

impl Breaker {
    pub fn new(params: BreakerParams) -> Self {
        Self {
            params,
            state: BreakerState::Closed,
            buckets: [Bucket::default(); BUCKETS],
            probes_in_flight: 0,
        }
    }

    /// Replaces the settings (after a config reload), keeping the state.
    pub fn set_params(&mut self, params: BreakerParams) {
        self.params = params;
    }

    pub fn state(&self, now: UnixMillis) -> BreakerState {
        match self.state {
            BreakerState::Open { until } if now >= until => BreakerState::HalfOpen,
            state => state,
        }
    }

    /// Asks to send a request at `now`.
    pub fn admit(&mut self, now: UnixMillis) -> (Admission, Option<Transition>) {
        match self.state {
            BreakerState::Closed => (Admission::Allowed, None),
            BreakerState::Open { until } if now < until => (Admission::Rejected { until }, None),
            BreakerState::Open { .. } => {
                let transition = self.move_to(BreakerState::HalfOpen);
                self.probes_in_flight = 1;
                (Admission::Probe, transition)
            }
            BreakerState::HalfOpen => {
                if self.probes_in_flight < self.params.half_open_probes.max(1) {
                    self.probes_in_flight += 1;
                    (Admission::Probe, None)
                } else {
                    // Probes are out; wait for them rather than pile on.
                    (Admission::Rejected { until: now + 1_000 }, None)
                }
            }
        }
    }

    /// Reports the outcome of an admitted request. `failure` is true only
    /// for endpoint failures (5xx, timeouts, connection errors, broken
    /// streams).
    pub fn record(&mut self, now: UnixMillis, failure: bool, probe: bool) -> Option<Transition> {
        if probe {
            self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
        }
        match self.state {
            BreakerState::HalfOpen | BreakerState::Open { .. } if probe => {
                if failure {
                    self.move_to(BreakerState::Open {
                        until: now + self.params.open_ms,
                    })
                } else {
                    self.buckets = [Bucket::default(); BUCKETS];
                    self.move_to(BreakerState::Closed)
                }
            }
            BreakerState::Closed => {
                self.count(now, failure);
                let (successes, failures) = self.totals(now);
                let total = successes + failures;
                let tripped = total >= self.params.min_requests.max(1)
                    && f64::from(failures) >= self.params.failure_ratio * f64::from(total);
                if tripped {
                    self.move_to(BreakerState::Open {
                        until: now + self.params.open_ms,
                    })
                } else {
                    None
                }
            }
            // Late results of requests admitted before the circuit opened.
            _ => None,
        }
    }

    fn move_to(&mut self, to: BreakerState) -> Option<Transition> {
        let from = self.state;
        self.state = to;
        (from != to).then_some(Transition { from, to })
    }

    fn bucket_len(&self) -> i64 {
        (self.params.window_ms / BUCKETS as i64).max(1)
    }

    fn count(&mut self, now: UnixMillis, failure: bool) {
        let len = self.bucket_len();
        let start = now - now.rem_euclid(len);
        let index = ((now / len).rem_euclid(BUCKETS as i64)) as usize;
        let bucket = &mut self.buckets[index];
        if bucket.start != start {
            *bucket = Bucket {
                start,
                ..Bucket::default()
            };
        }
        if failure {
            bucket.failures += 1;
        } else {
            bucket.successes += 1;
        }
    }

    /// (successes, failures) within the window ending at `now`.
    fn totals(&self, now: UnixMillis) -> (u32, u32) {
        let oldest = now - self.params.window_ms;
        self.buckets
            .iter()
            .filter(|b| b.start > oldest)
            .fold((0, 0), |(s, f), b| (s + b.successes, f + b.failures))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> BreakerParams {
        BreakerParams {
            failure_ratio: 0.5,
            min_requests: 4,
            window_ms: 10_000,
            open_ms: 5_000,
            half_open_probes: 1,
        }
    }

    #[test]
    fn opens_after_enough_failures_then_probes_and_closes() {
        let mut b = Breaker::new(params());
        for t in 0..3 {
            assert_eq!(b.admit(t).0, Admission::Allowed);
            assert_eq!(
                b.record(t, true, false),
                None,
                "below min_requests the ratio does not count"
            );
        }
        let opened = b.record(3, true, false).unwrap();
        assert_eq!(opened.to, BreakerState::Open { until: 5_003 });
        assert_eq!(b.admit(100).0, Admission::Rejected { until: 5_003 });
        assert_eq!(b.state(5_003), BreakerState::HalfOpen);
        let (admission, transition) = b.admit(5_003);
        assert_eq!(admission, Admission::Probe);
        assert_eq!(transition.unwrap().to, BreakerState::HalfOpen);
        assert!(
            matches!(b.admit(5_004).0, Admission::Rejected { .. }),
            "one probe at a time"
        );
        assert_eq!(
            b.record(5_010, false, true).unwrap().to,
            BreakerState::Closed
        );
        assert_eq!(b.admit(5_011).0, Admission::Allowed);
    }

    #[test]
    fn a_failed_probe_opens_again() {
        let mut b = Breaker::new(params());
        for t in 0..4 {
            b.admit(t);
            b.record(t, true, false);
        }
        b.admit(6_000);
        assert_eq!(
            b.record(6_001, true, true).unwrap().to,
            BreakerState::Open { until: 11_001 }
        );
    }

    #[test]
    fn successes_keep_it_closed_and_old_failures_expire() {
        let mut b = Breaker::new(params());
        for t in 0..7 {
            assert_eq!(b.record(t, false, false), None);
        }
        for t in 7..10 {
            assert_eq!(b.record(t, true, false), None);
        }
        // 3 failures out of 10: closed. Much later, the window has moved on.
        for t in 20_000..20_003 {
            assert_eq!(
                b.record(t, true, false),
                None,
                "old outcomes left the window"
            );
        }
        assert_eq!(b.state(20_003), BreakerState::Closed);
    }
}
