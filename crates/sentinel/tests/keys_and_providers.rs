//! Key rotation with overlap (the old key works during the overlap and is
//! refused after it; the new key works; both through the admin API and the
//! CLI) and provider connectivity tests (one minimal call per provider and
//! model, outcomes stored and audited, failures reported with their status
//! and no secret), on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::time::Duration;

use reqwest::Method;
use sentinel_testkit::openai_mock::{Behavior, MockOpenAi};
use serde_json::{Value, json};
use support::{Backend, TestApp, UPSTREAM_SECRET};

const BIN: &str = env!("CARGO_BIN_EXE_sentinel");

/// Runs an admin command of the binary; returns (success, stdout, stderr).
fn admin_cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = support::admin_cli(BIN, app, args);
    (out.success(), out.stdout, out.stderr)
}

async fn models_status(app: &TestApp, key: &str) -> u16 {
    app.http
        .get(format!("{}/v1/models", app.gateway))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn rotation_keeps_the_old_key_for_the_overlap(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (old_key, old_id) = app.setup_env("prod", &[]).await;
    let rotate = |id: &str| format!("/api/v1/environments/prod/keys/{id}/rotate");

    // Bad input names the field; an unknown id is not found.
    let (status, error) = app
        .admin(Method::POST, &rotate(&old_id), Some(json!({})))
        .await;
    assert_eq!(status, 400);
    assert!(error.to_string().contains("overlap_s"), "{error}");
    let (status, _) = app
        .admin(
            Method::POST,
            &rotate("0123456789abcdef"),
            Some(json!({"overlap_s": 60})),
        )
        .await;
    assert_eq!(status, 404);

    // A long overlap: both keys work.
    let rotated = app
        .admin_ok(
            Method::POST,
            &rotate(&old_id),
            Some(json!({"overlap_minutes": 60})),
        )
        .await;
    let new_key = rotated["key"].as_str().unwrap().to_owned();
    let new_id = rotated["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, old_id);
    assert_eq!(rotated["application"], "checkout");
    assert_eq!(rotated["replaces"]["id"], old_id.as_str());
    assert!(rotated["replaces"]["expires_at"].as_i64().is_some());
    assert!(
        rotated["replaces"].get("key").is_none(),
        "the old key is never shown"
    );
    app.wait_for_model(&new_key, "gpt-test").await;
    assert_eq!(
        models_status(&app, &old_key).await,
        200,
        "during the overlap"
    );

    // Rotating the new key through the CLI with a one-second overlap: the
    // key it replaces is refused once the overlap is over.
    let (ok, out, err) = admin_cli(
        &app,
        &[
            "keys",
            "rotate",
            "--env",
            "prod",
            &new_id,
            "--overlap",
            "1s",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("cannot show it again") && out.contains("stays valid until"),
        "{out}"
    );
    let newest = out
        .lines()
        .find_map(|l| l.strip_prefix("key:"))
        .unwrap()
        .trim()
        .to_owned();
    app.wait_for_model(&newest, "gpt-test").await;
    let mut refused = false;
    for _ in 0..400 {
        if models_status(&app, &new_key).await == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        refused,
        "the rotated key was never refused after its overlap"
    );
    assert_eq!(models_status(&app, &newest).await, 200);
    // An expired key cannot be rotated again.
    let (status, _) = app
        .admin(
            Method::POST,
            &rotate(&new_id),
            Some(json!({"overlap_s": 5})),
        )
        .await;
    assert_eq!(status, 409);

    // Audited, with both ids and never a key.
    let audit = app
        .admin_ok(Method::GET, "/api/v1/audit?action=key.rotate", None)
        .await;
    let events = audit["data"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{audit}");
    assert_eq!(events[1]["target"], format!("key/{old_id}"));
    assert_eq!(events[1]["details"]["new_key_id"], new_id.as_str());
    let text = audit.to_string();
    assert!(
        !text.contains(&new_key) && !text.contains(&newest),
        "{text}"
    );

    // The listing shows when each key was last used (written by the
    // record writer, off the request path).
    let mut used = Value::Null;
    for _ in 0..400 {
        let keys = app
            .admin_ok(Method::GET, "/api/v1/environments/prod/keys", None)
            .await;
        used = keys["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == old_id.as_str())
            .unwrap()["last_used_at"]
            .clone();
        if used.is_i64() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(used.is_i64(), "last_used_at never set: {used}");
    app.stop().await;
}

async fn provider_tests_report_each_provider_without_secrets(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let failing = MockOpenAi::start().await;
    failing.set_behavior(Behavior::Fail(401));
    let document = format!(
        "providers:\n  upstream:\n    kind: openai\n    base_url: {}\n    credential: secret:upstream-key\n    allow_private_network: true\n  bad:\n    kind: openai\n    base_url: {}\n    credential: secret:upstream-key\n    allow_private_network: true\nroute_plans:\n  chat:\n    models: [gpt-test]\n    targets:\n      - {{ provider: upstream, model: up-model }}\n  other:\n    models: [gpt-bad]\n    targets:\n      - {{ provider: bad, model: bad-model }}\n",
        app.upstream.base_url(),
        failing.base_url()
    );
    app.setup_with_document("prod", &document, "gpt-bad").await;
    let calls_before = app.upstream.calls().len();

    // Unknown provider: a clear error naming it.
    let (status, error) = app
        .admin(
            Method::POST,
            "/api/v1/environments/prod/providers/test",
            Some(json!({"provider": "nope"})),
        )
        .await;
    assert_eq!(status, 400, "{error}");
    assert!(error.to_string().contains("nope"), "{error}");

    let outcomes = app
        .admin_ok(
            Method::POST,
            "/api/v1/environments/prod/providers/test",
            Some(json!({})),
        )
        .await;
    let data = outcomes["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{outcomes}");
    let bad = data.iter().find(|o| o["provider"] == "bad").unwrap();
    assert_eq!(
        (bad["ok"].clone(), bad["status"].clone()),
        (json!(false), json!(401))
    );
    assert_eq!(bad["model"], "bad-model");
    assert!(bad["error"].as_str().unwrap().contains("401"), "{bad}");
    let good = data.iter().find(|o| o["provider"] == "upstream").unwrap();
    assert_eq!(
        (good["ok"].clone(), good["status"].clone()),
        (json!(true), json!(200))
    );
    assert!(!outcomes.to_string().contains(UPSTREAM_SECRET));

    // One minimal call went to the upstream, with the upstream model.
    let calls = app.upstream.calls();
    assert_eq!(calls.len(), calls_before + 1);
    let sent = calls.last().unwrap().json();
    assert_eq!(
        (sent["model"].clone(), sent["max_tokens"].clone()),
        (json!("up-model"), json!(1))
    );

    // The latest outcome per provider and model is kept, and audited.
    let latest = app
        .admin_ok(
            Method::GET,
            "/api/v1/environments/prod/providers/tests",
            None,
        )
        .await;
    assert_eq!(latest["data"].as_array().unwrap().len(), 2, "{latest}");
    assert_eq!(latest["targets"].as_array().unwrap().len(), 2, "{latest}");
    let audit = app
        .admin_ok(Method::GET, "/api/v1/audit?action=providers.test", None)
        .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1, "{audit}");

    // The CLI, piped: one row per outcome, no secret.
    let (ok, out, err) = admin_cli(&app, &["providers", "test", "--env", "prod", "--all"]);
    assert!(ok, "{err}");
    assert!(out.contains("upstream") && out.contains("ok"), "{out}");
    assert!(
        out.contains("bad") && out.contains("failed") && out.contains("401"),
        "{out}"
    );
    assert!(!out.contains(UPSTREAM_SECRET) && !err.contains(UPSTREAM_SECRET));
    let (ok, out, err) = admin_cli(
        &app,
        &["providers", "test", "--env", "prod", "--provider", "bad"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("bad") && !out.contains("upstream"), "{out}");
    app.stop().await;
}

on_both_stores!(
    rotation_keeps_the_old_key_for_the_overlap,
    provider_tests_report_each_provider_without_secrets,
);
