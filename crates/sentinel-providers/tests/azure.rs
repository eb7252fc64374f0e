//! The `azure_openai` kind against an in-process Azure OpenAI resource.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use sentinel_config::ProviderConfig;
use sentinel_core::Name;
use sentinel_providers::{
    Credential, HttpSettings, Operation, Provider, ProviderRegistry, UpstreamBody, UpstreamRequest,
    UpstreamResponse,
};
use sentinel_testkit::azure_mock::{AzureAuth, AzureBehavior, MockAzure};
use serde_json::{Value, json};

const API_VERSION: &str = "2024-10-21";

fn config(base_url: &str, options: Value) -> ProviderConfig {
    ProviderConfig {
        name: Name::parse("azure").unwrap(),
        kind: "azure_openai".into(),
        base_url: Some(base_url.parse().unwrap()),
        credential: None,
        allow_private_network: true,
        allow_http: true,
        headers: vec![("x-team".into(), "payments".into())],
        options: options.as_object().unwrap().clone(),
    }
}

fn build(mock: &MockAzure, options: Value, secret: &str) -> Arc<dyn Provider> {
    ProviderRegistry::standard()
        .build(
            &config(&mock.base_url(), options),
            Some(Credential::new(secret)),
            &HttpSettings::default(),
        )
        .unwrap()
}

async fn start() -> (MockAzure, Arc<dyn Provider>) {
    let mock = MockAzure::start(
        AzureAuth::ApiKey("az-key".into()),
        API_VERSION,
        &["prod-4o"],
    )
    .await;
    let provider = build(
        &mock,
        json!({"api_version": API_VERSION, "deployments": {"gpt-4o": "prod-4o"}}),
        "az-key",
    );
    (mock, provider)
}

fn chat(stream: bool) -> UpstreamRequest {
    let mut body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "logit_bias": {"1": 2}});
    if stream {
        body["stream"] = json!(true);
    }
    UpstreamRequest {
        operation: Operation::ChatCompletions,
        body: Bytes::from(body.to_string()),
        stream,
        client_headers: Default::default(),
    }
}

fn full_json(response: UpstreamResponse) -> Value {
    match response.body {
        UpstreamBody::Full(body) => serde_json::from_slice(&body).unwrap(),
        UpstreamBody::Stream(_) => panic!("expected a full body"),
    }
}

#[tokio::test]
async fn chat_is_forwarded_to_the_deployment_with_api_key() {
    let (mock, provider) = start().await;
    let request = chat(false);
    let sent = request.body.clone();
    let response = provider.send(request).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.upstream_request_id.as_deref(), Some("mock-apim-1"));
    let body = full_json(response);
    assert_eq!(body["choices"][0]["message"]["content"], "Hello from Azure");
    // Azure's additions pass through.
    assert!(body["prompt_filter_results"].is_array());
    assert_eq!(
        body["choices"][0]["content_filter_results"]["hate"]["filtered"],
        false
    );

    let calls = mock.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].deployment, "prod-4o");
    assert_eq!(calls[0].operation, "chat/completions");
    assert_eq!(calls[0].query, format!("api-version={API_VERSION}"));
    assert_eq!(calls[0].headers["api-key"], "az-key");
    assert_eq!(calls[0].headers["x-team"], "payments");
    assert!(calls[0].headers.get("authorization").is_none());
    // The body is forwarded byte for byte, unknown fields included.
    assert_eq!(calls[0].body, sent);
}

#[tokio::test]
async fn streams_pass_through_with_filter_results() {
    let (_mock, provider) = start().await;
    let response = provider.send(chat(true)).await.unwrap();
    assert_eq!(response.status, 200);
    let UpstreamBody::Stream(mut stream) = response.body else {
        panic!("expected a stream")
    };
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(text.contains("prompt_filter_results"));
    assert!(text.contains("\" from Azure\""));
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn unmapped_models_use_their_own_name_as_deployment() {
    let mock = MockAzure::start(
        AzureAuth::ApiKey("az-key".into()),
        API_VERSION,
        &["text-embedding-3-small"],
    )
    .await;
    let provider = build(&mock, json!({"api_version": API_VERSION}), "az-key");
    let response = provider
        .send(UpstreamRequest {
            operation: Operation::Embeddings,
            body: Bytes::from(json!({"model": "text-embedding-3-small", "input": "x"}).to_string()),
            stream: false,
            client_headers: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        full_json(response)["data"][0]["embedding"],
        json!([0.1, 0.2, 0.3])
    );
    assert_eq!(mock.calls()[0].operation, "embeddings");
    assert_eq!(mock.calls()[0].deployment, "text-embedding-3-small");
}

#[tokio::test]
async fn entra_tokens_go_in_the_authorization_header() {
    let mock = MockAzure::start(
        AzureAuth::Bearer("entra-token".into()),
        API_VERSION,
        &["gpt-4o"],
    )
    .await;
    let provider = build(
        &mock,
        json!({"api_version": API_VERSION, "auth": "entra"}),
        "entra-token",
    );
    let response = provider.send(chat(false)).await.unwrap();
    assert_eq!(response.status, 200);
    let call = &mock.calls()[0];
    assert_eq!(call.headers["authorization"], "Bearer entra-token");
    assert!(call.headers.get("api-key").is_none());
}

#[tokio::test]
async fn wrong_key_is_a_401_in_openai_shape() {
    let mock = MockAzure::start(
        AzureAuth::ApiKey("az-key".into()),
        API_VERSION,
        &["prod-4o"],
    )
    .await;
    let provider = build(
        &mock,
        json!({"api_version": API_VERSION, "deployments": {"gpt-4o": "prod-4o"}}),
        "wrong-key",
    );
    let response = provider.send(chat(false)).await.unwrap();
    assert_eq!(response.status, 401);
    let body = full_json(response);
    assert_eq!(body["error"]["type"], "authentication_error");
    assert_eq!(body["error"]["code"], "401");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Access denied")
    );
    assert!(mock.calls().is_empty());
}

#[tokio::test]
async fn wrong_api_version_and_unknown_deployment_are_404s() {
    let mock = MockAzure::start(AzureAuth::ApiKey("k".into()), API_VERSION, &["prod-4o"]).await;
    let provider = build(&mock, json!({"api_version": "2023-05-15"}), "k");
    let response = provider.send(chat(false)).await.unwrap();
    assert_eq!(response.status, 404);
    assert_eq!(full_json(response)["error"]["type"], "not_found_error");

    let provider = build(&mock, json!({"api_version": API_VERSION}), "k");
    let response = provider.send(chat(false)).await.unwrap();
    assert_eq!(response.status, 404);
    assert_eq!(full_json(response)["error"]["code"], "DeploymentNotFound");
}

#[tokio::test]
async fn content_filter_refusals_keep_their_details() {
    let (mock, provider) = start().await;
    mock.set_behavior(AzureBehavior::ContentFilterPrompt);
    for stream in [false, true] {
        let response = provider.send(chat(stream)).await.unwrap();
        assert_eq!(response.status, 400);
        let body = full_json(response);
        assert_eq!(body["error"]["code"], "content_filter");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], "prompt");
        assert_eq!(
            body["error"]["innererror"]["content_filter_result"]["violence"],
            json!({"filtered": true, "severity": "high"})
        );
    }
}

#[tokio::test]
async fn filtered_completions_finish_with_content_filter() {
    let (mock, provider) = start().await;
    mock.set_behavior(AzureBehavior::ContentFilterCompletion);
    let body = full_json(provider.send(chat(false)).await.unwrap());
    assert_eq!(body["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(
        body["choices"][0]["content_filter_results"]["violence"]["filtered"],
        true
    );
}

#[tokio::test]
async fn throttling_and_server_errors_keep_their_status() {
    let (mock, provider) = start().await;
    for (status, kind) in [
        (429, "rate_limit_error"),
        (500, "server_error"),
        (503, "server_error"),
    ] {
        mock.set_behavior(AzureBehavior::Fail(status));
        let response = provider.send(chat(true)).await.unwrap();
        assert_eq!(response.status, status);
        let expected_wait = (status == 429).then(|| std::time::Duration::from_millis(1500));
        assert_eq!(response.retry_after, expected_wait);
        let body = full_json(response);
        assert_eq!(body["error"]["type"], kind);
        assert_eq!(
            body["error"]["message"],
            format!("mock azure failure {status}")
        );
    }
}

#[test]
fn configuration_errors_name_the_field() {
    let registry = ProviderRegistry::standard();
    let http = HttpSettings::default();
    let error = registry
        .build(
            &config("https://res.openai.azure.com", json!({})),
            Some(Credential::new("k")),
            &http,
        )
        .unwrap_err();
    assert!(error.to_string().contains("options.api_version"), "{error}");
    let error = registry
        .build(
            &config(
                "https://res.openai.azure.com",
                json!({"api_version": API_VERSION}),
            ),
            None,
            &http,
        )
        .unwrap_err();
    assert!(
        error.to_string().contains("credential is missing"),
        "{error}"
    );
}
