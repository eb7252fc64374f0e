//! Observability end to end: `/metrics` after a scripted mix of traffic,
//! request search by the triage filters with cursor pagination, and
//! `sentinel requests trace` of a request that fell back and retried.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::{
    collections::BTreeSet,
    process::{Command, Stdio},
    time::Duration,
};

use reqwest::Method;
use sentinel_testkit::openai_mock::{MockOpenAi, Step};
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, Backend, TestApp, request_id};

/// Providers `a` (the app's mock) and `b`, a plan `r` serving `chat` that
/// falls back from `a` to `b` and retries, a price for `model-a`, and a
/// policy capping `max_tokens`.
fn document(a: &str, b: &str) -> String {
    let provider = |name: &str, url: &str| {
        format!(
            "  {name}:\n    kind: openai\n    base_url: {url}\n    credential: secret:upstream-key\n    allow_private_network: true\n"
        )
    };
    format!(
        "providers:\n{}{}route_plans:\n  r:\n    models: [chat]\n    strategy: fallback\n    targets:\n      - {{ provider: a, model: model-a }}\n      - {{ provider: b, model: model-b }}\n    retry: {{ max_attempts: 3, backoff_ms: 1, max_backoff_ms: 2 }}\n    timeouts: {{ first_byte_ms: 700 }}\nprices:\n  model-a: {{ input_per_mtok: 2.5, output_per_mtok: 10 }}\npolicies:\n  environment:\n    max_tokens: 100\n",
        provider("a", a),
        provider("b", b)
    )
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

/// The sum of the samples of `name` whose labels include all of `labels`.
fn sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.split_once(['{', ' '])
                .is_some_and(|(metric, _)| metric == name)
        })
        .filter(|line| labels.iter().all(|l| line.contains(l)))
        .map(|line| line.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum()
}

async fn scrape(app: &TestApp) -> String {
    // No operator token: scrapers have none.
    let response = app
        .http
        .get(format!("{}/metrics", app.console))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    response.text().await.unwrap()
}

/// Traffic: two plain answers; one that falls back from `a` (500) to `b`
/// (no answer within 700 ms) and retries `a`; one refused by policy; one
/// unknown model; one wrong key. Returns the fallback request's id and the
/// key.
struct Traffic {
    key: String,
    ok: Vec<String>,
    fell_back: String,
    denied: String,
    unknown_model: String,
}

async fn send_traffic(app: &TestApp, b: &MockOpenAi) -> Traffic {
    let key = app
        .setup_with_document(
            "prod",
            &document(&app.upstream.base_url(), &b.base_url()),
            "chat",
        )
        .await;
    let send = |body: Value, key: String| async move {
        let response = app.chat(Some(&key), body).send().await.unwrap();
        (response.status().as_u16(), request_id(&response))
    };
    let mut ok = Vec::new();
    for _ in 0..2 {
        let (status, id) = send(chat("chat"), key.clone()).await;
        assert_eq!(status, 200);
        ok.push(id);
    }
    app.upstream.script([Step::Fail {
        status: 500,
        retry_after_s: None,
    }]);
    b.script([Step::Hang]);
    let (status, fell_back) = send(chat("chat"), key.clone()).await;
    assert_eq!(status, 200, "a failed, b timed out, a answered");
    let mut too_long = chat("chat");
    too_long["max_tokens"] = json!(1000);
    let (status, denied) = send(too_long, key.clone()).await;
    assert_eq!(status, 403);
    let (status, unknown_model) = send(chat("not-a-model-4711"), key.clone()).await;
    assert_eq!(status, 404);
    // The same key with its last character changed.
    let last = if key.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &key[..key.len() - 1]);
    let (status, _) = send(chat("chat"), wrong).await;
    assert_eq!(status, 401);
    Traffic {
        key,
        ok,
        fell_back,
        denied,
        unknown_model,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_a_scripted_mix_of_traffic() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let b = MockOpenAi::start().await;
    let traffic = send_traffic(&app, &b).await;
    // Complete answers are counted before they are sent; poll anyway, bounded.
    let chat_api = "api=\"chat_completions\"";
    let mut text = String::new();
    for _ in 0..200 {
        text = scrape(&app).await;
        if sum(&text, "sentinel_requests_total", &[chat_api]) >= 6.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let prod = "environment=\"prod\"";
    let answered = [
        prod,
        "application=\"checkout\"",
        "route=\"r\"",
        "provider=\"a\"",
        "status_class=\"2xx\"",
    ];
    assert_eq!(
        sum(
            &text,
            "sentinel_requests_total",
            &[&answered[..], &[chat_api]].concat()
        ),
        3.0,
        "{text}"
    );
    let refused = [
        prod,
        "route=\"none\"",
        "provider=\"none\"",
        "status_class=\"4xx\"",
        chat_api,
    ];
    assert_eq!(sum(&text, "sentinel_requests_total", &refused), 2.0);
    assert_eq!(
        sum(
            &text,
            "sentinel_requests_total",
            &["environment=\"none\"", "status_class=\"4xx\"", chat_api]
        ),
        1.0,
        "the wrong key"
    );
    assert_eq!(sum(&text, "sentinel_requests_total", &[chat_api]), 6.0);

    assert_eq!(
        sum(&text, "sentinel_request_duration_seconds_count", &answered),
        3.0
    );
    assert_eq!(
        sum(
            &text,
            "sentinel_request_duration_seconds_bucket",
            &[&answered[..], &["le=\"+Inf\""]].concat()
        ),
        3.0
    );
    assert!(
        sum(
            &text,
            "sentinel_request_duration_seconds_bucket",
            &[&answered[..], &["le=\"0.5\""]].concat()
        ) <= 2.0,
        "the fallback waited 700 ms for b"
    );

    let attempts = |provider: &str, outcome: &str| {
        sum(
            &text,
            "sentinel_upstream_attempts_total",
            &[
                prod,
                &format!("provider=\"{provider}\""),
                &format!("outcome=\"{outcome}\""),
            ],
        )
    };
    assert_eq!(attempts("a", "ok"), 3.0);
    assert_eq!(attempts("a", "server_error"), 1.0);
    assert_eq!(attempts("b", "timeout"), 1.0);
    assert_eq!(
        sum(
            &text,
            "sentinel_fallbacks_total",
            &[prod, "route=\"r\"", "provider=\"a\""]
        ),
        1.0
    );
    assert_eq!(
        sum(
            &text,
            "sentinel_retries_total",
            &[prod, "route=\"r\"", "provider=\"b\""]
        ),
        1.0
    );
    assert_eq!(sum(&text, "sentinel_fallbacks_total", &[]), 1.0);
    assert_eq!(sum(&text, "sentinel_retries_total", &[]), 1.0);

    assert_eq!(
        sum(
            &text,
            "sentinel_tokens_total",
            &[&answered[..4], &["kind=\"prompt\""]].concat()
        ),
        33.0
    );
    assert_eq!(
        sum(
            &text,
            "sentinel_tokens_total",
            &[&answered[..4], &["kind=\"completion\""]].concat()
        ),
        9.0
    );
    // 11 × 2.5 + 3 × 10 = 57.5 micro-USD, rounded half up, three times.
    assert_eq!(
        sum(&text, "sentinel_cost_usd_micros_total", &answered[..4]),
        174.0
    );
    assert_eq!(
        sum(
            &text,
            "sentinel_policy_refusals_total",
            &[prod, "rule=\"environment.max_tokens\"", "kind=\"denied\""]
        ),
        1.0
    );
    assert_eq!(
        sum(
            &text,
            "sentinel_request_errors_total",
            &[prod, "code=\"model_not_found\""]
        ),
        1.0
    );
    assert_eq!(
        sum(
            &text,
            "sentinel_request_errors_total",
            &[prod, "code=\"policy_denied\""]
        ),
        1.0
    );
    for model in ["model-a", "model-b"] {
        assert_eq!(
            sum(
                &text,
                "sentinel_breaker_open",
                &[prod, &format!("model=\"{model}\"")]
            ),
            0.0
        );
        assert!(text.contains(&format!("sentinel_breaker_open{{{prod},")));
    }
    assert_eq!(sum(&text, "sentinel_records_dropped_total", &[]), 0.0);
    assert!(text.contains("# TYPE sentinel_record_writer_backlog gauge"));
    assert_eq!(sum(&text, "sentinel_build_info", &["version=\""]), 1.0);

    // A stream is counted when it ends, with the usage its last chunk reported.
    let mut streamed = chat("chat");
    streamed["stream"] = json!(true);
    let response = app.chat(Some(&traffic.key), streamed).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("[DONE]"));
    let prompt = [&answered[..4], &["kind=\"prompt\""]].concat();
    for _ in 0..200 {
        text = scrape(&app).await;
        if sum(&text, "sentinel_tokens_total", &prompt) > 33.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(sum(&text, "sentinel_tokens_total", &prompt), 44.0);
    assert_eq!(
        sum(
            &text,
            "sentinel_requests_total",
            &[&answered[..], &[chat_api]].concat()
        ),
        4.0
    );

    // Nothing client-controlled or identifying is a label.
    let key_secret = &traffic.key[traffic.key.len() - 20..];
    for leak in [
        key_secret,
        "not-a-model-4711",
        &traffic.fell_back,
        &traffic.denied,
    ] {
        assert!(!text.contains(leak), "{leak:?} is in the metrics");
    }
    app.stop().await;
}

async fn search_filters_and_pagination(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let b = MockOpenAi::start().await;
    let traffic = send_traffic(&app, &b).await;
    for id in [&traffic.fell_back, &traffic.denied, &traffic.unknown_model] {
        app.record(id).await;
    }
    let search = |query: String| {
        let app = &app;
        async move {
            let mut ids = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let path = match &cursor {
                    Some(c) => format!("/api/v1/requests?{query}&limit=1&cursor={c}"),
                    None => format!("/api/v1/requests?{query}&limit=1"),
                };
                let page = app.admin_ok(Method::GET, &path, None).await;
                for record in page["data"].as_array().unwrap() {
                    ids.push(record["id"].as_str().unwrap().to_owned());
                }
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => return ids,
                }
            }
        }
    };
    assert_eq!(
        search("env=prod&provider=b".into()).await,
        Vec::<String>::new(),
        "b never answered"
    );
    let by_a = search("env=prod&provider=a".into()).await;
    let mut expected: Vec<String> = traffic.ok.clone();
    expected.push(traffic.fell_back.clone());
    expected.reverse(); // newest first
    assert_eq!(by_a, expected);
    assert_eq!(
        search("env=prod&policy=denied".into()).await,
        vec![traffic.denied.clone()]
    );
    let allowed: BTreeSet<String> = search("env=prod&policy=allowed".into())
        .await
        .into_iter()
        .collect();
    assert!(allowed.contains(&traffic.fell_back) && !allowed.contains(&traffic.denied));
    assert_eq!(
        search("env=prod&min_latency_ms=650".into()).await,
        vec![traffic.fell_back.clone()],
        "only the request that waited for b"
    );
    assert_eq!(
        search("env=prod&provider=a&policy=allowed&min_latency_ms=650&status=200".into()).await,
        vec![traffic.fell_back.clone()]
    );
    let (status, body) = app
        .admin(Method::GET, "/api/v1/requests?policy=maybe", None)
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app
        .admin(Method::GET, "/api/v1/requests?min_latency_ms=-1", None)
        .await;
    assert_eq!(status, 400);
    app.stop().await;
}

on_both_stores!(search_filters_and_pagination);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_shows_the_whole_path_of_a_request_that_fell_back_and_retried() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let b = MockOpenAi::start().await;
    let traffic = send_traffic(&app, &b).await;
    app.record(&traffic.fell_back).await;
    let trace = |id: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_sentinel"))
            .args(["requests", "trace", id])
            .env("SENTINEL_URL", &app.console)
            .env("SENTINEL_TOKEN", ADMIN_TOKEN)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let out = trace(&traffic.fell_back);
    let key_id = traffic.key.split('_').nth(2).unwrap();
    let steps = [
        format!("request {}", traffic.fell_back),
        format!("key         {key_id} (environment prod"),
        "application checkout".to_owned(),
        "policy      allowed".to_owned(),
        "route       model chat → plan r (revision ".to_owned(),
        "attempts    1. +".to_owned(),
        "a/model-a: server_error 500 in ".to_owned(),
        "→ fallback: server_error".to_owned(),
        "2. +".to_owned(),
        "b/model-b: timeout in ".to_owned(),
        "→ retry: timeout, after ".to_owned(),
        "3. +".to_owned(),
        "a/model-a: ok 200 in ".to_owned(),
        "client got  200 after ".to_owned(),
        "tokens 11 prompt, 3 completion; cost $0.000058 (environment price)".to_owned(),
    ];
    let mut at = 0;
    for step in &steps {
        let found = out[at..]
            .find(step.as_str())
            .unwrap_or_else(|| panic!("{step:?} (in order) in:\n{out}"));
        at += found + step.len();
    }
    assert!(!out.contains(&traffic.key), "the trace never shows the key");

    // Provider health: the rolling window of each endpoint.
    let health = app
        .admin_ok(Method::GET, "/api/v1/providers/health?env=prod", None)
        .await;
    let endpoint = |provider: &str| {
        health["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["provider"] == provider)
            .unwrap_or_else(|| panic!("no endpoint {provider}: {health}"))
            .clone()
    };
    let a = endpoint("a");
    assert_eq!(a["window"]["attempts"], 4, "{a}");
    assert_eq!(a["window"]["successes"], 3, "{a}");
    assert_eq!(a["window"]["success_rate"], 0.75, "{a}");
    let b = endpoint("b");
    assert_eq!(b["window"]["attempts"], 1, "{b}");
    assert_eq!(b["window"]["success_rate"], 0.0, "{b}");
    assert!(
        b["window"]["latency_ms"]["p50"].as_u64().unwrap() >= 700,
        "b answered nothing within first_byte_ms: {b}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .args(["providers", "health", "--env", "prod"])
        .env("SENTINEL_URL", &app.console)
        .env("SENTINEL_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.contains("75.0% of 4") && out.contains("0.0% of 1"),
        "{out}"
    );

    let out = trace(&traffic.denied);
    assert!(
        out.contains("policy      denied by environment.max_tokens"),
        "{out}"
    );
    assert!(
        out.contains("attempts    none (answered by Sentinel)"),
        "{out}"
    );
    assert!(out.contains("client got  403 policy_denied"), "{out}");
    app.stop().await;
}
