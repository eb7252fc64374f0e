//! SQLite page size: a new database gets 16 KiB pages; a database created
//! before keeps the pages it has and works as before.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use sentinel_core::RequestRecord;
use sentinel_store::Store;

mod common;

use common::key;

async fn page_size(url: &str) -> i64 {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let (size,): (i64,) = sqlx::query_as("PRAGMA page_size")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    size
}

/// Stores a record and reads it back.
async fn round_trip(store: &Store) {
    let record = RequestRecord {
        id: "01900000-0000-7000-8000-000000000001".into(),
        org_id: "o1".into(),
        time: 1000,
        ingress: "chat_completions".into(),
        status: 200,
        ..Default::default()
    };
    store
        .insert_records(std::slice::from_ref(&record))
        .await
        .unwrap();
    let stored = store.get_record("o1", &record.id).await.unwrap().unwrap();
    assert_eq!(stored.time, 1000);
}

#[tokio::test]
async fn a_new_database_gets_16_kib_pages() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("new.db").display());
    let store = Store::open(&url, key()).await.unwrap();
    round_trip(&store).await;
    store.close().await;
    assert_eq!(page_size(&url).await, 16 * 1024);
}

#[tokio::test]
async fn an_existing_database_keeps_its_pages() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
    let pool =
        sqlx::SqlitePool::connect_with(options.journal_mode(sqlx::sqlite::SqliteJournalMode::Wal))
            .await
            .unwrap();
    sqlx::migrate!("migrations/sqlite")
        .run(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(page_size(&url).await, 4096);
    let store = Store::open(&url, key()).await.unwrap();
    round_trip(&store).await;
    store.close().await;
    assert_eq!(page_size(&url).await, 4096);
}
