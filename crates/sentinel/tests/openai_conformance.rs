//! What Sentinel itself writes on its OpenAI routes validates against
//! OpenAI's published OpenAPI schemas (extracted into
//! `tests/fixtures/openai-schemas.json` by `scripts/extract-openai-schemas.py`):
//! the built-in mock provider's answers, streams and embeddings, the model
//! list, and every error body, including the in-stream error event.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use reqwest::Method;
use sentinel_testkit::openai_mock::Step;
use serde_json::{Value, json};
use support::{Backend, TestApp};

const SCHEMAS: &str = include_str!("fixtures/openai-schemas.json");

/// Asserts `instance` is valid against OpenAI's component schema `name`.
fn assert_valid(name: &str, instance: &Value) {
    let defs: Value = serde_json::from_str(SCHEMAS).unwrap();
    let schema = json!({ "$defs": defs["$defs"], "$ref": format!("#/$defs/{name}") });
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} rejected {instance}:\n{}",
        errors.join("\n")
    );
}

fn data_events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

const DOCUMENT: &str = "providers:\n  mock:\n    kind: mock\nroute_plans:\n  demo:\n    models: [demo]\n    targets:\n      - { provider: mock, model: demo-echo }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_answers_validate_against_openai_schemas() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let key = app.setup_with_document("dev", DOCUMENT, "demo").await;
    let gateway = app.gateway.clone();
    let post = |path: &str, body: Value| {
        app.http
            .post(format!("{gateway}{path}"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };

    let answer: Value = post(
        "/v1/chat/completions",
        json!({"model": "demo", "messages": [{"role": "user", "content": "hi there"}]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_valid("CreateChatCompletionResponse", &answer);

    let stream = post(
        "/v1/chat/completions",
        json!({"model": "demo", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hi there"}]}),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let chunks = data_events(&stream);
    assert!(chunks.len() >= 4);
    for chunk in &chunks {
        assert_valid("CreateChatCompletionStreamResponse", chunk);
    }

    let embeddings: Value = post(
        "/v1/embeddings",
        json!({"model": "demo", "input": ["a", "b"]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_valid("CreateEmbeddingResponse", &embeddings);

    let models: Value = app
        .http
        .get(format!("{gateway}/v1/models"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_valid("ListModelsResponse", &models);

    // Error bodies of every kind Sentinel writes itself.
    let mut errors = Vec::new();
    errors.push(
        app.http
            .post(format!("{gateway}/v1/chat/completions"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    );
    errors.push(
        post(
            "/v1/chat/completions",
            json!({"model": "nope", "messages": []}),
        )
        .await
        .unwrap(),
    );
    errors.push(
        app.http
            .post(format!("{gateway}/v1/chat/completions"))
            .bearer_auth(&key)
            .body("{")
            .send()
            .await
            .unwrap(),
    );
    errors.push(
        app.http
            .get(format!("{gateway}/v1/nothing"))
            .send()
            .await
            .unwrap(),
    );
    for response in errors {
        assert!(response.status().is_client_error());
        let body: Value = response.json().await.unwrap();
        assert_valid("ErrorResponse", &body);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_stream_error_event_is_an_openai_error() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let key = app.setup_env("prod", &[]).await.0;
    app.upstream.script([Step::ResetAfterFirstChunk]);
    let text = app
        .chat(
            Some(&key),
            json!({"model": "gpt-test", "stream": true, "messages": []}),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap_or_default();
    let events = data_events(&text);
    let error = events
        .iter()
        .find(|e| e.get("error").is_some())
        .expect("an error event");
    assert_valid("ErrorResponse", error);
    let (status, _) = app.admin(Method::GET, "/api/v1/requests", None).await;
    assert_eq!(status, 200);
    app.stop().await;
}
