//! The `gemini` kind against an in-process Gemini API mock: chat, streams,
//! tools, embeddings, error mapping and credentials.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use sentinel_config::ProviderConfig;
use sentinel_core::Name;
use sentinel_providers::{
    Credential, HttpSettings, Operation, Provider, ProviderErrorKind, ProviderRegistry,
    UpstreamBody, UpstreamRequest, UpstreamResponse,
};
use sentinel_testkit::google_mock::{Behavior, MockGemini};
use serde_json::{Value, json};

const KEY: &str = "AIza-test-key";

fn provider(mock: &MockGemini, key: &str) -> Arc<dyn Provider> {
    let config = ProviderConfig {
        name: Name::parse("gemini-main").unwrap(),
        kind: "gemini".into(),
        base_url: Some(mock.base_url().parse().unwrap()),
        credential: None,
        allow_private_network: true,
        allow_http: true,
        headers: vec![("x-team".into(), "core".into())],
        options: Default::default(),
    };
    ProviderRegistry::standard()
        .build(
            &config,
            Some(Credential::new(key)),
            &HttpSettings::default(),
        )
        .unwrap()
}

fn chat(body: Value) -> UpstreamRequest {
    UpstreamRequest {
        operation: Operation::ChatCompletions,
        stream: body["stream"] == json!(true),
        body: Bytes::from(body.to_string()),
        client_headers: Default::default(),
    }
}

fn full(response: UpstreamResponse) -> Value {
    match response.body {
        UpstreamBody::Full(body) => serde_json::from_slice(&body).unwrap(),
        UpstreamBody::Stream(_) => panic!("expected a full body"),
    }
}

/// The `data:` payloads of a translated stream, and whether it ended in an error.
async fn events(response: UpstreamResponse) -> (Vec<Value>, bool) {
    let UpstreamBody::Stream(mut stream) = response.body else {
        panic!("expected a stream")
    };
    let mut text = String::new();
    let mut failed = false;
    while let Some(item) = stream.next().await {
        match item {
            Ok(bytes) => text.push_str(std::str::from_utf8(&bytes).unwrap()),
            Err(_) => failed = true,
        }
    }
    let events = text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let data = e.strip_prefix("data: ").unwrap();
            if data == "[DONE]" {
                json!("[DONE]")
            } else {
                serde_json::from_str(data).unwrap()
            }
        })
        .collect();
    (events, failed)
}

fn hello() -> Value {
    json!({"model": "gemini-2.5-flash", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"}
    ]})
}

#[tokio::test]
async fn chat_completions_translate_both_ways() {
    let mock = MockGemini::start(KEY).await;
    let response = provider(&mock, KEY).send(chat(hello())).await.unwrap();
    assert_eq!(response.status, 200);
    let body = full(response);
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from Gemini"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14})
    );

    let calls = mock.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].uri,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(calls[0].headers["x-goog-api-key"], KEY);
    assert_eq!(calls[0].headers["x-team"], "core");
    assert!(calls[0].headers.get("authorization").is_none());
    assert_eq!(
        calls[0].json(),
        json!({"contents": [{"role": "user", "parts": [{"text": "hello"}]}],
               "systemInstruction": {"parts": [{"text": "be brief"}]}})
    );
}

#[tokio::test]
async fn streams_become_openai_chunks() {
    let mock = MockGemini::start(KEY).await;
    let mut body = hello();
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let response = provider(&mock, KEY).send(chat(body)).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.content_type.as_deref(), Some("text/event-stream"));
    let (events, failed) = events(response).await;
    assert!(!failed);
    let deltas: Vec<&Value> = events.iter().map(|e| &e["choices"][0]["delta"]).collect();
    assert_eq!(deltas[0], &json!({"role": "assistant", "content": ""}));
    assert_eq!(deltas[1], &json!({"content": "Hello"}));
    assert_eq!(deltas[2], &json!({"content": " from Gemini"}));
    assert_eq!(events[3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(events[4]["choices"], json!([]));
    assert_eq!(events[4]["usage"]["total_tokens"], 14);
    assert_eq!(events[5], json!("[DONE]"));
    assert_eq!(events.len(), 6);
    let ids: Vec<&Value> = events[..5].iter().map(|e| &e["id"]).collect();
    assert!(ids.iter().all(|id| *id == ids[0]));
    assert_eq!(
        mock.calls()[0].uri,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
}

#[tokio::test]
async fn a_stream_cut_before_its_end_fails_instead_of_finishing() {
    let mock = MockGemini::start(KEY).await;
    mock.set_behavior(Behavior::CutStream);
    let mut body = hello();
    body["stream"] = json!(true);
    let response = provider(&mock, KEY).send(chat(body)).await.unwrap();
    let (events, failed) = events(response).await;
    assert!(failed);
    assert!(!events.contains(&json!("[DONE]")));
}

#[tokio::test]
async fn tool_calls_round_trip_with_their_thought_signature() {
    let mock = MockGemini::start(KEY).await;
    let provider = provider(&mock, KEY);
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "additionalProperties": false,
                       "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let first = json!({"model": "gemini-2.5-flash", "tools": tools, "tool_choice": "required",
        "messages": [{"role": "user", "content": "weather in Paris?"}]});
    let answer = full(provider.send(chat(first.clone())).await.unwrap());
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    let call = answer["choices"][0]["message"]["tool_calls"][0].clone();
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], "{\"city\":\"Paris\"}");
    let sent = mock.calls()[0].json();
    assert_eq!(
        sent["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
    assert!(!sent.to_string().contains("additionalProperties"));

    let mut second = first;
    let messages = second["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call.clone()]}));
    messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "{\"temp\": 21}"}));
    second["tool_choice"] = json!("auto");
    let answer = full(provider.send(chat(second)).await.unwrap());
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello from Gemini"
    );
    let sent = mock.calls()[1].json();
    assert_eq!(
        sent["contents"][1],
        json!({"role": "model", "parts": [{"functionCall": {"name": "get_weather",
            "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLTE="}]})
    );
    assert_eq!(
        sent["contents"][2],
        json!({"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
            "response": {"temp": 21}}}]})
    );
}

#[tokio::test]
async fn streamed_tool_calls_come_whole() {
    let mock = MockGemini::start(KEY).await;
    let body = json!({"model": "gemini-2.5-flash", "stream": true,
        "tools": [{"type": "function", "function": {"name": "lookup"}}],
        "messages": [{"role": "user", "content": "look it up"}]});
    let response = provider(&mock, KEY).send(chat(body)).await.unwrap();
    let (events, failed) = events(response).await;
    assert!(!failed);
    let call = &events[1]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(call["index"], 0);
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "lookup");
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(events[2]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(events.last(), Some(&json!("[DONE]")));
}

#[tokio::test]
async fn embeddings_use_batch_embed_contents() {
    let mock = MockGemini::start(KEY).await;
    let response = provider(&mock, KEY)
        .send(UpstreamRequest {
            operation: Operation::Embeddings,
            stream: false,
            body: Bytes::from(
                json!({"model": "text-embedding-004", "input": ["one", "two"], "dimensions": 3})
                    .to_string(),
            ),
            client_headers: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    let body = full(response);
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "text-embedding-004");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"][1]["index"], 1);
    assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 3);
    let call = &mock.calls()[0];
    assert_eq!(
        call.uri,
        "/v1beta/models/text-embedding-004:batchEmbedContents"
    );
    assert_eq!(
        call.json()["requests"][1]["content"]["parts"][0]["text"],
        "two"
    );
}

#[tokio::test]
async fn upstream_errors_keep_their_status_with_an_openai_body() {
    let mock = MockGemini::start(KEY).await;
    let provider = provider(&mock, KEY);
    for (status, code, kind) in [
        (400, "INVALID_ARGUMENT", "invalid_request_error"),
        (429, "RESOURCE_EXHAUSTED", "rate_limit_error"),
        (503, "UNAVAILABLE", "server_error"),
    ] {
        mock.set_behavior(Behavior::Fail(status));
        for stream in [false, true] {
            let mut body = hello();
            body["stream"] = json!(stream);
            let response = provider.send(chat(body)).await.unwrap();
            assert_eq!(response.status, status);
            let wait = (status == 429).then(|| std::time::Duration::from_secs(2));
            assert_eq!(response.retry_after, wait);
            let body = full(response);
            assert_eq!(body["error"]["code"], code);
            assert_eq!(body["error"]["type"], kind);
            assert!(body["error"]["message"].as_str().unwrap().len() > 5);
        }
    }
}

#[tokio::test]
async fn a_wrong_key_is_reported_by_the_upstream() {
    let mock = MockGemini::start(KEY).await;
    let response = provider(&mock, "AIza-wrong")
        .send(chat(hello()))
        .await
        .unwrap();
    assert_eq!(response.status, 400);
    let body = full(response);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("API key not valid")
    );
    assert!(!mock.calls()[0].uri.contains("key="));
}

#[tokio::test]
async fn unsupported_requests_never_reach_the_upstream() {
    let mock = MockGemini::start(KEY).await;
    let mut body = hello();
    body["n"] = json!(3);
    let error = provider(&mock, KEY).send(chat(body)).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Unsupported);
    assert!(error.message.contains("n greater than 1"));
    assert!(error.message.contains("gemini"));
    assert!(mock.calls().is_empty());
}

#[test]
fn configuration_is_checked_per_kind() {
    use sentinel_config::{ProviderCatalog, RawProvider};
    let registry = ProviderRegistry::standard();
    let raw = RawProvider {
        kind: "gemini".into(),
        options: Some(serde_json::from_value(json!({"project": "p"})).unwrap()),
        ..RawProvider::default()
    };
    let paths: Vec<String> = registry
        .check("gemini", &raw)
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(paths, vec!["credential", "options.project"]);
}
