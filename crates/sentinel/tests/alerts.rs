//! Alerting end to end: a whole Sentinel with alert rules over small
//! windows, a mock upstream made to fail, hang or be refused by policy, and
//! an in-process webhook receiver that verifies every signature. Each
//! signal fires and then resolves; Slack messages are checked; a receiver
//! that first answers 500 gets the delivery again; secrets never show.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use aws_lc_rs::hmac;
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use reqwest::Method;
use sentinel_testkit::openai_mock::{Behavior, Step};
use serde_json::{Value, json};
use support::{Backend, TestApp, UPSTREAM_SECRET};

const HMAC_SECRET: &str = "whsec-CANARY-3b1f09d2";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    headers: HeaderMap,
    body: Value,
    raw: Bytes,
}

/// A webhook receiver on 127.0.0.1 that records what it gets and answers
/// 500 to the first `fail_first` requests.
#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    fail_first: Arc<AtomicU32>,
    addr: String,
}

impl Receiver {
    async fn start(fail_first: u32) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Self {
            fail_first: Arc::new(AtomicU32::new(fail_first)),
            addr: format!("http://{}", listener.local_addr().unwrap()),
            ..Self::default()
        };
        let state = receiver.clone();
        let app = Router::new()
            .route("/{*path}", post(receive))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Hits on `path` whose body says `field` is `value`.
    fn matching(&self, path: &str, pred: impl Fn(&Value) -> bool) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.path == path && pred(&h.body))
            .collect()
    }

    /// Waits (bounded) until `pred` holds for the hits on `path`.
    async fn wait_until(&self, what: &str, pred: impl Fn(&[Hit]) -> bool) {
        for _ in 0..300 {
            if pred(&self.hits()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what} never happened; receiver got {:#?}", self.hits());
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> StatusCode {
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    receiver.hits.lock().unwrap().push(Hit {
        path: uri.path().to_owned(),
        headers,
        body,
        raw,
    });
    let failing = receiver
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// Checks the signature the way a receiver would: HMAC-SHA256 over
/// `<timestamp>.<body>` with the shared secret.
fn verify_signature(hit: &Hit, secret: &str) {
    let timestamp = hit.headers["x-sentinel-timestamp"].to_str().unwrap();
    let signature = hit.headers["x-sentinel-signature"].to_str().unwrap();
    let hex = signature.strip_prefix("sha256=").expect("sha256= prefix");
    let tag: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(&hit.raw);
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(&key, &message, &tag).expect("the signature verifies with the shared secret");
    // Signed over the timestamp: the same body with another time fails.
    let mut replayed = b"1.".to_vec();
    replayed.extend_from_slice(&hit.raw);
    assert!(hmac::verify(&key, &replayed, &tag).is_err());
    let age = timestamp.parse::<i64>().unwrap()
        - i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap();
    assert!(age.abs() < 600, "timestamp is the send time");
}

fn chat_body() -> Value {
    json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]})
}

fn provider(app: &TestApp, plan_extra: &str) -> String {
    format!(
        "providers:\n  upstream:\n    kind: openai\n    base_url: {}\n    credential: secret:upstream-key\n    allow_private_network: true\nroute_plans:\n  chat:\n    models: [gpt-test]\n    targets:\n      - {{ provider: upstream, model: up-model }}\n    retry: {{ max_attempts: 1 }}\n{plan_extra}",
        app.upstream.base_url()
    )
}

/// Creates `env` with app `checkout`, the upstream and HMAC secrets plus
/// `secrets`, applies `document`, and returns a key once it is served.
async fn setup(app: &TestApp, env: &str, document: &str, secrets: &[(&str, &str)]) -> String {
    app.create_env(env, &[]).await;
    app.create_app(env, "checkout").await;
    app.set_secret(env, "upstream-key", UPSTREAM_SECRET).await;
    app.set_secret(env, "alert-hmac", HMAC_SECRET).await;
    for (name, value) in secrets {
        app.set_secret(env, name, value).await;
    }
    app.apply_config(env, document).await;
    let (key, _) = app.create_key(env, "checkout").await;
    app.wait_for_model(&key, "gpt-test").await;
    key
}

async fn send(app: &TestApp, key: &str, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        let response = app.chat(Some(key), chat_body()).send().await.unwrap();
        statuses.push(response.status().as_u16());
    }
    statuses
}

fn is(rule: &'static str, state: &'static str) -> impl Fn(&Value) -> bool {
    move |b| b["alert"] == rule && b["state"] == state
}

/// The alert history of `env`, newest first, waiting (bounded) until every
/// event has its delivery outcomes stored.
async fn history(app: &TestApp, env: &str, expected: usize) -> Vec<Value> {
    for _ in 0..300 {
        let page = app
            .admin_ok(
                Method::GET,
                &format!("/api/v1/environments/{env}/alerts/history"),
                None,
            )
            .await;
        let events = page["data"].as_array().unwrap().clone();
        if events.len() >= expected
            && events
                .iter()
                .all(|e| !e["deliveries"].as_array().unwrap().is_empty())
        {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the history of {env} never held {expected} delivered events");
}

/// Error rate, provider error rate and open breakers: fire while the
/// upstream fails, resolve once it recovers; one signed webhook per
/// transition; history and state in the API, secrets nowhere in it.
async fn failures_fire_and_resolve(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let receiver = Receiver::start(0).await;
    let document = format!(
        "{}    circuit_breaker: {{ min_requests: 2, failure_ratio: 0.5, window_s: 30, open_s: 1 }}\n\
         alert_destinations:\n  ops: {{ kind: webhook, url: '{}/hook', secret: 'secret:alert-hmac', allow_private_network: true }}\n\
         alerts:\n\
         \x20 - {{ name: errors, when: {{ signal: error_rate, above: 0.5, for_s: 2, min_requests: 2 }}, notify: [webhook:ops] }}\n\
         \x20 - {{ name: provider-failures, when: {{ signal: provider_error_rate, above: 0.5, for_s: 2, min_requests: 2, provider: upstream }}, notify: [ops] }}\n\
         \x20 - {{ name: breaker, when: {{ signal: breaker_open, for_s: 2 }}, notify: [ops] }}\n",
        provider(&app, ""),
        receiver.addr
    );
    let key = setup(&app, "prod", &document, &[]).await;

    app.upstream.set_behavior(Behavior::Fail(500));
    let statuses = send(&app, &key, 4).await;
    assert_eq!(
        statuses,
        [502, 502, 503, 503],
        "two failures open the breaker"
    );
    receiver
        .wait_until("all three rules firing", |_| {
            ["errors", "provider-failures", "breaker"]
                .iter()
                .all(|r| !receiver.matching("/hook", is(r, "firing")).is_empty())
        })
        .await;

    let (status, alerts) = app
        .admin(Method::GET, "/api/v1/environments/prod/alerts", None)
        .await;
    assert_eq!(status, 200, "{alerts}");
    for rule in alerts["rules"].as_array().unwrap() {
        assert_eq!(rule["state"], "firing", "{rule}");
    }
    assert_eq!(alerts["destinations"][0]["kind"], "webhook");
    assert_eq!(alerts["destinations"][0]["signed"], true);

    app.upstream.set_behavior(Behavior::Normal);
    for _ in 0..100 {
        let _ = send(&app, &key, 1).await;
        if ["errors", "provider-failures", "breaker"]
            .iter()
            .all(|r| !receiver.matching("/hook", is(r, "resolved")).is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for rule in ["errors", "provider-failures", "breaker"] {
        let firing = receiver.matching("/hook", is(rule, "firing"));
        let resolved = receiver.matching("/hook", is(rule, "resolved"));
        assert_eq!(firing.len(), 1, "one firing notification for {rule}");
        assert_eq!(resolved.len(), 1, "one resolved notification for {rule}");
        for hit in firing.iter().chain(&resolved) {
            verify_signature(hit, HMAC_SECRET);
            assert_eq!(hit.body["environment"], "prod");
            assert_eq!(
                hit.headers["x-sentinel-event-id"].to_str().unwrap(),
                hit.body["event_id"].as_str().unwrap()
            );
        }
        assert_eq!(firing[0].body["started_at"], resolved[0].body["started_at"]);
    }
    let errors = &receiver.matching("/hook", is("errors", "firing"))[0].body;
    assert_eq!(errors["signal"], "error_rate");
    // Above the threshold when it fired (`/v1/models` calls count as requests too).
    assert!(errors["value"].as_f64().unwrap() > 0.5, "{errors}");
    assert_eq!(errors["threshold"], 0.5);
    assert_eq!(errors["window_s"], 2);
    let provider_failures = &receiver.matching("/hook", is("provider-failures", "firing"))[0].body;
    assert_eq!(provider_failures["provider"], "upstream");

    let events = history(&app, "prod", 6).await;
    assert_eq!(events.len(), 6, "{events:#?}");
    for event in &events {
        let delivery = &event["deliveries"][0];
        assert_eq!(delivery["ok"], true, "{event}");
        assert_eq!(delivery["destination"], "ops");
        assert_eq!(delivery["attempts"], 1);
    }
    let (_, alerts) = app
        .admin(Method::GET, "/api/v1/environments/prod/alerts", None)
        .await;
    for rule in alerts["rules"].as_array().unwrap() {
        assert_eq!(rule["state"], "ok", "{rule}");
    }
    // Pagination: one event per page, newest first, no repeats.
    let first = app
        .admin_ok(
            Method::GET,
            "/api/v1/environments/prod/alerts/history?limit=1",
            None,
        )
        .await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app
        .admin_ok(
            Method::GET,
            &format!("/api/v1/environments/prod/alerts/history?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_ne!(first["data"][0]["id"], second["data"][0]["id"]);
    assert_eq!(second["data"][0]["id"], events[1]["id"]);

    for text in [alerts.to_string(), Value::Array(events).to_string()] {
        assert!(
            !text.contains(HMAC_SECRET),
            "the signing secret leaked: {text}"
        );
    }
    app.stop().await;
}

/// Timeouts and latency percentiles: a hanging upstream fires both; quick
/// answers resolve them.
async fn timeouts_and_latency_fire_and_resolve(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let receiver = Receiver::start(0).await;
    let document = format!(
        "{}    timeouts: {{ first_byte_ms: 300, total_ms: 2000 }}\n\
         alert_destinations:\n  ops: {{ kind: webhook, url: '{}/hook', secret: 'secret:alert-hmac', allow_private_network: true }}\n\
         alerts:\n\
         \x20 - {{ name: timeouts, when: {{ signal: timeout_rate, above: 0.5, for_s: 2, min_requests: 2 }}, notify: [ops] }}\n\
         \x20 - {{ name: slow, when: {{ signal: latency_p95, above: 250, for_s: 2, min_requests: 2 }}, notify: [ops] }}\n",
        provider(&app, ""),
        receiver.addr
    );
    let key = setup(&app, "prod", &document, &[]).await;
    app.upstream.script([Step::Hang, Step::Hang]);
    assert_eq!(send(&app, &key, 2).await, [504, 504]);
    receiver
        .wait_until("timeouts and slow firing", |_| {
            !receiver
                .matching("/hook", is("timeouts", "firing"))
                .is_empty()
                && !receiver.matching("/hook", is("slow", "firing")).is_empty()
        })
        .await;
    let slow = &receiver.matching("/hook", is("slow", "firing"))[0].body;
    assert_eq!(slow["signal"], "latency_p95");
    assert!(slow["value"].as_f64().unwrap() >= 300.0, "{slow}");
    for _ in 0..100 {
        let _ = send(&app, &key, 1).await;
        if !receiver
            .matching("/hook", is("timeouts", "resolved"))
            .is_empty()
            && !receiver
                .matching("/hook", is("slow", "resolved"))
                .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for rule in ["timeouts", "slow"] {
        let resolved = receiver.matching("/hook", is(rule, "resolved"));
        assert_eq!(resolved.len(), 1, "{rule} resolved once");
        verify_signature(&resolved[0], HMAC_SECRET);
    }
    app.stop().await;
}

/// A spike of policy denials fires (count and rate), delivered to Slack
/// after the receiver first answers 500; a destination that cannot be
/// reached records its failure without its URL or token.
async fn policy_denials_reach_slack_with_retries(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let slack = Receiver::start(1).await;
    let slack_url = format!("{}/services/T000/B000/SLACKTOKEN", slack.addr);
    let dead_url = "http://127.0.0.1:1/services/T000/B000/DEADTOKEN";
    let document = format!(
        "{}policies:\n  environment:\n    allowed_models: [another-model]\n\
         alert_destinations:\n\
         \x20 team: {{ kind: slack, url: 'secret:slack-url', allow_private_network: true }}\n\
         \x20 dead: {{ kind: slack, url: 'secret:dead-url', allow_private_network: true }}\n\
         alerts:\n\
         \x20 - {{ name: denials, when: {{ signal: policy_denials, above: 2, for_s: 2 }}, notify: [slack:team] }}\n\
         \x20 - {{ name: denial-rate, when: {{ signal: policy_denial_rate, above: 0.5, for_s: 2, min_requests: 3 }}, notify: [dead] }}\n",
        provider(&app, ""),
    );
    app.create_env("prod", &[]).await;
    app.create_app("prod", "checkout").await;
    app.set_secret("prod", "upstream-key", UPSTREAM_SECRET)
        .await;
    app.set_secret("prod", "slack-url", &slack_url).await;
    app.set_secret("prod", "dead-url", dead_url).await;
    app.apply_config("prod", &document).await;
    let (key, _) = app.create_key("prod", "checkout").await;
    // The policy hides gpt-test from /v1/models; wait for the denial instead.
    let mut statuses = Vec::new();
    for _ in 0..200 {
        statuses = send(&app, &key, 1).await;
        if statuses == [403] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(statuses, [403]);
    assert_eq!(send(&app, &key, 3).await, [403, 403, 403]);

    slack
        .wait_until("a Slack message accepted after a 500", |hits| {
            hits.iter()
                .filter(|h| h.path.ends_with("SLACKTOKEN"))
                .count()
                >= 2
        })
        .await;
    let hits = slack.hits();
    assert_eq!(hits[0].raw, hits[1].raw, "the retry sends the same message");
    let text = hits[1].body["text"].as_str().unwrap();
    assert!(text.contains("[FIRING] denials in prod"), "{text}");
    assert!(text.contains("policy_denials"), "{text}");
    assert_eq!(
        hits[1].body.as_object().unwrap().len(),
        1,
        "Slack gets only text"
    );
    assert!(
        hits[1].headers.get("x-sentinel-signature").is_none(),
        "Slack webhooks are not signed"
    );

    // Resolution after the window passes without denials.
    slack
        .wait_until("denials resolved on Slack", |hits| {
            hits.iter().any(|h| {
                h.body["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains("[RESOLVED] denials")
            })
        })
        .await;

    let events = history(&app, "prod", 4).await;
    let delivery = |rule: &str, state: &str| {
        events
            .iter()
            .find(|e| e["rule"] == rule && e["state"] == state)
            .unwrap_or_else(|| panic!("no {state} event for {rule}: {events:#?}"))["deliveries"][0]
            .clone()
    };
    let fired = delivery("denials", "firing");
    assert_eq!(fired["ok"], true);
    assert_eq!(fired["attempts"], 2, "one 500, then accepted: {fired}");
    let dead = delivery("denial-rate", "firing");
    assert_eq!(dead["ok"], false);
    assert_eq!(dead["attempts"], 5, "{dead}");

    let (_, alerts) = app
        .admin(Method::GET, "/api/v1/environments/prod/alerts", None)
        .await;
    let everything = format!("{alerts}{}", Value::Array(events.clone()));
    for secret in [
        "SLACKTOKEN",
        "DEADTOKEN",
        "127.0.0.1:1",
        slack.addr.as_str(),
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked: {everything}"
        );
    }
    assert_eq!(alerts["destinations"][0]["url_from"], "secret");
    app.stop().await;
}

/// A budget alert threshold crossed fires `budget_threshold`; it resolves
/// once its window has passed.
async fn budget_threshold_fires_and_resolves(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let receiver = Receiver::start(0).await;
    let document = format!(
        "{}prices:\n  up-model: {{ input_per_mtok: 1000, output_per_mtok: 1000 }}\n\
         policies:\n  environment:\n    max_tokens: 10\n    budget: {{ usd_per_day: \"0.02\", alert_at: [0.5] }}\n\
         alert_destinations:\n  ops: {{ kind: webhook, url: '{}/hook', secret: 'secret:alert-hmac', allow_private_network: true }}\n\
         alerts:\n\
         \x20 - {{ name: budget, when: {{ signal: budget_threshold, above: 0.5, for_s: 2 }}, notify: [ops] }}\n",
        provider(&app, ""),
        receiver.addr
    );
    let key = setup(&app, "prod", &document, &[]).await;
    // 14 tokens at $1000 per million: $0.014 of a $0.02 budget, past 50 %.
    assert_eq!(send(&app, &key, 1).await, [200]);
    receiver
        .wait_until("budget firing", |_| {
            !receiver
                .matching("/hook", is("budget", "firing"))
                .is_empty()
        })
        .await;
    let fired = &receiver.matching("/hook", is("budget", "firing"))[0];
    verify_signature(fired, HMAC_SECRET);
    assert_eq!(fired.body["signal"], "budget_threshold");
    assert_eq!(fired.body["value"], 0.5);
    receiver
        .wait_until("budget resolved", |_| {
            !receiver
                .matching("/hook", is("budget", "resolved"))
                .is_empty()
        })
        .await;
    assert_eq!(receiver.matching("/hook", is("budget", "firing")).len(), 1);
    app.stop().await;
}

/// Two replicas on one PostgreSQL store evaluate the same rule: each
/// transition is announced once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_announce_each_transition_once() {
    let mut app = TestApp::start(Backend::Postgres).await;
    let replica_dir = tempfile::tempdir().unwrap();
    let replica = app.replica(replica_dir.path()).await;
    let receiver = Receiver::start(0).await;
    let document = format!(
        "{}alert_destinations:\n  ops: {{ kind: webhook, url: '{}/hook', secret: 'secret:alert-hmac', allow_private_network: true }}\n\
         alerts:\n\
         \x20 - {{ name: errors, when: {{ signal: error_rate, above: 0.5, for_s: 2, min_requests: 2 }}, notify: [ops] }}\n",
        provider(&app, ""),
        receiver.addr
    );
    let key = setup(&app, "prod", &document, &[]).await;
    app.upstream.set_behavior(Behavior::Fail(500));
    assert_eq!(send(&app, &key, 3).await, [502, 502, 502]);
    app.upstream.set_behavior(Behavior::Normal);
    receiver
        .wait_until("errors resolved", |_| {
            !receiver
                .matching("/hook", is("errors", "resolved"))
                .is_empty()
        })
        .await;
    let events = history(&app, "prod", 2).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(receiver.matching("/hook", is("errors", "firing")).len(), 1);
    assert_eq!(
        receiver.matching("/hook", is("errors", "resolved")).len(),
        1
    );
    replica.stop().await.unwrap();
    app.stop().await;
}

/// A real `sentinel serve` at debug level fires an alert to a signed
/// webhook, a Slack URL kept in a secret (answering 500 once) and a dead
/// Slack URL: neither the signing secret nor the URLs' tokens reach its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_secrets_never_reach_the_logs() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    const BIN: &str = env!("CARGO_BIN_EXE_sentinel");
    const TOKEN: &str = support::ADMIN_TOKEN;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("sentinel.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--gateway-addr",
            "127.0.0.1:0",
            "--console-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("SENTINEL_LOG", "debug")
        .env("SENTINEL_LOG_FORMAT", "json")
        .env("SENTINEL_ALERT_INTERVAL_MS", "200")
        .env("SENTINEL_BOOTSTRAP_TOKEN", TOKEN)
        .env_remove("SENTINEL_MASTER_KEY")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let (mut gateway, mut console, mut line) = (String::new(), String::new(), String::new());
    while reader.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.trim().strip_prefix("gateway (data plane): ") {
            gateway = rest.to_owned();
        }
        if let Some(rest) = line.trim().strip_prefix("console (operators):  ") {
            console = rest.to_owned();
            break;
        }
        line.clear();
    }
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));

    let upstream = sentinel_testkit::openai_mock::MockOpenAi::start().await;
    let receiver = Receiver::start(1).await;
    let http = reqwest::Client::builder().build().unwrap();
    let admin = |method: Method, path: &str, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{console}/api/v1{path}"))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let ok = |r: reqwest::Response| assert!(r.status().is_success(), "{}", r.status());
    ok(
        admin(Method::POST, "/environments", Some(json!({"name": "prod"})))
            .await
            .unwrap(),
    );
    ok(admin(
        Method::POST,
        "/environments/prod/applications",
        Some(json!({"name": "web"})),
    )
    .await
    .unwrap());
    for (name, value) in [
        ("upstream", UPSTREAM_SECRET.to_owned()),
        ("alert-hmac", HMAC_SECRET.to_owned()),
        (
            "slack-url",
            format!("{}/services/T1/B1/LIVESLACKTOKEN", receiver.addr),
        ),
        (
            "dead-url",
            "http://127.0.0.1:1/services/T1/B1/DEADSLACKTOKEN".to_owned(),
        ),
    ] {
        ok(admin(
            Method::PUT,
            &format!("/environments/prod/secrets/{name}"),
            Some(json!({"value": value})),
        )
        .await
        .unwrap());
    }
    let document = format!(
        "providers:\n  up:\n    kind: openai\n    base_url: {}\n    credential: secret:upstream\n    allow_private_network: true\n\
         route_plans:\n  r:\n    models: [m]\n    targets: [{{ provider: up, model: m }}]\n    retry: {{ max_attempts: 1 }}\n\
         alert_destinations:\n\
         \x20 ops: {{ kind: webhook, url: '{}/hook', secret: 'secret:alert-hmac', allow_private_network: true }}\n\
         \x20 team: {{ kind: slack, url: 'secret:slack-url', allow_private_network: true }}\n\
         \x20 dead: {{ kind: slack, url: 'secret:dead-url', allow_private_network: true }}\n\
         alerts:\n\
         \x20 - {{ name: errors, when: {{ signal: error_rate, above: 0.1, for_s: 2, min_requests: 1 }}, notify: [ops, team, dead] }}\n",
        upstream.base_url(),
        receiver.addr
    );
    ok(admin(
        Method::POST,
        "/environments/prod/config",
        Some(json!({"document": document, "message": "m"})),
    )
    .await
    .unwrap());
    let key: Value = admin(
        Method::POST,
        "/environments/prod/keys",
        Some(json!({"application": "web"})),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    upstream.set_behavior(Behavior::Fail(500));
    let mut failed = false;
    for _ in 0..200 {
        let status = http
            .post(format!("{gateway}/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap()
            .status();
        if status == 502 {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(failed, "the gateway served the failing upstream");
    // Every delivery outcome stored: the dead URL has used all its retries.
    let mut done = false;
    for _ in 0..300 {
        let page: Value = admin(Method::GET, "/environments/prod/alerts/history", None)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["deliveries"].as_array().unwrap().len() == 3)
        {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(done, "the firing's three deliveries were stored");
    assert!(
        receiver
            .hits()
            .iter()
            .any(|h| h.path.ends_with("LIVESLACKTOKEN"))
    );

    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    child.wait().unwrap();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("alert delivered"),
        "the log was captured: {logs}"
    );
    assert!(logs.contains("alert delivery failed"), "{logs}");
    for secret in [
        HMAC_SECRET,
        "LIVESLACKTOKEN",
        "DEADSLACKTOKEN",
        "/services/T1",
    ] {
        assert!(!logs.contains(secret), "{secret} reached the log");
    }
}

on_both_stores!(
    failures_fire_and_resolve,
    timeouts_and_latency_fire_and_resolve,
    policy_denials_reach_slack_with_retries,
    budget_threshold_fires_and_resolves,
);
