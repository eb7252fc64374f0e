//! The semantics every back end shares, each scenario run on the in-memory
//! back end and on Redis (the local server at 127.0.0.1:6379, which must be
//! up: the Redis variants fail, never skip, without it).
//!
//! Redis counts windows on its own clock, so a minute boundary can fall in
//! the middle of a scenario. The scenarios are built so that it cannot flip
//! their outcome: the previous minute's count fades slowly (rounded up),
//! refusals are asserted only where any remaining use refuses (or within
//! seconds of the boundary), and admissions only where a boundary can only
//! make more room.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{Backend, actual, charge, demand};
use sentinel_limits::{Demand, Limit, ThresholdCrossed};
use tokio::sync::Barrier;

macro_rules! on_both_back_ends {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(&super::Backend::memory()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(&super::Backend::redis().await).await;
                }
            )*
        }
    };
}

on_both_back_ends!(
    requests_per_minute_are_limited,
    tokens_per_minute_are_limited,
    concurrency_counts_requests_in_flight,
    daily_spend_reserves_the_worst_case_until_settled,
    monthly_spend_refuses_until_the_next_month,
    admission_is_all_or_nothing,
    shadow_charges_count_but_never_refuse,
    settled_tokens_free_room_in_the_window,
    concurrent_spend_overshoots_by_at_most_one_worst_case,
    spend_alerts_fire_once_per_threshold,
    charges_on_one_counter_take_it_once,
    usage_reports_each_charge,
    an_admission_without_charges_holds_nothing,
);

async fn requests_per_minute_are_limited(backend: &Backend) {
    let rpm = [charge("app", Limit::RequestsPerMinute(2))];
    let first = backend.admit(&rpm, Demand::default()).await.unwrap();
    let window = first.requests.expect("an enforced requests/min window");
    assert_eq!((window.limit, window.remaining), (2, 1));
    assert!(first.tokens.is_none());
    backend.admit(&rpm, Demand::default()).await.unwrap();
    let refusal = backend.admit(&rpm, Demand::default()).await.unwrap_err();
    assert_eq!(
        (refusal.rule.as_str(), refusal.scope.as_str()),
        (rpm[0].rule.as_str(), "app")
    );
    assert_eq!(
        (refusal.limit, refusal.used),
        (Limit::RequestsPerMinute(2), 2)
    );
    assert!(matches!(refusal.retry_after_s, Some(1..=60)), "{refusal:?}");
}

async fn tokens_per_minute_are_limited(backend: &Backend) {
    let tpm = [charge("app", Limit::TokensPerMinute(1_000))];
    let first = backend.admit(&tpm, demand(600, 0)).await.unwrap();
    let window = first.tokens.expect("an enforced tokens/min window");
    assert_eq!((window.limit, window.remaining), (1_000, 400));
    let refusal = backend.admit(&tpm, demand(600, 0)).await.unwrap_err();
    assert_eq!(refusal.used, 600);
    assert!(matches!(refusal.retry_after_s, Some(1..=60)), "{refusal:?}");
    let never = backend.admit(&tpm, demand(1_001, 0)).await.unwrap_err();
    assert_eq!(never.retry_after_s, None, "more than the limit never fits");
    backend.admit(&tpm, demand(400, 0)).await.unwrap();
}

async fn concurrency_counts_requests_in_flight(backend: &Backend) {
    let two = [charge("app", Limit::Concurrency(2))];
    let first = backend.admit(&two, Demand::default()).await.unwrap();
    let _second = backend.admit(&two, Demand::default()).await.unwrap();
    let refusal = backend.admit(&two, Demand::default()).await.unwrap_err();
    assert_eq!((refusal.used, refusal.retry_after_s), (2, Some(1)));
    backend.settle(first, actual(None, None));
    backend.settled().await;
    assert_eq!(backend.used(&two[0]).await, 1);
    backend.admit(&two, Demand::default()).await.unwrap();
    assert_eq!(backend.used(&two[0]).await, 2);
}

async fn daily_spend_reserves_the_worst_case_until_settled(backend: &Backend) {
    let day = [charge("app", Limit::SpendPerDay(1_000))];
    let first = backend.admit(&day, demand(0, 600)).await.unwrap();
    // Admitted while spent + reserved < limit: 600 < 1000.
    let second = backend.admit(&day, demand(0, 600)).await.unwrap();
    let refusal = backend.admit(&day, demand(0, 1)).await.unwrap_err();
    assert_eq!(refusal.used, 1_200);
    let retry = refusal.retry_after_s.expect("a day ends");
    assert!((1..=86_400).contains(&retry), "{retry}");
    backend.settle(first, actual(None, Some(100)));
    // No reported cost: the reservation stays as spend.
    backend.settle(second, actual(None, None));
    backend.settled().await;
    assert_eq!(backend.used(&day[0]).await, 700);
    backend.admit(&day, demand(0, 600)).await.unwrap();
    assert_eq!(backend.used(&day[0]).await, 1_300);
}

async fn monthly_spend_refuses_until_the_next_month(backend: &Backend) {
    let month = [charge("app", Limit::SpendPerMonth(500))];
    backend.admit(&month, demand(0, 500)).await.unwrap();
    let refusal = backend.admit(&month, demand(0, 500)).await.unwrap_err();
    let retry = refusal.retry_after_s.expect("a month ends");
    assert!((1..=31 * 86_400).contains(&retry), "{retry}");
}

async fn admission_is_all_or_nothing(backend: &Backend) {
    let full = charge("full", Limit::RequestsPerMinute(1));
    backend
        .admit(std::slice::from_ref(&full), Demand::default())
        .await
        .unwrap();
    let first = vec![
        charge("app", Limit::RequestsPerMinute(10)),
        charge("app", Limit::TokensPerMinute(1_000)),
        charge("app", Limit::Concurrency(5)),
        charge("app", Limit::SpendPerDay(1_000)),
        charge("app", Limit::SpendPerMonth(1_000)),
    ];
    let mut all = first.clone();
    all.push(full.clone());
    let refusal = backend.admit(&all, demand(10, 10)).await.unwrap_err();
    assert_eq!(refusal.rule, full.rule, "refused by the last charge");
    for charge in &first {
        assert_eq!(
            backend.used(charge).await,
            0,
            "{:?} untouched",
            charge.limit
        );
    }
    backend.admit(&first, demand(10, 10)).await.unwrap();
    let used: Vec<u64> = futures_used(backend, &first).await;
    assert_eq!(used, [1, 10, 1, 10, 10]);
}

async fn futures_used(backend: &Backend, charges: &[sentinel_limits::Charge]) -> Vec<u64> {
    let mut used = Vec::new();
    for charge in charges {
        used.push(backend.used(charge).await);
    }
    used
}

async fn shadow_charges_count_but_never_refuse(backend: &Backend) {
    let mut shadow = charge("app", Limit::RequestsPerMinute(1));
    shadow.enforce = false;
    let enforced = charge("org", Limit::RequestsPerMinute(100));
    let charges = [shadow.clone(), enforced];
    let first = backend.admit(&charges, Demand::default()).await.unwrap();
    assert!(first.shadow_breaches.is_empty());
    let second = backend.admit(&charges, Demand::default()).await.unwrap();
    assert_eq!(second.shadow_breaches.len(), 1);
    let breach = &second.shadow_breaches[0];
    assert_eq!(
        (breach.rule.as_str(), breach.used),
        (shadow.rule.as_str(), 1)
    );
    assert_eq!(backend.used(&shadow).await, 2, "shadow charges are counted");
    let window = second.requests.expect("the enforced window");
    assert_eq!(window.limit, 100, "shadow charges do not set the headers");
}

async fn settled_tokens_free_room_in_the_window(backend: &Backend) {
    let tpm = [charge("app", Limit::TokensPerMinute(1_000))];
    let estimate = backend.admit(&tpm, demand(1_000, 0)).await.unwrap();
    assert!(backend.admit(&tpm, demand(1_000, 0)).await.is_err());
    backend.settle(estimate, actual(Some(100), None));
    backend.settled().await;
    backend.admit(&tpm, demand(900, 0)).await.unwrap();
    assert!(backend.admit(&tpm, demand(1_000, 0)).await.is_err());

    // No reported tokens: the estimate stays.
    let other = [charge("other", Limit::TokensPerMinute(1_000))];
    let estimate = backend.admit(&other, demand(1_000, 0)).await.unwrap();
    backend.settle(estimate, actual(None, None));
    backend.settled().await;
    assert!(backend.admit(&other, demand(1_000, 0)).await.is_err());
}

/// 200 tasks race for a budget of `BUDGET`, each reserving `WORST` and
/// spending at most that; whatever the interleaving, committed spend ends
/// within one worst case of the budget.
async fn concurrent_spend_overshoots_by_at_most_one_worst_case(backend: &Backend) {
    const TASKS: usize = 200;
    const BUDGET: u64 = 50_000;
    const WORST: u64 = 1_000;
    let day = charge("app", Limit::SpendPerDay(BUDGET));
    let start = Arc::new(Barrier::new(TASKS));
    let admitted = Arc::new(AtomicU64::new(0));
    let counters = backend.counters.clone();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (counters, start, admitted) = (counters.clone(), start.clone(), admitted.clone());
        let charges = vec![day.clone()];
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            for round in 0_u64.. {
                let decision = counters
                    .admit(&charges, demand(0, WORST), common::NOW)
                    .await
                    .expect("the back end decides");
                let Ok(admission) = decision else {
                    return;
                };
                admitted.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                let real = WORST / 2 + (task as u64 * 37 + round * 11) % (WORST / 2 + 1);
                counters.settle(admission.lease, actual(None, Some(real)), common::NOW);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    backend.settled().await;
    let committed = backend.used(&day).await;
    let admitted = admitted.load(Ordering::SeqCst);
    assert!(
        admitted >= BUDGET / WORST,
        "the budget was used: {admitted} admitted"
    );
    assert!(committed >= BUDGET / 2, "{committed} committed");
    assert!(
        committed <= BUDGET + WORST,
        "{committed} committed by {admitted} requests overshoots {BUDGET} by more than {WORST}"
    );
}

async fn spend_alerts_fire_once_per_threshold(backend: &Backend) {
    let mut events = backend.counters.subscribe();
    let mut budget = charge("app", Limit::SpendPerDay(1_000));
    budget.alert_at_permille = vec![800, 1_000];
    // A second rule on the same counter with the same limit and thresholds.
    let mut twin = budget.clone();
    twin.rule = "twin".to_owned();
    let charges = [budget.clone(), twin];
    for (reserve, real) in [(900, 500), (900, 350), (900, 100), (900, 100)] {
        let admission = backend.admit(&charges, demand(0, reserve)).await.unwrap();
        backend.settled().await;
        backend.settle(admission, actual(None, Some(real)));
        backend.settled().await;
    }
    // The Redis back end announces through a Redis channel, so events may
    // arrive a moment after the settle: wait for the two crossings, then
    // make sure nothing else (a reservation, a twin rule) was announced.
    let mut seen: Vec<ThresholdCrossed> = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(std::time::Duration::from_secs(10), events.recv()).await {
            Ok(Ok(event)) => seen.push(event),
            _ => break,
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    let crossed: Vec<(u32, u64)> = seen
        .iter()
        .map(|event| (event.threshold_permille, event.spent_micros))
        .collect();
    assert_eq!(crossed, [(800, 850), (1_000, 1_050)]);
    assert!(
        seen.iter()
            .all(|event| event.scope == "app" && event.limit == budget.limit)
    );
}

async fn charges_on_one_counter_take_it_once(backend: &Backend) {
    let loose = charge("app", Limit::RequestsPerMinute(10));
    let mut tight = charge("app", Limit::RequestsPerMinute(3));
    tight.rule = "tight".to_owned();
    let both = [loose.clone(), tight];
    for _ in 0..3 {
        backend.admit(&both, Demand::default()).await.unwrap();
    }
    assert_eq!(backend.used(&loose).await, 3);
    let refusal = backend.admit(&both, Demand::default()).await.unwrap_err();
    assert_eq!(refusal.rule, "tight");
}

async fn usage_reports_each_charge(backend: &Backend) {
    let charges = [
        charge("app", Limit::RequestsPerMinute(10)),
        charge("app", Limit::SpendPerDay(1_000)),
        charge("untouched", Limit::Concurrency(3)),
    ];
    backend.admit(&charges[..2], demand(0, 250)).await.unwrap();
    let usage = backend.counters.usage(&charges, common::NOW).await.unwrap();
    let reported: Vec<(&str, &str, Limit, u64)> = usage
        .iter()
        .map(|usage| {
            (
                usage.scope.as_str(),
                usage.rule.as_str(),
                usage.limit,
                usage.used,
            )
        })
        .collect();
    let expected: Vec<(&str, &str, Limit, u64)> = charges
        .iter()
        .zip([1, 250, 0])
        .map(|(charge, used)| {
            (
                charge.scope.as_str(),
                charge.rule.as_str(),
                charge.limit,
                used,
            )
        })
        .collect();
    assert_eq!(reported, expected);
}

async fn an_admission_without_charges_holds_nothing(backend: &Backend) {
    let admission = backend.admit(&[], demand(10, 10)).await.unwrap();
    assert!(admission.lease.is_empty());
    assert!(admission.requests.is_none() && admission.shadow_breaches.is_empty());
    backend.settle(admission, actual(Some(1), Some(1)));
    backend.settled().await;
    assert!(backend.counters.health().ok);
}
