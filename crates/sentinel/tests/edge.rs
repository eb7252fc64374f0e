//! The listeners' edge, end to end: the gateway terminates TLS with a
//! certificate made by the test, and the client address on the request
//! record comes from `X-Forwarded-For` only when a trusted proxy sent it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::sync::Arc;

use sentinel_config::TlsCertConfig;
use serde_json::json;
use support::{Backend, TestApp, request_id};

fn hello() -> serde_json::Value {
    json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hello"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_terminates_tls_with_its_own_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["gateway.example.test".to_owned()]).unwrap();
    let (cert, key) = (certs.path().join("gw.pem"), certs.path().join("gw.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let tls = TlsCertConfig {
        cert,
        key,
        domains: vec!["gateway.example.test".into()],
    };
    let mut app = TestApp::start_tweaked(
        Backend::Sqlite,
        None,
        Arc::new(move |server| server.gateway_tls = vec![tls.clone()]),
    )
    .await;
    let running = app.running.as_ref().unwrap();
    assert_eq!(running.gateway_scheme, "https");
    assert_eq!(running.console_scheme, "http");
    let gateway_addr = running.gateway_addr;
    // Configure through the console (plain http), then talk TLS to the gateway.
    app.create_env("prod", &[]).await;
    app.create_app("prod", "checkout").await;
    app.set_secret("prod", "upstream-key", support::UPSTREAM_SECRET)
        .await;
    app.apply_config("prod", &app.upstream_document()).await;
    let (key, _) = app.create_key("prod", "checkout").await;

    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("gateway.example.test", gateway_addr)
        .tls_certs_only([reqwest::Certificate::from_pem(made.cert.pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let url = format!(
        "https://gateway.example.test:{}/v1/chat/completions",
        gateway_addr.port()
    );
    let mut answer = None;
    for _ in 0..200 {
        let response = client
            .post(&url)
            .bearer_auth(&key)
            .json(&hello())
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            answer = Some(response);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let answer = answer.expect("the gateway answered over TLS");
    let id = request_id(&answer);
    assert_eq!(app.record(&id).await["status"], 200);

    // Plain http to the TLS port does not get a response.
    let plain = app
        .http
        .post(format!("http://{gateway_addr}/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&hello())
        .send()
        .await;
    assert!(
        plain.is_err(),
        "plain http must not be served on a TLS listener"
    );
    app.stop().await;
}

/// Sends a chat request claiming to come from 198.51.100.7; returns the
/// client address its record holds.
async fn recorded_client(app: &TestApp, key: &str) -> serde_json::Value {
    let response = app
        .chat(Some(key), hello())
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.record(&request_id(&response)).await["client_addr"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let mut untrusting = TestApp::start(Backend::Sqlite).await;
    let (key, _) = untrusting.setup_env("prod", &[]).await;
    assert_eq!(recorded_client(&untrusting, &key).await, "127.0.0.1");
    untrusting.stop().await;

    let mut behind_proxy = TestApp::start_tweaked(
        Backend::Sqlite,
        None,
        Arc::new(|server| server.trusted_proxies = vec!["127.0.0.0/8".into()]),
    )
    .await;
    let (key, _) = behind_proxy.setup_env("prod", &[]).await;
    assert_eq!(recorded_client(&behind_proxy, &key).await, "198.51.100.7");
    behind_proxy.stop().await;
}
