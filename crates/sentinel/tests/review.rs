//! The readiness review over the real admin API and CLI, on both stores:
//! a bare environment fails it (and the CLI exits 1), an environment
//! prepared the way the checklist asks passes it (and the CLI exits 0).
//! Each item's pass and fail fixtures are in `sentinel-review`'s own tests;
//! these prove the facts are gathered from a live store.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, Backend, TestApp, UPSTREAM_SECRET};

const BIN: &str = env!("CARGO_BIN_EXE_sentinel");

fn validator() -> jsonschema::Validator {
    let text = include_str!("../../../docs/schemas/review.schema.json");
    jsonschema::validator_for(&serde_json::from_str(text).unwrap()).unwrap()
}

fn assert_valid(review: &Value) {
    let errors: Vec<String> = validator()
        .iter_errors(review)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// Runs `sentinel review …`; returns (exit code, stdout, stderr).
fn review_cli(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let mut argv = vec!["review"];
    argv.extend_from_slice(args);
    let out = support::admin_cli(BIN, app, &argv);
    (out.code, out.stdout, out.stderr)
}

async fn review(app: &TestApp, env: &str) -> Value {
    app.admin_ok(
        Method::GET,
        &format!("/api/v1/environments/{env}/review"),
        None,
    )
    .await
}

fn item<'a>(review: &'a Value, id: &str) -> &'a Value {
    review["questions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|q| q["items"].as_array().unwrap())
        .chain(review["checklist"].as_array().unwrap())
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("no item {id} in {review}"))
}

fn status<'a>(review: &'a Value, id: &str) -> &'a str {
    item(review, id)["status"].as_str().unwrap()
}

async fn a_bare_environment_is_not_ready(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    app.create_env("staging", &["staging.gw.test"]).await;
    app.create_env("prod", &[]).await;
    // The same provider credential in both environments.
    app.set_secret("staging", "upstream-key", UPSTREAM_SECRET)
        .await;
    app.set_secret("prod", "upstream-key", UPSTREAM_SECRET)
        .await;

    let review = review(&app, "prod").await;
    assert_valid(&review);
    assert_eq!(review["ready"], false, "{review}");
    assert_eq!(review["environment"], "prod");
    assert_eq!(review["config_revision"], Value::Null);
    for id in [
        "ownership.provider_secrets",
        "ownership.route_definitions",
        "separation.hosts",
        "separation.credentials",
        "separation.protected",
        "detection.provider_errors",
        "detection.timeouts",
        "detection.policy_denials",
        "detection.delivery",
        "checklist.provider_connectivity",
        "checklist.route_plans",
        "checklist.policy_traffic",
        "checklist.retention_export",
        "checklist.operator_workflows",
        "checklist.staged_rollout",
        "checklist.verify",
    ] {
        assert_eq!(status(&review, id), "fail", "{id}: {}", item(&review, id));
        assert!(
            item(&review, id)["fix"].is_string(),
            "{id} says how to fix it"
        );
    }
    assert_eq!(status(&review, "triage.path"), "unknown");
    // The master key came from the environment (SENTINEL_MASTER_KEY).
    assert_eq!(status(&review, "ownership.master_key"), "pass");
    let shared = item(&review, "separation.credentials")["evidence"].to_string();
    assert!(
        shared.contains("upstream-key") && shared.contains("staging"),
        "{shared}"
    );
    assert!(!review.to_string().contains(UPSTREAM_SECRET));

    // The CLI gates: exit 1, the verdict on stdout, the reason on stderr.
    let (code, out, err) = review_cli(&app, &["--env", "prod"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with("Readiness review of prod"), "{out}");
    assert!(out.contains("NOT READY") && out.contains("FAIL"), "{out}");
    assert!(
        err.contains("prod is not ready") && err.contains("required"),
        "{err}"
    );
    let (code, out, _) = review_cli(&app, &["--env", "prod", "--format", "md"]);
    assert_eq!(code, 1);
    assert!(out.starts_with("# Readiness review: prod"), "{out}");
    assert!(out.contains("## Rollout checklist"));
    let (code, out, _) = review_cli(&app, &["--env", "prod", "--json"]);
    assert_eq!(code, 1);
    assert_valid(&serde_json::from_str(&out).unwrap());

    // A staging environment that does not exist is a clear 404.
    let (status, body) = app
        .admin(
            Method::GET,
            "/api/v1/environments/prod/review?staging=nope",
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("nope"));
    let (code, _, err) = review_cli(&app, &["--env", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("nope"), "{err}");
    app.stop().await;
}

/// A document that meets the checklist: two targets with retries,
/// timeouts and a breaker, a policy, retention, alert rules, and `extra`.
fn document(app: &TestApp, extra: &str) -> String {
    format!(
        r#"providers:
  upstream:
    kind: openai
    base_url: {base}
    credential: secret:upstream-key
    allow_private_network: true
    allow_http: true
route_plans:
  chat:
    models: [gpt-test]
    targets:
      - {{ provider: upstream, model: up-model }}
      - {{ provider: upstream, model: up-backup }}
    retry: {{ max_attempts: 2 }}
    timeouts: {{ connect_ms: 2000, first_byte_ms: 20000, total_ms: 30000 }}
    circuit_breaker: {{ failure_ratio: 0.5, min_requests: 20, window_s: 30, open_s: 30 }}
policies:
  environment:
    max_tokens: 100
retention:
  requests_days: 30
  audit_days: 365
alerts:
  - {{ name: provider-errors, when: {{ signal: provider_error_rate, above: 0.05 }}, notify: [oncall] }}
  - {{ name: timeouts, when: {{ signal: timeout_rate, above: 0.02 }}, notify: [oncall] }}
  - {{ name: denials, when: {{ signal: policy_denial_rate, above: 0.2 }}, notify: [oncall] }}
alert_destinations:
  oncall: {{ kind: webhook, url: "https://hooks.example.com/sentinel" }}
{extra}"#,
        base = app.upstream.base_url()
    )
}

async fn a_prepared_environment_is_ready(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    // Staging: where providers, workflows and policies are proven.
    app.create_env("staging", &["staging.gw.test"]).await;
    app.create_app("staging", "checkout").await;
    app.set_secret("staging", "upstream-key", "sk-staging-only-value")
        .await;
    app.apply_config("staging", &document(&app, "")).await;
    let (key, key_id) = app.create_key("staging", "checkout").await;
    app.wait_for_model(&key, "gpt-test").await;
    app.admin_ok(
        Method::POST,
        &format!("/api/v1/environments/staging/keys/{key_id}/rotate"),
        Some(json!({"overlap_s": 60})),
    )
    .await;
    let tests = app
        .admin_ok(
            Method::POST,
            "/api/v1/environments/staging/providers/test",
            Some(json!({})),
        )
        .await;
    assert!(tests.to_string().contains("\"ok\":true"), "{tests}");
    // Test traffic the policy refuses, and some it allows.
    let refused = app
        .chat(Some(&key), json!({"model": "gpt-test", "max_tokens": 5000, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let allowed = app
        .chat(
            Some(&key),
            json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let refused_id = support::request_id(&refused);
    app.record(&refused_id).await;
    let run = app
        .admin_ok(Method::POST, "/api/v1/environments/staging/verify", None)
        .await;
    assert_eq!(run["ok"], true, "{run}");

    // Prod: its own credential and hosts, opened to one application first.
    app.create_env("prod", &["prod.gw.test"]).await;
    app.create_app("prod", "checkout").await;
    app.set_secret("prod", "upstream-key", "sk-prod-only-value")
        .await;
    app.apply_config("prod", &document(&app, "rollout:\n  open_to: [checkout]\n"))
        .await;
    app.admin_ok(
        Method::PATCH,
        "/api/v1/environments/prod",
        Some(json!({"protected": true})),
    )
    .await;
    // A complete audit export (every environment).
    let export = app
        .http
        .get(format!("{}/api/v1/export/audit?since=0", app.console))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    export.bytes().await.unwrap();

    let review = review(&app, "prod").await;
    assert_valid(&review);
    for item in review["questions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|q| q["items"].as_array().unwrap())
        .chain(review["checklist"].as_array().unwrap())
    {
        let expected = if item["id"] == "detection.delivery" {
            // No alert has fired: Sentinel cannot tell the webhook works.
            "unknown"
        } else {
            "pass"
        };
        assert_eq!(item["status"], expected, "{item}");
    }
    assert_eq!(review["ready"], true);
    let evidence = item(&review, "ownership.route_definitions")["evidence"].to_string();
    assert!(
        evidence.contains("route plan chat: as defined by revision 1 by admin"),
        "{evidence}"
    );
    let evidence = item(&review, "checklist.provider_connectivity")["evidence"].to_string();
    assert!(
        evidence.contains("upstream/up-backup: ok") && evidence.contains("in staging"),
        "{evidence}"
    );
    assert!(!review.to_string().contains("sk-prod-only-value"));

    let (code, out, err) = review_cli(&app, &["--env", "prod"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("READY"), "{out}");
    // Strict: the unknown delivery blocks.
    let (code, _, err) = review_cli(&app, &["--env", "prod", "--strict"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown"), "{err}");
    app.stop().await;
}

on_both_stores!(
    a_bare_environment_is_not_ready,
    a_prepared_environment_is_ready
);
