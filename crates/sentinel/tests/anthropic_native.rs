//! `POST /v1/messages` to an `anthropic` provider, end to end against the
//! Anthropic mock: the client's body reaches the upstream byte for byte
//! (only `model` rewritten), the answer comes back untouched (streamed or
//! not), records get Anthropic's usage, and a fallback to another kind is
//! translated as before.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use sentinel_testkit::anthropic_mock::{MockAnthropic, Reply};
use serde_json::{Value, json};
use support::{Backend, TestApp, UPSTREAM_SECRET, request_id};

fn document(anthropic: &str) -> String {
    format!(
        "providers:\n  claude:\n    kind: anthropic\n    base_url: {anthropic}\n    credential: secret:upstream-key\n    allow_private_network: true\n  mock:\n    kind: mock\nroute_plans:\n  native:\n    models: [claude-native]\n    targets:\n      - {{ provider: claude, model: claude-up }}\n  fallback:\n    models: [claude-fallback]\n    targets:\n      - {{ provider: claude, model: claude-up }}\n      - {{ provider: mock, model: demo-echo }}\n"
    )
}

/// The SSE bytes the mock sends for a scripted stream.
fn sse(reply: &Reply) -> String {
    let Reply::Stream(events) = reply else {
        panic!("not a stream")
    };
    events
        .iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_pass_through_natively_and_fall_back_translated() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let upstream = MockAnthropic::start(UPSTREAM_SECRET).await;
    let key = app
        .setup_with_document("dev", &document(&upstream.base_url()), "claude-native")
        .await;
    let url = format!("{}/v1/messages", app.gateway);
    let send = |body: String| {
        app.http
            .post(&url)
            .header("x-api-key", &key)
            .header("anthropic-version", "2023-06-01")
            .header("anthropic-beta", "interleaved-thinking-2025-05-14")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    // Complete answer: Anthropic-only fields reach the upstream untouched.
    // Every field's value keeps its bytes (spacing, `1.0`); only whitespace
    // between top-level members is not kept once `model` is rewritten.
    let body = concat!(
        r#"{"model":"claude-native","max_tokens":2048,"#,
        r#""thinking":{"type": "enabled", "budget_tokens": 1024},"#,
        r#""system":[{"type": "text", "text": "a long, cached prompt", "cache_control": {"type": "ephemeral"}}],"#,
        r#""messages":[{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral", "ttl": "5m"}}]}],"#,
        r#""temperature":1.0}"#
    );
    let answer = json!({"id": "msg_native", "type": "message", "role": "assistant", "model": "claude-up",
        "content": [{"type": "thinking", "thinking": "hmm", "signature": "sig"}, {"type": "text", "text": "hello"}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 7}});
    upstream.push(Reply::Message(answer.clone()));
    let response = send(body.to_owned()).await.unwrap();
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    assert_eq!(response.json::<Value>().await.unwrap(), answer);
    let call = &upstream.calls()[0];
    assert_eq!(
        std::str::from_utf8(&call.body).unwrap(),
        body.replacen(r#""model":"claude-native""#, r#""model":"claude-up""#, 1),
        "byte for byte except the model"
    );
    assert_eq!(call.header("x-api-key"), Some(UPSTREAM_SECRET));
    assert_eq!(call.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        call.header("anthropic-beta"),
        Some("interleaved-thinking-2025-05-14")
    );
    assert_eq!(call.header("authorization"), None);
    let record = app.record(&id).await;
    assert_eq!(record["provider"], "claude");
    assert_eq!(record["upstream_model"], "claude-up");
    assert_eq!(record["prompt_tokens"], 105);
    assert_eq!(record["completion_tokens"], 7);
    assert_eq!(record["total_tokens"], 112);

    // Streams: Anthropic's events, byte for byte; usage and completion recorded.
    let reply = Reply::text_stream("claude-up", &["Hello", " there"]);
    upstream.push(reply.clone());
    let response = send(
        r#"{"model":"claude-native","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#.to_owned(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let id = request_id(&response);
    assert_eq!(response.text().await.unwrap(), sse(&reply));
    assert_eq!(
        upstream.calls()[1].json()["stream"],
        true,
        "no stream_options added"
    );
    assert!(upstream.calls()[1].json().get("stream_options").is_none());
    let record = app.record(&id).await;
    assert_eq!(record["stream_completed"], true, "{record}");
    assert_eq!(record["prompt_tokens"], 11);
    assert_eq!(record["completion_tokens"], 2);
    assert_eq!(record["total_tokens"], 13);

    // A stream that ends in an error event is not complete.
    upstream.push(Reply::stream_then_error(
        "claude-up",
        "overloaded_error",
        "Overloaded",
    ));
    let response = send(
        r#"{"model":"claude-native","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#.to_owned(),
    )
    .await
    .unwrap();
    let id = request_id(&response);
    assert!(response.text().await.unwrap().contains("event: error"));
    let record = app.record(&id).await;
    assert_eq!(record["stream_completed"], false, "{record}");

    // Errors before the first byte: Anthropic's shape, the message relayed.
    upstream.push(Reply::error(
        400,
        "invalid_request_error",
        "max_tokens: too large",
    ));
    let response = send(
        r#"{"model":"claude-native","max_tokens":99999999,"messages":[{"role":"user","content":"hi"}]}"#.to_owned(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens: too large"),
        "{error}"
    );

    // Fallback: the anthropic target is overloaded, the mock answers,
    // translated both ways.
    let calls_before = upstream.calls().len();
    upstream.push(Reply::error(529, "overloaded_error", "Overloaded"));
    let response = send(
        r#"{"model":"claude-fallback","max_tokens":64,"messages":[{"role":"user","content":"fall back"}]}"#.to_owned(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["type"], "message");
    assert_eq!(message["content"][0]["text"], "echo: fall back");
    assert_eq!(upstream.calls().len(), calls_before + 1);
    let record = app.record(&id).await;
    let attempts = record["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{record}");
    assert_eq!(attempts[0]["provider"], "claude");
    assert_eq!(attempts[0]["status"], 529);
    assert_eq!(attempts[0]["outcome"], "server_error");
    assert!(
        attempts[0]["next"]
            .as_str()
            .unwrap()
            .starts_with("fallback")
    );
    assert_eq!(attempts[1]["provider"], "mock");
    assert_eq!(attempts[1]["outcome"], "ok");
    assert_eq!(record["provider"], "mock");
    assert!(record["total_tokens"].as_i64().unwrap() > 0);

    // Streaming fallback: translated events, usage recorded.
    upstream.push(Reply::error(529, "overloaded_error", "Overloaded"));
    let response = send(
        r#"{"model":"claude-fallback","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"one two"}]}"#.to_owned(),
    )
    .await
    .unwrap();
    let id = request_id(&response);
    let text = response.text().await.unwrap();
    assert!(text.contains("event: message_stop"), "{text}");
    assert!(!text.contains("[DONE]"));
    let record = app.record(&id).await;
    assert_eq!(record["stream_completed"], true, "{record}");
    assert_eq!(record["provider"], "mock");

    // A feature only the native target can serve: when the anthropic
    // target fails, the mock cannot take it and is skipped (recorded).
    upstream.push(Reply::error(529, "overloaded_error", "Overloaded"));
    upstream.push(Reply::error(529, "overloaded_error", "Overloaded"));
    let response = send(
        r#"{"model":"claude-fallback","max_tokens":64,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"x"}]}"#.to_owned(),
    )
    .await
    .unwrap();
    let id = request_id(&response);
    assert_eq!(response.status(), 502, "the upstream failure, not a 400");
    let record = app.record(&id).await;
    let outcomes: Vec<&str> = record["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert!(outcomes.contains(&"unservable"), "{record}");
    assert!(
        !record["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["provider"] == "mock" && a["outcome"] != "unservable")
    );
    app.stop().await;
}
