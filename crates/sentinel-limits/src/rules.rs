//! The admission rules, shared by the back ends so both decide and report
//! the same way: which counter a charge touches, how much it takes, whether
//! the counter has room, and the refusal, shadow breaches and rate windows
//! an admission reports.
//!
//! A back end observes each counter once ([`Observed`], before this
//! request's amount is added) and hands the observations to [`assess`].
//!
//! Invariants:
//! - a counter is identified by its scope and the kind of its limit; two
//!   charges on the same counter (say, two rules limiting the same scope's
//!   requests/min) take the amount once and are each checked against their
//!   own limit;
//! - the sliding window weighs the previous fixed window by its remaining
//!   overlap and rounds up, so a window boundary never lowers the use
//!   abruptly (the count decays over the next minute);
//! - all arithmetic is integer and saturating.

use std::collections::{BTreeMap, BTreeSet};

use crate::period::{WINDOW_MS, ceil_seconds};
use crate::{Breach, Charge, Demand, Limit, RateWindow, Refusal};

/// What a counter counts; with the scope, it identifies the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum CounterKind {
    Requests,
    Tokens,
    Concurrency,
    SpendDay,
    SpendMonth,
}

impl CounterKind {
    pub(crate) fn of(limit: Limit) -> Self {
        match limit {
            Limit::RequestsPerMinute(_) => Self::Requests,
            Limit::TokensPerMinute(_) => Self::Tokens,
            Limit::Concurrency(_) => Self::Concurrency,
            Limit::SpendPerDay(_) => Self::SpendDay,
            Limit::SpendPerMonth(_) => Self::SpendMonth,
        }
    }

    /// The kind's name in Redis keys.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Self::Requests => "rpm",
            Self::Tokens => "tpm",
            Self::Concurrency => "concurrency",
            Self::SpendDay => "spend_day",
            Self::SpendMonth => "spend_month",
        }
    }

    /// How much of the counter one request with `demand` takes.
    pub(crate) fn amount(self, demand: Demand) -> u64 {
        match self {
            Self::Requests | Self::Concurrency => 1,
            Self::Tokens => demand.tokens,
            Self::SpendDay | Self::SpendMonth => demand.cost_micros,
        }
    }
}

/// How a request fits under a limit: the admission rule every back end
/// applies (the Redis script mirrors it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fit {
    /// Rates: the total with this request stays within the limit.
    Total,
    /// Concurrency: one more request in flight stays within the limit.
    OneMore,
    /// Spend: something is left (the overshoot is at most one request).
    AnyLeft,
}

impl Fit {
    pub(crate) fn of(kind: CounterKind) -> Self {
        match kind {
            CounterKind::Requests | CounterKind::Tokens => Self::Total,
            CounterKind::Concurrency => Self::OneMore,
            CounterKind::SpendDay | CounterKind::SpendMonth => Self::AnyLeft,
        }
    }

    pub(crate) fn fits(self, used: u64, limit: u64, amount: u64) -> bool {
        match self {
            Self::Total => used.saturating_add(amount) <= limit,
            Self::OneMore => used.saturating_add(1) <= limit,
            Self::AnyLeft => used < limit,
        }
    }
}

/// The numeric value of a limit, in its unit.
pub(crate) fn limit_value(limit: Limit) -> u64 {
    match limit {
        Limit::RequestsPerMinute(n)
        | Limit::TokensPerMinute(n)
        | Limit::Concurrency(n)
        | Limit::SpendPerDay(n)
        | Limit::SpendPerMonth(n) => n,
    }
}

/// One counter: a scope and a kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct CounterId {
    pub kind: CounterKind,
    pub scope: String,
}

impl CounterId {
    pub(crate) fn of(charge: &Charge) -> Self {
        Self {
            kind: CounterKind::of(charge.limit),
            scope: charge.scope.clone(),
        }
    }
}

/// The distinct counters the charges touch, in a fixed (sorted) order.
pub(crate) fn counters_of(charges: &[Charge]) -> Vec<CounterId> {
    let distinct: BTreeSet<CounterId> = charges.iter().map(CounterId::of).collect();
    distinct.into_iter().collect()
}

/// A counter's state at admission time, before this request is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Observed {
    Rate {
        /// Taken in the current fixed window.
        current: u64,
        /// Taken in the previous fixed window.
        previous: u64,
        /// Milliseconds left in the current fixed window, `1..=WINDOW_MS`.
        ms_left: u64,
    },
    Concurrency {
        in_flight: u64,
    },
    Spend {
        committed: u64,
        reserved: u64,
        /// Milliseconds until the day or month ends.
        ms_to_period_end: u64,
    },
}

impl Observed {
    /// An untouched counter of `kind`.
    pub(crate) fn empty(kind: CounterKind) -> Self {
        match kind {
            CounterKind::Requests | CounterKind::Tokens => Self::Rate {
                current: 0,
                previous: 0,
                ms_left: WINDOW_MS.unsigned_abs(),
            },
            CounterKind::Concurrency => Self::Concurrency { in_flight: 0 },
            CounterKind::SpendDay | CounterKind::SpendMonth => Self::Spend {
                committed: 0,
                reserved: 0,
                ms_to_period_end: 1,
            },
        }
    }

    /// How much of a limit is in use, in the limit's unit.
    pub(crate) fn used(&self) -> u64 {
        match *self {
            Self::Rate {
                current,
                previous,
                ms_left,
            } => sliding_use(current, previous, ms_left),
            Self::Concurrency { in_flight } => in_flight,
            Self::Spend {
                committed,
                reserved,
                ..
            } => committed.saturating_add(reserved),
        }
    }

    /// Whether a request taking `amount` fits under `limit`.
    pub(crate) fn admits(&self, limit: u64, amount: u64) -> bool {
        let rule = match self {
            Self::Rate { .. } => Fit::Total,
            Self::Concurrency { .. } => Fit::OneMore,
            Self::Spend { .. } => Fit::AnyLeft,
        };
        rule.fits(self.used(), limit, amount)
    }

    /// Seconds after which a request taking `amount` can fit under `limit`,
    /// assuming no other traffic; `None` when it never can.
    fn retry_after_s(&self, limit: u64, amount: u64) -> Option<u64> {
        match *self {
            Self::Rate {
                current,
                previous,
                ms_left,
            } => ms_until_room(current, previous, ms_left, limit, amount)
                .map(|ms| ceil_seconds(ms).min(60)),
            Self::Concurrency { .. } => Some(1),
            Self::Spend {
                ms_to_period_end, ..
            } => Some(ceil_seconds(ms_to_period_end)),
        }
    }
}

/// Sliding-window use: the current window plus the previous one weighted by
/// how much of it still overlaps the last 60 s, rounded up.
pub(crate) fn sliding_use(current: u64, previous: u64, ms_left: u64) -> u64 {
    current.saturating_add(weighted(previous, ms_left))
}

/// `ceil(count * ms_left / WINDOW_MS)`.
fn weighted(count: u64, ms_left: u64) -> u64 {
    let window = u128::from(WINDOW_MS.unsigned_abs());
    let scaled = u128::from(count) * u128::from(ms_left);
    u64::try_from(scaled.div_ceil(window)).unwrap_or(u64::MAX)
}

/// The largest `x` with `ceil(count * x / WINDOW_MS) <= room`, i.e. how
/// much of the previous window may still overlap for its weight to fit.
fn max_overlap(count: u64, room: u64) -> u64 {
    if count == 0 {
        return u64::MAX;
    }
    let window = u128::from(WINDOW_MS.unsigned_abs());
    let overlap = u128::from(room) * window / u128::from(count);
    u64::try_from(overlap).unwrap_or(u64::MAX)
}

/// Milliseconds until the sliding window has room for `amount` under
/// `limit`, assuming nothing else is taken meanwhile; `None` if `amount`
/// exceeds the limit.
pub(crate) fn ms_until_room(
    current: u64,
    previous: u64,
    ms_left: u64,
    limit: u64,
    amount: u64,
) -> Option<u64> {
    let room_after_current = limit.checked_sub(amount)?;
    let window = WINDOW_MS.unsigned_abs();
    if let Some(room) = room_after_current.checked_sub(current) {
        // The current window fits: wait for the previous one to fade.
        return Some(ms_left.saturating_sub(max_overlap(previous, room)));
    }
    // Wait for this window to become the previous one, then for it to fade.
    let fade = window.saturating_sub(max_overlap(current, room_after_current));
    Some(ms_left.saturating_add(fade))
}

/// The micro-USD amount at which `permille` of `limit` is reached, rounded up.
pub(crate) fn threshold_amount(limit: u64, permille: u32) -> u64 {
    let scaled = u128::from(limit) * u128::from(permille);
    u64::try_from(scaled.div_ceil(1000)).unwrap_or(u64::MAX)
}

/// Whether committed spend going from `before` to `after` crosses `amount`.
pub(crate) fn crosses(before: u64, after: u64, amount: u64) -> bool {
    before < amount && amount <= after
}

/// What an admission reports, decided from the observed counters.
#[derive(Debug, Default)]
pub(crate) struct Assessment {
    /// The first enforced charge (in charge order) without room.
    pub refusal: Option<Refusal>,
    pub shadow_breaches: Vec<Breach>,
    pub requests: Option<RateWindow>,
    pub tokens: Option<RateWindow>,
}

/// Checks every charge against its counter's observed state. Counters
/// missing from `observed` count as untouched.
pub(crate) fn assess(
    charges: &[Charge],
    demand: Demand,
    observed: &BTreeMap<CounterId, Observed>,
) -> Assessment {
    let mut assessment = Assessment::default();
    for charge in charges {
        let id = CounterId::of(charge);
        let state = observed
            .get(&id)
            .copied()
            .unwrap_or_else(|| Observed::empty(id.kind));
        let limit = limit_value(charge.limit);
        let amount = id.kind.amount(demand);
        if !state.admits(limit, amount) {
            let refusal = refusal(charge, &state, amount);
            if !charge.enforce {
                assessment.shadow_breaches.push(refusal);
            } else if assessment.refusal.is_none() {
                assessment.refusal = Some(refusal);
            }
            continue;
        }
        if charge.enforce {
            record_rate_window(&mut assessment, id.kind, &state, limit, amount);
        }
    }
    assessment
}

/// The refusal (or shadow breach) of `charge` by its counter's `state`.
pub(crate) fn refusal(charge: &Charge, state: &Observed, amount: u64) -> Refusal {
    let limit = limit_value(charge.limit);
    Refusal {
        rule: charge.rule.clone(),
        scope: charge.scope.clone(),
        limit: charge.limit,
        used: state.used(),
        retry_after_s: state.retry_after_s(limit, amount),
    }
}

/// Keeps the tightest (least remaining) enforced rate window per dimension.
fn record_rate_window(
    assessment: &mut Assessment,
    kind: CounterKind,
    state: &Observed,
    limit: u64,
    amount: u64,
) {
    let Observed::Rate {
        current,
        previous,
        ms_left,
    } = *state
    else {
        return;
    };
    let current_after = current.saturating_add(amount);
    let window = RateWindow {
        limit,
        remaining: limit.saturating_sub(sliding_use(current_after, previous, ms_left)),
        reset_ms: ms_until_room(current_after, previous, ms_left, limit, limit).unwrap_or(0),
    };
    let slot = match kind {
        CounterKind::Requests => &mut assessment.requests,
        CounterKind::Tokens => &mut assessment.tokens,
        _ => return,
    };
    let tighter =
        slot.is_none_or(|known| (window.remaining, window.limit) < (known.remaining, known.limit));
    if tighter {
        *slot = Some(window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;

    fn charge(limit: Limit, enforce: bool) -> Charge {
        Charge {
            scope: "org/o".into(),
            rule: format!("rule.{limit:?}.{enforce}"),
            limit,
            enforce,
            alert_at_permille: Vec::new(),
        }
    }

    #[test]
    fn previous_window_weighs_by_overlap_rounded_up() {
        assert_eq!(sliding_use(5, 0, MINUTE), 5);
        assert_eq!(sliding_use(0, 10, MINUTE), 10);
        assert_eq!(sliding_use(0, 10, MINUTE / 2), 5);
        assert_eq!(sliding_use(0, 10, 1), 1);
        assert_eq!(sliding_use(0, 3, MINUTE - 1), 3);
        assert_eq!(sliding_use(u64::MAX, u64::MAX, MINUTE), u64::MAX);
    }

    #[test]
    fn each_kind_has_its_own_admission_rule() {
        let rate = Observed::Rate {
            current: 7,
            previous: 0,
            ms_left: MINUTE,
        };
        assert!(rate.admits(10, 3));
        assert!(!rate.admits(10, 4));
        let in_flight = Observed::Concurrency { in_flight: 2 };
        assert!(in_flight.admits(3, 1));
        assert!(!in_flight.admits(2, 1));
        let spend = Observed::Spend {
            committed: 60,
            reserved: 39,
            ms_to_period_end: 1,
        };
        // Spend admits while strictly under the limit, whatever the amount.
        assert!(spend.admits(100, 1_000));
        assert!(!spend.admits(99, 0));
    }

    #[test]
    fn room_appears_as_the_previous_window_fades() {
        // 10 in the previous window, 30 s left: weight 5; limit 10, amount 7
        // needs the weight down to 3, i.e. 18 s of overlap left.
        assert_eq!(ms_until_room(0, 10, 30_000, 10, 7), Some(12_000));
        // Already room.
        assert_eq!(ms_until_room(0, 10, 30_000, 10, 5), Some(0));
        // The current window is full: it must roll over and fade.
        assert_eq!(ms_until_room(10, 0, 30_000, 10, 1), Some(30_000 + 6_000));
        // Room for the full limit only once everything has faded.
        assert_eq!(ms_until_room(1, 0, 30_000, 10, 10), Some(30_000 + MINUTE));
        assert_eq!(ms_until_room(0, 4, 30_000, 10, 10), Some(30_000));
        assert_eq!(ms_until_room(0, 0, 30_000, 10, 10), Some(0));
        // Never.
        assert_eq!(ms_until_room(0, 0, 30_000, 10, 11), None);
    }

    #[test]
    fn waiting_the_computed_time_is_exactly_enough() {
        for (current, previous, ms_left, limit, amount) in [
            (3_u64, 9_u64, 41_234_u64, 10_u64, 2_u64),
            (0, 1_000, 59_999, 1_000, 1),
            (2, 30, 45_000, 10, 3),
        ] {
            let wait = ms_until_room(current, previous, ms_left, limit, amount).unwrap_or(0);
            assert!(wait > 0 && wait < ms_left, "case stays within the window");
            let left_then = ms_left - wait;
            assert!(sliding_use(current, previous, left_then) + amount <= limit);
            assert!(sliding_use(current, previous, left_then + 1) + amount > limit);
        }
    }

    #[test]
    fn thresholds_round_up_and_cross_once() {
        assert_eq!(threshold_amount(1_000, 800), 800);
        assert_eq!(threshold_amount(999, 800), 800);
        assert_eq!(threshold_amount(u64::MAX, 1000), u64::MAX);
        assert!(crosses(799, 800, 800));
        assert!(crosses(0, 5_000, 800));
        assert!(!crosses(800, 900, 800));
        assert!(!crosses(100, 799, 800));
    }

    #[test]
    fn assess_refuses_on_the_first_enforced_charge_and_lists_shadow_breaches() {
        let charges = [
            charge(Limit::RequestsPerMinute(1), false),
            charge(Limit::Concurrency(5), true),
            charge(Limit::SpendPerDay(100), true),
            charge(Limit::TokensPerMinute(10), true),
        ];
        let observed = BTreeMap::from([
            (
                CounterId::of(&charges[0]),
                Observed::Rate {
                    current: 1,
                    previous: 0,
                    ms_left: MINUTE,
                },
            ),
            (
                CounterId::of(&charges[2]),
                Observed::Spend {
                    committed: 100,
                    reserved: 0,
                    ms_to_period_end: 2_500,
                },
            ),
        ]);
        let demand = Demand {
            tokens: 11,
            cost_micros: 1,
        };
        let assessment = assess(&charges, demand, &observed);
        let refusal = assessment.refusal.expect("refused");
        assert_eq!(refusal.limit, Limit::SpendPerDay(100));
        assert_eq!((refusal.used, refusal.retry_after_s), (100, Some(3)));
        let breaches = &assessment.shadow_breaches;
        assert_eq!(breaches.len(), 1);
        assert_eq!(breaches[0].limit, Limit::RequestsPerMinute(1));
        assert_eq!(breaches[0].retry_after_s, Some(60));
    }

    #[test]
    fn assess_reports_the_tightest_enforced_window_after_the_request() {
        let mut loose = charge(Limit::RequestsPerMinute(100), true);
        loose.scope = "org/loose".into();
        let tight = charge(Limit::RequestsPerMinute(10), true);
        let shadow = charge(Limit::RequestsPerMinute(50), false);
        let mut shadow_scope = shadow.clone();
        shadow_scope.scope = "org/shadow".into();
        let observed = BTreeMap::from([(
            CounterId::of(&tight),
            Observed::Rate {
                current: 2,
                previous: 0,
                ms_left: 10_000,
            },
        )]);
        let charges = [loose, tight, shadow_scope];
        let assessment = assess(&charges, Demand::default(), &observed);
        assert!(assessment.refusal.is_none());
        let requests = assessment.requests.expect("requests window");
        assert_eq!((requests.limit, requests.remaining), (10, 7));
        assert_eq!(requests.reset_ms, 10_000 + MINUTE);
        assert!(assessment.tokens.is_none());
    }
}
