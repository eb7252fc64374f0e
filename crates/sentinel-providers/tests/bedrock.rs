//! The `bedrock` kind against an in-process Bedrock Runtime that checks
//! every SigV4 signature independently and answers in Bedrock's wire format.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use sentinel_config::ProviderConfig;
use sentinel_core::Name;
use sentinel_providers::{
    BuildError, Credential, HttpSettings, Operation, Provider, ProviderErrorKind, ProviderRegistry,
    UpstreamBody, UpstreamRequest, UpstreamResponse,
};
use sentinel_testkit::aws_mock::{AwsKeys, BedrockBehavior, MockBedrock};
use serde_json::{Value, json};

const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

fn keys(session_token: Option<&str>) -> AwsKeys {
    AwsKeys {
        access_key_id: "AKIAMOCKMOCKMOCK".into(),
        secret_access_key: "mock/secret+key".into(),
        session_token: session_token.map(str::to_owned),
    }
}

fn config(base_url: Option<&str>, options: Value) -> ProviderConfig {
    ProviderConfig {
        name: Name::parse("aws").unwrap(),
        kind: "bedrock".into(),
        base_url: base_url.map(|u| u.parse().unwrap()),
        credential: None,
        allow_private_network: true,
        allow_http: true,
        headers: Vec::new(),
        options: options.as_object().unwrap().clone(),
    }
}

fn build(mock: &MockBedrock, secret: &str) -> Result<Arc<dyn Provider>, BuildError> {
    ProviderRegistry::standard().build(
        &config(Some(&mock.base_url()), json!({"region": "us-east-1"})),
        Some(Credential::new(secret)),
        &HttpSettings::default(),
    )
}

async fn start(session_token: Option<&str>) -> (MockBedrock, Arc<dyn Provider>) {
    let keys = keys(session_token);
    let mock = MockBedrock::start(keys.clone(), "us-east-1").await;
    let provider = build(&mock, &keys.secret_json()).unwrap();
    (mock, provider)
}

fn chat(body: Value, stream: bool) -> UpstreamRequest {
    UpstreamRequest {
        operation: Operation::ChatCompletions,
        body: Bytes::from(body.to_string()),
        stream,
        client_headers: Default::default(),
    }
}

fn simple(stream: bool) -> Value {
    let mut body = json!({
        "model": MODEL,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}],
        "max_tokens": 100,
    });
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

fn with_tools() -> Value {
    json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "auto",
    })
}

fn full_json(response: UpstreamResponse) -> Value {
    match response.body {
        UpstreamBody::Full(body) => serde_json::from_slice(&body).unwrap(),
        UpstreamBody::Stream(_) => panic!("expected a full body"),
    }
}

/// `(data payloads, error)` of a translated stream.
async fn collect(
    response: UpstreamResponse,
) -> (Vec<String>, Option<sentinel_providers::ProviderError>) {
    let UpstreamBody::Stream(mut stream) = response.body else {
        panic!("expected a stream")
    };
    let mut frames = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(frame) => {
                let text = String::from_utf8(frame.to_vec()).unwrap();
                let data = text
                    .strip_prefix("data: ")
                    .unwrap()
                    .strip_suffix("\n\n")
                    .unwrap();
                frames.push(data.to_owned());
            }
            Err(error) => return (frames, Some(error)),
        }
    }
    (frames, None)
}

#[tokio::test]
async fn converse_answer_becomes_a_chat_completion() {
    let (mock, provider) = start(None).await;
    let response = provider.send(chat(simple(false), false)).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.upstream_request_id.as_deref(),
        Some("mock-request-1")
    );
    let body = full_json(response);
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], MODEL);
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from Bedrock"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16})
    );

    let calls = mock.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].model_id, MODEL);
    assert_eq!(
        calls[0].raw_path,
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    );
    assert!(calls[0].canonical_request.contains("v1%253A0/converse"));
    assert_eq!(
        calls[0].json(),
        json!({"system": [{"text": "Be brief."}],
               "messages": [{"role": "user", "content": [{"text": "Hello?"}]}],
               "inferenceConfig": {"maxTokens": 100}})
    );
}

#[tokio::test]
async fn session_tokens_are_sent_and_signed() {
    let (mock, provider) = start(Some("FwoGZXIvYXdzEMOCK")).await;
    let response = provider.send(chat(simple(false), false)).await.unwrap();
    assert_eq!(response.status, 200);
    let call = &mock.calls()[0];
    assert_eq!(call.headers["x-amz-security-token"], "FwoGZXIvYXdzEMOCK");
    assert!(
        call.canonical_request
            .contains("x-amz-security-token:FwoGZXIvYXdzEMOCK\n")
    );
}

#[tokio::test]
async fn converse_stream_becomes_openai_chunks() {
    let (mock, provider) = start(None).await;
    let response = provider.send(chat(simple(true), true)).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.content_type.as_deref(), Some("text/event-stream"));
    let (frames, error) = collect(response).await;
    assert!(error.is_none(), "{error:?}");
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    assert_eq!(frames.last().unwrap(), "[DONE]");
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello from Bedrock");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 16);
    assert!(mock.calls()[0].streaming);
}

#[tokio::test]
async fn tool_calls_round_trip() {
    let (mock, provider) = start(None).await;
    mock.set_behavior(BedrockBehavior::ToolUse);
    let body = full_json(provider.send(chat(with_tools(), false)).await.unwrap());
    let message = &body["choices"][0]["message"];
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(message["tool_calls"][0]["id"], "tooluse_mock_1");
    assert_eq!(message["tool_calls"][0]["function"]["name"], "get_weather");
    let arguments: Value = serde_json::from_str(
        message["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(arguments, json!({"city": "Paris"}));
    assert_eq!(
        mock.calls()[0].json()["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "get_weather",
            "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}}}],
            "toolChoice": {"auto": {}}})
    );

    // The client sends the call and its result back; the mock checks the
    // turns alternate and that toolConfig accompanies tool blocks.
    let mut follow_up = with_tools();
    follow_up["messages"].as_array_mut().unwrap().extend([
        message.clone(),
        json!({"role": "tool", "tool_call_id": "tooluse_mock_1", "content": "18°C"}),
    ]);
    mock.set_behavior(BedrockBehavior::Text);
    let body = full_json(provider.send(chat(follow_up, false)).await.unwrap());
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from Bedrock"
    );
    let sent = mock.calls()[1].json();
    assert_eq!(
        sent["messages"][2],
        json!({"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_mock_1", "content": [{"text": "18°C"}]}}]})
    );
}

#[tokio::test]
async fn streamed_tool_calls_arrive_as_deltas() {
    let (mock, provider) = start(None).await;
    mock.set_behavior(BedrockBehavior::ToolUse);
    let mut body = with_tools();
    body["stream"] = json!(true);
    let (frames, error) = collect(provider.send(chat(body, true)).await.unwrap()).await;
    assert!(error.is_none(), "{error:?}");
    let chunks: Vec<Value> = frames
        .iter()
        .filter(|f| *f != "[DONE]")
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert_eq!(calls[0][0]["id"], "tooluse_mock_1");
    assert_eq!(calls[0][0]["function"]["name"], "get_weather");
    let arguments: String = calls
        .iter()
        .filter_map(|c| c[0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, "{\"city\":\"Paris\"}");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
    // No include_usage: no usage chunk.
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
}

#[tokio::test]
async fn bedrock_errors_become_openai_errors_with_their_status() {
    let (mock, provider) = start(None).await;
    for (status, error_type, kind) in [
        (400, "ValidationException", "invalid_request_error"),
        (403, "AccessDeniedException", "permission_error"),
        (429, "ThrottlingException", "rate_limit_error"),
        (500, "InternalServerException", "server_error"),
        (503, "ServiceUnavailableException", "server_error"),
    ] {
        mock.set_behavior(BedrockBehavior::Fail {
            status,
            error_type: error_type.into(),
            message: format!("mock {error_type}"),
        });
        for stream in [false, true] {
            let response = provider.send(chat(simple(stream), stream)).await.unwrap();
            assert_eq!(response.status, status);
            assert_eq!(
                full_json(response),
                json!({"error": {"message": format!("mock {error_type}"), "type": kind, "param": null, "code": error_type}}),
                "{error_type} stream={stream}"
            );
        }
    }
}

#[tokio::test]
async fn wrong_secret_key_is_an_invalid_signature() {
    let keys = keys(None);
    let mock = MockBedrock::start(keys.clone(), "us-east-1").await;
    let wrong = AwsKeys {
        secret_access_key: "not-the-secret".into(),
        ..keys
    };
    let provider = build(&mock, &wrong.secret_json()).unwrap();
    let response = provider.send(chat(simple(false), false)).await.unwrap();
    assert_eq!(response.status, 403);
    let body = full_json(response);
    assert_eq!(body["error"]["code"], "InvalidSignatureException");
    assert_eq!(body["error"]["type"], "authentication_error");
    assert!(mock.calls().is_empty());
}

#[tokio::test]
async fn unknown_access_key_is_an_unrecognized_client() {
    let mock = MockBedrock::start(keys(None), "us-east-1").await;
    let other = AwsKeys {
        access_key_id: "AKIAOTHER".into(),
        ..keys(None)
    };
    let provider = build(&mock, &other.secret_json()).unwrap();
    let response = provider.send(chat(simple(false), false)).await.unwrap();
    assert_eq!(response.status, 403);
    assert_eq!(
        full_json(response)["error"]["code"],
        "UnrecognizedClientException"
    );
}

#[tokio::test]
async fn missing_session_token_is_refused() {
    let mock = MockBedrock::start(keys(Some("needed")), "us-east-1").await;
    let provider = build(&mock, &keys(None).secret_json()).unwrap();
    let response = provider.send(chat(simple(false), false)).await.unwrap();
    assert_eq!(response.status, 403);
    assert_eq!(
        full_json(response)["error"]["code"],
        "UnrecognizedClientException"
    );
}

#[tokio::test]
async fn stream_exceptions_end_the_stream_with_an_error() {
    let (mock, provider) = start(None).await;
    mock.set_behavior(BedrockBehavior::StreamException {
        exception_type: "modelStreamErrorException".into(),
    });
    let (frames, error) = collect(provider.send(chat(simple(true), true)).await.unwrap()).await;
    let error = error.expect("stream error");
    assert_eq!(error.kind, ProviderErrorKind::Protocol);
    assert!(
        error.message.contains("modelStreamErrorException"),
        "{}",
        error.message
    );
    assert!(frames.iter().any(|f| f.contains("\"Hel\"")));
    assert!(!frames.iter().any(|f| f == "[DONE]"));
}

#[tokio::test]
async fn corrupt_frames_are_protocol_errors() {
    let (mock, provider) = start(None).await;
    mock.set_behavior(BedrockBehavior::CorruptStream);
    let (_, error) = collect(provider.send(chat(simple(true), true)).await.unwrap()).await;
    let error = error.expect("stream error");
    assert_eq!(error.kind, ProviderErrorKind::Protocol);
    assert!(error.message.contains("CRC"), "{}", error.message);
}

#[tokio::test]
async fn unsupported_features_are_refused_before_sending() {
    let (mock, provider) = start(None).await;
    let mut body = simple(false);
    body["response_format"] = json!({"type": "json_object"});
    let error = provider.send(chat(body, false)).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Unsupported);
    assert_eq!(
        error.message,
        "response_format json_object is not supported by bedrock providers"
    );
    let error = provider
        .send(UpstreamRequest {
            operation: Operation::Embeddings,
            body: Bytes::from(
                json!({"model": "amazon.titan-embed-text-v2:0", "input": "x"}).to_string(),
            ),
            stream: false,
            client_headers: Default::default(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Unsupported);
    assert!(error.message.contains("embeddings"));
    assert!(mock.calls().is_empty());
}

#[test]
fn bad_credential_secrets_fail_the_build_naming_the_field() {
    let http = HttpSettings::default();
    let registry = ProviderRegistry::standard();
    let cfg = config(None, json!({"region": "eu-central-1"}));
    for (secret, field) in [
        (r#"{"secret_access_key": "abc"}"#, "access_key_id"),
        (r#"{"access_key_id": "AKIA"}"#, "secret_access_key"),
    ] {
        let error = registry
            .build(&cfg, Some(Credential::new(secret)), &http)
            .unwrap_err();
        let text = error.to_string();
        assert!(text.contains(field) && text.contains("aws"), "{text}");
        assert!(!text.contains("abc"), "{text}");
    }
    let error = registry.build(&cfg, None, &http).unwrap_err();
    assert!(error.to_string().contains("credential is missing"));
    let error = registry
        .build(
            &config(None, json!({})),
            Some(Credential::new(keys(None).secret_json())),
            &http,
        )
        .unwrap_err();
    assert!(error.to_string().contains("options.region"), "{error}");
    // Without base_url the regional endpoint is used.
    let provider = registry
        .build(&cfg, Some(Credential::new(keys(None).secret_json())), &http)
        .unwrap();
    assert!(format!("{provider:?}").contains("https://bedrock-runtime.eu-central-1.amazonaws.com"));
    assert!(!format!("{provider:?}").contains("mock/secret"));
}
