//! Counters for rate limits and budgets, behind one interface with two back
//! ends: in-process (one node, the default) and Redis (shared by replicas).
//!
//! The gateway's policy stage turns the policies that apply to a request
//! into [`Charge`]s (one per limit per scope) and asks a [`Counters`] back
//! end to admit the request: every charge is checked and taken atomically,
//! all or nothing. After the upstream call, the [`Lease`] is settled with
//! what the request really used; tokens-per-minute and spend are corrected
//! from the estimate to the real amount and concurrency is released.
//!
//! Semantics (the same in every back end):
//! - requests/min and tokens/min: sliding window over the last 60 s
//!   (two fixed windows, the previous one weighted by how much of it still
//!   overlaps, rounded up: a window boundary never lowers the use at once,
//!   the previous minute fades over the next). Admitted while
//!   `used + amount <= limit`.
//! - concurrency: requests in flight. Admitted while `in_flight + 1 <= limit`.
//!   A lease that is never settled (a crashed replica) expires after
//!   [`LEASE_TTL_MS`].
//! - spend per UTC day / per UTC calendar month, in micro-USD: the worst-case
//!   cost is reserved at admission and replaced by the real cost at settle.
//!   Admitted while `spent + reserved < limit`, so under any concurrency the
//!   overshoot is at most one request's worst case.
//! - a charge with `enforce: false` (shadow mode) is counted like any other
//!   but never refuses; when it would have refused, the admission lists it in
//!   [`Admission::shadow_breaches`].
//! - two charges on the same counter (same scope, same kind of limit) take
//!   the amount once; each is checked against its own limit.
//! - settling: tokens/min gets `actual - estimate` (clamped at 0) in the
//!   window the estimate went into; spend gets the reservation replaced by
//!   the real cost (`None` keeps the reservation as spend) in the day or
//!   month it went into; concurrency is released. A lease settled after
//!   its window or period is over changes nothing.
//! - threshold alerts ([`Counters::subscribe`]) are about committed spend
//!   only: reservations never trigger them, a settle whose real cost moves
//!   committed spend from below to at-or-above `limit × permille / 1000`
//!   does. Each threshold of a counter is announced at most once per day or
//!   month (per back end: once across all Redis replicas).
//!
//! Back ends: [`MemoryCounters`] (uses the `now` it is given) and
//! [`RedisCounters`] (uses the Redis server's clock, so every replica sees
//! the same windows).
//!
//! Invariant: no lock is held across an await; the in-process back end
//! never awaits at all.

mod memory;
mod period;
mod redis;
mod rules;

pub use crate::memory::MemoryCounters;
pub use crate::redis::RedisCounters;

/// How long a concurrency lease lives without being settled.
pub const LEASE_TTL_MS: i64 = 15 * 60 * 1000;

/// Milliseconds since the unix epoch.
pub type UnixMillis = i64;

/// One limit of one scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    RequestsPerMinute(u64),
    TokensPerMinute(u64),
    Concurrency(u64),
    /// Micro-USD per UTC day.
    SpendPerDay(u64),
    /// Micro-USD per UTC calendar month.
    SpendPerMonth(u64),
}

impl Limit {
    /// Whether a request with `demand` would be admitted while `used` of
    /// this limit is in use: the rule every back end applies.
    pub fn admits(self, used: u64, demand: Demand) -> bool {
        let kind = rules::CounterKind::of(self);
        rules::Fit::of(kind).fits(used, rules::limit_value(self), kind.amount(demand))
    }
}

/// One counter a request touches.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    /// The counter's identity, e.g. `org/<id>/env/<id>/app/<id>`. Never a
    /// secret; used in Redis key names.
    pub scope: String,
    /// The policy rule this limit comes from, e.g.
    /// `app/checkout.rate_limit.rpm`; reported on refusal.
    pub rule: String,
    pub limit: Limit,
    /// `false`: shadow mode — counted, never refuses.
    pub enforce: bool,
    /// Spend fractions (0 < f <= 1, as permille: 800 = 80 %) whose
    /// crossing emits a [`ThresholdCrossed`] event. Only for spend limits.
    pub alert_at_permille: Vec<u32>,
}

/// What a request is expected to use, decided before the call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Demand {
    /// Estimated tokens (prompt estimate + output cap), for tokens/min.
    pub tokens: u64,
    /// Worst-case cost in micro-USD, reserved against spend limits.
    pub cost_micros: u64,
}

/// What a request really used, known after the call. `None` keeps the
/// estimate (the conservative choice when the provider reported nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actual {
    pub tokens: Option<u64>,
    pub cost_micros: Option<u64>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: String,
    pub scope: String,
    pub limit: Limit,
    /// How much of the limit is in use (including this window's
    /// reservations), in the limit's unit.
    pub used: u64,
    /// Seconds after which a retry can succeed (≥ 1), when that can be known.
    pub retry_after_s: Option<u64>,
}

/// A charge that would have refused the request, had it been enforced.
pub type Breach = Refusal;

/// OpenAI-style `x-ratelimit-*` values for one dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    pub limit: u64,
    pub remaining: u64,
    /// Milliseconds until the window has room for the full limit again.
    pub reset_ms: u64,
}

/// An admitted request.
#[derive(Debug)]
pub struct Admission {
    /// Must be handed back to [`Counters::settle`].
    pub lease: Lease,
    /// Shadow charges that would have refused.
    pub shadow_breaches: Vec<Breach>,
    /// The tightest enforced requests/min window, after this request.
    pub requests: Option<RateWindow>,
    /// The tightest enforced tokens/min window, after this request.
    pub tokens: Option<RateWindow>,
}

/// The admission's hold on its counters, settled once after the call.
#[derive(Debug, Default)]
pub struct Lease {
    /// Back-end private state: the charges taken and the amounts.
    pub(crate) inner: Vec<Held>,
    pub(crate) demand: Demand,
    /// Identifies concurrency leases (Redis).
    pub(crate) id: String,
}

impl Lease {
    /// Whether the lease holds no counter (an admission without charges);
    /// settling it does nothing.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub charge: Charge,
    /// The fixed-window or period bucket the amount went into.
    pub bucket: i64,
}

/// A spend counter crossed one of its alert thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdCrossed {
    pub scope: String,
    pub rule: String,
    pub limit: Limit,
    pub threshold_permille: u32,
    pub spent_micros: u64,
}

/// The current use of one counter, for `policy explain` and the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub scope: String,
    pub rule: String,
    pub limit: Limit,
    /// In the limit's unit; for spend, committed plus reserved.
    pub used: u64,
}

/// The back end could not be reached or answered nonsense.
#[derive(Debug, Clone, thiserror::Error)]
#[error("counter back end unavailable: {0}")]
pub struct CounterError(pub String);

/// A back end's health, for `/readyz` and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterHealth {
    /// `memory` or `redis`.
    pub backend: &'static str,
    pub ok: bool,
    pub last_error: Option<String>,
}

/// Rate-limit and budget counters.
#[async_trait::async_trait]
pub trait Counters: Send + Sync + std::fmt::Debug {
    /// Checks and takes every charge, all or nothing. `Ok(Err(_))` is a
    /// refusal by an enforced charge (nothing was taken); `Err(_)` means
    /// the back end could not decide.
    async fn admit(
        &self,
        charges: &[Charge],
        demand: Demand,
        now: UnixMillis,
    ) -> Result<Result<Admission, Refusal>, CounterError>;

    /// Replaces the estimate with the real use and releases concurrency.
    /// Never blocks the caller: remote back ends finish in the background.
    fn settle(&self, lease: Lease, actual: Actual, now: UnixMillis);

    /// The current use of each charge's counter.
    async fn usage(&self, charges: &[Charge], now: UnixMillis) -> Result<Vec<Usage>, CounterError>;

    fn health(&self) -> CounterHealth;

    /// Threshold crossings of spend counters, as they happen.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ThresholdCrossed>;
}
