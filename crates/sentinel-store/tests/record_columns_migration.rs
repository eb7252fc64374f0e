//! Migration 0012 turns the record search columns (provider, policy
//! decision, latency) and the cost column from generated into written ones:
//! records stored before it must still be found by them.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use sentinel_core::{PolicyOutcome, RequestRecord};
use sentinel_store::{RecordFilter, Store};
use sentinel_testkit::postgres::TestDatabase;

mod common;

use common::key;

/// Three records: answered by `primary` (denied by policy, 40 ms, no
/// cost), by `backup` (no policy, 7 ms, 12 micro-USD), and by `primary`
/// (allowed, 90 ms, 30 micro-USD).
fn old_records(org_id: &str) -> Vec<RequestRecord> {
    [
        ("primary", Some("denied"), 40, None),
        ("backup", None, 7, Some(12)),
        ("primary", Some("allowed"), 90, Some(30)),
    ]
    .into_iter()
    .enumerate()
    .map(
        |(i, (provider, decision, latency_ms, cost_micros))| RequestRecord {
            id: format!("01900000-0000-7000-8000-{i:012}"),
            org_id: org_id.to_owned(),
            time: 1000 + i64::try_from(i).unwrap(),
            env_id: Some("e1".into()),
            cost_micros,
            ingress: "chat_completions".into(),
            status: 200,
            provider: Some(provider.into()),
            latency_ms,
            policy: decision.map(|d| PolicyOutcome {
                decision: d.into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .collect()
}

/// Inserts records the way the store did before migration 0012 (the
/// search columns left to the database).
macro_rules! insert_old {
    ($pool:expr, $records:expr) => {
        for r in $records {
            sqlx::query(
                "INSERT INTO request_records (id, org_id, time, env_id, status, record) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(r.id.as_str())
            .bind(r.org_id.as_str())
            .bind(r.time)
            .bind(r.env_id.as_deref())
            .bind(i64::from(r.status))
            .bind(serde_json::to_string(&r).unwrap())
            .execute($pool)
            .await
            .unwrap();
        }
    };
}

/// Opens the migrated store and searches by each column.
async fn check_found(url: &str, org_id: &str) {
    let store = Store::open(url, key()).await.unwrap();
    let times = |filter: RecordFilter| {
        let store = &store;
        async move {
            let page = store
                .search_records(
                    org_id,
                    &RecordFilter {
                        limit: 10,
                        ..filter
                    },
                )
                .await
                .unwrap();
            page.records.iter().map(|r| r.time).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        times(RecordFilter {
            provider: Some("primary".into()),
            ..Default::default()
        })
        .await,
        [1002, 1000]
    );
    assert_eq!(
        times(RecordFilter {
            policy_decision: Some("denied".into()),
            ..Default::default()
        })
        .await,
        [1000]
    );
    assert_eq!(
        times(RecordFilter {
            min_latency_ms: Some(40),
            ..Default::default()
        })
        .await,
        [1002, 1000]
    );
    let points = store
        .record_points(org_id, "e1", 0, 10_000, 10)
        .await
        .unwrap();
    assert_eq!(
        points.iter().map(|p| p.cost_micros).collect::<Vec<_>>(),
        [None, Some(12), Some(30)]
    );
    assert_eq!(
        points.iter().map(|p| p.latency_ms).collect::<Vec<_>>(),
        [Some(40), Some(7), Some(90)]
    );
    // New records are found the same way beside the old ones.
    let mut new = old_records(org_id).remove(1);
    new.id = "01900000-0000-7000-8000-000000000009".into();
    new.time = 1009;
    store.insert_records(&[new]).await.unwrap();
    assert_eq!(
        times(RecordFilter {
            provider: Some("backup".into()),
            ..Default::default()
        })
        .await,
        [1009, 1001]
    );
}

#[tokio::test]
async fn sqlite_records_stored_before_0012_are_still_found() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::migrate!("migrations/sqlite")
        .run_to(10, &pool)
        .await
        .unwrap();
    insert_old!(&pool, old_records("o1"));
    pool.close().await;
    check_found(&url, "o1").await;
}

#[tokio::test]
async fn postgres_records_stored_before_0012_are_still_found() {
    let db = TestDatabase::create().await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::migrate!("migrations/postgres")
        .run_to(10, &pool)
        .await
        .unwrap();
    insert_old!(&pool, old_records("o1"));
    pool.close().await;
    check_found(&db.url, "o1").await;
}
