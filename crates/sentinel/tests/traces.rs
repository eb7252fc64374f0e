//! Traces end to end against an in-process OTLP/HTTP receiver: one SERVER
//! span per request and one CLIENT span per attempt, with GenAI attributes
//! and the right parentage; the caller's `traceparent` is honoured and the
//! trace id is on the request record; a collector that never answers never
//! slows requests (bounded queue, counted drops).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::sync::{Arc, Mutex};

use axum::{Json, Router, routing::post};
use reqwest::Method;
use sentinel_testkit::openai_mock::Step;
use serde_json::{Value, json};
use support::{Backend, TestApp, request_id};

/// Collects every span posted to `/v1/traces`.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let spans: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = spans.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |Json(body): Json<Value>| {
            let sink = sink.clone();
            async move {
                for resource in body["resourceSpans"].as_array().unwrap() {
                    let service = &resource["resource"]["attributes"][0];
                    assert_eq!(service["key"], "service.name");
                    for scope in resource["scopeSpans"].as_array().unwrap() {
                        sink.lock()
                            .unwrap()
                            .extend(scope["spans"].as_array().unwrap().iter().cloned());
                    }
                }
                Json(json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, spans)
}

fn attr<'a>(span: &'a Value, key: &str) -> &'a Value {
    span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == key)
        .map_or(&Value::Null, |a| &a["value"])
}

async fn spans_of(spans: &Arc<Mutex<Vec<Value>>>, trace_id: &str, at_least: usize) -> Vec<Value> {
    for _ in 0..400 {
        let found: Vec<Value> = spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s["traceId"] == trace_id)
            .cloned()
            .collect();
        if found.len() >= at_least {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("spans of trace {trace_id} never arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_attempts_become_spans() {
    let (collector, spans) = receiver().await;
    let mut app = TestApp::start_tweaked(
        Backend::Sqlite,
        None,
        Arc::new(move |server| server.otlp_endpoint = Some(collector.clone())),
    )
    .await;
    let document = format!(
        "{}    retry: {{ max_attempts: 2, backoff_ms: 1 }}\n",
        app.upstream_document()
    );
    let key = app.setup_with_document("prod", &document, "gpt-test").await;

    // The caller's trace context is honoured; the first attempt fails
    // and is retried.
    app.upstream.script([Step::Fail {
        status: 500,
        retry_after_s: None,
    }]);
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = app
        .chat(
            Some(&key),
            json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let record = app.record(&id).await;
    assert_eq!(record["trace_id"], trace);
    assert_eq!(record["parent_span_id"], "00f067aa0ba902b7");

    let found = spans_of(&spans, trace, 3).await;
    let server: Vec<&Value> = found.iter().filter(|s| s["kind"] == 2).collect();
    assert_eq!(server.len(), 1, "{found:?}");
    let server = server[0];
    assert_eq!(server["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(server["name"], "POST /v1/chat/completions");
    assert_eq!(attr(server, "gen_ai.operation.name")["stringValue"], "chat");
    assert_eq!(
        attr(server, "gen_ai.request.model")["stringValue"],
        "gpt-test"
    );
    assert_eq!(
        attr(server, "gen_ai.response.model")["stringValue"],
        "up-model"
    );
    assert_eq!(
        attr(server, "gen_ai.provider.name")["stringValue"],
        "openai"
    );
    assert_eq!(attr(server, "gen_ai.usage.input_tokens")["intValue"], "11");
    assert_eq!(attr(server, "gen_ai.usage.output_tokens")["intValue"], "3");
    assert_eq!(
        attr(server, "sentinel.request_id")["stringValue"],
        id.as_str()
    );
    assert_eq!(attr(server, "http.response.status_code")["intValue"], "200");

    let mut attempts: Vec<&Value> = found.iter().filter(|s| s["kind"] == 3).collect();
    attempts.sort_by_key(|s| {
        attr(s, "sentinel.attempt.number")["intValue"]
            .as_str()
            .unwrap()
            .to_owned()
    });
    assert_eq!(attempts.len(), 2, "{found:?}");
    for attempt in &attempts {
        assert_eq!(
            attempt["parentSpanId"], server["spanId"],
            "attempts are children of the request"
        );
        assert_eq!(attempt["name"], "chat up-model");
        let (start, end) = (
            attempt["startTimeUnixNano"]
                .as_str()
                .unwrap()
                .parse::<u128>()
                .unwrap(),
            attempt["endTimeUnixNano"]
                .as_str()
                .unwrap()
                .parse::<u128>()
                .unwrap(),
        );
        assert!(start <= end);
    }
    assert_eq!(attempts[0]["status"]["code"], 2);
    assert_eq!(
        attr(attempts[0], "error.type")["stringValue"],
        "server_error"
    );
    assert_eq!(
        attr(attempts[0], "http.response.status_code")["intValue"],
        "500"
    );
    assert_eq!(
        attr(attempts[1], "http.response.status_code")["intValue"],
        "200"
    );

    // Without a traceparent a new trace starts, and the record names it.
    let response = app
        .chat(
            Some(&key),
            json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    let record = app.record(&request_id(&response)).await;
    let fresh = record["trace_id"].as_str().unwrap().to_owned();
    assert_eq!(fresh.len(), 32);
    assert!(record["parent_span_id"].is_null());
    let found = spans_of(&spans, &fresh, 2).await;
    assert!(
        found.iter().all(|s| !s.to_string().contains(&key)),
        "no key on any span"
    );

    let (_, ready) = app.admin(Method::GET, "/readyz", None).await;
    assert_eq!(ready["components"]["traces"]["state"], "exporting");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_never_blocks_requests() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = format!("http://{}", listener.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            keep.lock().unwrap().push(socket);
        }
    });
    let mut app = TestApp::start_tweaked(
        Backend::Sqlite,
        None,
        Arc::new(move |server| {
            server.otlp_endpoint = Some(collector.clone());
            server.otlp_queue = 2;
        }),
    )
    .await;
    let (key, _) = app.setup_env("prod", &[]).await;
    for _ in 0..20 {
        let response = app
            .chat(
                Some(&key),
                json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let (_, ready) = app.admin(Method::GET, "/readyz", None).await;
    let dropped = ready["components"]["traces"]["spans"]["dropped"]
        .as_u64()
        .unwrap();
    assert!(dropped > 0, "a full queue drops and counts: {ready}");
    drop(held);
    app.stop().await;
}
