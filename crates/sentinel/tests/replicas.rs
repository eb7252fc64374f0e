//! Several gateway replicas on one PostgreSQL database and one Redis: they
//! share limits, budgets, keys and configuration; a change on one reaches
//! the others through the store's change feed; singleton jobs run on one
//! replica at a time and move when it dies; records survive a store outage.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::{collections::HashSet, time::Duration};

use reqwest::StatusCode;
use sentinel::app::Running;
use sentinel_testkit::tcp_proxy::TcpProxy;
use serde_json::{Value, json};
use support::{Backend, TestApp, UPSTREAM_SECRET, request_id, unique_redis_prefix};

const REDIS: &str = "redis://127.0.0.1:6379";

fn hello(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

fn document(app: &TestApp, policies: &str) -> String {
    format!(
        "providers:\n  upstream:\n    kind: openai\n    base_url: {}\n    credential: secret:upstream-key\n    allow_private_network: true\nroute_plans:\n  chat:\n    models: [gpt-test]\n    targets: [{{ provider: upstream, model: up-model }}]\n  priced:\n    models: [priced]\n    targets: [{{ provider: upstream, model: gpt-4o }}]\npolicies:\n{policies}",
        app.upstream.base_url()
    )
}

/// An app on PostgreSQL with counters in Redis, an environment `prod` with
/// `policies`, and a key that the app serves.
async fn primary(name: &str, policies: &str) -> (TestApp, String, String) {
    let redis = Some((REDIS.to_owned(), unique_redis_prefix(name)));
    let app = TestApp::start_with(Backend::Postgres, redis).await;
    app.create_env("prod", &[]).await;
    app.create_app("prod", "checkout").await;
    app.set_secret("prod", "upstream-key", UPSTREAM_SECRET)
        .await;
    app.apply_config("prod", &document(&app, policies)).await;
    let (key, id) = app.create_key("prod", "checkout").await;
    wait_until_served(&app, &app.gateway, &key).await;
    (app, key, id)
}

/// Polls `{gateway}/v1/models` until the key is accepted.
async fn wait_until_served(app: &TestApp, gateway: &str, key: &str) {
    for _ in 0..400 {
        let response = app
            .http
            .get(format!("{gateway}/v1/models"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{gateway} never accepted the key");
}

fn gateway_url(replica: &Running) -> String {
    format!("http://{}", replica.gateway_addr)
}

async fn chat_at(
    app: &TestApp,
    gateway: &str,
    key: &str,
    body: &Value,
) -> (StatusCode, Value, String) {
    let response = app
        .http
        .post(format!("{gateway}/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let id = request_id(&response);
    (status, response.json().await.unwrap_or(Value::Null), id)
}

/// Three gateways: the app and two replicas.
async fn three(app: &TestApp, key: &str) -> (Vec<String>, Vec<Running>, Vec<tempfile::TempDir>) {
    let mut urls = vec![app.gateway.clone()];
    let mut replicas = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let replica = app.replica(dir.path()).await;
        let url = gateway_url(&replica);
        wait_until_served(app, &url, key).await;
        urls.push(url);
        replicas.push(replica);
        dirs.push(dir);
    }
    (urls, replicas, dirs)
}

async fn stop_all(mut app: TestApp, replicas: Vec<Running>) {
    for replica in replicas {
        replica.stop().await.unwrap();
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limit_holds_across_three_replicas() {
    let (app, key, _) = primary("rpm", "  app/checkout:\n    rate_limit: { rpm: 100 }\n").await;
    let (urls, replicas, _dirs) = three(&app, &key).await;
    // `wait_until_served` used `/v1/models`, which is not rate limited.
    let body = hello("gpt-test");
    let mut allowed = 0;
    let mut limited = 0;
    for n in 0..300 {
        let (status, answer, _) = chat_at(&app, &urls[n % 3], &key, &body).await;
        match status.as_u16() {
            200 => allowed += 1,
            429 => {
                assert_eq!(answer["error"]["code"], "rate_limited", "{answer}");
                limited += 1;
            }
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    // The counter is one Redis key, taken atomically: exactly 100 fit,
    // plus at most one more if the burst straddles a minute boundary (the
    // sliding window weighs the previous minute by its overlap, rounded up).
    assert!(
        (100..=101).contains(&allowed),
        "allowed {allowed} of 300 with rpm 100"
    );
    assert_eq!(allowed + limited, 300);
    stop_all(app, replicas).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_budget_holds_across_three_replicas() {
    // $0.001 a day; each request really costs 58 µUSD and reserves its
    // worst case (about 25 prompt tokens and 10 output tokens of gpt-4o).
    let (app, key, _) = primary(
        "budget",
        "  app/checkout:\n    max_tokens: 10\n    budget: { usd_per_day: \"0.001\" }\n",
    )
    .await;
    let (urls, replicas, _dirs) = three(&app, &key).await;
    let mut body = hello("priced");
    body["max_tokens"] = json!(10);
    let worst_case = {
        let bytes = serde_json::to_vec(&body).unwrap().len() as u64;
        (bytes.div_ceil(4) * 2_500_000 + 10 * 10_000_000).div_ceil(1_000_000)
    };
    // Concurrent requests spread over the three replicas.
    let answers =
        futures_util::future::join_all((0..120).map(|n| chat_at(&app, &urls[n % 3], &key, &body)))
            .await;
    let mut spent = 0;
    let mut refused = 0;
    for (status, answer, id) in &answers {
        match status.as_u16() {
            200 => spent += app.record(id).await["cost_micros"].as_u64().unwrap(),
            429 => {
                assert_eq!(answer["error"]["code"], "budget_exceeded", "{answer}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    assert!(
        refused > 0,
        "a small shared budget must refuse some of 120 requests"
    );
    assert!(
        spent <= 1000 + worst_case,
        "spent {spent} µUSD across replicas against a budget of 1000 (worst case {worst_case})"
    );
    stop_all(app, replicas).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_revoked_on_one_replica_is_refused_by_the_others() {
    // The periodic rebuild is pushed out of the test's reach: only the
    // change feed (LISTEN/NOTIFY) can carry the revocation in time.
    let redis = Some((REDIS.to_owned(), unique_redis_prefix("revoke")));
    let app = TestApp::start_tweaked(
        Backend::Postgres,
        redis,
        std::sync::Arc::new(|server| server.reload_interval_s = 3600),
    )
    .await;
    app.create_env("prod", &[]).await;
    app.create_app("prod", "checkout").await;
    app.set_secret("prod", "upstream-key", UPSTREAM_SECRET)
        .await;
    app.apply_config(
        "prod",
        &document(&app, "  environment:\n    mode: enforce\n"),
    )
    .await;
    let (key, key_id) = app.create_key("prod", "checkout").await;
    wait_until_served(&app, &app.gateway, &key).await;
    let (urls, replicas, _dirs) = three(&app, &key).await;

    // Revoke through replica B's console.
    let revoke = app
        .http
        .post(format!(
            "http://{}/api/v1/environments/prod/keys/{key_id}/revoke",
            replicas[0].console_addr
        ))
        .bearer_auth(support::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    let revoked_at = std::time::Instant::now();

    // Every replica refuses it soon after; the time is printed for the
    // record (BENCHMARKS.md has the measured propagation).
    let mut pending: HashSet<&String> = urls.iter().collect();
    while !pending.is_empty() {
        assert!(
            revoked_at.elapsed() < Duration::from_secs(30),
            "still accepted by {pending:?}: the change feed did not reach them"
        );
        let mut refused = Vec::new();
        for url in &pending {
            if chat_at(&app, url, &key, &hello("gpt-test")).await.0 == StatusCode::UNAUTHORIZED {
                refused.push(*url);
            }
        }
        for url in refused {
            pending.remove(url);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "revocation reached all three replicas in {:?}",
        revoked_at.elapsed()
    );
    stop_all(app, replicas).await;
}

/// The replica's singleton jobs, from its `/readyz`.
async fn jobs(app: &TestApp, replica_console: &str) -> Value {
    let body: Value = app
        .http
        .get(format!("{replica_console}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["jobs"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pruner_moves_when_its_replica_dies() {
    let redis = Some((REDIS.to_owned(), unique_redis_prefix("jobs")));
    let mut app = TestApp::start_with(Backend::Postgres, redis).await;
    let dir = tempfile::tempdir().unwrap();
    let replica = app.replica(dir.path()).await;
    let replica_console = format!("http://{}", replica.console_addr);

    // The app started first and took both jobs; the replica stands by.
    assert_eq!(
        jobs(&app, &app.console).await,
        json!({"pruner": "running", "alerts": "running"})
    );
    assert_eq!(
        jobs(&app, &replica_console).await,
        json!({"pruner": "standby", "alerts": "standby"})
    );
    let metrics = app
        .http
        .get(format!("{replica_console}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sentinel_job_running{job=\"pruner\"} 0"),
        "{metrics}"
    );

    // The holder goes away; its database session ends and the lock with it.
    app.stop().await;
    let mut moved = false;
    for _ in 0..300 {
        if jobs(&app, &replica_console).await == json!({"pruner": "running", "alerts": "running"}) {
            moved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(moved, "the standby replica never took the jobs over");
    replica.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_survive_a_store_outage_without_loss_or_duplicates() {
    let (app, key, _) = primary("outage", "  environment:\n    mode: enforce\n").await;
    let pg: std::net::SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = TcpProxy::start(pg).await;
    let proxied = app
        .store_url
        .clone()
        .unwrap()
        .replace("127.0.0.1:5432", &proxy.addr.to_string());
    assert_ne!(
        proxied,
        app.store_url.clone().unwrap(),
        "the test database URL goes through the proxy"
    );
    let dir = tempfile::tempdir().unwrap();
    let replica = app
        .replica_with(dir.path(), move |server| {
            server.store = Some(proxied.clone())
        })
        .await;
    let url = gateway_url(&replica);
    wait_until_served(&app, &url, &key).await;

    // Traffic before, during and after a 10-second outage of the store, as
    // this replica sees it.
    let mut ids = Vec::new();
    let send = async |ids: &mut Vec<String>, n: usize| {
        for _ in 0..n {
            let (status, answer, id) = chat_at(&app, &url, &key, &hello("gpt-test")).await;
            assert_eq!(status, 200, "{answer}");
            ids.push(id);
        }
    };
    send(&mut ids, 20).await;
    proxy.cut();
    let cut_at = std::time::Instant::now();
    while cut_at.elapsed() < Duration::from_secs(10) {
        send(&mut ids, 10).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proxy.restore();
    send(&mut ids, 20).await;

    // Every record lands exactly once.
    let store = app.store().await;
    let mut found = 0;
    for _ in 0..600 {
        found = count_records(&store, &ids).await;
        if found == ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found, ids.len(), "records lost across the outage");
    let spooled = app
        .http
        .get(format!("http://{}/metrics", replica.console_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        spooled
            .lines()
            .any(|l| l.starts_with("sentinel_records_spooled_total") && !l.ends_with(" 0")),
        "the outage should have spooled records: {spooled}"
    );
    replica.stop().await.unwrap();
    // Stopping replays nothing twice: still exactly one row per request.
    assert_eq!(count_records(&store, &ids).await, ids.len());
    stop_all(app, Vec::new()).await;
}

/// How many rows the store holds for these request ids (the id is the
/// primary key, so a duplicate could only show as an error or a missing row).
async fn count_records(store: &sentinel_store::Store, ids: &[String]) -> usize {
    let org = store.get_org_by_name("default").await.unwrap().unwrap();
    let mut found = 0;
    for id in ids {
        if store.get_record(&org.id, id).await.unwrap().is_some() {
            found += 1;
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn breakers_are_per_replica() {
    // Decided in docs/deploy.md: a breaker opens from the failures its own
    // replica saw. Replica A sees the upstream fail until its breaker opens;
    // replica B has seen nothing and still tries the upstream.
    let redis = Some((REDIS.to_owned(), unique_redis_prefix("breakers")));
    let mut app = TestApp::start_with(Backend::Postgres, redis).await;
    app.create_env("prod", &[]).await;
    app.create_app("prod", "checkout").await;
    app.set_secret("prod", "upstream-key", UPSTREAM_SECRET)
        .await;
    let doc = document(&app, "  environment:\n    mode: enforce\n").replace(
        "    targets: [{ provider: upstream, model: up-model }]\n",
        "    targets: [{ provider: upstream, model: up-model }]\n    retry: { max_attempts: 1 }\n    circuit_breaker: { failure_ratio: 0.5, min_requests: 2, window_s: 60, open_s: 600 }\n",
    );
    app.apply_config("prod", &doc).await;
    let (key, _) = app.create_key("prod", "checkout").await;
    wait_until_served(&app, &app.gateway, &key).await;
    let dir = tempfile::tempdir().unwrap();
    let replica = app.replica(dir.path()).await;
    let b = gateway_url(&replica);
    wait_until_served(&app, &b, &key).await;

    app.upstream
        .set_behavior(sentinel_testkit::openai_mock::Behavior::Fail(500));
    let body = hello("gpt-test");
    let mut opened = false;
    for _ in 0..20 {
        let (_, answer, _) = chat_at(&app, &app.gateway, &key, &body).await;
        if answer["error"]["code"] == "no_healthy_route" {
            opened = true;
            break;
        }
    }
    assert!(opened, "replica A's breaker never opened");
    let calls = app.upstream.calls().len();
    let (status, answer, _) = chat_at(&app, &b, &key, &body).await;
    assert_ne!(
        answer["error"]["code"], "no_healthy_route",
        "B's breaker is its own: {answer}"
    );
    assert!(status.is_server_error(), "{status} {answer}");
    assert_eq!(
        app.upstream.calls().len(),
        calls + 1,
        "B still called the upstream"
    );
    replica.stop().await.unwrap();
    app.stop().await;
}
