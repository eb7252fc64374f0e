//! Usage and cost end to end: each request record carries its exact cost
//! in micro-USD, from the built-in price table or the environment's
//! `prices:`, and no cost when the model has no known price.
//!
//! The in-process upstream reports 11 prompt and 3 completion tokens for
//! chat, and 4 prompt tokens for embeddings.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{Backend, TestApp, request_id};

/// One `openai` provider on the mock upstream, one route plan per case.
fn document(app: &TestApp) -> String {
    format!(
        r#"providers:
  upstream:
    kind: openai
    base_url: {}
    credential: secret:upstream-key
    allow_private_network: true
route_plans:
  builtin:
    models: [priced]
    targets: [{{ provider: upstream, model: gpt-4o }}]
  dated:
    models: [dated]
    targets: [{{ provider: upstream, model: gpt-4o-mini-2024-07-18 }}]
  overridden:
    models: [overridden]
    targets: [{{ provider: upstream, model: gpt-4.1 }}]
  unpriced:
    models: [unpriced]
    targets: [{{ provider: upstream, model: up-model }}]
  embed:
    models: [embed]
    targets: [{{ provider: upstream, model: my-embedder }}]
prices:
  gpt-4.1: {{ input_per_mtok: 1.5, output_per_mtok: "2" }}
  my-embedder: {{ input_per_mtok: 12.5, output_per_mtok: 0 }}
"#,
        app.upstream.base_url()
    )
}

async fn chat_record(app: &TestApp, key: &str, model: &str, stream: bool) -> Value {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    if stream {
        body["stream"] = json!(true);
    }
    let response = app.chat(Some(key), body).send().await.unwrap();
    assert_eq!(response.status(), 200, "{model}");
    let id = request_id(&response);
    let _ = response.bytes().await.unwrap();
    app.record(&id).await
}

async fn every_request_records_its_exact_cost(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let key = app
        .setup_with_document("prod", &document(&app), "embed")
        .await;

    // Built-in gpt-4o, 2.50 / 10.00: 11 × 2.5 + 3 × 10 = 57.5 µUSD → 58.
    let record = chat_record(&app, &key, "priced", false).await;
    assert_eq!(record["upstream_model"], "gpt-4o");
    assert_eq!(record["cost_micros"], 58, "{record}");
    assert_eq!(record["price_source"], "builtin");

    // The same on a stream, finished by the stream's end.
    let record = chat_record(&app, &key, "priced", true).await;
    assert_eq!(record["stream_completed"], true);
    assert_eq!(record["cost_micros"], 58, "{record}");
    assert_eq!(record["price_source"], "builtin");

    // A dated snapshot takes its family's price, 0.15 / 0.60:
    // 1.65 + 1.8 = 3.45 µUSD → 3.
    let record = chat_record(&app, &key, "dated", false).await;
    assert_eq!(record["cost_micros"], 3, "{record}");

    // The environment's price wins over the built-in 2.00 / 8.00 (which
    // would give 46): 11 × 1.5 + 3 × 2 = 22.5 → 23.
    let record = chat_record(&app, &key, "overridden", false).await;
    assert_eq!(record["cost_micros"], 23, "{record}");
    assert_eq!(record["price_source"], "environment");
    let record = chat_record(&app, &key, "overridden", true).await;
    assert_eq!(record["cost_micros"], 23, "{record}");

    // No price known: tokens are recorded, the cost is not guessed.
    let record = chat_record(&app, &key, "unpriced", false).await;
    assert_eq!(record["total_tokens"], 14);
    assert_eq!(record["cost_micros"], Value::Null, "{record}");
    assert_eq!(record["price_source"], "unknown");

    // Embeddings are charged for prompt tokens only: 4 × 12.5 = 50.
    let response = app
        .http
        .post(format!("{}/v1/embeddings", app.gateway))
        .bearer_auth(&key)
        .json(&json!({"model": "embed", "input": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let record = app.record(&request_id(&response)).await;
    assert_eq!(record["prompt_tokens"], 4);
    assert_eq!(record["cost_micros"], 50, "{record}");
    assert_eq!(record["price_source"], "environment");

    // A refused request reached no target: no cost, no price source.
    let response = app
        .chat(Some(&key), json!({"model": "nope", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let record = app.record(&request_id(&response)).await;
    assert_eq!(record["cost_micros"], Value::Null);
    assert_eq!(record["price_source"], Value::Null);
    app.stop().await;
}

async fn bad_prices_are_refused_with_their_paths(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    app.create_env("dev", &[]).await;
    let document = "prices:\n  gpt-4o: { input_per_mtok: -1, output_per_mtok: 0.0000001 }\n";
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/environments/dev/config",
            Some(json!({"document": document, "message": "bad prices"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let text = body.to_string();
    assert!(text.contains("prices.gpt-4o.input_per_mtok"), "{text}");
    assert!(text.contains("prices.gpt-4o.output_per_mtok"), "{text}");
    app.stop().await;
}

on_both_stores!(
    every_request_records_its_exact_cost,
    bad_prices_are_refused_with_their_paths,
);
