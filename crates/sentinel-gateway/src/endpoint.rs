//! Per-endpoint state that outlives snapshots: circuit breakers, health
//! counters, a rolling window of recent attempts and retry budgets. A reload
//! hands the same state to the new snapshot, so reloading configuration
//! never resets a breaker.
//!
//! Invariant: these mutexes are std mutexes held for a few arithmetic steps
//! and never across an await. The rolling window is a fixed-size ring
//! written under the breaker's lock (one slot per attempt, no allocation);
//! success rates and latency percentiles are computed only when a health
//! report is asked for.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
};

use sentinel_core::{
    UnixMillis,
    breaker::{Admission, Breaker, BreakerParams, BreakerState, Transition},
    retry::RetryBudget,
};
use serde::Serialize;

/// Identifies an endpoint: environment, provider and upstream model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointKey {
    pub org_id: String,
    pub env_id: String,
    pub env_name: String,
    pub provider: String,
    pub model: String,
}

/// How many recent errors an endpoint remembers for health reports.
const RECENT_ERRORS: usize = 5;
/// How many recent attempts the rolling window holds at most.
const WINDOW_SLOTS: usize = 256;
/// How far back the rolling window looks.
pub const WINDOW_MS: i64 = 5 * 60 * 1000;

/// One attempt in the rolling window.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    at: UnixMillis,
    latency_ms: u32,
    ok: bool,
}

/// The last [`WINDOW_SLOTS`] attempts, oldest overwritten first.
#[derive(Debug)]
struct Ring {
    slots: Box<[Sample; WINDOW_SLOTS]>,
    next: usize,
    len: usize,
}

impl Ring {
    fn new() -> Self {
        Self {
            slots: Box::new([Sample::default(); WINDOW_SLOTS]),
            next: 0,
            len: 0,
        }
    }

    fn push(&mut self, sample: Sample) {
        self.slots[self.next] = sample;
        self.next = (self.next + 1) % WINDOW_SLOTS;
        self.len = (self.len + 1).min(WINDOW_SLOTS);
    }

    /// Success rate and latency percentiles of the attempts since
    /// `now - WINDOW_MS`.
    fn window(&self, now: UnixMillis) -> Window {
        let since = now - WINDOW_MS;
        let mut latencies: Vec<u32> = Vec::with_capacity(self.len);
        let mut successes = 0u64;
        for sample in self.slots.iter().take(self.len).filter(|s| s.at >= since) {
            latencies.push(sample.latency_ms);
            successes += u64::from(sample.ok);
        }
        latencies.sort_unstable();
        let attempts = latencies.len() as u64;
        #[expect(clippy::cast_precision_loss, reason = "at most WINDOW_SLOTS attempts")]
        let success_rate = (attempts > 0).then(|| successes as f64 / attempts as f64);
        Window {
            seconds: WINDOW_MS / 1000,
            attempts,
            successes,
            success_rate,
            latency_ms: (!latencies.is_empty()).then(|| Percentiles {
                p50: percentile(&latencies, 50),
                p95: percentile(&latencies, 95),
                p99: percentile(&latencies, 99),
            }),
        }
    }
}

/// The nearest-rank percentile of sorted, non-empty `values`.
fn percentile(sorted: &[u32], p: usize) -> u32 {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// An endpoint's recent attempts: the last 5 minutes, at most the last 256.
/// Latency is the time to the provider's answer (for streams, to the first
/// chunk), failures included.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Window {
    pub seconds: i64,
    pub attempts: u64,
    pub successes: u64,
    /// `successes / attempts`; absent with no attempts in the window.
    pub success_rate: Option<f64>,
    pub latency_ms: Option<Percentiles>,
}

/// Latency percentiles, in milliseconds (nearest rank).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    pub p50: u32,
    pub p95: u32,
    pub p99: u32,
}

/// One endpoint's breaker and health.
#[derive(Debug)]
pub struct EndpointState {
    breaker: Breaker,
    successes: u64,
    failures: u64,
    transitions: u64,
    last_transition_at: Option<UnixMillis>,
    recent_errors: VecDeque<(UnixMillis, String)>,
    recent: Ring,
}

impl EndpointState {
    fn new(params: BreakerParams) -> Self {
        Self {
            breaker: Breaker::new(params),
            successes: 0,
            failures: 0,
            transitions: 0,
            last_transition_at: None,
            recent_errors: VecDeque::new(),
            recent: Ring::new(),
        }
    }

    /// Asks the breaker whether to send.
    pub fn admit(&mut self, key: &EndpointKey, now: UnixMillis) -> Admission {
        let (admission, transition) = self.breaker.admit(now);
        self.note(key, now, transition);
        admission
    }

    /// Reports an attempt's outcome and how long the provider took to
    /// answer (for streams, to the first chunk).
    pub fn record(
        &mut self,
        key: &EndpointKey,
        now: UnixMillis,
        latency_ms: i64,
        failure: Option<&str>,
        probe: bool,
    ) {
        self.recent.push(Sample {
            at: now,
            latency_ms: u32::try_from(latency_ms.max(0)).unwrap_or(u32::MAX),
            ok: failure.is_none(),
        });
        match failure {
            Some(error) => {
                self.failures += 1;
                if self.recent_errors.len() == RECENT_ERRORS {
                    self.recent_errors.pop_front();
                }
                self.recent_errors.push_back((now, error.to_owned()));
            }
            None => self.successes += 1,
        }
        let transition = self.breaker.record(now, failure.is_some(), probe);
        self.note(key, now, transition);
    }

    fn note(&mut self, key: &EndpointKey, now: UnixMillis, transition: Option<Transition>) {
        if let Some(t) = transition {
            self.transitions += 1;
            self.last_transition_at = Some(now);
            tracing::warn!(
                environment = %key.env_name, provider = %key.provider, model = %key.model,
                from = t.from.as_str(), to = t.to.as_str(), "circuit breaker changed state"
            );
        }
    }
}

/// An endpoint's health, as the admin API reports it.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointHealth {
    #[serde(skip)]
    pub org_id: String,
    pub environment: String,
    pub provider: String,
    pub model: String,
    /// `closed`, `open` or `half_open`.
    pub breaker: &'static str,
    pub open_until: Option<UnixMillis>,
    pub successes: u64,
    pub failures: u64,
    pub transitions: u64,
    pub last_transition_at: Option<UnixMillis>,
    pub recent_errors: Vec<RecentError>,
    /// Success rate and latency of the recent attempts.
    pub window: Window,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecentError {
    pub time: UnixMillis,
    pub error: String,
}

/// Shared handle to one endpoint's state.
pub type SharedEndpoint = Arc<Mutex<EndpointState>>;

/// Shared handle to one route plan's retry budget.
pub type SharedBudget = Arc<Mutex<RetryBudget>>;

/// Locks a state mutex, recovering from poisoning (the state is plain
/// counters; a panic elsewhere cannot leave it inconsistent).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every endpoint's state and every route's retry budget.
#[derive(Debug, Default)]
pub struct EndpointRegistry {
    endpoints: Mutex<HashMap<EndpointKey, SharedEndpoint>>,
    budgets: Mutex<HashMap<(String, String), SharedBudget>>,
}

impl EndpointRegistry {
    /// The state of `key`, created if new; its breaker takes `params`.
    pub fn endpoint(&self, key: &EndpointKey, params: BreakerParams) -> SharedEndpoint {
        let mut endpoints = lock(&self.endpoints);
        let shared = endpoints
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Mutex::new(EndpointState::new(params))))
            .clone();
        lock(&shared).breaker.set_params(params);
        shared
    }

    /// The retry budget of route plan `plan` in environment `env_id`.
    pub fn budget(&self, env_id: &str, plan: &str, ratio: f64) -> SharedBudget {
        lock(&self.budgets)
            .entry((env_id.to_owned(), plan.to_owned()))
            .or_insert_with(|| Arc::new(Mutex::new(RetryBudget::new(ratio, 3, 10_000))))
            .clone()
    }

    /// Drops the state of endpoints no snapshot uses any more.
    /// Drops the state of endpoints and route plans the latest snapshot no
    /// longer uses, so removed providers do not linger in health reports or
    /// memory. Endpoints still in use keep their state.
    pub fn retain(
        &self,
        live: &std::collections::HashSet<EndpointKey>,
        live_plans: &std::collections::HashSet<(String, String)>,
    ) {
        lock(&self.endpoints).retain(|k, _| live.contains(k));
        lock(&self.budgets).retain(|k, _| live_plans.contains(k));
    }

    /// Health of every endpoint at `now`.
    pub fn report(&self, now: UnixMillis) -> Vec<EndpointHealth> {
        let endpoints = lock(&self.endpoints);
        let mut out: Vec<EndpointHealth> = endpoints
            .iter()
            .map(|(key, state)| {
                let state = lock(state);
                let breaker = state.breaker.state(now);
                EndpointHealth {
                    org_id: key.org_id.clone(),
                    environment: key.env_name.clone(),
                    provider: key.provider.clone(),
                    model: key.model.clone(),
                    breaker: breaker.as_str(),
                    open_until: match breaker {
                        BreakerState::Open { until } => Some(until),
                        _ => None,
                    },
                    successes: state.successes,
                    failures: state.failures,
                    transitions: state.transitions,
                    last_transition_at: state.last_transition_at,
                    recent_errors: state
                        .recent_errors
                        .iter()
                        .map(|(time, error)| RecentError {
                            time: *time,
                            error: error.clone(),
                        })
                        .collect(),
                    window: state.recent.window(now),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.environment, &a.provider, &a.model).cmp(&(&b.environment, &b.provider, &b.model))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> EndpointKey {
        EndpointKey {
            org_id: "o".into(),
            env_id: "e".into(),
            env_name: "prod".into(),
            provider: "p".into(),
            model: "m".into(),
        }
    }

    #[test]
    fn the_window_reports_success_rate_and_percentiles() {
        let mut state = EndpointState::new(BreakerParams::default());
        let now = 10 * WINDOW_MS;
        // 100 attempts of 1..=100 ms; every tenth fails.
        for ms in 1..=100 {
            let failure = (ms % 10 == 0).then_some("boom");
            state.record(&key(), now, ms, failure, false);
        }
        let window = state.recent.window(now);
        assert_eq!(window.attempts, 100);
        assert_eq!(window.successes, 90);
        assert_eq!(window.success_rate, Some(0.9));
        assert_eq!(
            window.latency_ms,
            Some(Percentiles {
                p50: 50,
                p95: 95,
                p99: 99
            })
        );
    }

    #[test]
    fn the_window_forgets_old_and_overwritten_attempts() {
        let mut state = EndpointState::new(BreakerParams::default());
        let now = 10 * WINDOW_MS;
        assert_eq!(state.recent.window(now).success_rate, None);
        state.record(&key(), now - WINDOW_MS - 1, 5_000, Some("old"), false);
        state.record(&key(), now, 7, None, false);
        let window = state.recent.window(now);
        assert_eq!((window.attempts, window.successes), (1, 1));
        assert_eq!(window.latency_ms.map(|l| l.p99), Some(7));

        for _ in 0..WINDOW_SLOTS {
            state.record(&key(), now, 3, None, false);
        }
        state.record(&key(), now, 9, Some("late"), false);
        let window = state.recent.window(now);
        assert_eq!(window.attempts, WINDOW_SLOTS as u64, "the ring is bounded");
        assert_eq!(window.successes, WINDOW_SLOTS as u64 - 1);
        assert_eq!(window.latency_ms.map(|l| (l.p50, l.p99)), Some((3, 3)));
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        assert_eq!(percentile(&[4], 50), 4);
        assert_eq!(percentile(&[1, 2], 50), 1);
        assert_eq!(percentile(&[1, 2], 99), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 95), 4);
    }
}
