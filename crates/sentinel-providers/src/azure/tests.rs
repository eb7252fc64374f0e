#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use serde_json::{Value, json};

use super::*;

fn options(value: Value) -> Result<AzureOptions, Vec<ConfigError>> {
    AzureOptions::parse(value.as_object())
}

fn provider(options: AzureOptions, base: &str) -> AzureOpenAi {
    AzureOpenAi {
        base_url: Url::parse(base).unwrap(),
        options,
        auth: (
            HeaderName::from_static("api-key"),
            HeaderValue::from_static("k"),
        ),
        headers: Vec::new(),
        client: HttpSettings::default().build().unwrap(),
    }
}

#[test]
fn options_need_an_api_version_and_know_their_fields() {
    let parsed = options(json!({
        "api_version": "2024-10-21",
        "deployments": {"gpt-4o": "prod-gpt4o"},
        "auth": "entra",
    }))
    .unwrap();
    assert_eq!(parsed.api_version, "2024-10-21");
    assert_eq!(parsed.deployments["gpt-4o"], "prod-gpt4o");
    assert_eq!(parsed.auth, Auth::Entra);
    assert_eq!(
        options(json!({"api_version": "2025-04-01-preview"}))
            .unwrap()
            .auth,
        Auth::ApiKey
    );

    let paths = |value: Value| -> Vec<String> {
        options(value)
            .unwrap_err()
            .into_iter()
            .map(|e| e.path)
            .collect()
    };
    assert_eq!(paths(json!({})), ["options.api_version"]);
    assert_eq!(
        paths(json!({"api_version": "a b"})),
        ["options.api_version"]
    );
    assert_eq!(
        paths(json!({"api_version": "v1", "auth": "password"})),
        ["options.auth"]
    );
    assert_eq!(
        paths(json!({"api_version": "v1", "deployments": {"m": "a/b"}})),
        ["options.deployments.m"]
    );
    assert_eq!(
        paths(json!({"api_version": "v1", "region": "x"})),
        ["options.region"]
    );
}

#[test]
fn urls_name_the_deployment_and_api_version() {
    let opts = options(json!({"api_version": "2024-10-21", "deployments": {"gpt-4o": "prod-4o"}}))
        .unwrap();
    for base in [
        "https://res.openai.azure.com",
        "https://res.openai.azure.com/",
    ] {
        let p = provider(opts.clone(), base);
        assert_eq!(
            p.url(p.deployment("gpt-4o"), Operation::ChatCompletions)
                .as_str(),
            "https://res.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            p.url(
                p.deployment("text-embedding-3-small"),
                Operation::Embeddings
            )
            .as_str(),
            "https://res.openai.azure.com/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21"
        );
    }
    // An unmapped model with characters that need escaping stays one segment.
    let p = provider(opts, "https://res.openai.azure.com");
    assert_eq!(
        p.url(p.deployment("a/b?c"), Operation::ChatCompletions)
            .as_str(),
        "https://res.openai.azure.com/openai/deployments/a%2Fb%3Fc/chat/completions?api-version=2024-10-21"
    );
}

#[test]
fn model_is_read_from_the_body() {
    assert_eq!(model_of(br#"{"model":"gpt-4o","x":1}"#).unwrap(), "gpt-4o");
    assert_eq!(
        model_of(b"{}").unwrap_err().kind,
        ProviderErrorKind::InvalidRequest
    );
}

#[test]
fn error_bodies_match_the_fixtures() {
    let fixture: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/azure/errors.json")).unwrap();
    for case in fixture["cases"].as_array().unwrap() {
        let body = match &case["body"] {
            Value::String(s) => s.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        };
        let status = u16::try_from(case["status"].as_u64().unwrap()).unwrap();
        let out: Value = serde_json::from_slice(&error::to_openai(status, &body)).unwrap();
        assert_eq!(out, case["expected"], "{}", case["name"]);
    }
}
