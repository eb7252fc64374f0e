//! Per-endpoint state that outlives snapshots: circuit breakers, health
//! counters and retry budgets. A reload hands the same state to the new
//! snapshot, so reloading configuration never resets a breaker.
//!
//! Invariant: these mutexes are std mutexes held for a few arithmetic steps
//! and never across an await.

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

/// One endpoint's breaker and health.
#[derive(Debug)]
pub struct EndpointState {
    breaker: Breaker,
    successes: u64,
    failures: u64,
    transitions: u64,
    last_transition_at: Option<UnixMillis>,
    recent_errors: VecDeque<(UnixMillis, String)>,
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
        }
    }

    /// Asks the breaker whether to send.
    pub fn admit(&mut self, key: &EndpointKey, now: UnixMillis) -> Admission {
        let (admission, transition) = self.breaker.admit(now);
        self.note(key, now, transition);
        admission
    }

    /// Reports an attempt's outcome.
    pub fn record(
        &mut self,
        key: &EndpointKey,
        now: UnixMillis,
        failure: Option<&str>,
        probe: bool,
    ) {
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
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.environment, &a.provider, &a.model).cmp(&(&b.environment, &b.provider, &b.model))
        });
        out
    }
}
