//! Organizations end to end: a platform administrator creates one with the
//! CLI; two organizations using the same names (`prod`, `checkout`,
//! `upstream-key`) each serve their own keys on their own hosts, and a key
//! of one is refused on the other's host; operators are created, granted
//! and revoked through the CLI.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::{
    io::Write,
    process::{Command, Stdio},
};

use reqwest::Method;
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, Backend, TestApp, UPSTREAM_SECRET};

const BIN: &str = env!("CARGO_BIN_EXE_sentinel");

on_both_stores!(organizations_are_isolated_on_the_data_plane);

/// Runs the CLI against `app` as the operator holding `token`.
fn cli(app: &TestApp, token: &str, args: &[&str]) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("SENTINEL_URL", &app.console)
        .env("SENTINEL_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().flush().unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn run(app: &TestApp, token: &str, args: &[&str]) -> String {
    let (ok, out, err) = cli(app, token, args);
    assert!(ok, "sentinel {args:?} failed: {err}");
    out
}

/// An admin request as the operator holding `token`.
async fn as_operator(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> Value {
    let response = app
        .http
        .request(method.clone(), format!("{}{path}", app.console))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{method} {path} → {status}: {body}");
    body
}

async fn chat_on(app: &TestApp, key: &str, host: &str) -> (u16, Value) {
    let response = app
        .chat(
            Some(key),
            json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .header("host", host)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn organizations_are_isolated_on_the_data_plane(backend: Backend) {
    let app = TestApp::start(backend).await;
    // The default organization (the bootstrap operator's).
    let (key_a, _) = app.setup_env("prod", &["a.gateway.test"]).await;

    // The bootstrap operator is the platform administrator.
    let created: Value = serde_json::from_str(&run(
        &app,
        ADMIN_TOKEN,
        &["orgs", "create", "acme", "--json"],
    ))
    .unwrap();
    let token_b = created["admin"]["token"].as_str().unwrap().to_owned();
    let listed = run(&app, ADMIN_TOKEN, &["orgs", "list"]);
    assert!(
        listed.contains("acme") && listed.contains("default"),
        "{listed}"
    );
    let (ok, _, err) = cli(&app, &token_b, &["orgs", "list"]);
    assert!(!ok && err.contains("platform administrators"), "{err}");

    // The same names in the second organization.
    as_operator(
        &app,
        &token_b,
        Method::POST,
        "/api/v1/environments",
        json!({"name": "prod", "hosts": ["b.gateway.test"]}),
    )
    .await;
    as_operator(
        &app,
        &token_b,
        Method::POST,
        "/api/v1/environments/prod/applications",
        json!({"name": "checkout"}),
    )
    .await;
    as_operator(
        &app,
        &token_b,
        Method::PUT,
        "/api/v1/environments/prod/secrets/upstream-key",
        json!({"value": format!("{UPSTREAM_SECRET}-acme")}),
    )
    .await;
    as_operator(
        &app,
        &token_b,
        Method::POST,
        "/api/v1/environments/prod/config",
        json!({"document": app.upstream_document(), "message": "acme"}),
    )
    .await;
    let key_b = as_operator(
        &app,
        &token_b,
        Method::POST,
        "/api/v1/environments/prod/keys",
        json!({"application": "checkout", "name": "k"}),
    )
    .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_model(&key_b, "gpt-test").await;

    // Each key works on its own organization's host only.
    assert_eq!(chat_on(&app, &key_a, "a.gateway.test").await.0, 200);
    assert_eq!(chat_on(&app, &key_b, "b.gateway.test").await.0, 200);
    for (key, host) in [(&key_a, "b.gateway.test"), (&key_b, "a.gateway.test")] {
        let (status, body) = chat_on(&app, key, host).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "wrong_environment", "{body}");
    }

    // Operators through the CLI: created with a grant on prod, granted more,
    // revoked; the audit chain verifies.
    let created: Value = serde_json::from_str(&run(
        &app,
        ADMIN_TOKEN,
        &[
            "operators",
            "create",
            "dana",
            "--role",
            "operator",
            "--env",
            "prod",
            "--json",
        ],
    ))
    .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let dana = created["token"].as_str().unwrap().to_owned();
    let out = run(
        &app,
        ADMIN_TOKEN,
        &["operators", "grant", &id, "--role", "auditor"],
    );
    assert!(out.contains("auditor,operator@prod"), "{out}");
    assert!(run(&app, &dana, &["whoami"]).contains("dana"));
    run(&app, ADMIN_TOKEN, &["operators", "revoke", &id]);
    let (ok, _, err) = cli(&app, &dana, &["whoami"]);
    assert!(!ok && err.contains("unknown or revoked"), "{err}");
    let out = run(&app, ADMIN_TOKEN, &["audit", "verify"]);
    assert!(out.contains("audit chain verified"), "{out}");

    // Rewrite one event behind Sentinel's back: verify fails and names it.
    let default_org = app
        .store()
        .await
        .get_org_by_name("default")
        .await
        .unwrap()
        .unwrap();
    let (seq, id) = tamper(&app, &default_org.id).await;
    let (ok, _, err) = cli(&app, ADMIN_TOKEN, &["audit", "verify"]);
    assert!(!ok, "a tampered chain fails verification");
    assert!(
        err.contains(&format!("first bad event: seq {seq}, id {id}")),
        "{err}"
    );
}

/// Changes the `actor` of the organization's fourth audit event directly in
/// the database; returns its seq and id.
async fn tamper(app: &TestApp, org_id: &str) -> (i64, String) {
    use sqlx::Connection as _;
    let select = "SELECT id FROM audit_events WHERE org_id = $1 AND seq = 4";
    let update = "UPDATE audit_events SET actor = 'mallory' WHERE org_id = $1 AND seq = 4";
    let id: (String,) = match &app.store_url {
        Some(url) => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(update)
                .bind(org_id)
                .execute(&mut c)
                .await
                .unwrap();
            sqlx::query_as(select)
                .bind(org_id)
                .fetch_one(&mut c)
                .await
                .unwrap()
        }
        None => {
            let url = format!(
                "sqlite://{}",
                app.data_dir.path().join("sentinel.db").display()
            );
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(update)
                .bind(org_id)
                .execute(&mut c)
                .await
                .unwrap();
            sqlx::query_as(select)
                .bind(org_id)
                .fetch_one(&mut c)
                .await
                .unwrap()
        }
    };
    (4, id.0)
}
