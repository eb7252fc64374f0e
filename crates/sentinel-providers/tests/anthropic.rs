//! The `anthropic` provider kind against an in-process mock of Anthropic's
//! Messages API that checks requests the way the real API does.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::BTreeMap;

use bytes::Bytes;
use futures_util::StreamExt;
use sentinel_config::{ProviderCatalog, ProviderConfig, RawProvider, SecretRef};
use sentinel_core::Name;
use sentinel_providers::{
    Credential, HttpSettings, Operation, Provider, ProviderErrorKind, ProviderRegistry,
    UpstreamBody, UpstreamRequest, UpstreamResponse,
};
use sentinel_testkit::anthropic_mock::{MockAnthropic, Reply};
use serde_json::{Map, Value, json};

const KEY: &str = "sk-ant-test-key";
const MODEL: &str = "claude-sonnet-4-5";

fn provider(mock: &MockAnthropic, key: &str, options: Value) -> std::sync::Arc<dyn Provider> {
    let config = ProviderConfig {
        name: Name::parse("claude").unwrap(),
        kind: "anthropic".into(),
        base_url: Some(mock.base_url().parse().unwrap()),
        credential: None::<SecretRef>,
        allow_private_network: true,
        allow_http: true,
        headers: vec![("x-team".into(), "search".into())],
        options: options.as_object().cloned().unwrap_or_default(),
    };
    ProviderRegistry::standard()
        .build(
            &config,
            Some(Credential::new(key)),
            &HttpSettings::default(),
        )
        .unwrap()
}

fn chat(body: Value, stream: bool) -> UpstreamRequest {
    UpstreamRequest {
        operation: Operation::ChatCompletions,
        body: Bytes::from(body.to_string()),
        stream,
        client_headers: Default::default(),
    }
}

fn hello(stream: bool) -> UpstreamRequest {
    let mut body = json!({"model": MODEL, "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"}]});
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    chat(body, stream)
}

fn full_json(response: UpstreamResponse) -> Value {
    match response.body {
        UpstreamBody::Full(body) => serde_json::from_slice(&body).unwrap(),
        UpstreamBody::Stream(_) => panic!("expected a complete body"),
    }
}

/// The stream's frames as JSON (`"[DONE]"` as a string), or the first error.
async fn frames(
    response: UpstreamResponse,
) -> Result<Vec<Value>, sentinel_providers::ProviderError> {
    let UpstreamBody::Stream(mut stream) = response.body else {
        panic!("expected a stream")
    };
    let mut out = Vec::new();
    while let Some(frame) = stream.next().await {
        let frame = frame?;
        let text = std::str::from_utf8(&frame).unwrap();
        let data = text.strip_prefix("data: ").unwrap().trim_end();
        out.push(serde_json::from_str(data).unwrap_or_else(|_| json!(data)));
    }
    Ok(out)
}

#[tokio::test]
async fn a_chat_request_becomes_a_messages_call_and_back() {
    let mock = MockAnthropic::start(KEY).await;
    let provider = provider(
        &mock,
        KEY,
        json!({"anthropic_beta": ["beta-one", "beta-two"]}),
    );
    let response = provider.send(hello(false)).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.upstream_request_id.as_deref(),
        Some("req_mock_0001")
    );
    let body = full_json(response);
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], MODEL);
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from Claude"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14})
    );

    let calls = mock.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.path, "/v1/messages");
    assert_eq!(call.header("x-api-key"), Some(KEY));
    assert_eq!(call.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(call.header("anthropic-beta"), Some("beta-one,beta-two"));
    assert_eq!(call.header("x-team"), Some("search"));
    assert_eq!(call.header("authorization"), None);
    assert_eq!(
        call.json(),
        json!({"model": MODEL, "max_tokens": 4096, "system": "Be brief.",
               "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]})
    );
}

#[tokio::test]
async fn options_set_the_version_and_the_default_cap() {
    let mock = MockAnthropic::start(KEY).await;
    let provider = provider(
        &mock,
        KEY,
        json!({"anthropic_version": "2024-10-22", "default_max_tokens": 512}),
    );
    provider.send(hello(false)).await.unwrap();
    let call = &mock.calls()[0];
    assert_eq!(call.header("anthropic-version"), Some("2024-10-22"));
    assert_eq!(call.header("anthropic-beta"), None);
    assert_eq!(call.json()["max_tokens"], 512);
}

#[tokio::test]
async fn a_stream_becomes_openai_chunks_ending_in_done() {
    let mock = MockAnthropic::start(KEY).await;
    let provider = provider(&mock, KEY, json!({}));
    let response = provider.send(hello(true)).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.content_type.as_deref(), Some("text/event-stream"));
    let frames = frames(response).await.unwrap();
    assert_eq!(frames[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = frames
        .iter()
        .filter_map(|f| f["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello from Claude");
    let n = frames.len();
    assert_eq!(frames[n - 3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        frames[n - 2]["usage"],
        json!({"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13})
    );
    assert_eq!(frames[n - 1], json!("[DONE]"));
    assert_eq!(mock.calls()[0].json()["stream"], true);
    assert_eq!(mock.calls()[0].header("accept"), Some("text/event-stream"));
}

fn tool_request(stream: bool) -> UpstreamRequest {
    chat(
        json!({"model": MODEL, "stream": stream,
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "tools": [{"type": "function", "function": {"name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
            "tool_choice": "required", "parallel_tool_calls": false, "max_tokens": 100}),
        stream,
    )
}

#[tokio::test]
async fn tool_calls_round_trip() {
    let mock = MockAnthropic::start(KEY).await;
    mock.push(Reply::tool_use(
        MODEL,
        "toolu_9",
        "get_weather",
        json!({"city": "Paris"}),
    ));
    let provider = provider(&mock, KEY, json!({}));
    let body = full_json(provider.send(tool_request(false)).await.unwrap());
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{"id": "toolu_9", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}])
    );
    let sent = mock.calls()[0].json();
    assert_eq!(sent["max_tokens"], 100);
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    assert_eq!(sent["tools"][0]["input_schema"]["type"], "object");
}

#[tokio::test]
async fn streamed_tool_calls_arrive_as_openai_tool_call_deltas() {
    let mock = MockAnthropic::start(KEY).await;
    mock.push(Reply::tool_use_stream(
        MODEL,
        "toolu_7",
        "get_weather",
        &["", "{\"city\":", " \"Paris\"}"],
    ));
    let provider = provider(&mock, KEY, json!({}));
    let frames = frames(provider.send(tool_request(true)).await.unwrap())
        .await
        .unwrap();
    let calls: Vec<&Value> = frames
        .iter()
        .filter_map(|f| f["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert_eq!(
        calls[0],
        &json!([{"index": 0, "id": "toolu_7", "type": "function",
                 "function": {"name": "get_weather", "arguments": ""}}])
    );
    let arguments: String = calls
        .iter()
        .filter_map(|c| c[0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, "{\"city\": \"Paris\"}");
    assert_eq!(
        frames[frames.len() - 2]["choices"][0]["finish_reason"],
        "tool_calls"
    );
    assert_eq!(frames.last(), Some(&json!("[DONE]")));
}

#[tokio::test]
async fn upstream_errors_keep_their_status_with_openai_bodies() {
    let mock = MockAnthropic::start(KEY).await;
    let provider = provider(&mock, KEY, json!({}));
    let cases = [
        (400, "invalid_request_error", "invalid_request_error"),
        (429, "rate_limit_error", "rate_limit_error"),
        (500, "api_error", "server_error"),
        (529, "overloaded_error", "server_error"),
    ];
    for (status, kind, openai_type) in cases {
        mock.push(Reply::Error {
            status,
            kind: kind.into(),
            message: format!("{kind} happened"),
            retry_after: (status == 429).then_some(7),
        });
        for stream in [false, true] {
            if stream {
                mock.push(Reply::error(status, kind, &format!("{kind} happened")));
            }
            let response = provider.send(hello(stream)).await.unwrap();
            assert_eq!(response.status, status, "{kind}");
            assert!(response.upstream_request_id.is_some());
            assert_eq!(
                full_json(response),
                json!({"error": {"message": format!("{kind} happened"), "type": openai_type,
                                 "param": null, "code": kind}}),
                "{kind} stream={stream}"
            );
        }
    }
}

#[tokio::test]
async fn a_wrong_key_is_an_authentication_error() {
    let mock = MockAnthropic::start(KEY).await;
    let provider = provider(&mock, "sk-ant-wrong", json!({}));
    let response = provider.send(hello(false)).await.unwrap();
    assert_eq!(response.status, 401);
    let body = full_json(response);
    assert_eq!(body["error"]["type"], "authentication_error");
    assert_eq!(body["error"]["code"], "authentication_error");
}

#[tokio::test]
async fn an_error_event_mid_stream_ends_the_stream_with_an_error() {
    let mock = MockAnthropic::start(KEY).await;
    mock.push(Reply::stream_then_error(
        MODEL,
        "overloaded_error",
        "Overloaded",
    ));
    let provider = provider(&mock, KEY, json!({}));
    let response = provider.send(hello(true)).await.unwrap();
    let UpstreamBody::Stream(mut stream) = response.body else {
        panic!("expected a stream")
    };
    let mut seen = Vec::new();
    let error = loop {
        match stream.next().await {
            Some(Ok(frame)) => seen.push(frame),
            Some(Err(error)) => break error,
            None => panic!("the stream ended without an error"),
        }
    };
    assert_eq!(error.kind, ProviderErrorKind::Protocol);
    assert!(
        error.message.contains("overloaded_error"),
        "{}",
        error.message
    );
    assert!(seen.iter().any(|f| f.windows(7).any(|w| w == b"Partial")));
    assert!(!seen.iter().any(|f| f.ends_with(b"[DONE]\n\n")));
}

#[tokio::test]
async fn refused_requests_never_reach_the_upstream() {
    let mock = MockAnthropic::start(KEY).await;
    let provider = provider(&mock, KEY, json!({}));
    let embeddings = UpstreamRequest {
        operation: Operation::Embeddings,
        body: Bytes::from(json!({"model": MODEL, "input": "x"}).to_string()),
        stream: false,
        client_headers: Default::default(),
    };
    let error = provider.send(embeddings).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Unsupported);
    assert_eq!(
        error.message,
        "embeddings is not supported by anthropic providers"
    );

    let json_mode = chat(
        json!({"model": MODEL, "messages": [{"role": "user", "content": "x"}],
               "response_format": {"type": "json_object"}}),
        false,
    );
    let error = provider.send(json_mode).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Unsupported);
    assert!(error.message.contains("response_format json_object"));

    let garbage = chat(json!({"messages": "nope"}), false);
    let error = provider.send(garbage).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::InvalidRequest);
    assert!(mock.calls().is_empty());
}

#[test]
fn config_needs_a_credential_and_takes_no_version_headers() {
    let registry = ProviderRegistry::standard();
    assert!(registry.kinds().contains(&"anthropic"));
    let ok = RawProvider {
        kind: "anthropic".into(),
        credential: Some("secret:anthropic".into()),
        ..RawProvider::default()
    };
    assert!(registry.check("anthropic", &ok).is_empty());

    let mut options = Map::new();
    options.insert("default_max_tokens".into(), json!("lots"));
    let bad = RawProvider {
        kind: "anthropic".into(),
        headers: BTreeMap::from([("anthropic-version".into(), "2023-06-01".into())]),
        options: Some(options),
        ..RawProvider::default()
    };
    let paths: Vec<String> = registry
        .check("anthropic", &bad)
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(
        paths,
        vec![
            "options.default_max_tokens",
            "credential",
            "headers.anthropic-version"
        ]
    );
}

#[test]
fn the_default_base_url_is_anthropics_api() {
    let config = ProviderConfig {
        name: Name::parse("claude").unwrap(),
        kind: "anthropic".into(),
        base_url: None,
        credential: None,
        allow_private_network: false,
        allow_http: false,
        headers: Vec::new(),
        options: Map::new(),
    };
    let provider = ProviderRegistry::standard()
        .build(
            &config,
            Some(Credential::new(KEY)),
            &HttpSettings::default(),
        )
        .unwrap();
    let debug = format!("{provider:?}");
    assert!(
        debug.contains("https://api.anthropic.com/v1/messages"),
        "{debug}"
    );
    assert!(!debug.contains(KEY));
    let missing = ProviderRegistry::standard()
        .build(&config, None, &HttpSettings::default())
        .unwrap_err();
    assert!(missing.to_string().contains("credential"), "{missing}");
}

fn native(body: &str, stream: bool, beta: Option<&'static str>) -> UpstreamRequest {
    let mut client_headers = http::HeaderMap::new();
    if let Some(beta) = beta {
        client_headers.insert("anthropic-beta", http::HeaderValue::from_static(beta));
    }
    UpstreamRequest {
        operation: Operation::AnthropicMessages,
        body: Bytes::copy_from_slice(body.as_bytes()),
        stream,
        client_headers,
    }
}

#[tokio::test]
async fn native_messages_go_byte_for_byte_and_come_back_untouched() {
    let mock = MockAnthropic::start(KEY).await;
    let provider = provider(&mock, KEY, json!({"anthropic_beta": "beta-one"}));
    assert!(provider.supports(Operation::AnthropicMessages));
    assert!(!provider.supports(Operation::Embeddings));
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":512},
        "system":[{"type":"text","text":"long prompt","cache_control":{"type":"ephemeral"}}],
        "messages":[{"role":"user","content":"Hi"}],"temperature":1.0}"#;
    let reply = Reply::text(MODEL, "native answer");
    mock.push(reply.clone());
    let response = provider
        .send(native(body, false, Some("interleaved-thinking-2025-05-14")))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    let Reply::Message(expected) = reply else {
        unreachable!()
    };
    assert_eq!(
        full_json(response),
        expected,
        "the answer is Anthropic's own"
    );
    let call = &mock.calls()[0];
    assert_eq!(call.body, Bytes::from(body), "the body goes as it came");
    assert_eq!(call.header("x-api-key"), Some(KEY));
    assert_eq!(call.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        call.header("anthropic-beta"),
        Some("beta-one,interleaved-thinking-2025-05-14")
    );
    assert_eq!(call.header("x-team"), Some("search"));

    // Streams are Anthropic's events, byte for byte.
    let response = provider
        .send(native(
            r#"{"model":"claude-sonnet-4-5","max_tokens":10,"stream":true,"messages":[]}"#,
            true,
            None,
        ))
        .await
        .unwrap();
    assert_eq!(response.content_type.as_deref(), Some("text/event-stream"));
    let UpstreamBody::Stream(mut stream) = response.body else {
        panic!("expected a stream")
    };
    let mut text = Vec::new();
    while let Some(chunk) = stream.next().await {
        text.extend_from_slice(&chunk.unwrap());
    }
    let text = String::from_utf8(text).unwrap();
    assert!(text.starts_with("event: message_start\ndata: {"), "{text}");
    assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    assert_eq!(mock.calls()[1].header("anthropic-beta"), Some("beta-one"));

    // Errors keep their status and Anthropic's body.
    mock.push(Reply::error(529, "overloaded_error", "Overloaded"));
    let response = provider
        .send(native(
            r#"{"model":"m","max_tokens":1,"messages":[]}"#,
            false,
            None,
        ))
        .await
        .unwrap();
    assert_eq!(response.status, 529);
    let body = full_json(response);
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn other_kinds_do_not_serve_native_messages() {
    let config = ProviderConfig {
        name: Name::parse("m").unwrap(),
        kind: "mock".into(),
        base_url: None,
        credential: None::<SecretRef>,
        allow_private_network: false,
        allow_http: false,
        headers: Vec::new(),
        options: Map::new(),
    };
    let mock = ProviderRegistry::standard()
        .build(&config, None, &HttpSettings::default())
        .unwrap();
    assert!(!mock.supports(Operation::AnthropicMessages));
    assert!(mock.supports(Operation::ChatCompletions));
}
