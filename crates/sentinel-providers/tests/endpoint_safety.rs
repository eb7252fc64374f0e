//! Endpoint safety at connect time: a provider whose host name resolves to a
//! loopback, private or metadata address is refused when the connection is
//! made (DNS rebinding), unless the provider allows private networks; and
//! redirects are never followed.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::{net::SocketAddr, sync::Arc};

use bytes::Bytes;
use sentinel_config::ProviderConfig;
use sentinel_core::Name;
use sentinel_providers::{
    HttpSettings, Operation, ProviderErrorKind, ProviderRegistry, UpstreamRequest,
};
use sentinel_testkit::openai_mock::MockOpenAi;

fn provider_config(base_url: &str, allow_private_network: bool) -> ProviderConfig {
    ProviderConfig {
        name: Name::parse("upstream").unwrap(),
        kind: "openai_compatible".into(),
        base_url: Some(base_url.parse().unwrap()),
        credential: None,
        allow_private_network,
        allow_http: true,
        headers: Vec::new(),
        options: serde_json::Map::new(),
    }
}

/// A resolver where every name answers with `ip`, like a rebinding attacker's DNS.
fn resolving_to(ip: &'static str) -> HttpSettings {
    HttpSettings {
        lookup: Arc::new(move |_host: String| {
            Box::pin(async move { Ok(vec![SocketAddr::new(ip.parse().unwrap(), 0)]) })
        }),
        ..HttpSettings::default()
    }
}

fn request() -> UpstreamRequest {
    UpstreamRequest {
        operation: Operation::ChatCompletions,
        body: Bytes::from_static(br#"{"model":"m","messages":[]}"#),
        stream: false,
        client_headers: Default::default(),
    }
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_at_connect_time() {
    let mock = MockOpenAi::start().await;
    let url = format!("http://rebind.example.com:{}/v1", mock.addr.port());
    let registry = ProviderRegistry::standard();

    let mut settings = resolving_to("127.0.0.1");
    let refused = registry
        .build(&provider_config(&url, false), None, &settings)
        .unwrap();
    let error = refused.send(request()).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Connect);
    assert!(error.message.contains("loopback"), "{error}");
    assert!(
        mock.calls().is_empty(),
        "nothing reached the internal address"
    );

    settings.allow_private_network = true;
    let allowed = registry
        .build(&provider_config(&url, true), None, &settings)
        .unwrap();
    assert_eq!(allowed.send(request()).await.unwrap().status, 200);
    assert_eq!(mock.calls().len(), 1);
}

#[tokio::test]
async fn metadata_and_private_answers_are_refused_too() {
    let registry = ProviderRegistry::standard();
    for (ip, rule) in [
        ("169.254.169.254", "metadata"),
        ("10.1.2.3", "private"),
        ("::1", "loopback"),
    ] {
        let provider = registry
            .build(
                &provider_config("http://innocent.example.com/v1", false),
                None,
                &resolving_to(ip),
            )
            .unwrap();
        let error = provider.send(request()).await.unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Connect, "{ip}");
        assert!(
            error.message.contains(rule) || error.message.contains("link-local"),
            "{ip}: {error}"
        );
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    // An upstream that redirects to an internal address gets its 3xx passed
    // back as a failure; the redirect target is never requested.
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            (
                axum::http::StatusCode::FOUND,
                [("location", "http://169.254.169.254/latest/meta-data")],
                "",
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let provider = ProviderRegistry::standard()
        .build(
            &provider_config(&format!("http://{addr}/v1"), true),
            None,
            &HttpSettings {
                allow_private_network: true,
                ..HttpSettings::default()
            },
        )
        .unwrap();
    let response = provider.send(request()).await.unwrap();
    assert_eq!(response.status, 302);
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_bounded_by_the_connect_timeout() {
    // Accepts TCP connections and never answers the TLS handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let provider = ProviderRegistry::standard()
        .build(
            &provider_config(&format!("https://{addr}/v1"), true),
            None,
            &HttpSettings {
                allow_private_network: true,
                connect_timeout: std::time::Duration::from_millis(200),
                ..HttpSettings::default()
            },
        )
        .unwrap();
    let error = tokio::time::timeout(std::time::Duration::from_secs(60), provider.send(request()))
        .await
        .expect("the handshake was not bounded by the connect timeout")
        .unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Timeout, "{error}");
    assert!(error.message.contains("connect timeout"), "{error}");
}
