//! The alert tables' contract on SQLite and PostgreSQL: transitions are
//! compare-and-set (one writer wins, however many race), events page
//! newest first, delivery outcomes are stored, and every query stays inside
//! its organization.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use sentinel_core::{Delivery, RequestRecord};
use sentinel_store::{AlertEventFilter, Transition, TransitionOutcome};
mod common;

use common::{Fixture, postgres, sqlite};

fn transition<'a>(org: &'a str, state: &'a str, now: i64) -> Transition<'a> {
    Transition {
        org_id: org,
        env_id: "env-1",
        rule: "errors",
        signal: "error_rate",
        state,
        value: Some(0.5),
        threshold: 0.1,
        started_at: now,
        now,
    }
}

/// Eight replicas race for each transition: exactly one writes it.
async fn transitions_have_one_winner(f: Fixture) {
    let s = &f.store;
    let race = |expected: Option<i64>, state: &'static str, event: &'static str, now: i64| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.transition_alert(&transition("org-a", state, now), expected, Some(event))
                        .await
                        .unwrap()
                })
            })
            .collect();
        async move {
            let mut won = Vec::new();
            for h in handles {
                if let TransitionOutcome::Won(event) = h.await.unwrap() {
                    won.push(event.unwrap());
                }
            }
            won
        }
    };
    let fired = race(None, "firing", "firing", 1_000).await;
    assert_eq!(fired.len(), 1, "one replica starts the rule");
    let states = s.alert_states("org-a", "env-1").await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!((states[0].state.as_str(), states[0].version), ("firing", 1));

    // A stale version changes nothing.
    assert!(
        !s.touch_alert_state("org-a", "env-1", "errors", 0, Some(0.9), 1_500)
            .await
            .unwrap()
    );
    assert!(
        s.touch_alert_state("org-a", "env-1", "errors", 1, Some(0.7), 1_500)
            .await
            .unwrap()
    );

    let resolved = race(Some(1), "ok", "resolved", 2_000).await;
    assert_eq!(resolved.len(), 1, "one replica resolves it");
    let states = s.alert_states("org-a", "env-1").await.unwrap();
    assert_eq!(
        (states[0].state.as_str(), states[0].version, states[0].since),
        ("ok", 2, 2_000)
    );

    let page = s
        .list_alert_events(
            "org-a",
            &AlertEventFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let states: Vec<&str> = page.events.iter().map(|e| e.state.as_str()).collect();
    assert_eq!(states, ["resolved", "firing"], "newest first, each once");
    assert!(page.next_cursor.is_none());

    // Delivery outcomes are stored with the event.
    let delivery = Delivery {
        destination: "ops".into(),
        kind: "webhook".into(),
        ok: true,
        attempts: 2,
        status: Some(200),
        error: None,
        at: 2_100,
    };
    s.set_alert_deliveries("org-a", &resolved[0].id, std::slice::from_ref(&delivery))
        .await
        .unwrap();
    // Another organization can neither write nor read them.
    s.set_alert_deliveries("org-b", &fired[0].id, std::slice::from_ref(&delivery))
        .await
        .unwrap();
    let page = s
        .list_alert_events(
            "org-a",
            &AlertEventFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.events[0].deliveries, [delivery]);
    let older = s
        .list_alert_events(
            "org-a",
            &AlertEventFilter {
                limit: 1,
                cursor: page.next_cursor,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(older.events[0].state, "firing");
    assert!(older.events[0].deliveries.is_empty());
    let other = s
        .list_alert_events(
            "org-b",
            &AlertEventFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(other.events.is_empty());
    assert!(s.alert_states("org-b", "env-1").await.unwrap().is_empty());
}

async fn windows_hold_the_environments_recent_records(f: Fixture) {
    let s = &f.store;
    let record = |id: &str, org: &str, env: &str, time: i64| RequestRecord {
        id: id.into(),
        org_id: org.into(),
        env_id: Some(env.into()),
        time,
        status: 200,
        ..RequestRecord::default()
    };
    s.insert_records(&[
        record("r1", "org-a", "env-1", 1_000),
        record("r2", "org-a", "env-1", 5_000),
        record("r3", "org-a", "env-2", 5_000),
        record("r4", "org-b", "env-1", 5_000),
    ])
    .await
    .unwrap();
    let window = s.records_in_window("org-a", "env-1", 2_000).await.unwrap();
    let ids: Vec<&str> = window.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r2"]);
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::sqlite().await).await; } )*
        }
        mod on_postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::postgres().await).await; } )*
        }
    };
}

on_both!(
    transitions_have_one_winner,
    windows_hold_the_environments_recent_records,
);
