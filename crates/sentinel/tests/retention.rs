//! Retention: request records past their environment's
//! `retention.requests_days` are pruned in the background; newer records
//! and environments without retention are left alone. Bodies follow the
//! environment's `retention.bodies` mode (off: nothing; redacted: personal
//! data replaced; full: verbatim, streams included), are read through an
//! audited endpoint, and are pruned after `bodies_days` while their records
//! stay. A complete audit export moves the export watermark.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use reqwest::Method;
use sentinel_core::{BodyMode, RecordBodies, RequestRecord};
use serde_json::{Value, json};
use support::{Backend, TestApp, request_id};

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

/// Applies `document` with `retention` appended; returns its revision.
async fn apply_retention(app: &TestApp, retention: &str) -> i64 {
    let document = format!("{}{retention}", app.upstream_document());
    let applied = app.apply_config("prod", &document).await;
    applied["revision"]
        .as_i64()
        .unwrap_or_else(|| panic!("no revision in {applied}"))
}

/// Sends `body` until the gateway serves it from `revision` (a reload is
/// asynchronous); returns the request id and the client's response text.
async fn chat_at(app: &TestApp, key: &str, revision: i64, body: Value) -> (String, String) {
    for _ in 0..200 {
        let response = app.chat(Some(key), body.clone()).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let id = request_id(&response);
        let text = response.text().await.unwrap();
        let record = app.record(&id).await;
        if record["config_revision"].as_i64() >= Some(revision) {
            return (id, text);
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the gateway never served revision {revision}");
}

fn prompt(stream: bool) -> Value {
    json!({"model": "gpt-test", "stream": stream,
           "messages": [{"role": "user", "content": "write to alice@example.com today"}]})
}

async fn body_of(app: &TestApp, id: &str) -> (reqwest::StatusCode, Value) {
    app.admin(Method::GET, &format!("/api/v1/requests/{id}/body"), None)
        .await
}

async fn bodies_follow_the_environment_mode(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, _) = app.setup_env("prod", &[]).await;

    // off (the default): the record is there, no bodies.
    let response = app.chat(Some(&key), prompt(false)).send().await.unwrap();
    let off = request_id(&response);
    app.record(&off).await;
    let (status, error) = body_of(&app, &off).await;
    assert_eq!(status, 404, "{error}");
    assert!(error.to_string().contains("retention.bodies"), "{error}");

    // full: verbatim, as sent and as received.
    let revision = apply_retention(&app, "retention: { bodies: full }\n").await;
    let (full, answer) = chat_at(&app, &key, revision, prompt(false)).await;
    let (status, bodies) = body_of(&app, &full).await;
    assert_eq!(status, 200, "{bodies}");
    assert_eq!(bodies["mode"], "full");
    let request: Value = serde_json::from_str(bodies["request"].as_str().unwrap()).unwrap();
    assert_eq!(request, prompt(false), "the client's body, verbatim");
    assert_eq!(bodies["response"].as_str().unwrap(), answer);
    assert_eq!(bodies["request_truncated"], false);
    let text = bodies.to_string();
    assert!(
        !text.contains(&key) && !text.contains("Bearer"),
        "no credential is kept"
    );

    // redacted: the email is replaced, the rest kept.
    let revision = apply_retention(&app, "retention: { bodies: redacted }\n").await;
    let (redacted, _) = chat_at(&app, &key, revision, prompt(false)).await;
    let (_, bodies) = body_of(&app, &redacted).await;
    assert_eq!(bodies["mode"], "redacted");
    let request = bodies["request"].as_str().unwrap();
    assert!(!request.contains("alice@example.com"), "{request}");
    assert!(
        request.contains("write to [REDACTED_EMAIL] today"),
        "{request}"
    );

    // Reading bodies is audited, with the request it read.
    let audit = app
        .admin_ok(Method::GET, "/api/v1/audit?action=request.body.read", None)
        .await;
    let targets: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert!(
        targets.contains(&format!("request/{full}").as_str()),
        "{audit}"
    );
    assert!(
        targets.contains(&format!("request/{redacted}").as_str()),
        "{audit}"
    );
    app.stop().await;
}

async fn streamed_bodies_are_kept_as_the_client_received_them(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, _) = app.setup_env("prod", &[]).await;
    let revision = apply_retention(&app, "retention: { bodies: full }\n").await;
    let (id, streamed) = chat_at(&app, &key, revision, prompt(true)).await;
    assert!(streamed.contains("data: [DONE]"), "{streamed}");
    let (status, bodies) = body_of(&app, &id).await;
    assert_eq!(status, 200, "{bodies}");
    assert_eq!(bodies["response"].as_str().unwrap(), streamed);
    assert_eq!(bodies["response_truncated"], false);
    app.stop().await;
}

async fn bodies_are_pruned_before_their_records(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    app.create_env("prod", &[]).await;
    app.apply_config(
        "prod",
        "retention: { requests_days: 30, bodies: full, bodies_days: 2 }\n",
    )
    .await;
    let store = app.store().await;
    let org = store.ensure_org("default").await.unwrap();
    let env = store
        .get_environment_by_name(&org.id, "prod")
        .await
        .unwrap()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let with_body = |id: &str, time| RequestRecord {
        bodies: Some(Box::new(RecordBodies {
            mode: BodyMode::Full,
            request: Some(bytes::Bytes::from_static(b"{}")),
            ..RecordBodies::default()
        })),
        ..record(id, &org.id, &env.id, time)
    };
    store
        .insert_records(&[
            with_body("aged", now - 5 * DAY_MS),
            with_body("fresh", now - DAY_MS),
        ])
        .await
        .unwrap();
    assert_eq!(body_of(&app, "aged").await.0, 200);
    let mut pruned = false;
    for _ in 0..400 {
        if body_of(&app, "aged").await.0 == 404 {
            pruned = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(pruned, "bodies past bodies_days were never pruned");
    assert_eq!(status_of(&app, "aged").await, 200, "the record stays");
    assert_eq!(
        body_of(&app, "fresh").await.0,
        200,
        "within bodies_days: kept"
    );
    store.close().await;
    app.stop().await;
}

async fn a_complete_audit_export_moves_the_watermark(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    app.create_env("prod", &[]).await;
    let store = app.store().await;
    let org = store.ensure_org("default").await.unwrap();
    assert_eq!(store.audit_exported_seq(&org.id).await.unwrap(), 0);
    // One environment's events: not the whole chain, no watermark.
    let response = app
        .http
        .get(format!(
            "{}/api/v1/export/audit?since=0&env=prod",
            app.console
        ))
        .bearer_auth(support::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap();
    assert_eq!(store.audit_exported_seq(&org.id).await.unwrap(), 0);
    // Everything since the beginning: the watermark is the newest exported.
    let response = app
        .http
        .get(format!("{}/api/v1/export/audit?since=0", app.console))
        .bearer_auth(support::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let newest = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .max()
        .unwrap();
    let mut moved = 0;
    for _ in 0..200 {
        moved = store.audit_exported_seq(&org.id).await.unwrap();
        if moved > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(moved, newest, "{text}");
    store.close().await;
    app.stop().await;
}

on_both_stores!(
    records_past_retention_are_pruned,
    bodies_follow_the_environment_mode,
    streamed_bodies_are_kept_as_the_client_received_them,
    bodies_are_pruned_before_their_records,
    a_complete_audit_export_moves_the_watermark,
);
