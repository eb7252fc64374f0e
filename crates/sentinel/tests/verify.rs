//! `sentinel verify`: a staging environment with a two-target fallback
//! plan over mock upstreams passes every step (the fallback answered by the
//! second target, its record showing the forced attempt first), leaves no
//! usable key behind, is kept (GET) and audited; an environment whose only
//! provider is down fails the run with the failing steps named and still
//! cleans up; a staged rollout does not stop verification (nor does a
//! second run at the same time); and no header an
//! outside client sends forces a fallback or skips the rollout gate. Through
//! the admin API and the CLI, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use reqwest::Method;
use sentinel_testkit::openai_mock::{Behavior, MockOpenAi};
use serde_json::{Value, json};
use support::{Backend, TestApp, UPSTREAM_SECRET, request_id};

const BIN: &str = env!("CARGO_BIN_EXE_sentinel");

/// Runs an admin command of the binary; returns (success, stdout, stderr).
fn admin_cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = support::admin_cli(BIN, app, args);
    (out.success(), out.stdout, out.stderr)
}

/// A document with provider `primary` (the app's mock upstream) and
/// `backup` (another mock), and plan `chat` falling back from one to the
/// other; `extra` is appended.
fn fallback_document(app: &TestApp, backup: &MockOpenAi, extra: &str) -> String {
    format!(
        "providers:\n  primary:\n    kind: openai\n    base_url: {}\n    credential: secret:upstream-key\n    allow_private_network: true\n  backup:\n    kind: openai\n    base_url: {}\n    credential: secret:upstream-key\n    allow_private_network: true\nroute_plans:\n  chat:\n    models: [gpt-test]\n    targets:\n      - {{ provider: primary, model: up-model }}\n      - {{ provider: backup, model: backup-model }}\n{extra}",
        app.upstream.base_url(),
        backup.base_url()
    )
}

/// Environment `env` (bound to `hosts`) with `document` and app `app_name`;
/// waits until the gateway serves `gpt-test` to a key of that app, which it
/// returns.
async fn environment(
    app: &TestApp,
    env: &str,
    hosts: &[&str],
    document: &str,
    app_name: &str,
) -> String {
    app.create_env(env, hosts).await;
    app.create_app(env, app_name).await;
    app.set_secret(env, "upstream-key", UPSTREAM_SECRET).await;
    app.apply_config(env, document).await;
    let (key, _) = app.create_key(env, app_name).await;
    app.wait_for_model(&key, "gpt-test").await;
    key
}

async fn verify(app: &TestApp, env: &str) -> Value {
    let (status, run) = app
        .admin(
            Method::POST,
            &format!("/api/v1/environments/{env}/verify"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{run}");
    run
}

fn steps<'a>(run: &'a Value, kind: &str) -> Vec<&'a Value> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == kind)
        .collect()
}

fn failed(run: &Value) -> Vec<String> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["ok"] != true)
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

/// No client key in `text`: key prefixes (`snt_<env>_<id>`) only.
fn assert_no_key(text: &str) {
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if let Some(rest) = word.strip_prefix("snt_") {
            assert!(
                rest.matches('_').count() < 2,
                "a full key leaked: {word} in {text}"
            );
        }
    }
}

/// Every key of application `sentinel-verify` in `env` is revoked.
async fn verify_keys_are_revoked(app: &TestApp, env: &str) {
    let keys = app
        .admin_ok(
            Method::GET,
            &format!("/api/v1/environments/{env}/keys"),
            None,
        )
        .await;
    let ours: Vec<&Value> = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["application"] == "sentinel-verify")
        .collect();
    assert!(!ours.is_empty(), "{keys}");
    for key in ours {
        assert_eq!(key["state"], "revoked", "{key}");
    }
}

async fn a_staging_environment_passes_every_step(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let backup = MockOpenAi::start().await;
    let document = fallback_document(&app, &backup, "");
    let key = environment(&app, "staging", &["staging.gw.test"], &document, "checkout").await;

    let run = verify(&app, "staging").await;
    assert_eq!(run["ok"], true, "{failed:?}: {run}", failed = failed(&run));
    for kind in [
        "setup",
        "request",
        "fallback",
        "key_create",
        "key_rotate",
        "key_revoke",
        "request_lookup",
        "cleanup",
    ] {
        assert_eq!(steps(&run, kind).len(), 1, "{kind}: {run}");
    }
    assert_eq!(steps(&run, "provider_test").len(), 2, "{run}");
    assert_eq!(run["steps"][0]["kind"], "setup");
    assert_eq!(
        run["steps"].as_array().unwrap().last().unwrap()["kind"],
        "cleanup"
    );
    assert_no_key(&run.to_string());

    // The fallback was answered by the second target; its record shows
    // the forced attempt first.
    let fallback = steps(&run, "fallback")[0];
    let detail = fallback["detail"].as_str().unwrap();
    assert!(
        detail.contains("primary/up-model failed (forced) -> backup/backup-model ok 200"),
        "{detail}"
    );
    let record = app.record(fallback["request_id"].as_str().unwrap()).await;
    let attempts = record["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{record}");
    assert_eq!(
        (&attempts[0]["provider"], &attempts[0]["outcome"]),
        (&json!("primary"), &json!("forced_failure"))
    );
    assert!(
        attempts[0]["error"].as_str().unwrap().contains("forced"),
        "{record}"
    );
    assert_eq!(
        (&attempts[1]["provider"], &attempts[1]["outcome"]),
        (&json!("backup"), &json!("ok"))
    );
    assert_eq!(record["app_name"], "sentinel-verify");
    // The lookup step read that record from the store.
    let lookup = steps(&run, "request_lookup")[0];
    assert_eq!(lookup["request_id"], fallback["request_id"]);
    assert!(
        lookup["detail"]
            .as_str()
            .unwrap()
            .contains("failed (forced) -> backup/backup-model ok"),
        "{lookup}"
    );
    // The plain request was answered by the first target.
    let request = steps(&run, "request")[0];
    assert!(
        request["detail"]
            .as_str()
            .unwrap()
            .contains("primary/up-model ok 200"),
        "{request}"
    );
    // The provider tests were stored like `providers test`.
    let tests = app
        .admin_ok(
            Method::GET,
            "/api/v1/environments/staging/providers/tests",
            None,
        )
        .await;
    assert_eq!(tests["data"].as_array().unwrap().len(), 2, "{tests}");

    // Every key the run made is revoked.
    verify_keys_are_revoked(&app, "staging").await;

    // The latest run is kept, and audited with the operator as actor.
    let latest = app
        .admin_ok(Method::GET, "/api/v1/environments/staging/verify", None)
        .await;
    assert_eq!(latest, run);
    let audit = app
        .admin_ok(Method::GET, "/api/v1/audit?action=environment.verify", None)
        .await;
    let events = audit["data"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(
        events[0]["target"],
        format!("verify/{}", run["id"].as_str().unwrap())
    );
    assert_eq!(events[0]["details"]["ok"], true);
    let whoami = app.admin_ok(Method::GET, "/api/v1/whoami", None).await;
    let keys_audit = app
        .admin_ok(Method::GET, "/api/v1/audit?action=key.rotate", None)
        .await;
    assert_eq!(
        keys_audit["data"][0]["actor"], whoami["id"],
        "{keys_audit} {whoami}"
    );

    // A client cannot force a fallback with a header.
    let response = app
        .chat(
            Some(&key),
            json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .header("x-sentinel-force-fallback", "1")
        .header("x-sentinel-verification", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let record = app.record(&request_id(&response)).await;
    let attempts = record["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{record}");
    assert_eq!(attempts[0]["provider"], "primary");
    assert_eq!(attempts[0]["outcome"], "ok");

    // The CLI, piped: each step, a summary, success.
    let (ok, out, err) = admin_cli(&app, &["verify", "--env", "staging"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("fallback through route plan chat"), "{out}");
    assert!(out.contains("staging is verified"), "{out}");
    assert!(
        !out.contains('\u{1b}'),
        "no progress output when piped: {out}"
    );
    assert_no_key(&out);
    let (ok, out, err) = admin_cli(
        &app,
        &["verify", "--env", "staging", "--latest", "--format", "json"],
    );
    assert!(ok, "{err}");
    let latest: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(latest["ok"], true);
    assert_ne!(latest["id"], run["id"], "the CLI's run is the latest");
    app.stop().await;
}

async fn a_down_provider_fails_the_run_and_cleanup_still_runs(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    app.upstream.set_behavior(Behavior::Fail(500));
    let document = app.upstream_document();
    // The key is accepted (/v1/models) though every chat call fails.
    environment(&app, "solo", &[], &document, "checkout").await;

    let run = verify(&app, "solo").await;
    assert_eq!(run["ok"], false, "{run}");
    let failed = failed(&run);
    assert!(
        failed.contains(&"request through route plan chat".to_owned()),
        "{failed:?}"
    );
    // A one-target plan has no fallback to force: that step is no failure.
    let fallback = steps(&run, "fallback")[0];
    assert_eq!(fallback["ok"], true, "{fallback}");
    assert_eq!(fallback["name"], "fallback (none to force)");
    assert!(
        failed.contains(&"provider test upstream/up-model".to_owned()),
        "{failed:?}"
    );
    let request = steps(&run, "request")[0];
    assert!(
        request["detail"]
            .as_str()
            .unwrap()
            .contains("HTTP 502 upstream_error"),
        "{request}"
    );
    // The key flow and the cleanup do not depend on the provider.
    for kind in ["setup", "key_create", "key_rotate", "key_revoke", "cleanup"] {
        assert_eq!(steps(&run, kind)[0]["ok"], true, "{kind}: {run}");
    }
    verify_keys_are_revoked(&app, "solo").await;
    assert_no_key(&run.to_string());

    // The CLI exits non-zero and names the failing steps.
    let (ok, out, err) = admin_cli(&app, &["verify", "--env", "solo"]);
    assert!(!ok, "{out}");
    assert!(out.contains("FAIL"), "{out}");
    assert!(out.contains("steps failed"), "{out}");
    assert!(err.contains("verification of solo failed"), "{err}");
    app.stop().await;
}

async fn a_staged_rollout_does_not_stop_verification(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let backup = MockOpenAi::start().await;
    let document = fallback_document(&app, &backup, "rollout:\n  open_to: [other-app]\n");
    environment(&app, "canary", &[], &document, "other-app").await;
    app.create_app("canary", "checkout").await;
    let (refused, _) = app.create_key("canary", "checkout").await;

    // Two runs at once (the first of each creates the application).
    let (run, other) = tokio::join!(verify(&app, "canary"), verify(&app, "canary"));
    assert_eq!(run["ok"], true, "{:?}: {run}", failed(&run));
    assert_eq!(other["ok"], true, "{:?}: {other}", failed(&other));
    verify_keys_are_revoked(&app, "canary").await;

    // An outside client's headers do not open the environment.
    let mut status = 401;
    for _ in 0..400 {
        let response = app
            .chat(
                Some(&refused),
                json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}),
            )
            .header("x-sentinel-verification", "1")
            .header("x-sentinel-force-fallback", "1")
            .send()
            .await
            .unwrap();
        status = response.status().as_u16();
        if status != 401 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "environment_not_open", "{body}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(status, 403);
    app.stop().await;
}

on_both_stores!(
    a_staging_environment_passes_every_step,
    a_down_provider_fails_the_run_and_cleanup_still_runs,
    a_staged_rollout_does_not_stop_verification,
);
