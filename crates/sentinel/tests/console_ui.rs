//! The web console in the real process: its pages come from the binary
//! with the configured docs base, a browser-style session works against
//! the live listener (cookie flags, CSRF), and data-plane error bodies link
//! their docs entry when `docs_base_url` is a public site. The browser
//! flows themselves are in tests/console (headless Chromium); the session
//! store on both backends in sentinel-console's API tests.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::sync::Arc;

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, Backend, TestApp};

async fn unknown_model_error(app: &TestApp, key: &str) -> Value {
    let response = app
        .chat(
            Some(key),
            json!({"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_bodies_link_the_public_docs() {
    let mut app = TestApp::start_tweaked(
        Backend::Sqlite,
        None,
        Arc::new(|server| server.docs_base_url = "https://docs.example.com/sentinel".into()),
    )
    .await;
    let (key, _) = app.setup_env("prod", &[]).await;
    let body = unknown_model_error(&app, &key).await;
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(
        body["error"]["doc_url"],
        "https://docs.example.com/sentinel/errors#model_not_found"
    );
    // The console's pages link error codes to the same site.
    let page = app
        .http
        .get(format!("{}/console/", app.console))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"content="https://docs.example.com/sentinel""#),
        "{page}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_work_against_the_live_console() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let (key, _) = app.setup_env("prod", &[]).await;
    // By default the docs are the console's own (private) copy: data-plane
    // bodies carry no link to it.
    let body = unknown_model_error(&app, &key).await;
    assert!(body["error"].get("doc_url").is_none(), "{body}");
    let docs = app
        .http
        .get(format!("{}/console/docs/errors.md", app.console))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("`model_not_found`"));

    let response = app
        .http
        .post(format!("{}/api/v1/session", app.console))
        .json(&json!({ "token": ADMIN_TOKEN }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let pair = cookie.split(';').next().unwrap().to_owned();
    let csrf = response.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let create = |csrf: Option<&str>, name: &str| {
        let mut request = app
            .http
            .post(format!("{}/api/v1/environments", app.console))
            .header(header::COOKIE, &pair)
            .json(&json!({ "name": name }));
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };
    assert_eq!(
        create(None, "forged").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        create(Some(&csrf), "staging").await.unwrap().status(),
        StatusCode::CREATED
    );
    let audit = app
        .admin_ok(
            reqwest::Method::GET,
            "/api/v1/audit?action=session.csrf_rejected",
            None,
        )
        .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1);
    app.stop().await;
}
