//! The in-process back end: counters of one gateway node, in memory.
//!
//! A map from counter (scope and kind) to a small state behind its own
//! `std::sync::Mutex`. An admission locks the counters it touches in one
//! global order (sorted by counter), observes them, decides with
//! [`rules::assess`] and takes them all before unlocking, so it is atomic
//! and deadlock-free; nothing else waits on those locks for more than a few
//! map operations.
//!
//! Invariants:
//! - nothing here awaits; no lock is ever held across an await;
//! - the map lock is never taken while a counter lock is held;
//! - memory stays bounded: once a minute (on an admission) counters whose
//!   windows and periods are over and that have no live lease are dropped,
//!   unless someone holds them at that moment;
//! - all arithmetic is integer and saturating; counters never go below 0;
//! - time is the `now` the caller passes; a `now` earlier than one seen
//!   before counts as the latest window or period seen.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use tokio::sync::broadcast;

use crate::period::{
    day_of, month_of, ms_left_in_window, ms_to_next_day, ms_to_next_month, window_of,
};
use crate::rules::{
    self, CounterId, CounterKind, Observed, crosses, limit_value, threshold_amount,
};
use crate::{
    Actual, Admission, Charge, CounterError, CounterHealth, Counters, Demand, Held, LEASE_TTL_MS,
    Lease, Refusal, ThresholdCrossed, UnixMillis, Usage,
};

/// How many threshold events a slow subscriber may fall behind by.
const EVENT_CAPACITY: usize = 256;
/// How often admissions sweep out finished counters.
const SWEEP_EVERY_MS: i64 = 60_000;

type Cell = Arc<Mutex<CounterState>>;

/// Counters in this process's memory, for a single gateway node. Windows
/// and periods follow the `now` each call passes; threshold events go to
/// every [`Counters::subscribe`] receiver.
pub struct MemoryCounters {
    counters: RwLock<HashMap<CounterId, Cell>>,
    /// The earliest `now` at which an admission sweeps.
    next_sweep_at: AtomicI64,
    next_lease: AtomicU64,
    events: broadcast::Sender<ThresholdCrossed>,
}

impl std::fmt::Debug for MemoryCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCounters")
            .field("counters", &self.counter_count())
            .finish_non_exhaustive()
    }
}

impl Default for MemoryCounters {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryCounters {
    /// Empty counters.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Self {
            counters: RwLock::new(HashMap::new()),
            next_sweep_at: AtomicI64::new(i64::MIN),
            next_lease: AtomicU64::new(1),
            events,
        }
    }

    /// How many counters are held in memory.
    pub fn counter_count(&self) -> usize {
        read(&self.counters).len()
    }

    /// Drops the counters that are over at `now`: rate counters untouched
    /// for two windows, spend counters untouched for two periods,
    /// concurrency counters without a live lease. Admissions call it once a
    /// minute; callers may call it any time.
    pub fn sweep(&self, now: UnixMillis) {
        let mut counters = write(&self.counters);
        counters.retain(|id, cell| {
            // Held elsewhere: someone is about to use it.
            Arc::strong_count(cell) > 1 || !lock(cell).is_over(id.kind, now)
        });
    }

    fn maybe_sweep(&self, now: UnixMillis) {
        let due = self.next_sweep_at.load(Ordering::Relaxed);
        if now < due {
            return;
        }
        let next = now.saturating_add(SWEEP_EVERY_MS);
        let claimed = self
            .next_sweep_at
            .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
        if claimed {
            self.sweep(now);
        }
    }

    /// The counter's cell, created if new.
    fn cell(&self, id: &CounterId) -> Cell {
        if let Some(cell) = self.existing(id) {
            return cell;
        }
        let mut counters = write(&self.counters);
        Arc::clone(
            counters
                .entry(id.clone())
                .or_insert_with(|| Arc::new(Mutex::new(CounterState::new(id.kind)))),
        )
    }

    fn existing(&self, id: &CounterId) -> Option<Cell> {
        read(&self.counters).get(id).map(Arc::clone)
    }

    fn new_lease_id(&self) -> String {
        self.next_lease.fetch_add(1, Ordering::Relaxed).to_string()
    }

    /// Observes, decides and takes, holding every touched counter's lock.
    fn try_admit(
        &self,
        charges: &[Charge],
        demand: Demand,
        now: UnixMillis,
    ) -> Result<Admission, Refusal> {
        let ids = rules::counters_of(charges);
        let cells: Vec<Cell> = ids.iter().map(|id| self.cell(id)).collect();
        // Sorted order: concurrent admissions cannot deadlock.
        let mut states: Vec<MutexGuard<'_, CounterState>> = cells.iter().map(|c| lock(c)).collect();
        let observed: BTreeMap<CounterId, Observed> = ids
            .iter()
            .zip(states.iter_mut())
            .map(|(id, state)| (id.clone(), state.observe(id.kind, now)))
            .collect();
        let assessment = rules::assess(charges, demand, &observed);
        if let Some(refusal) = assessment.refusal {
            return Err(refusal);
        }
        let needs_lease = ids.iter().any(|id| id.kind == CounterKind::Concurrency);
        let lease_id = if needs_lease {
            self.new_lease_id()
        } else {
            String::new()
        };
        let buckets: BTreeMap<&CounterId, i64> = ids
            .iter()
            .zip(states.iter_mut())
            .map(|(id, state)| (id, state.take(id.kind.amount(demand), &lease_id, now)))
            .collect();
        drop(states);
        let inner = charges
            .iter()
            .map(|charge| Held {
                charge: charge.clone(),
                bucket: buckets.get(&CounterId::of(charge)).copied().unwrap_or(0),
            })
            .collect();
        Ok(Admission {
            lease: Lease {
                inner,
                demand,
                id: lease_id,
            },
            shadow_breaches: assessment.shadow_breaches,
            requests: assessment.requests,
            tokens: assessment.tokens,
        })
    }

    /// Settles one counter of a lease; returns the thresholds it crossed.
    fn settle_counter(
        &self,
        id: &CounterId,
        held: &[&Held],
        lease: &Lease,
        actual: Actual,
    ) -> Vec<ThresholdCrossed> {
        let Some(cell) = self.existing(id) else {
            // Swept: its window or period is long over.
            return Vec::new();
        };
        let bucket = held.first().map_or(0, |held| held.bucket);
        let demand = lease.demand;
        let mut state = lock(&cell);
        match &mut *state {
            CounterState::Rate(rate) if id.kind == CounterKind::Tokens => {
                if let Some(real) = actual.tokens {
                    rate.correct(bucket, demand.tokens, real);
                }
                Vec::new()
            }
            CounterState::Rate(_) => Vec::new(),
            CounterState::Concurrency(concurrency) => {
                concurrency.leases.remove(&lease.id);
                Vec::new()
            }
            CounterState::Spend(spend) => {
                let real = actual.cost_micros.unwrap_or(demand.cost_micros);
                spend
                    .bucket_mut(bucket)
                    .map(|period| period.settle(demand.cost_micros, real, held))
                    .unwrap_or_default()
            }
        }
    }
}

#[async_trait::async_trait]
impl Counters for MemoryCounters {
    async fn admit(
        &self,
        charges: &[Charge],
        demand: Demand,
        now: UnixMillis,
    ) -> Result<Result<Admission, Refusal>, CounterError> {
        let decision = self.try_admit(charges, demand, now);
        self.maybe_sweep(now);
        Ok(decision)
    }

    fn settle(&self, lease: Lease, actual: Actual, _now: UnixMillis) {
        let mut by_counter: BTreeMap<CounterId, Vec<&Held>> = BTreeMap::new();
        for held in &lease.inner {
            by_counter
                .entry(CounterId::of(&held.charge))
                .or_default()
                .push(held);
        }
        let events: Vec<ThresholdCrossed> = by_counter
            .iter()
            .flat_map(|(id, held)| self.settle_counter(id, held, &lease, actual))
            .collect();
        for event in events {
            // No subscriber is fine.
            let _ = self.events.send(event);
        }
    }

    async fn usage(&self, charges: &[Charge], now: UnixMillis) -> Result<Vec<Usage>, CounterError> {
        Ok(charges
            .iter()
            .map(|charge| {
                let id = CounterId::of(charge);
                let used = self
                    .existing(&id)
                    .map_or(0, |cell| lock(&cell).observe(id.kind, now).used());
                Usage {
                    scope: charge.scope.clone(),
                    rule: charge.rule.clone(),
                    limit: charge.limit,
                    used,
                }
            })
            .collect())
    }

    fn health(&self) -> CounterHealth {
        CounterHealth {
            backend: "memory",
            ok: true,
            last_error: None,
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<ThresholdCrossed> {
        self.events.subscribe()
    }
}

/// One counter's state.
#[derive(Debug)]
enum CounterState {
    Rate(RateState),
    Concurrency(ConcurrencyState),
    Spend(SpendState),
}

impl CounterState {
    fn new(kind: CounterKind) -> Self {
        match kind {
            CounterKind::Requests | CounterKind::Tokens => Self::Rate(RateState::default()),
            CounterKind::Concurrency => Self::Concurrency(ConcurrencyState::default()),
            CounterKind::SpendDay | CounterKind::SpendMonth => Self::Spend(SpendState::default()),
        }
    }

    /// Moves the state to `now` and reports it.
    fn observe(&mut self, kind: CounterKind, now: UnixMillis) -> Observed {
        match self {
            Self::Rate(rate) => {
                rate.roll(window_of(now));
                Observed::Rate {
                    current: rate.current,
                    previous: rate.previous,
                    ms_left: ms_left_in_window(now),
                }
            }
            Self::Concurrency(concurrency) => {
                concurrency.expire(now);
                let in_flight = u64::try_from(concurrency.leases.len()).unwrap_or(u64::MAX);
                Observed::Concurrency { in_flight }
            }
            Self::Spend(spend) => {
                spend.roll(spend_bucket(kind, now));
                Observed::Spend {
                    committed: spend.current.committed,
                    reserved: spend.current.reserved,
                    ms_to_period_end: ms_to_period_end(kind, now),
                }
            }
        }
    }

    /// Takes `amount` (after [`Self::observe`] at the same `now`); returns
    /// the window or period bucket it went into.
    fn take(&mut self, amount: u64, lease_id: &str, now: UnixMillis) -> i64 {
        match self {
            Self::Rate(rate) => {
                rate.current = rate.current.saturating_add(amount);
                rate.window
            }
            Self::Concurrency(concurrency) => {
                let expiry = now.saturating_add(LEASE_TTL_MS);
                concurrency.leases.insert(lease_id.to_owned(), expiry);
                0
            }
            Self::Spend(spend) => {
                spend.current.reserved = spend.current.reserved.saturating_add(amount);
                spend.current.bucket
            }
        }
    }

    /// Whether nothing in the counter matters any more at `now`.
    fn is_over(&mut self, kind: CounterKind, now: UnixMillis) -> bool {
        match self {
            Self::Rate(rate) => rate.window < window_of(now).saturating_sub(1),
            Self::Concurrency(concurrency) => {
                concurrency.expire(now);
                concurrency.leases.is_empty()
            }
            Self::Spend(spend) => spend.current.bucket < spend_bucket(kind, now).saturating_sub(1),
        }
    }
}

/// Requests or tokens per minute: two fixed windows.
#[derive(Debug)]
struct RateState {
    window: i64,
    current: u64,
    previous: u64,
}

impl Default for RateState {
    fn default() -> Self {
        Self {
            window: i64::MIN,
            current: 0,
            previous: 0,
        }
    }
}

impl RateState {
    fn roll(&mut self, window: i64) {
        if window <= self.window {
            return;
        }
        let next = self.window.saturating_add(1);
        self.previous = if window == next { self.current } else { 0 };
        self.current = 0;
        self.window = window;
    }

    /// Replaces `estimate` by `real` in the window `bucket`, if still held.
    fn correct(&mut self, bucket: i64, estimate: u64, real: u64) {
        let slot = if bucket == self.window {
            &mut self.current
        } else if bucket == self.window.saturating_sub(1) {
            &mut self.previous
        } else {
            return;
        };
        *slot = if real >= estimate {
            slot.saturating_add(real - estimate)
        } else {
            slot.saturating_sub(estimate - real)
        };
    }
}

/// Requests in flight: lease id → expiry.
#[derive(Debug, Default)]
struct ConcurrencyState {
    leases: HashMap<String, UnixMillis>,
}

impl ConcurrencyState {
    fn expire(&mut self, now: UnixMillis) {
        self.leases.retain(|_, expiry| *expiry > now);
    }
}

/// Spend per day or month: the current period and the one before.
#[derive(Debug)]
struct SpendState {
    current: SpendPeriod,
    previous: SpendPeriod,
}

impl Default for SpendState {
    fn default() -> Self {
        Self {
            current: SpendPeriod::new(i64::MIN),
            previous: SpendPeriod::new(i64::MIN),
        }
    }
}

impl SpendState {
    fn roll(&mut self, bucket: i64) {
        if bucket <= self.current.bucket {
            return;
        }
        let next = self.current.bucket.saturating_add(1);
        let ended = std::mem::replace(&mut self.current, SpendPeriod::new(bucket));
        self.previous = if bucket == next {
            ended
        } else {
            SpendPeriod::new(bucket.saturating_sub(1))
        };
    }

    fn bucket_mut(&mut self, bucket: i64) -> Option<&mut SpendPeriod> {
        [&mut self.current, &mut self.previous]
            .into_iter()
            .find(|period| period.bucket == bucket)
    }
}

/// One day's or month's spend.
#[derive(Debug)]
struct SpendPeriod {
    bucket: i64,
    committed: u64,
    reserved: u64,
    /// `(limit, permille)` thresholds already announced in this period.
    alerted: Vec<(u64, u32)>,
}

impl SpendPeriod {
    fn new(bucket: i64) -> Self {
        Self {
            bucket,
            committed: 0,
            reserved: 0,
            alerted: Vec::new(),
        }
    }

    /// Replaces the reservation by the real cost; returns the thresholds of
    /// `held`'s charges that this crossed for the first time.
    fn settle(&mut self, reserved: u64, real: u64, held: &[&Held]) -> Vec<ThresholdCrossed> {
        self.reserved = self.reserved.saturating_sub(reserved);
        let before = self.committed;
        self.committed = before.saturating_add(real);
        let mut crossed = Vec::new();
        for charge in held.iter().map(|held| &held.charge) {
            let limit = limit_value(charge.limit);
            for &permille in &charge.alert_at_permille {
                let amount = threshold_amount(limit, permille);
                let announced = self.alerted.contains(&(limit, permille));
                if announced || !crosses(before, self.committed, amount) {
                    continue;
                }
                self.alerted.push((limit, permille));
                crossed.push(ThresholdCrossed {
                    scope: charge.scope.clone(),
                    rule: charge.rule.clone(),
                    limit: charge.limit,
                    threshold_permille: permille,
                    spent_micros: self.committed,
                });
            }
        }
        crossed
    }
}

fn spend_bucket(kind: CounterKind, now: UnixMillis) -> i64 {
    match kind {
        CounterKind::SpendMonth => month_of(now),
        _ => day_of(now),
    }
}

fn ms_to_period_end(kind: CounterKind, now: UnixMillis) -> u64 {
    match kind {
        CounterKind::SpendMonth => ms_to_next_month(now),
        _ => ms_to_next_day(now),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use super::*;
    use crate::Limit;
    use crate::period::{DAY_MS, WINDOW_MS};

    /// 2025-06-15T12:00:30Z: 30 s into a minute, mid-day, mid-month.
    const T0: UnixMillis = 1_749_988_830_000;

    fn charge(scope: &str, limit: Limit) -> Charge {
        Charge {
            scope: scope.into(),
            rule: format!("{scope}.{limit:?}"),
            limit,
            enforce: true,
            alert_at_permille: vec![800, 1000],
        }
    }

    fn demand(tokens: u64, cost_micros: u64) -> Demand {
        Demand {
            tokens,
            cost_micros,
        }
    }

    fn admit(
        counters: &MemoryCounters,
        charges: &[Charge],
        demand: Demand,
        now: UnixMillis,
    ) -> Result<Admission, Refusal> {
        counters.try_admit(charges, demand, now)
    }

    fn used(counters: &MemoryCounters, charge: &Charge, now: UnixMillis) -> u64 {
        let id = CounterId::of(charge);
        counters
            .existing(&id)
            .map_or(0, |cell| lock(&cell).observe(id.kind, now).used())
    }

    #[test]
    fn the_sliding_window_fades_the_previous_minute() {
        assert_eq!(T0.rem_euclid(WINDOW_MS), 30_000);
        let counters = MemoryCounters::new();
        let rpm = [charge("a", Limit::RequestsPerMinute(10))];
        for _ in 0..10 {
            admit(&counters, &rpm, Demand::default(), T0).unwrap();
        }
        let refusal = admit(&counters, &rpm, Demand::default(), T0).unwrap_err();
        assert_eq!(refusal.used, 10);
        // 30 s to the boundary, then 6 s for the 10 to weigh 9.
        assert_eq!(refusal.retry_after_s, Some(36));
        let just_before = T0 + 35_999;
        assert!(admit(&counters, &rpm, Demand::default(), just_before).is_err());
        let retry_at = T0 + 36_000;
        admit(&counters, &rpm, Demand::default(), retry_at).unwrap();
        assert_eq!(used(&counters, &rpm[0], retry_at), 10);
        // Once the window of the last admission and the one after it are
        // over, the full limit is back.
        assert_eq!(used(&counters, &rpm[0], T0 + 2 * WINDOW_MS), 1);
        let later = T0 + 3 * WINDOW_MS;
        assert_eq!(used(&counters, &rpm[0], later), 0);
        for _ in 0..10 {
            admit(&counters, &rpm, Demand::default(), later).unwrap();
        }
    }

    #[test]
    fn tokens_fill_exactly_to_the_limit() {
        let counters = MemoryCounters::new();
        let tpm = [charge("a", Limit::TokensPerMinute(1_000))];
        admit(&counters, &tpm, demand(600, 0), T0).unwrap();
        let admission = admit(&counters, &tpm, demand(400, 0), T0).unwrap();
        let window = admission.tokens.unwrap();
        assert_eq!((window.limit, window.remaining), (1_000, 0));
        // The current window must roll over (30 s), then fade entirely.
        assert_eq!(window.reset_ms, 30_000 + 60_000);
        let refusal = admit(&counters, &tpm, demand(1, 0), T0).unwrap_err();
        assert_eq!(refusal.used, 1_000);
    }

    #[test]
    fn a_late_token_settle_corrects_the_window_it_was_charged_in() {
        let counters = MemoryCounters::new();
        let tpm = [charge("a", Limit::TokensPerMinute(1_000))];
        let admission = admit(&counters, &tpm, demand(1_000, 0), T0).unwrap();
        let next_window = T0 + WINDOW_MS - 30_000;
        assert_eq!(used(&counters, &tpm[0], next_window), 1_000);
        let actual = Actual {
            tokens: Some(100),
            cost_micros: None,
        };
        counters.settle(admission.lease, actual, next_window);
        assert_eq!(used(&counters, &tpm[0], next_window), 100);
        admit(&counters, &tpm, demand(900, 0), next_window).unwrap();
    }

    #[test]
    fn daily_spend_starts_over_at_utc_midnight() {
        let counters = MemoryCounters::new();
        let day = [charge("a", Limit::SpendPerDay(100))];
        let before_midnight = (T0.div_euclid(DAY_MS) + 1) * DAY_MS - 1_500;
        let admission = admit(&counters, &day, demand(0, 100), before_midnight).unwrap();
        let refusal = admit(&counters, &day, demand(0, 1), before_midnight).unwrap_err();
        assert_eq!((refusal.used, refusal.retry_after_s), (100, Some(2)));
        let midnight = before_midnight + 1_500;
        let next_day = admit(&counters, &day, demand(0, 30), midnight).unwrap();
        // Yesterday's lease settles into yesterday; today keeps its 30.
        counters.settle(admission.lease, Actual::default(), midnight);
        assert_eq!(used(&counters, &day[0], midnight), 30);
        counters.settle(next_day.lease, Actual::default(), midnight);
        assert_eq!(used(&counters, &day[0], midnight), 30);
    }

    #[test]
    fn monthly_spend_refusals_wait_for_the_next_month() {
        let counters = MemoryCounters::new();
        let month = [charge("a", Limit::SpendPerMonth(10))];
        // 2025-06-30T23:59:00Z.
        let end_of_june = 1_751_327_940_000;
        admit(&counters, &month, demand(0, 10), end_of_june).unwrap();
        let refusal = admit(&counters, &month, demand(0, 10), end_of_june).unwrap_err();
        assert_eq!(refusal.retry_after_s, Some(60));
        admit(&counters, &month, demand(0, 10), end_of_june + 60_000).unwrap();
    }

    #[test]
    fn unsettled_leases_lapse_after_the_lease_ttl() {
        let counters = MemoryCounters::new();
        let one = [charge("a", Limit::Concurrency(1))];
        let admission = admit(&counters, &one, Demand::default(), T0).unwrap();
        assert!(!admission.lease.is_empty());
        let refusal = admit(&counters, &one, Demand::default(), T0 + 1).unwrap_err();
        assert_eq!((refusal.used, refusal.retry_after_s), (1, Some(1)));
        let lapsed = T0 + LEASE_TTL_MS;
        assert!(admit(&counters, &one, Demand::default(), lapsed - 1).is_err());
        admit(&counters, &one, Demand::default(), lapsed).unwrap();
    }

    #[test]
    fn thresholds_are_announced_again_in_a_new_day() {
        let counters = MemoryCounters::new();
        let mut events = counters.subscribe();
        let day = [charge("a", Limit::SpendPerDay(1_000))];
        for now in [T0, T0 + DAY_MS] {
            let admission = admit(&counters, &day, demand(0, 900), now).unwrap();
            counters.settle(admission.lease, Actual::default(), now);
            let event = events.try_recv().unwrap();
            assert_eq!((event.threshold_permille, event.spent_micros), (800, 900));
            assert!(events.try_recv().is_err());
        }
    }

    #[test]
    fn the_sweep_drops_only_finished_counters() {
        let counters = MemoryCounters::new();
        let all = [
            charge("a", Limit::RequestsPerMinute(5)),
            charge("a", Limit::TokensPerMinute(5)),
            charge("a", Limit::SpendPerDay(5)),
            charge("a", Limit::SpendPerMonth(5)),
        ];
        admit(&counters, &all, demand(1, 1), T0).unwrap();
        let in_flight = [charge("b", Limit::Concurrency(5))];
        let held = admit(&counters, &in_flight, Demand::default(), T0).unwrap();
        let released = [charge("c", Limit::Concurrency(5))];
        let done = admit(&counters, &released, Demand::default(), T0).unwrap();
        counters.settle(done.lease, Actual::default(), T0);
        assert_eq!(counters.counter_count(), 6);

        counters.sweep(T0 + WINDOW_MS);
        assert_eq!(counters.counter_count(), 5, "released concurrency is gone");
        counters.sweep(T0 + 2 * WINDOW_MS);
        assert_eq!(counters.counter_count(), 3, "rate windows are over");
        counters.settle(held.lease, Actual::default(), T0 + 2 * WINDOW_MS);
        counters.sweep(T0 + 2 * WINDOW_MS);
        assert_eq!(counters.counter_count(), 2, "the last lease is released");
        counters.sweep(T0 + DAY_MS);
        assert_eq!(counters.counter_count(), 2, "yesterday's spend is kept");
        counters.sweep(T0 + 2 * DAY_MS);
        assert_eq!(counters.counter_count(), 1, "the day is two days old");
        counters.sweep(T0 + 32 * DAY_MS);
        assert_eq!(counters.counter_count(), 1, "last month's spend is kept");
        counters.sweep(T0 + 62 * DAY_MS);
        assert_eq!(counters.counter_count(), 0, "the month is two months old");
    }

    #[tokio::test]
    async fn admissions_sweep_on_their_own() {
        let counters = MemoryCounters::new();
        for scope in ["a", "b", "c"] {
            let rpm = [charge(scope, Limit::RequestsPerMinute(5))];
            counters
                .admit(&rpm, Demand::default(), T0)
                .await
                .unwrap()
                .unwrap();
        }
        assert_eq!(counters.counter_count(), 3);
        let later = T0 + 3 * WINDOW_MS;
        let rpm = [charge("d", Limit::RequestsPerMinute(5))];
        counters
            .admit(&rpm, Demand::default(), later)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(counters.counter_count(), 1);
    }
}
