//! Route plans under provider failure, with fault-injecting mock upstreams
//! on 127.0.0.1: retries, fallbacks, timeouts, broken streams, circuit
//! breakers and weighted balancing, end to end.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::Method;
use sentinel_testkit::openai_mock::{Behavior, MockOpenAi, Step};
use serde_json::{Value, json};
use support::{Backend, TestApp, request_id};

fn chat(stream: bool) -> Value {
    json!({"model": "chat", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

/// A document with providers `a` (and `b` when given) and one plan `r`
/// serving `chat`, with `extra` YAML appended to the plan.
fn document(a: &str, b: Option<&str>, strategy: &str, extra: &str) -> String {
    let provider = |name: &str, url: &str| {
        format!(
            "  {name}:\n    kind: openai\n    base_url: {url}\n    credential: secret:upstream-key\n    allow_private_network: true\n"
        )
    };
    let mut doc = format!("providers:\n{}", provider("a", a));
    let mut targets = "      - { provider: a, model: model-a, weight: 1 }\n".to_owned();
    if let Some(b) = b {
        doc.push_str(&provider("b", b));
        targets.push_str("      - { provider: b, model: model-b, weight: 3 }\n");
    }
    doc.push_str(&format!("route_plans:\n  r:\n    models: [chat]\n    strategy: {strategy}\n    targets:\n{targets}{extra}"));
    doc
}

async fn expect_status(
    response: reqwest::Response,
    status: u16,
    code: Option<&str>,
) -> (String, Value) {
    assert_eq!(response.status(), status);
    let id = request_id(&response);
    let body: Value = response.json().await.unwrap();
    if let Some(code) = code {
        assert_eq!(body["error"]["code"], code, "{body}");
    }
    (id, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_until_success() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let doc = document(
        &app.upstream.base_url(),
        None,
        "fallback",
        "    retry: { max_attempts: 3, backoff_ms: 10, max_backoff_ms: 20 }\n",
    );
    let key = app.setup_with_document("prod", &doc, "chat").await;
    app.upstream.script([
        Step::Fail {
            status: 500,
            retry_after_s: None,
        },
        Step::Fail {
            status: 503,
            retry_after_s: None,
        },
    ]);
    let response = app.chat(Some(&key), chat(false)).send().await.unwrap();
    let (id, _) = expect_status(response, 200, None).await;
    let record = app.record(&id).await;
    let outcomes: Vec<&str> = record["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["server_error", "server_error", "ok"]);
    assert!(
        record["attempts"][0]["next"]
            .as_str()
            .unwrap()
            .starts_with("retry: server_error")
    );
    assert_eq!(app.upstream.calls().len(), 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_an_excessive_one_ends_retries() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let doc = document(
        &app.upstream.base_url(),
        None,
        "fallback",
        "    retry: { max_attempts: 2, backoff_ms: 1, retry_after_cap_ms: 2000 }\n",
    );
    let key = app.setup_with_document("prod", &doc, "chat").await;

    app.upstream.script([Step::Fail {
        status: 429,
        retry_after_s: Some(1),
    }]);
    let started = Instant::now();
    let response = app.chat(Some(&key), chat(false)).send().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited for Retry-After"
    );
    let (id, _) = expect_status(response, 200, None).await;
    let record = app.record(&id).await;
    assert_eq!(record["attempts"][0]["outcome"], "rate_limited");
    assert!(
        record["attempts"][0]["next"]
            .as_str()
            .unwrap()
            .contains("after 1000 ms"),
        "{record}"
    );

    app.upstream.script([Step::Fail {
        status: 429,
        retry_after_s: Some(30),
    }]);
    let started = Instant::now();
    let response = app.chat(Some(&key), chat(false)).send().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a 30 s Retry-After was not waited for"
    );
    let (id, _) = expect_status(response, 429, Some("rate_limited")).await;
    let record = app.record(&id).await;
    assert_eq!(
        record["attempts"][0]["next"],
        "stop: Retry-After exceeds the cap"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_falls_back_to_the_next_target() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    // A port with nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let doc = document(&dead, Some(&app.upstream.base_url()), "fallback", "");
    let key = app.setup_with_document("prod", &doc, "chat").await;
    let response = app.chat(Some(&key), chat(false)).send().await.unwrap();
    let (id, _) = expect_status(response, 200, None).await;
    let record = app.record(&id).await;
    assert_eq!(record["attempts"][0]["outcome"], "connect_error");
    assert_eq!(record["attempts"][0]["next"], "fallback: connect_error");
    assert_eq!(record["attempts"][1]["provider"], "b");
    assert_eq!(record["provider"], "b");
    assert_eq!(app.upstream.calls()[0].json()["model"], "model-b");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_never_answers_times_out() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let doc = document(
        &app.upstream.base_url(),
        None,
        "fallback",
        "    retry: { max_attempts: 1 }\n    timeouts: { first_byte_ms: 300 }\n",
    );
    let key = app.setup_with_document("prod", &doc, "chat").await;
    app.upstream.script([Step::Hang]);
    let started = Instant::now();
    let response = app.chat(Some(&key), chat(false)).send().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the first-byte limit ended the wait"
    );
    let (id, _) = expect_status(response, 504, Some("upstream_timeout")).await;
    let record = app.record(&id).await;
    assert_eq!(record["attempts"][0]["outcome"], "timeout");
    assert!(
        record["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("within 300 ms")
    );
    app.stop().await;
}

/// Reads a whole SSE body, with a limit so a hang fails the test.
async fn read_stream(response: reqwest::Response) -> String {
    let mut out = Vec::new();
    let mut body = response.bytes_stream();
    let limit = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(limit);
    loop {
        tokio::select! {
            chunk = body.next() => match chunk {
                Some(Ok(bytes)) => out.extend_from_slice(&bytes),
                Some(Err(_)) | None => break,
            },
            () = &mut limit => panic!("the stream hung"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_streams_end_with_a_clean_error_event() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let doc = document(
        &app.upstream.base_url(),
        None,
        "fallback",
        "    timeouts: { stream_idle_ms: 300 }\n",
    );
    let key = app.setup_with_document("prod", &doc, "chat").await;

    for (step, detail) in [
        (Step::StallAfterFirstChunk, "idle for 300 ms"),
        (Step::ResetAfterFirstChunk, "stream broke"),
    ] {
        app.upstream.script([step.clone()]);
        let response = app.chat(Some(&key), chat(true)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let id = request_id(&response);
        let text = read_stream(response).await;
        assert!(
            text.contains("\"role\":\"assistant\""),
            "the first chunk arrived: {text}"
        );
        assert!(
            text.contains("\"code\":\"upstream_error\""),
            "a terminal error event after {step:?} ({} upstream calls): {text}",
            app.upstream.calls().len()
        );
        assert!(!text.contains("[DONE]"));
        let record = app.record(&id).await;
        assert_eq!(record["stream_completed"], false);
        assert_eq!(record["error_code"], "upstream_error");
        assert!(
            record["error_detail"].as_str().unwrap().contains(detail) || detail == "stream broke",
            "{record}"
        );
    }

    // Bytes that are not SSE pass through; the record says the stream did not complete.
    app.upstream.script([Step::Garbage]);
    let response = app.chat(Some(&key), chat(true)).send().await.unwrap();
    let id = request_id(&response);
    let text = read_stream(response).await;
    assert!(text.contains("not sse"));
    assert_eq!(app.record(&id).await["stream_completed"], false);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_fails_before_its_first_byte_still_falls_back() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let other = MockOpenAi::start().await;
    let doc = document(
        &app.upstream.base_url(),
        Some(&other.base_url()),
        "fallback",
        "    timeouts: { first_byte_ms: 300 }\n",
    );
    let key = app.setup_with_document("prod", &doc, "chat").await;
    app.upstream.script([Step::Hang]);
    let response = app.chat(Some(&key), chat(true)).send().await.unwrap();
    let id = request_id(&response);
    let text = read_stream(response).await;
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let record = app.record(&id).await;
    assert_eq!(record["attempts"][0]["outcome"], "timeout");
    assert_eq!(record["provider"], "b");
    assert_eq!(record["stream_completed"], true);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_rejects_fast_probes_and_closes() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let doc = document(
        &app.upstream.base_url(),
        None,
        "fallback",
        "    retry: { max_attempts: 1 }\n    circuit_breaker: { failure_ratio: 0.5, min_requests: 2, window_s: 30, open_s: 1 }\n",
    );
    let key = app.setup_with_document("prod", &doc, "chat").await;
    app.upstream.set_behavior(Behavior::Fail(503));
    for _ in 0..2 {
        let response = app.chat(Some(&key), chat(false)).send().await.unwrap();
        expect_status(response, 502, Some("upstream_error")).await;
    }
    let calls = app.upstream.calls().len();
    let response = app.chat(Some(&key), chat(false)).send().await.unwrap();
    assert!(response.headers().contains_key("retry-after"));
    let (id, _) = expect_status(response, 503, Some("no_healthy_route")).await;
    assert_eq!(
        app.upstream.calls().len(),
        calls,
        "nothing was sent while open"
    );
    assert_eq!(
        app.record(&id).await["attempts"][0]["outcome"],
        "circuit_open"
    );

    let health = app
        .admin_ok(Method::GET, "/api/v1/providers/health?env=prod", None)
        .await;
    assert_eq!(health["data"][0]["breaker"], "open", "{health}");
    assert_eq!(health["data"][0]["provider"], "a");

    // After open_s, one probe goes through; success closes the circuit.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    app.upstream.set_behavior(Behavior::Normal);
    let response = app.chat(Some(&key), chat(false)).send().await.unwrap();
    expect_status(response, 200, None).await;
    let health = app
        .admin_ok(Method::GET, "/api/v1/providers/health", None)
        .await;
    assert_eq!(health["data"][0]["breaker"], "closed");
    assert!(health["data"][0]["recent_errors"].as_array().unwrap().len() >= 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_plans_split_traffic_by_weight() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let other = MockOpenAi::start().await;
    let doc = document(
        &app.upstream.base_url(),
        Some(&other.base_url()),
        "weighted",
        "",
    );
    let key = app.setup_with_document("prod", &doc, "chat").await;
    let total = 800;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let http = app.http.clone();
        let url = format!("{}/v1/chat/completions", app.gateway);
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..total / 8 {
                let response = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&chat(false))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let a = app.upstream.calls().len() as f64;
    let b = other.calls().len() as f64;
    assert_eq!(a + b, f64::from(total));
    // Weights 1:3 → 25% to a; the binomial standard deviation is about 12.
    assert!((a - 200.0).abs() < 60.0, "a got {a} of {total}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_providers_leave_the_health_report() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let doc = document(&app.upstream.base_url(), None, "fallback", "");
    let key = app.setup_with_document("prod", &doc, "chat").await;
    let response = app.chat(Some(&key), chat(false)).send().await.unwrap();
    expect_status(response, 200, None).await;
    let health = app
        .admin_ok(Method::GET, "/api/v1/providers/health?env=prod", None)
        .await;
    assert_eq!(health["data"][0]["provider"], "a");

    // The same upstream under another name, and a new route model.
    let renamed = doc
        .replace("  a:\n", "  c:\n")
        .replace("provider: a,", "provider: c,")
        .replace("[chat]", "[chat2]");
    app.apply_config("prod", &renamed).await;
    app.wait_for_model(&key, "chat2").await;
    let response = app
        .chat(Some(&key), json!({"model": "chat2", "messages": []}))
        .send()
        .await
        .unwrap();
    expect_status(response, 200, None).await;
    let health = app
        .admin_ok(Method::GET, "/api/v1/providers/health?env=prod", None)
        .await;
    let providers: Vec<&str> = health["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["c"], "{health}");
    app.stop().await;
}
