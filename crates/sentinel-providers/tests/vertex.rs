//! The `vertex` kind against an in-process Vertex AI mock whose token
//! endpoint verifies the service-account JWT: chat, streams, embeddings,
//! errors, and access-token minting and caching.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::{sync::Arc, time::Duration};

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use sentinel_config::{ProviderCatalog, ProviderConfig, RawProvider};
use sentinel_core::Name;
use sentinel_providers::{
    BuildError, Credential, HttpSettings, Operation, Provider, ProviderRegistry, UpstreamBody,
    UpstreamRequest, UpstreamResponse,
};
use sentinel_testkit::google_mock::{Behavior, MockVertex};
use serde_json::{Value, json};

fn config(mock: &MockVertex) -> ProviderConfig {
    ProviderConfig {
        name: Name::parse("vertex-main").unwrap(),
        kind: "vertex".into(),
        base_url: Some(mock.base_url().parse().unwrap()),
        credential: None,
        allow_private_network: true,
        allow_http: true,
        headers: Vec::new(),
        options: serde_json::from_value(json!({
            "project": "mock-project",
            "location": "us-central1",
            "token_url": mock.token_url(),
        }))
        .unwrap(),
    }
}

fn build(mock: &MockVertex, key_file: &str) -> Result<Arc<dyn Provider>, BuildError> {
    ProviderRegistry::standard().build(
        &config(mock),
        Some(Credential::new(key_file)),
        &HttpSettings::default(),
    )
}

fn provider(mock: &MockVertex) -> Arc<dyn Provider> {
    build(mock, &mock.service_account_json()).unwrap()
}

fn chat(stream: bool) -> UpstreamRequest {
    let body = json!({"model": "gemini-2.5-flash", "stream": stream,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "hello"}]});
    UpstreamRequest {
        operation: Operation::ChatCompletions,
        stream,
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

const MODELS: &str = "/v1/projects/mock-project/locations/us-central1/publishers/google/models";

#[tokio::test]
async fn chat_goes_to_the_project_location_path_with_a_minted_token() {
    let mock = MockVertex::start().await;
    let response = provider(&mock).send(chat(false)).await.unwrap();
    assert_eq!(response.status, 200);
    let body = full(response);
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from Gemini"
    );
    assert_eq!(body["usage"]["total_tokens"], 14);
    let calls = mock.calls();
    assert_eq!(
        calls[0].uri,
        format!("{MODELS}/gemini-2.5-flash:generateContent")
    );
    assert_eq!(calls[0].headers["authorization"], "Bearer ya29.mock-1");
    assert_eq!(mock.token_requests(), 1);
}

#[tokio::test]
async fn streams_use_alt_sse_and_translate() {
    let mock = MockVertex::start().await;
    let response = provider(&mock).send(chat(true)).await.unwrap();
    let UpstreamBody::Stream(stream) = response.body else {
        panic!("expected a stream")
    };
    let frames: Vec<Bytes> = stream.map(|f| f.unwrap()).collect().await;
    let text: String = frames
        .iter()
        .map(|f| std::str::from_utf8(f).unwrap())
        .collect();
    assert!(text.contains("\"content\":\"Hello\""));
    assert!(text.contains("\"finish_reason\":\"stop\""));
    assert!(text.contains("\"total_tokens\":14"));
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert_eq!(
        mock.calls()[0].uri,
        format!("{MODELS}/gemini-2.5-flash:streamGenerateContent?alt=sse")
    );
}

#[tokio::test]
async fn embeddings_use_predict_and_report_tokens() {
    let mock = MockVertex::start().await;
    let response = provider(&mock)
        .send(UpstreamRequest {
            operation: Operation::Embeddings,
            stream: false,
            body: Bytes::from(
                json!({"model": "text-embedding-005", "input": ["a b c", "d e"], "dimensions": 5})
                    .to_string(),
            ),
            client_headers: Default::default(),
        })
        .await
        .unwrap();
    let body = full(response);
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 5);
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 5, "total_tokens": 5})
    );
    let call = &mock.calls()[0];
    assert_eq!(call.uri, format!("{MODELS}/text-embedding-005:predict"));
    assert_eq!(
        call.json(),
        json!({"instances": [{"content": "a b c"}, {"content": "d e"}],
               "parameters": {"outputDimensionality": 5}})
    );
}

#[tokio::test]
async fn the_token_is_minted_once_and_again_after_it_expires() {
    let mock = MockVertex::start().await;
    // A 2 s token is refreshed after 1 s (half its lifetime for short tokens).
    mock.set_token_lifetime(2);
    let provider = provider(&mock);
    for _ in 0..3 {
        assert_eq!(provider.send(chat(false)).await.unwrap().status, 200);
    }
    assert_eq!(mock.token_requests(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(provider.send(chat(false)).await.unwrap().status, 200);
    assert_eq!(mock.token_requests(), 2);
    let calls = mock.calls();
    assert_eq!(calls[3].headers["authorization"], "Bearer ya29.mock-2");
}

#[tokio::test]
async fn concurrent_requests_share_one_token_request() {
    let mock = MockVertex::start().await;
    let provider = provider(&mock);
    let sends = (0..8).map(|_| provider.send(chat(false)));
    for response in futures_util::future::join_all(sends).await {
        assert_eq!(response.unwrap().status, 200);
    }
    assert_eq!(mock.token_requests(), 1);
}

#[tokio::test]
async fn a_rejected_token_is_replaced_on_the_next_request() {
    let mock = MockVertex::start().await;
    let provider = provider(&mock);
    assert_eq!(provider.send(chat(false)).await.unwrap().status, 200);
    mock.revoke_tokens();
    let response = provider.send(chat(false)).await.unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(full(response)["error"]["code"], "UNAUTHENTICATED");
    assert_eq!(provider.send(chat(false)).await.unwrap().status, 200);
    assert_eq!(mock.token_requests(), 2);
}

#[tokio::test]
async fn upstream_errors_keep_their_status() {
    let mock = MockVertex::start().await;
    let provider = provider(&mock);
    for (status, code) in [
        (400, "INVALID_ARGUMENT"),
        (429, "RESOURCE_EXHAUSTED"),
        (503, "UNAVAILABLE"),
    ] {
        mock.set_behavior(Behavior::Fail(status));
        let response = provider.send(chat(false)).await.unwrap();
        assert_eq!(response.status, status);
        assert_eq!(full(response)["error"]["code"], code);
    }
}

/// A PKCS#8 PEM for a fresh RSA key the mock does not know.
fn other_key_pem() -> String {
    use aws_lc_rs::encoding::AsDer;
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = key.as_der().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn token_endpoint_refusals_are_clear_errors_without_the_key() {
    let mock = MockVertex::start().await;
    let mut file: Value = serde_json::from_str(&mock.service_account_json()).unwrap();
    let other = other_key_pem();
    file["private_key"] = json!(other);
    let provider = build(&mock, &file.to_string()).unwrap();
    let error = provider.send(chat(false)).await.unwrap_err();
    assert!(
        error.message.contains("vertex token endpoint"),
        "{}",
        error.message
    );
    assert!(error.message.contains("invalid_grant"), "{}", error.message);
    assert!(
        error.message.contains("Invalid JWT Signature"),
        "{}",
        error.message
    );
    assert!(!error.message.contains("PRIVATE KEY"));
    assert!(mock.calls().is_empty());
    assert!(!format!("{provider:?}").contains("PRIVATE"));
}

#[tokio::test]
async fn bad_key_files_fail_the_build_naming_the_field() {
    let mock = MockVertex::start().await;
    for (field, expected) in [
        ("client_email", "no client_email"),
        ("private_key", "no private_key"),
        ("private_key_id", "no private_key_id"),
    ] {
        let mut file: Value = serde_json::from_str(&mock.service_account_json()).unwrap();
        file.as_object_mut().unwrap().remove(field);
        let error = build(&mock, &file.to_string()).unwrap_err();
        let text = error.to_string();
        assert!(text.contains(expected), "{text}");
        assert!(text.contains("vertex-main"), "{text}");
    }
    let error = build(&mock, "{not json").unwrap_err().to_string();
    assert!(error.contains("not a service-account key file"), "{error}");
}

#[test]
fn configuration_is_checked_per_kind() {
    let registry = ProviderRegistry::standard();
    let raw = RawProvider {
        kind: "vertex".into(),
        options: Some(
            serde_json::from_value(json!({"location": "us central", "token_url": "ftp://x"}))
                .unwrap(),
        ),
        ..RawProvider::default()
    };
    let paths: Vec<String> = registry
        .check("vertex", &raw)
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(
        paths,
        vec![
            "options.location",
            "options.token_url",
            "options.project",
            "credential"
        ]
    );
}
