//! Policies, rate limits and budgets end to end, over real HTTP against the
//! real listeners: each rule refuses with its id (or, in shadow mode, only
//! records), limits answer 429 with `Retry-After` and `x-ratelimit-*`,
//! tokens-per-minute is reconciled with real usage, a budget holds under
//! 200 concurrent requests, two replicas share limits through Redis, and a
//! Redis that goes away is handled as each environment says.
//!
//! The in-process upstream reports 11 prompt and 3 completion tokens.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use reqwest::{Method, StatusCode};
use sentinel_testkit::tcp_proxy::TcpProxy;
use serde_json::{Value, json};
use support::{Backend, TestApp, UPSTREAM_SECRET, request_id, unique_redis_prefix};

/// Providers and route plans on the mock upstream: `gpt-test` (unpriced),
/// `gpt-big`, and `priced` (gpt-4o: $2.50 / $10.00 per million tokens).
fn routes(app: &TestApp) -> String {
    format!(
        r#"providers:
  upstream:
    kind: openai
    base_url: {}
    credential: secret:upstream-key
    allow_private_network: true
route_plans:
  chat:
    models: [gpt-test]
    targets: [{{ provider: upstream, model: up-model }}]
  big:
    models: [gpt-big]
    targets: [{{ provider: upstream, model: up-big }}]
  priced:
    models: [priced]
    targets: [{{ provider: upstream, model: gpt-4o }}]
  embed:
    models: [embed]
    targets: [{{ provider: upstream, model: up-embed }}]
"#,
        app.upstream.base_url()
    )
}

/// Starts an app with `policies` (YAML under `policies:`); returns the key
/// of application `checkout` and its id.
async fn setup(app: &TestApp, policies: &str) -> (String, String) {
    app.create_env("prod", &[]).await;
    app.create_app("prod", "checkout").await;
    app.set_secret("prod", "upstream-key", UPSTREAM_SECRET)
        .await;
    app.apply_config("prod", &format!("{}policies:\n{policies}", routes(app)))
        .await;
    let (key, id) = app.create_key("prod", "checkout").await;
    // The key was created after the config was applied, so a snapshot that
    // accepts the key serves the config too. (`/v1/models` lists only the
    // models the policies allow, so waiting for a model name would not do.)
    for _ in 0..400 {
        let response = app
            .http
            .get(format!("{}/v1/models", app.gateway))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            return (key, id);
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the gateway never accepted the key");
}

fn hello(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

/// Sends a chat request; returns status, body and the request id.
async fn chat(app: &TestApp, key: &str, body: Value) -> (StatusCode, Value, String) {
    chat_with(app, key, body, &[]).await
}

async fn chat_with(
    app: &TestApp,
    key: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (StatusCode, Value, String) {
    let mut request = app.chat(Some(key), body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let id = request_id(&response);
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body, id)
}

/// Asserts a policy refusal: status, code and rule in the body, and the
/// same rule on the request record.
async fn assert_refused(
    app: &TestApp,
    (status, body, id): (StatusCode, Value, String),
    expected: (u16, &str, &str),
) -> Value {
    let (code_status, code, rule) = expected;
    assert_eq!(status.as_u16(), code_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["rule"], rule, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(rule),
        "the message names the rule: {body}"
    );
    let record = app.record(&id).await;
    assert_eq!(record["policy"]["rule"], rule, "{record}");
    assert_eq!(record["error_code"], code);
    record
}

async fn each_rule_refuses_with_its_id(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, key_id) = setup(
        &app,
        r#"  environment:
    allowed_models: [gpt-test, priced, embed]
    allowed_apis: [chat_completions]
    max_tokens: 100
    max_body_bytes: 2000
    required_metadata: [x-end-user-id]
"#,
    )
    .await;
    let user = [("x-end-user-id", "u-42")];

    // Allowed: everything in order.
    let (status, body, id) = chat_with(&app, &key, hello("gpt-test"), &user).await;
    assert_eq!(status, 200, "{body}");
    let record = app.record(&id).await;
    assert_eq!(record["policy"]["decision"], "allowed");
    assert_eq!(record["metadata"], json!(["x-end-user-id"]));
    let calls_before = app.upstream.calls().len();

    let refused = chat_with(&app, &key, hello("gpt-big"), &user).await;
    assert_refused(
        &app,
        refused,
        (403, "policy_denied", "environment.allowed_models"),
    )
    .await;

    let refused = chat(&app, &key, hello("gpt-test")).await;
    assert_refused(
        &app,
        refused,
        (403, "policy_denied", "environment.required_metadata"),
    )
    .await;

    let mut body = hello("gpt-test");
    body["max_tokens"] = json!(500);
    let refused = chat_with(&app, &key, body, &user).await;
    assert_refused(
        &app,
        refused,
        (403, "policy_denied", "environment.max_tokens"),
    )
    .await;

    let mut body = hello("gpt-test");
    body["messages"][0]["content"] = json!("x".repeat(3000));
    let refused = chat_with(&app, &key, body, &user).await;
    assert_refused(
        &app,
        refused,
        (413, "payload_too_large", "environment.max_body_bytes"),
    )
    .await;

    let response = app
        .http
        .post(format!("{}/v1/embeddings", app.gateway))
        .bearer_auth(&key)
        .header("x-end-user-id", "u-42")
        .json(&json!({"model": "embed", "input": "hi"}))
        .send()
        .await
        .unwrap();
    let id = request_id(&response);
    let refused = (response.status(), response.json().await.unwrap(), id);
    assert_refused(
        &app,
        refused,
        (403, "policy_denied", "environment.allowed_apis"),
    )
    .await;

    // Refusals never reach the provider.
    assert_eq!(app.upstream.calls().len(), calls_before);

    // Source networks, on the key's own scope: loopback is not 10/8.
    let mut document = format!(
        "{}policies:\n  key/{key_id}:\n    source_networks: [10.0.0.0/8]\n",
        routes(&app)
    );
    app.apply_config("prod", &document).await;
    wait_until_refused(&app, &key, &format!("key/{key_id}.source_networks")).await;
    let refused = chat(&app, &key, hello("gpt-test")).await;
    assert_refused(
        &app,
        refused,
        (
            403,
            "policy_denied",
            &format!("key/{key_id}.source_networks"),
        ),
    )
    .await;
    document = document.replace("10.0.0.0/8", "127.0.0.0/8");
    app.apply_config("prod", &document).await;
    wait_until_allowed(&app, &key).await;
    app.stop().await;
}

/// Polls until the key's plain request is refused by `rule` (a new
/// revision is live).
async fn wait_until_refused(app: &TestApp, key: &str, rule: &str) {
    for _ in 0..200 {
        if chat(app, key, hello("gpt-test")).await.1["error"]["rule"] == rule {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the new policy never took effect");
}

async fn wait_until_allowed(app: &TestApp, key: &str) {
    for _ in 0..200 {
        if chat(app, key, hello("gpt-test")).await.0 == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the new policy never took effect");
}

async fn shadow_mode_records_but_never_denies(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, _) = setup(
        &app,
        r#"  environment:
    allowed_models: [gpt-big]
  app/checkout:
    mode: shadow
    max_tokens: 5
    rate_limit: { rpm: 1 }
    content: { redact: [email] }
"#,
    )
    .await;
    // The environment (enforced) allows gpt-big only; the app's shadow
    // rules never refuse.
    let mut body = hello("gpt-big");
    body["max_tokens"] = json!(50);
    body["messages"][0]["content"] = json!("mail me at jo@example.com");
    for attempt in 0..3 {
        let (status, answer, id) = chat(&app, &key, body.clone()).await;
        assert_eq!(status, 200, "attempt {attempt}: {answer}");
        let record = app.record(&id).await;
        let policy = &record["policy"];
        assert_eq!(policy["decision"], "allowed", "{record}");
        let shadow: Vec<&str> = policy["findings"]
            .as_array()
            .unwrap()
            .iter()
            .inspect(|f| assert_eq!(f["mode"], "shadow", "{f}"))
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        assert!(shadow.contains(&"app/checkout.max_tokens"), "{record}");
        if attempt > 0 {
            assert!(shadow.contains(&"app/checkout.rate_limit.rpm"), "{record}");
        }
        assert_eq!(
            policy["redactions"],
            json!([{"kind": "email", "mode": "shadow", "count": 1}])
        );
    }
    // Shadow redaction leaves the prompt as it was.
    let sent = app.upstream.calls().last().unwrap().json();
    assert_eq!(
        sent["messages"][0]["content"], "mail me at jo@example.com",
        "{sent}"
    );
    // Enforced rules still refuse.
    let refused = chat(&app, &key, hello("gpt-test")).await;
    assert_refused(
        &app,
        refused,
        (403, "policy_denied", "environment.allowed_models"),
    )
    .await;
    let (_, ready) = app.admin(Method::GET, "/readyz", None).await;
    assert!(
        ready["components"]["counters"]["policy"]["shadow_findings"]
            .as_u64()
            .unwrap()
            >= 5,
        "{ready}"
    );
    app.stop().await;
}

async fn content_rules_redact_and_deny(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, _) = setup(
        &app,
        r#"  environment:
    content:
      deny: [{ id: falcon, pattern: "(?i)project falcon", message: "Project Falcon is confidential" }]
      redact: [email, secret, card]
"#,
    )
    .await;
    let mut body = hello("gpt-test");
    body["messages"][0]["content"] = json!(
        "I am jo@example.com, key sk-proj-abcdefghijklmnopqrstuvwx, card 4111 1111 1111 1111"
    );
    body["temperature"] = json!(0.25);
    let (status, answer, id) = chat(&app, &key, body).await;
    assert_eq!(status, 200, "{answer}");
    let sent = app.upstream.calls().last().unwrap().json();
    assert_eq!(
        sent["messages"][0]["content"],
        "I am [REDACTED_EMAIL], key [REDACTED_SECRET], card [REDACTED_CARD]"
    );
    // Everything else reaches the provider as it was.
    assert_eq!(sent["temperature"], 0.25);
    assert_eq!(sent["model"], "up-model");
    let record = app.record(&id).await;
    assert_eq!(record["policy"]["redactions"].as_array().unwrap().len(), 3);
    assert!(
        !record.to_string().contains("jo@example.com"),
        "records never keep what was redacted"
    );

    let mut body = hello("gpt-test");
    body["messages"][0]["content"] = json!("status of PROJECT FALCON?");
    let refused = chat(&app, &key, body).await;
    let record = assert_refused(
        &app,
        refused,
        (403, "policy_denied", "environment.content.deny.falcon"),
    )
    .await;
    assert!(
        record["policy"]["findings"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Project Falcon is confidential")
    );
    app.stop().await;
}

async fn rate_limits_answer_429_with_headers(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, _) = setup(&app, "  app/checkout:\n    rate_limit: { rpm: 3 }\n").await;
    for remaining in (0..3).rev() {
        let response = app
            .chat(Some(&key), hello("gpt-test"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers["x-ratelimit-limit-requests"], "3");
        assert_eq!(
            headers["x-ratelimit-remaining-requests"],
            remaining.to_string().as_str()
        );
        assert!(headers.contains_key("x-ratelimit-reset-requests"));
    }
    let response = app
        .chat(Some(&key), hello("gpt-test"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(response.headers()["x-ratelimit-remaining-requests"], "0");
    let id = request_id(&response);
    let refused = (response.status(), response.json().await.unwrap(), id);
    let record = assert_refused(
        &app,
        refused,
        (429, "rate_limited", "app/checkout.rate_limit.rpm"),
    )
    .await;
    assert_eq!(record["policy"]["decision"], "rate_limited");
    app.stop().await;
}

async fn tokens_per_minute_are_reconciled(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    // Each request is estimated at about 20 prompt + 100 output tokens and
    // really uses 14. Without reconciliation only 2 would fit in 300.
    let (key, _) = setup(&app, "  environment:\n    rate_limit: { tpm: 300 }\n").await;
    let mut body = hello("gpt-test");
    body["max_tokens"] = json!(100);
    for n in 0..10 {
        let (status, answer, _) = chat(&app, &key, body.clone()).await;
        assert_eq!(status, 200, "request {n}: {answer}");
    }
    // A request whose own estimate exceeds the room left is refused.
    body["max_tokens"] = json!(250);
    let refused = chat(&app, &key, body).await;
    assert_refused(
        &app,
        refused,
        (429, "rate_limited", "environment.rate_limit.tpm"),
    )
    .await;
    app.stop().await;
}

async fn budget_holds_under_concurrency(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    // $0.001 a day. Each request really costs 58 µUSD (11 × 2.5 + 3 × 10);
    // its worst case is about 25 prompt tokens and 10 output tokens.
    let (key, _) = setup(
        &app,
        "  app/checkout:\n    max_tokens: 10\n    budget: { usd_per_day: \"0.001\", alert_at: [0.8, 1.0] }\n",
    )
    .await;
    let mut body = hello("priced");
    body["max_tokens"] = json!(10);
    let worst_case = {
        let bytes = serde_json::to_vec(&body).unwrap().len() as u64;
        (bytes.div_ceil(4) * 2_500_000 + 10 * 10_000_000).div_ceil(1_000_000)
    };
    let ids: Vec<(StatusCode, Value, String)> =
        futures_util::future::join_all((0..200).map(|_| chat(&app, &key, body.clone()))).await;
    let mut spent = 0;
    let mut refused = 0;
    for (status, answer, id) in &ids {
        match status.as_u16() {
            200 => spent += app.record(id).await["cost_micros"].as_u64().unwrap(),
            429 => {
                assert_eq!(answer["error"]["code"], "budget_exceeded", "{answer}");
                assert_eq!(answer["error"]["rule"], "app/checkout.budget.usd_per_day");
                refused += 1;
            }
            other => panic!("unexpected status {other}: {answer}"),
        }
    }
    assert!(
        refused > 0,
        "a small budget must refuse some of 200 requests"
    );
    assert!(
        spent <= 1000 + worst_case,
        "spent {spent} µUSD against a budget of 1000 and a worst case of {worst_case}"
    );
    assert!(spent > 0, "some requests were served");
    app.stop().await;
}

async fn explain_names_the_deciding_rule(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, key_id) = setup(
        &app,
        r#"  environment:
    allowed_models: [gpt-test, priced]
    max_tokens: 100
  app/checkout:
    mode: shadow
    allowed_models: [priced]
  key/*:
    rate_limit: { rpm: 2 }
"#,
    )
    .await;
    let explain = |body: Value| {
        let app = &app;
        async move {
            app.admin_ok(
                Method::POST,
                "/api/v1/environments/prod/policy/explain",
                Some(body),
            )
            .await
        }
    };
    let allowed = explain(json!({"key": key_id, "model": "gpt-test", "tokens": 50})).await;
    assert_eq!(allowed["decision"], "allowed", "{allowed}");
    let shadow = allowed["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "app/checkout.allowed_models")
        .unwrap();
    assert_eq!(
        (shadow["mode"].as_str(), shadow["passed"].as_bool()),
        (Some("shadow"), Some(false))
    );

    let denied = explain(json!({"key": key_id, "model": "gpt-test", "tokens": 500})).await;
    assert_eq!(denied["decision"], "denied");
    assert_eq!(denied["rule"], "environment.max_tokens");

    // Use up the key's two requests this minute: explain sees the counters.
    for _ in 0..2 {
        assert_eq!(chat(&app, &key, hello("gpt-test")).await.0, 200);
    }
    let limited = explain(json!({"key": key_id, "model": "gpt-test"})).await;
    assert_eq!(limited["decision"], "rate_limited", "{limited}");
    assert_eq!(limited["rule"], "key/*.rate_limit.rpm");
    assert_eq!(limited["limits"][0]["used"], 2);

    // Explain takes no counter: asking again changes nothing.
    let again = explain(json!({"key": key_id, "model": "gpt-test"})).await;
    assert_eq!(again["limits"][0]["used"], 2);

    // An unknown key is 404, never another environment's.
    let (status, _) = app
        .admin(
            Method::POST,
            "/api/v1/environments/prod/policy/explain",
            Some(json!({"key": "0000000000000000", "model": "gpt-test"})),
        )
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}

async fn concurrency_is_held_by_a_stream_until_it_ends(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, _) = setup(
        &app,
        "  environment:\n    allowed_models: [gpt-test]\n  key/*:\n    rate_limit: { concurrency: 1 }\n",
    )
    .await;
    // The key sees only the models it may use.
    let models: Value = app
        .http
        .get(format!("{}/v1/models", app.gateway))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gpt-test"]);

    app.upstream
        .set_behavior(sentinel_testkit::openai_mock::Behavior::HoldStreamAfterFirstChunk);
    let mut body = hello("gpt-test");
    body["stream"] = json!(true);
    let mut stream = app.chat(Some(&key), body).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    // The first chunk has arrived: the stream holds the key's one slot.
    let first = stream.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    let refused = chat(&app, &key, hello("gpt-test")).await;
    assert_refused(
        &app,
        refused,
        (429, "rate_limited", "key/*.rate_limit.concurrency"),
    )
    .await;

    // The stream ends: the slot is free again.
    app.upstream.release();
    while stream.chunk().await.unwrap().is_some() {}
    app.upstream
        .set_behavior(sentinel_testkit::openai_mock::Behavior::Normal);
    let mut freed = false;
    for _ in 0..200 {
        if chat(&app, &key, hello("gpt-test")).await.0 == 200 {
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(freed, "the stream's slot was never released");
    app.stop().await;
}

on_both_stores!(
    concurrency_is_held_by_a_stream_until_it_ends,
    each_rule_refuses_with_its_id,
    shadow_mode_records_but_never_denies,
    content_rules_redact_and_deny,
    rate_limits_answer_429_with_headers,
    tokens_per_minute_are_reconciled,
    budget_holds_under_concurrency,
    explain_names_the_deciding_rule,
);

// ---- Redis ----

const REDIS: &str = "redis://127.0.0.1:6379";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_limits_through_redis() {
    let redis = Some((REDIS.to_owned(), unique_redis_prefix("replicas")));
    let mut app = TestApp::start_with(Backend::Postgres, redis).await;
    let (key, _) = setup(&app, "  environment:\n    rate_limit: { rpm: 5 }\n").await;
    let replica_dir = tempfile::tempdir().unwrap();
    let replica = app.replica(replica_dir.path()).await;
    let replica_url = format!("http://{}/v1/chat/completions", replica.gateway_addr);
    let send_to_replica = || {
        app.http
            .post(&replica_url)
            .bearer_auth(&key)
            .json(&hello("gpt-test"))
            .send()
    };
    // The replica loads the same configuration from the shared store.
    for _ in 0..200 {
        if send_to_replica().await.unwrap().status() == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // That first request counted: 4 more fit, across both gateways.
    let mut statuses = Vec::new();
    for n in 0..6 {
        let status = if n % 2 == 0 {
            chat(&app, &key, hello("gpt-test")).await.0
        } else {
            send_to_replica().await.unwrap().status()
        };
        statuses.push(status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429], "rpm 5 is shared");
    replica.stop().await.unwrap();
    app.stop().await;
}

async fn redis_outage(failure_mode: &str) {
    let proxy = TcpProxy::start("127.0.0.1:6379".parse().unwrap()).await;
    let redis = Some((proxy.redis_url(), unique_redis_prefix(failure_mode)));
    let mut app = TestApp::start_with(Backend::Sqlite, redis).await;
    let (key, _) = setup(
        &app,
        &format!(
            "  environment:\n    on_counter_failure: {failure_mode}\n    rate_limit: {{ rpm: 1000 }}\n"
        ),
    )
    .await;
    assert_eq!(chat(&app, &key, hello("gpt-test")).await.0, 200);
    let (status, ready) = app.admin(Method::GET, "/readyz", None).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["components"]["counters"]["state"], "ok");
    assert_eq!(ready["components"]["counters"]["backend"], "redis");

    proxy.cut();
    let (status, body, id) = chat(&app, &key, hello("gpt-test")).await;
    let record = app.record(&id).await;
    assert_eq!(record["policy"]["counters"], failure_mode, "{record}");
    let (ready_status, ready) = app.admin(Method::GET, "/readyz", None).await;
    let counters = &ready["components"]["counters"];
    if failure_mode == "open" {
        assert_eq!(status, 200, "fail open admits: {body}");
        assert_eq!(ready_status, 200, "{ready}");
        assert_eq!(counters["state"], "degraded", "{ready}");
        assert_eq!(counters["policy"]["counters_failed_open"], 1);
    } else {
        assert_eq!(status, 503, "fail closed refuses: {body}");
        assert_eq!(body["error"]["code"], "unavailable");
        assert_eq!(ready_status, 503, "{ready}");
        assert_eq!(counters["state"], "unreachable", "{ready}");
        assert_eq!(counters["policy"]["counters_failed_closed"], 1);
    }
    assert!(
        !counters.to_string().contains("127.0.0.1:6379"),
        "the status names no address: {counters}"
    );

    // Redis comes back: counting resumes without a restart.
    proxy.restore();
    let mut back = false;
    for _ in 0..200 {
        let (status, _, id) = chat(&app, &key, hello("gpt-test")).await;
        if status == 200 && app.record(&id).await["policy"]["counters"].is_null() {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(back, "counting never resumed after Redis came back");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_fails_open() {
    redis_outage("open").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_fails_closed() {
    redis_outage("closed").await;
}
