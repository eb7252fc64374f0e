//! Anthropic's Messages API in front: `POST /v1/messages` with `x-api-key`,
//! translated to the route plan's provider and back, streaming and not,
//! with Anthropic-shaped errors.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use serde_json::{Value, json};
use support::{Backend, TestApp, request_id};

const DOCUMENT: &str = "providers:\n  mock:\n    kind: mock\nroute_plans:\n  demo:\n    models: [claude-demo]\n    targets:\n      - { provider: mock, model: demo-echo }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_translated_both_ways() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let key = app
        .setup_with_document("dev", DOCUMENT, "claude-demo")
        .await;
    let url = format!("{}/v1/messages", app.gateway);
    let send = |body: Value| {
        app.http
            .post(&url)
            .header("x-api-key", &key)
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
    };

    let response = send(
        json!({"model": "claude-demo", "max_tokens": 64, "system": "be brief",
        "messages": [{"role": "user", "content": "hello there"}]}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["content"][0]["type"], "text");
    assert_eq!(message["content"][0]["text"], "echo: hello there");
    assert_eq!(message["stop_reason"], "end_turn");
    assert!(message["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let record = app.record(&id).await;
    assert_eq!(record["ingress"], "anthropic_messages");
    assert_eq!(record["requested_model"], "claude-demo");

    let response = send(
        json!({"model": "claude-demo", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "one two three"}]}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let text = response.text().await.unwrap();
    for event in [
        "event: message_start",
        "event: content_block_delta",
        "event: message_delta",
        "event: message_stop",
    ] {
        assert!(text.contains(event), "{event} missing from {text}");
    }
    assert!(
        !text.contains("[DONE]"),
        "no OpenAI framing leaks to Anthropic clients"
    );
    let record = app.record(&id).await;
    assert_eq!(record["stream_completed"], true);
    assert!(
        record["total_tokens"].as_i64().unwrap() > 0,
        "usage was asked for and recorded: {record}"
    );

    // Errors come in Anthropic's shape, with Sentinel's code and request id.
    let response = send(
        json!({"model": "nope", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 404);
    let id = request_id(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "not_found_error");
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["request_id"], id.as_str());

    let response = send(json!({"model": "claude-demo", "max_tokens": 10, "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "x"}]}))
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("thinking"),
        "{body}"
    );

    let response = app.http.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error");
    app.stop().await;
}
