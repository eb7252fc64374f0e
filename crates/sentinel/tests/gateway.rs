//! The data plane end to end, over real HTTP on real listeners, with an
//! in-process OpenAI-format upstream: on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Method;
use sentinel_testkit::openai_mock::Behavior;
use serde_json::{Value, json};
use support::{Backend, TestApp, UPSTREAM_SECRET, request_id};

fn chat_body() -> Value {
    json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]})
}

async fn non_streaming_chat_is_proxied_and_recorded(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, key_id) = app.setup_env("prod", &[]).await;
    // An unknown field with number text serde would normally reformat.
    let body = json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]});
    let mut raw = body.to_string();
    raw.pop();
    raw.push_str(",\"x_vendor_extension\":{\"depth\":[1.50,2e3]}}");
    let response = app
        .http
        .post(format!("{}/v1/chat/completions", app.gateway))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello from upstream"
    );

    let calls = app.upstream.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        call.json()["model"],
        "up-model",
        "the upstream model replaces the requested one"
    );
    let sent = String::from_utf8(call.body.to_vec()).unwrap();
    assert!(
        sent.contains("\"x_vendor_extension\":{\"depth\":[1.50,2e3]}"),
        "unknown fields pass byte for byte: {sent}"
    );
    assert_eq!(
        call.headers["authorization"],
        format!("Bearer {UPSTREAM_SECRET}")
    );
    let all_headers = format!("{:?}", call.headers);
    assert!(
        !all_headers.contains(&key),
        "the client's key never reaches the upstream"
    );

    let record = app.record(&id).await;
    assert_eq!(record["status"], 200);
    assert_eq!(record["key_id"], key_id.as_str());
    assert_eq!(record["requested_model"], "gpt-test");
    assert_eq!(record["provider"], "upstream");
    assert_eq!(record["upstream_model"], "up-model");
    assert_eq!(record["upstream_status"], 200);
    assert_eq!(record["env_name"], "prod");
    assert_eq!(record["app_name"], "checkout");
    assert_eq!(record["prompt_tokens"], 11);
    assert_eq!(record["completion_tokens"], 3);
    assert_eq!(record["total_tokens"], 14);
    assert_eq!(record["stream"], false);
    assert!(record["latency_ms"].as_i64().unwrap() >= 0);
    app.stop().await;
}

async fn stream_chunks_reach_the_client_before_the_upstream_finishes(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, _) = app.setup_env("prod", &[]).await;
    app.upstream
        .set_behavior(Behavior::HoldStreamAfterFirstChunk);
    let mut body = chat_body();
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let response = app.chat(Some(&key), body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let id = request_id(&response);
    let mut stream = response.bytes_stream();
    // The upstream is holding everything after its first chunk: this only
    // arrives if Sentinel forwards chunks as they come.
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("first chunk arrived while the upstream was still holding the rest")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("\"role\":\"assistant\""));
    app.upstream.release();
    let mut rest = Vec::new();
    while let Some(chunk) = stream.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    let rest = String::from_utf8(rest).unwrap();
    assert!(rest.contains(" from upstream"));
    assert!(rest.ends_with("data: [DONE]\n\n"));

    let record = app.record(&id).await;
    assert_eq!(record["stream"], true);
    assert_eq!(record["stream_completed"], true);
    assert_eq!(record["total_tokens"], 14);
    assert!(record["ttfb_ms"].is_number());
    app.stop().await;
}

async fn streams_record_usage_the_client_did_not_ask_for(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, _) = app.setup_env("prod", &[]).await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let response = app.chat(Some(&key), body).send().await.unwrap();
    let id = request_id(&response);
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("\"usage\":{"),
        "the client did not ask for usage: {text}"
    );
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert_eq!(
        app.upstream.calls()[0].json()["stream_options"]["include_usage"],
        true,
        "Sentinel asked the upstream for usage"
    );
    let record = app.record(&id).await;
    assert_eq!(record["total_tokens"], 14);
    assert_eq!(record["stream_completed"], true);
    app.stop().await;
}

async fn embeddings_and_models(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, _) = app.setup_env("prod", &[]).await;
    let response = app
        .http
        .post(format!("{}/v1/embeddings", app.gateway))
        .bearer_auth(&key)
        .json(&json!({"model": "gpt-test", "input": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"][0]["embedding"], json!([0.1, 0.2, 0.3]));
    assert_eq!(app.upstream.calls()[0].path, "/v1/embeddings");
    let record = app.record(&id).await;
    assert_eq!(record["ingress"], "embeddings");
    assert_eq!(record["prompt_tokens"], 4);

    let response = app
        .http
        .get(format!("{}/v1/models", app.gateway))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gpt-test"]);
    assert_eq!(app.record(&id).await["status"], 200);
    app.stop().await;
}

/// Asserts an OpenAI-shaped error with the request id in body and header,
/// and that a record with the same status and code exists.
async fn expect_error(
    app: &TestApp,
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> Value {
    assert_eq!(response.status(), status, "expected {status} {code}");
    let id = request_id(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["request_id"], id.as_str());
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(body["error"]["type"].is_string());
    let record = app.record(&id).await;
    assert_eq!(record["status"], status);
    assert_eq!(record["error_code"], code);
    record
}

async fn client_errors_are_clear_and_recorded(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, key_id) = app.setup_env("prod", &["prod.gateway.test"]).await;
    let (dev_key, dev_key_id) = app.setup_env("dev", &[]).await;

    // Malformed JSON.
    let response = app
        .http
        .post(format!("{}/v1/chat/completions", app.gateway))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"model\": \"gpt-test\", ")
        .send()
        .await
        .unwrap();
    let record = expect_error(&app, response, 400, "invalid_json").await;
    assert_eq!(record["key_id"], key_id.as_str());

    // Duplicate model fields would let the upstream see a different model.
    let response = app
        .http
        .post(format!("{}/v1/chat/completions", app.gateway))
        .bearer_auth(&key)
        .body(r#"{"model":"gpt-test","model":"other","messages":[]}"#)
        .send()
        .await
        .unwrap();
    expect_error(&app, response, 400, "invalid_request").await;

    // Unknown model.
    let response = app
        .chat(Some(&key), json!({"model": "nope", "messages": []}))
        .send()
        .await
        .unwrap();
    let body = expect_error(&app, response, 404, "model_not_found").await;
    assert_eq!(body["requested_model"], "nope");

    // Missing, unknown and revoked keys.
    let response = app.chat(None, chat_body()).send().await.unwrap();
    expect_error(&app, response, 401, "missing_api_key").await;
    let forged = format!("{}0", &key[..key.len() - 1]);
    let forged = if forged == key {
        format!("{}1", &key[..key.len() - 1])
    } else {
        forged
    };
    let response = app.chat(Some(&forged), chat_body()).send().await.unwrap();
    expect_error(&app, response, 401, "invalid_api_key").await;
    let response = app
        .chat(Some("sk-not-a-sentinel-key"), chat_body())
        .send()
        .await
        .unwrap();
    expect_error(&app, response, 401, "invalid_api_key").await;

    let (doomed, doomed_id) = app.create_key("prod", "checkout").await;
    app.wait_for_model(&doomed, "gpt-test").await;
    app.admin_ok(
        Method::POST,
        &format!("/api/v1/environments/prod/keys/{doomed_id}/revoke"),
        None,
    )
    .await;
    let mut revoked = false;
    // Until the revocation reaches the snapshot, requests still pass.
    let mut passed_before_revocation = 0;
    for _ in 0..200 {
        let response = app.chat(Some(&doomed), chat_body()).send().await.unwrap();
        if response.status() == 401 {
            expect_error(&app, response, 401, "revoked_api_key").await;
            revoked = true;
            break;
        }
        passed_before_revocation += 1;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(revoked, "revocation reached the gateway");

    // A dev key on the prod host.
    let response = app
        .chat(Some(&dev_key), chat_body())
        .header("host", "prod.gateway.test")
        .send()
        .await
        .unwrap();
    let record = expect_error(&app, response, 403, "wrong_environment").await;
    // Recorded where it arrived (the prod host), with the dev key that was used.
    assert_eq!(record["env_name"], "prod");
    assert_eq!(record["key_id"], dev_key_id.as_str());
    // The prod key on its own host works.
    let response = app
        .chat(Some(&key), chat_body())
        .header("host", "prod.gateway.test:443")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Administrative paths do not exist on the gateway listener.
    for path in ["/api/v1/environments", "/api/openapi.json", "/metrics", "/"] {
        let response = app
            .http
            .get(format!("{}{path}", app.gateway))
            .bearer_auth(support::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        expect_error(&app, response, 404, "not_found").await;
    }

    // Oversized bodies.
    let huge = "x".repeat(5 * 1024 * 1024);
    let response = app
        .chat(
            Some(&key),
            json!({"model": "gpt-test", "messages": [{"role": "user", "content": huge}]}),
        )
        .send()
        .await
        .unwrap();
    expect_error(&app, response, 413, "payload_too_large").await;

    assert_eq!(
        app.upstream.calls().len(),
        1 + passed_before_revocation,
        "only valid requests reached the upstream"
    );
    app.stop().await;
}

async fn upstream_failures_map_to_gateway_errors(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, _) = app.setup_env("prod", &[]).await;
    app.upstream.set_behavior(Behavior::Fail(503));
    let response = app.chat(Some(&key), chat_body()).send().await.unwrap();
    let record = expect_error(&app, response, 502, "upstream_error").await;
    assert_eq!(record["upstream_status"], 503);
    assert_eq!(record["attempts"][0]["outcome"], "server_error");
    app.stop().await;
}

async fn records_are_flushed_on_graceful_shutdown(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, _) = app.setup_env("prod", &[]).await;
    let mut ids = Vec::new();
    for _ in 0..25 {
        let response = app.chat(Some(&key), chat_body()).send().await.unwrap();
        assert_eq!(response.status(), 200);
        ids.push(request_id(&response));
    }
    app.stop().await;
    // Reopen the store directly: every record is there.
    let store_url = app.store_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            app.data_dir.path().join("sentinel.db").display()
        )
    });
    let store = sentinel_store::Store::open(
        &store_url,
        sentinel_store::MasterKey::parse(&app.master_key).unwrap(),
    )
    .await
    .unwrap();
    let org = store.get_org_by_name("default").await.unwrap().unwrap();
    for id in &ids {
        assert!(
            store.get_record(&org.id, id).await.unwrap().is_some(),
            "record {id} was lost at shutdown"
        );
    }
    store.close().await;
}

async fn secrets_never_leave_through_any_api(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, _) = app.setup_env("prod", &[]).await;
    let response = app.chat(Some(&key), chat_body()).send().await.unwrap();
    let id = request_id(&response);
    app.record(&id).await;
    let mut seen = String::new();
    for path in [
        "/api/v1/environments",
        "/api/v1/environments/prod",
        "/api/v1/environments/prod/secrets",
        "/api/v1/environments/prod/keys",
        "/api/v1/environments/prod/config",
        "/api/v1/environments/prod/config/revisions",
        "/api/v1/requests",
        &format!("/api/v1/requests/{id}"),
        "/api/v1/audit",
        "/api/openapi.json",
        "/readyz",
    ] {
        let (_, body) = app.admin(Method::GET, path, None).await;
        seen.push_str(&body.to_string());
    }
    let response = app
        .http
        .get(format!("{}/readyz", app.gateway))
        .send()
        .await
        .unwrap();
    seen.push_str(&response.text().await.unwrap());
    assert!(
        !seen.contains(UPSTREAM_SECRET),
        "a provider secret leaked through an API"
    );
    assert!(!seen.contains(&key), "a client key leaked through an API");
    assert!(
        !seen.contains(&key[key.len() - 64..]),
        "a client key's secret part leaked"
    );
    app.stop().await;
}

async fn health_endpoints_on_both_listeners(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    for base in [&app.gateway, &app.console] {
        let response = app
            .http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let response = app.http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ready");
        assert_eq!(body["components"]["snapshot"]["state"], "loaded");
        assert_eq!(body["components"]["store"]["state"], "ok");
        assert_eq!(body["components"]["record_writer"]["state"], "ok");
    }
    app.stop().await;
}

on_both_stores!(
    non_streaming_chat_is_proxied_and_recorded,
    stream_chunks_reach_the_client_before_the_upstream_finishes,
    streams_record_usage_the_client_did_not_ask_for,
    embeddings_and_models,
    client_errors_are_clear_and_recorded,
    upstream_failures_map_to_gateway_errors,
    records_are_flushed_on_graceful_shutdown,
    secrets_never_leave_through_any_api,
    health_endpoints_on_both_listeners,
);
