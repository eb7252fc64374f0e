//! Exports end to end: request records and audit events of a time window,
//! as JSON Lines and CSV, through the admin API and the CLI; every export
//! is audited and no export carries a key or a secret.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, Backend, TestApp, UPSTREAM_SECRET, request_id};

const BIN: &str = env!("CARGO_BIN_EXE_sentinel");

async fn export(app: &TestApp, path_and_query: &str) -> (u16, String, String) {
    let response = app
        .http
        .get(format!("{}{path_and_query}", app.console))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

async fn exports_stream_records_and_audit(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, _) = app.setup_env("prod", &[]).await;
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        - 60_000;
    let mut ids = Vec::new();
    for n in 0..7 {
        let response = app
            .chat(
                Some(&key),
                json!({"model": "gpt-test", "messages": [{"role": "user", "content": format!("=cmd|{n}")}]}),
            )
            .send()
            .await
            .unwrap();
        ids.push(request_id(&response));
    }
    // A client-chosen model name that a spreadsheet would run as a formula.
    let response = app
        .chat(
            Some(&key),
            json!({"model": "=HYPERLINK(1)", "messages": []}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    ids.push(request_id(&response));
    for id in &ids {
        let _ = app.record(id).await;
    }

    let (status, content_type, body) = export(
        &app,
        &format!("/api/v1/export/requests?env=prod&since={since}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("application/jsonl"),
        "{content_type}"
    );
    let exported: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for id in &ids {
        assert!(exported.iter().any(|r| r["id"] == *id), "{id} missing");
    }
    assert!(exported.iter().all(|r| r["env_name"] == "prod"));

    let (status, content_type, csv) = export(
        &app,
        &format!("/api/v1/export/requests?env=prod&since={since}&format=csv"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/csv"));
    let mut lines = csv.split("\r\n");
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("id,time,environment,application,key_id")
    );
    assert_eq!(
        csv.split("\r\n").filter(|l| !l.is_empty()).count(),
        exported.len() + 1
    );

    // A window after everything is empty; a bad window is refused.
    let (status, _, body) = export(
        &app,
        &format!(
            "/api/v1/export/requests?env=prod&since={}",
            since + 3_600_000
        ),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));
    let (status, _, _) = export(&app, "/api/v1/export/requests?env=prod&since=yesterday").await;
    assert_eq!(status, 400);
    let (status, _, _) = export(&app, "/api/v1/export/requests?env=nope&since=0").await;
    assert_eq!(status, 404);

    // Audit: every export so far is in the log, and audit exports too.
    let (status, _, audit) = export(&app, "/api/v1/export/audit?since=0").await;
    assert_eq!(status, 200);
    let events: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let exports = events
        .iter()
        .filter(|e| e["action"] == "export.requests")
        .count();
    assert_eq!(exports, 3, "each successful export start is audited");
    assert!(events.iter().any(|e| e["action"] == "export.audit"));
    assert!(events.iter().any(|e| e["action"] == "key.create"));
    // Newest first, and the chain positions are contiguous.
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] == w[1] + 1), "{seqs:?}");

    // Nothing exported carries a key or a secret.
    for text in [&body, &csv, &audit] {
        assert!(!text.contains(&key));
        assert!(!text.contains(UPSTREAM_SECRET));
    }

    // The CLI writes a file, only when complete.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("records.csv");
    let output = Command::new(BIN)
        .args([
            "export", "requests", "--env", "prod", "--since", "1h", "--format", "csv", "-o",
        ])
        .arg(&file)
        .env("SENTINEL_URL", &app.console)
        .env("SENTINEL_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with(&format!("exported {} requests rows", exported.len())),
        "{stdout}"
    );
    let written = std::fs::read_to_string(&file).unwrap();
    // Client-controlled text that a spreadsheet would run is neutralized.
    assert!(written.contains(",'=HYPERLINK(1),"), "{written}");
    assert!(!written.contains(",=HYPERLINK"), "{written}");
    assert!(!dir.path().join("records.csv.partial").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "exports are private to their owner");
    }

    // The audit chain still answers after the export events were appended.
    let (status, _) = app.admin(Method::GET, "/api/v1/audit/verify", None).await;
    assert_eq!(status, 200);
    app.stop().await;
}

on_both_stores!(exports_stream_records_and_audit);
