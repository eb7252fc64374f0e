//! Staged rollout: an environment opened to some applications first, and
//! a route plan's canary served to chosen applications and to a share of
//! the others' traffic before it replaces the plan.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use futures_util::StreamExt as _;
use serde_json::{Value, json};
use support::{Backend, TestApp, UPSTREAM_SECRET, request_id};

fn hello() -> Value {
    json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hello"}]})
}

/// The upstream document with a canary on the `chat` plan: `up-canary`
/// instead of `up-model`.
fn document(app: &TestApp, extra_plan: &str, extra_top: &str) -> String {
    format!(
        "providers:\n  upstream:\n    kind: openai\n    base_url: {}\n    credential: secret:upstream-key\n    allow_private_network: true\nroute_plans:\n  chat:\n    models: [gpt-test]\n    targets:\n      - {{ provider: upstream, model: up-model }}\n{extra_plan}{extra_top}",
        app.upstream.base_url()
    )
}

async fn env_with_two_apps(app: &TestApp, doc: &str) -> (String, String) {
    app.create_env("prod", &[]).await;
    app.create_app("prod", "checkout").await;
    app.create_app("prod", "search").await;
    app.set_secret("prod", "upstream-key", UPSTREAM_SECRET)
        .await;
    app.apply_config("prod", doc).await;
    let (checkout, _) = app.create_key("prod", "checkout").await;
    let (search, _) = app.create_key("prod", "search").await;
    (checkout, search)
}

/// Sends a chat request; returns its status, body and record.
async fn send(app: &TestApp, key: &str) -> (u16, Value, Value) {
    let response = app.chat(Some(key), hello()).send().await.unwrap();
    let status = response.status().as_u16();
    let id = request_id(&response);
    let body: Value = response.json().await.unwrap();
    (status, body, app.record(&id).await)
}

/// Polls until `key` is served (200) by the gateway.
async fn wait_served(app: &TestApp, key: &str) {
    for _ in 0..400 {
        if app.chat(Some(key), hello()).send().await.unwrap().status() == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the key was never served");
}

async fn an_environment_opens_to_listed_applications_first(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let doc = document(&app, "", "rollout:\n  open_to: [checkout]\n");
    let (checkout, search) = env_with_two_apps(&app, &doc).await;
    wait_served(&app, &checkout).await;
    // The search key was created after checkout's: until a snapshot holds
    // it, it is unknown (401). Then the rollout refuses it.
    let mut answer = send(&app, &search).await;
    for _ in 0..400 {
        if answer.0 != 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        answer = send(&app, &search).await;
    }
    let (status, body, record) = answer;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "environment_not_open");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("prod") && message.contains("search"),
        "{message}"
    );
    assert!(
        !message.contains("checkout"),
        "the other applications are not named: {message}"
    );
    assert_eq!(record["error_code"], "environment_not_open");
    assert_eq!(record["app_name"], "search");

    // Opening it to everyone is a config change like any other.
    app.apply_config("prod", &document(&app, "", "")).await;
    wait_served(&app, &search).await;
    app.stop().await;
}

async fn a_canary_serves_its_applications_then_is_promoted_or_rolled_back(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let canary = "    canary:\n      applications: [checkout]\n      targets:\n        - { provider: upstream, model: up-canary }\n";
    let (checkout, search) = env_with_two_apps(&app, &document(&app, canary, "")).await;
    wait_served(&app, &checkout).await;
    wait_served(&app, &search).await;
    let (_, _, record) = send(&app, &checkout).await;
    assert_eq!(record["upstream_model"], "up-canary", "{record}");
    assert_eq!(record["route_variant"], "canary");
    assert_eq!(record["route_plan"], "chat");
    let (_, _, record) = send(&app, &search).await;
    assert_eq!(record["upstream_model"], "up-model", "{record}");
    assert!(record.get("route_variant").is_none(), "{record}");

    // Rolled back: the canary removed.
    app.apply_config("prod", &document(&app, "", "")).await;
    let mut rolled_back = false;
    for _ in 0..400 {
        if send(&app, &checkout).await.2["upstream_model"] == "up-model" {
            rolled_back = true;
            break;
        }
    }
    assert!(rolled_back, "the rollback never reached the gateway");

    // Promoted: the canary's targets become the plan's.
    let promoted = document(&app, "", "").replace("up-model", "up-canary");
    app.apply_config("prod", &promoted).await;
    let mut done = false;
    for _ in 0..400 {
        if send(&app, &search).await.2["upstream_model"] == "up-canary" {
            done = true;
            break;
        }
    }
    assert!(done, "the promotion never reached the gateway");
    app.stop().await;
}

on_both_stores!(
    an_environment_opens_to_listed_applications_first,
    a_canary_serves_its_applications_then_is_promoted_or_rolled_back,
);

/// 10,000 requests of an application the canary does not list: about a
/// quarter go to the canary.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_serves_its_share_of_traffic() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let canary = "    canary:\n      share: 0.25\n      targets:\n        - { provider: upstream, model: up-canary }\n";
    let (_, search) = env_with_two_apps(&app, &document(&app, canary, "")).await;
    wait_served(&app, &search).await;
    const N: usize = 10_000;
    let before = app.upstream.calls().len();
    let statuses: Vec<u16> = futures_util::stream::iter(0..N)
        .map(|_| {
            let request = app.chat(Some(&search), hello());
            async move { request.send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(
        statuses.iter().all(|s| *s == 200),
        "every request was served"
    );
    let calls = app.upstream.calls();
    let models: Vec<Value> = calls[before..]
        .iter()
        .map(|c| c.json()["model"].clone())
        .collect();
    let canary_count = models.iter().filter(|m| *m == "up-canary").count();
    let stable_count = models.iter().filter(|m| *m == "up-model").count();
    assert_eq!(
        canary_count + stable_count,
        N,
        "one upstream call per request"
    );
    // Binomial(10000, 0.25): sd ≈ 43; ±250 is almost 6 sd.
    assert!(
        (2_250..=2_750).contains(&canary_count),
        "{canary_count} of {N} went to the canary, expected about 2500"
    );
    app.stop().await;
}
