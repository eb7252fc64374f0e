//! Retention: request records past their environment's
//! `retention.requests_days` are pruned in the background; newer records
//! and environments without retention are left alone.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use reqwest::Method;
use sentinel_core::RequestRecord;
use support::{Backend, TestApp};

const DAY_MS: i64 = 86_400_000;

fn record(id: &str, org: &str, env: &str, time: i64) -> RequestRecord {
    RequestRecord {
        id: id.to_owned(),
        org_id: org.to_owned(),
        time,
        env_id: Some(env.to_owned()),
        env_name: Some("planted".to_owned()),
        ingress: "chat_completions".to_owned(),
        status: 200,
        ..RequestRecord::default()
    }
}

async fn status_of(app: &TestApp, id: &str) -> u16 {
    app.admin(Method::GET, &format!("/api/v1/requests/{id}"), None)
        .await
        .0
        .as_u16()
}

async fn records_past_retention_are_pruned(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    app.create_env("prod", &[]).await;
    app.create_env("dev", &[]).await;
    app.apply_config("prod", "retention: { requests_days: 7 }\n")
        .await;
    let store = app.store().await;
    let org = store.ensure_org("default").await.unwrap();
    let env_id = |name: &'static str| {
        let store = store.clone();
        let org = org.id.clone();
        async move {
            store
                .get_environment_by_name(&org, name)
                .await
                .unwrap()
                .unwrap()
                .id
        }
    };
    let (prod, dev) = (env_id("prod").await, env_id("dev").await);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // 2,500 old records (several batches), a recent one, and old records
    // of an environment without retention.
    let old: Vec<RequestRecord> = (0..2500)
        .map(|n| {
            record(
                &format!("old-{n:05}"),
                &org.id,
                &prod,
                now - 30 * DAY_MS + n,
            )
        })
        .collect();
    store.insert_records(&old).await.unwrap();
    store
        .insert_records(&[
            record("recent", &org.id, &prod, now - 6 * DAY_MS),
            record("dev-old", &org.id, &dev, now - 300 * DAY_MS),
        ])
        .await
        .unwrap();
    assert_eq!(status_of(&app, "old-00000").await, 200);

    let mut pruned = false;
    for _ in 0..400 {
        if status_of(&app, "old-02499").await == 404 && status_of(&app, "old-00000").await == 404 {
            pruned = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(pruned, "records past retention were never pruned");
    assert_eq!(
        status_of(&app, "recent").await,
        200,
        "within retention: kept"
    );
    assert_eq!(
        status_of(&app, "dev-old").await,
        200,
        "no retention: kept forever"
    );
    store.close().await;
    app.stop().await;
}

on_both_stores!(records_past_retention_are_pruned);
