//! Retention in the store, on SQLite and PostgreSQL: audit events are pruned
//! from the old end of the chain only once exported (unless the retention
//! opts in), the chain still verifies from its anchor after a prune and
//! still detects tampering; bodies are stored beside their records and
//! pruned on their own; key rotation keeps the old key for the overlap.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use sentinel_core::{BodyMode, RecordBodies, RequestRecord};
use sentinel_store::{AuditContext, AuditFilter, AuditRetention, Store};
mod common;

use common::{Fixture, postgres, sqlite};
use serde_json::json;

fn ctx() -> AuditContext {
    AuditContext {
        actor: "op-1".into(),
        ..AuditContext::default()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn seqs(s: &Store, org: &str) -> Vec<i64> {
    let mut seqs: Vec<i64> = s
        .list_audit(
            org,
            AuditFilter {
                limit: 1000,
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.seq)
        .collect();
    seqs.reverse();
    seqs
}

async fn execute(url: &str, sql: &str, org_id: &str) {
    use sqlx::Connection as _;
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .execute(&mut c)
            .await
            .unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .execute(&mut c)
            .await
            .unwrap();
    }
}

async fn audit_is_pruned_only_once_exported_and_still_verifies(f: Fixture) {
    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap().id;
    // seq 1 is the organization's creation (no environment).
    let before = seqs(s, &org).await;
    assert_eq!(before, [1]);
    for n in 0..4 {
        s.append_audit_event(
            &org,
            &ctx(),
            "test.event",
            &format!("t/{n}"),
            Some("env-1"),
            json!({ "n": n }),
        )
        .await
        .unwrap();
    }
    s.append_audit_event(
        &org,
        &ctx(),
        "test.event",
        "t/other",
        Some("env-2"),
        json!({}),
    )
    .await
    .unwrap();
    // seqs 2..=5 are env-1's, 6 is env-2's (no retention there).
    let past = now() + 60_000; // every event is past retention
    let keep_until_exported = [AuditRetention {
        env_id: "env-1".into(),
        before: past,
        prune_unexported: false,
    }];

    // Never exported: nothing goes.
    assert_eq!(
        s.prune_audit(&org, &keep_until_exported, Some(past), 1000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(seqs(s, &org).await, [1, 2, 3, 4, 5, 6]);

    // An export whose window started after the first events covers
    // nothing from the start: the watermark stays.
    assert!(!s.record_audit_export(&org, past, 4).await.unwrap());
    assert_eq!(s.audit_exported_seq(&org).await.unwrap(), 0);

    // A complete export through seq 4: events 1..=4 go, 5 stays (not
    // exported), and a prune event joins the chain.
    assert!(s.record_audit_export(&org, 0, 4).await.unwrap());
    assert_eq!(s.audit_exported_seq(&org).await.unwrap(), 4);
    assert_eq!(
        s.prune_audit(&org, &keep_until_exported, Some(past), 1000)
            .await
            .unwrap(),
        4
    );
    assert_eq!(seqs(s, &org).await, [5, 6, 7]);
    let verified = s.verify_audit_chain(&org).await.unwrap();
    assert!(verified.ok, "{verified:?}");
    assert_eq!((verified.events, verified.pruned_through_seq), (3, 4));
    let prune = s
        .list_audit(
            &org,
            AuditFilter {
                action: Some("audit.prune".into()),
                limit: 10,
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(prune.len(), 1);
    assert_eq!(prune[0].details["through_seq"], 4);
    assert_eq!(prune[0].actor, "system");

    // Opting in prunes env-1's unexported event, then stops at env-2's.
    let opt_in = [AuditRetention {
        env_id: "env-1".into(),
        before: past,
        prune_unexported: true,
    }];
    assert_eq!(
        s.prune_audit(&org, &opt_in, Some(past), 1000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(seqs(s, &org).await, [6, 7, 8]);
    assert!(s.verify_audit_chain(&org).await.unwrap().ok);

    // Appending continues the chain; tampering is still found.
    s.append_audit_event(&org, &ctx(), "test.event", "t/after", None, json!({}))
        .await
        .unwrap();
    assert!(s.verify_audit_chain(&org).await.unwrap().ok);
    execute(
        &f.url,
        "UPDATE audit_events SET actor = 'mallory' WHERE org_id = $1 AND seq = 7",
        &org,
    )
    .await;
    let verified = s.verify_audit_chain(&org).await.unwrap();
    assert!(!verified.ok);
    assert_eq!(verified.first_bad_seq, Some(7));
}

async fn a_fully_pruned_chain_continues_from_its_anchor(f: Fixture) {
    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap().id;
    let past = now() + 60_000;
    // Everything exported and past retention (the organization's own event
    // has no environment: it goes after the organization-wide cutoff).
    assert!(s.record_audit_export(&org, 0, 1).await.unwrap());
    assert_eq!(s.prune_audit(&org, &[], Some(past), 1000).await.unwrap(), 1);
    // The prune event is seq 2; export and prune it too: the table is empty
    // for a moment, then the next prune event is seq 3, linked to the anchor.
    assert!(s.record_audit_export(&org, 0, 2).await.unwrap());
    assert_eq!(s.prune_audit(&org, &[], Some(past), 1000).await.unwrap(), 1);
    assert_eq!(seqs(s, &org).await, [3]);
    let verified = s.verify_audit_chain(&org).await.unwrap();
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.pruned_through_seq, 2);
    // A wrong anchor breaks verification at the first remaining event.
    execute(
        &f.url,
        "UPDATE audit_retention SET anchor_hash = 'forged' WHERE org_id = $1",
        &org,
    )
    .await;
    assert_eq!(
        s.verify_audit_chain(&org).await.unwrap().first_bad_seq,
        Some(3)
    );
}

fn with_bodies(org: &str, id: &str, time: i64, mode: BodyMode) -> RequestRecord {
    RequestRecord {
        id: id.into(),
        org_id: org.into(),
        env_id: Some("env-1".into()),
        time,
        status: 200,
        bodies: Some(Box::new(RecordBodies {
            mode,
            request: Some(bytes::Bytes::from_static(b"{\"q\":\"hi\"}")),
            request_truncated: false,
            response: Some(bytes::Bytes::from_static(b"{\"a\":\"yo\"}")),
            response_truncated: true,
        })),
        ..RequestRecord::default()
    }
}

async fn bodies_are_stored_apart_and_pruned_apart(f: Fixture) {
    let s = &f.store;
    let org = s.ensure_org("default").await.unwrap().id;
    let now = now();
    s.insert_records(&[
        with_bodies(&org, "old", now - 10_000, BodyMode::Full),
        with_bodies(&org, "new", now, BodyMode::Redacted),
        RequestRecord {
            id: "none".into(),
            org_id: org.clone(),
            env_id: Some("env-1".into()),
            time: now,
            ..RequestRecord::default()
        },
    ])
    .await
    .unwrap();
    // A replay duplicates nothing.
    s.insert_records(&[with_bodies(&org, "old", now - 10_000, BodyMode::Full)])
        .await
        .unwrap();
    let old = s.get_bodies(&org, "old").await.unwrap().unwrap();
    assert_eq!(old.mode, "full");
    assert_eq!(old.request.as_deref(), Some("{\"q\":\"hi\"}"));
    assert!(old.response_truncated && !old.request_truncated);
    // The record itself carries no bodies.
    let record = s.get_record(&org, "old").await.unwrap().unwrap();
    assert!(record.bodies.is_none());
    assert!(s.get_bodies(&org, "none").await.unwrap().is_none());
    assert!(
        s.get_bodies("other-org", "old").await.unwrap().is_none(),
        "org isolation"
    );

    assert_eq!(
        s.delete_bodies_before(&org, "env-1", now - 5_000, 100)
            .await
            .unwrap(),
        1
    );
    assert!(s.get_bodies(&org, "old").await.unwrap().is_none());
    assert!(
        s.get_record(&org, "old").await.unwrap().is_some(),
        "records stay"
    );
    assert_eq!(
        s.get_bodies(&org, "new").await.unwrap().unwrap().mode,
        "redacted"
    );
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
    audit_is_pruned_only_once_exported_and_still_verifies,
    a_fully_pruned_chain_continues_from_its_anchor,
    bodies_are_stored_apart_and_pruned_apart,
);
