//! The secrets lifecycle end to end: rotation under live traffic, reuse of
//! a credential across environments, master-key rotation through the
//! binary, and the leak scan over every admin API route, the CLI, exports,
//! error bodies and a real `sentinel serve` process's debug log.
//!
//! `gateway.rs` (`secrets_never_leave_through_any_api`) checks the fixture
//! secret against a fixed list of paths; the scan here walks the console's
//! own route table, so a route added later is covered without editing it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use reqwest::{Method, StatusCode};
use sentinel_store::MasterKey;
use sentinel_testkit::{openai_mock::MockOpenAi, postgres::TestDatabase};
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, Backend, TestApp, UPSTREAM_SECRET};

const BIN: &str = env!("CARGO_BIN_EXE_sentinel");

fn chat_body() -> Value {
    json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]})
}

/// The credential each call the mock received carried.
fn credentials(upstream: &MockOpenAi) -> Vec<String> {
    upstream
        .calls()
        .iter()
        .map(|c| {
            c.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

async fn rotation_under_live_traffic(backend: Backend) {
    const ROTATED: &str = "sk-upstream-ROTATED-41c9e07d";
    let mut app = TestApp::start(backend).await;
    let (key, _) = app.setup_env("prod", &[]).await;
    let old = format!("Bearer {UPSTREAM_SECRET}");
    let new = format!("Bearer {ROTATED}");

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let workers: Vec<Arc<AtomicU64>> = (0..4).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let mut tasks = Vec::new();
    for done in &workers {
        let (http, url, key) = (
            app.http.clone(),
            format!("{}/v1/chat/completions", app.gateway),
            key.clone(),
        );
        let (stop, failures, done) = (stop.clone(), failures.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let response = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&chat_body())
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == StatusCode::OK => {}
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        failures.lock().unwrap().push(format!("{status} {text}"));
                    }
                    Err(error) => failures.lock().unwrap().push(error.to_string()),
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let wait_for = |what: &'static str, check: &dyn Fn() -> bool| {
        let ok = (0..2000).find(|_| {
            if check() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
            false
        });
        assert!(ok.is_some(), "timed out waiting for {what}");
    };
    let total = || {
        workers
            .iter()
            .map(|w| w.load(Ordering::SeqCst))
            .sum::<u64>()
    };
    let upstream = app.upstream.clone();
    tokio::task::block_in_place(|| wait_for("traffic", &|| total() >= 20));

    let rotated = app
        .admin_ok(
            Method::POST,
            "/api/v1/environments/prod/secrets/upstream-key/rotate",
            Some(json!({"value": ROTATED})),
        )
        .await;
    assert_eq!(rotated["version"], 2);
    assert!(!rotated.to_string().contains(ROTATED));

    // The gateway picks the new version up without a restart.
    tokio::task::block_in_place(|| {
        wait_for("the new credential upstream", &|| {
            credentials(&upstream).contains(&new)
        });
    });
    // Every request started from now on uses the new snapshot. Once each
    // worker has finished two more requests, none started before remains
    // in flight, so every later upstream call must carry the new value.
    let seen: Vec<u64> = workers.iter().map(|w| w.load(Ordering::SeqCst)).collect();
    tokio::task::block_in_place(|| {
        wait_for("in-flight requests to finish", &|| {
            workers
                .iter()
                .zip(&seen)
                .all(|(w, s)| w.load(Ordering::SeqCst) >= s + 2)
        });
    });
    let mark = credentials(&upstream).len();
    tokio::task::block_in_place(|| {
        wait_for("traffic after the rotation", &|| {
            credentials(&upstream).len() >= mark + 40
        });
    });
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    let calls = credentials(&upstream);
    assert!(calls.contains(&old), "traffic ran before the rotation");
    assert!(
        calls[mark..].iter().all(|c| *c == new),
        "a call after the rotation carried another credential"
    );
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "requests failed during rotation: {failures:?}"
    );

    let versions = app
        .admin_ok(
            Method::GET,
            "/api/v1/environments/prod/secrets/upstream-key/versions",
            None,
        )
        .await;
    let states: Vec<(i64, &str)> = versions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_i64().unwrap(), v["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [(2, "current"), (1, "retired")]);
    assert!(versions["data"][1]["retired_at"].is_i64());
    app.stop().await;
}

async fn credential_reuse_across_environments(backend: Backend) {
    const SHARED: &str = "sk-shared-CANARY-0b7e44d1";
    let mut app = TestApp::start(backend).await;
    app.create_env("dev", &[]).await;
    app.create_env("prod", &[]).await;
    app.admin_ok(
        Method::PUT,
        "/api/v1/environments/dev/secrets/openai",
        Some(json!({"value": SHARED})),
    )
    .await;
    let (status, body) = app
        .admin(
            Method::PUT,
            "/api/v1/environments/prod/secrets/openai-prod",
            Some(json!({"value": SHARED})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("environment dev") && message.contains("secret openai"),
        "{message}"
    );
    assert!(!body.to_string().contains(SHARED));

    // An operator may not override; an admin may, and it is audited.
    let operator = app
        .admin_ok(
            Method::POST,
            "/api/v1/operators",
            Some(json!({"name": "olga", "role": "operator"})),
        )
        .await;
    let token = operator["token"].as_str().unwrap();
    let response = app
        .http
        .put(format!(
            "{}/api/v1/environments/prod/secrets/openai-prod",
            app.console
        ))
        .bearer_auth(token)
        .json(&json!({"value": SHARED, "allow_reuse": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!response.text().await.unwrap().contains(SHARED));
    app.admin_ok(
        Method::PUT,
        "/api/v1/environments/prod/secrets/openai-prod",
        Some(json!({"value": SHARED, "allow_reuse": true})),
    )
    .await;
    let audit = app
        .admin_ok(
            Method::GET,
            "/api/v1/audit?action=secret.reuse_allowed",
            None,
        )
        .await;
    let events = audit["data"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(events[0]["details"]["also_in_environment"], "dev");
    assert_eq!(events[0]["details"]["also_as_secret"], "openai");

    // Rotating dev away frees the value: prod's copy now blocks dev instead.
    app.admin_ok(
        Method::POST,
        "/api/v1/environments/dev/secrets/openai/rotate",
        Some(json!({"value": "sk-dev-only-5a"})),
    )
    .await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/environments/dev/secrets/openai/rotate",
            Some(json!({"value": SHARED})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("environment prod"), "{body}");
    // Rotate never creates a secret.
    let (status, _) = app
        .admin(
            Method::POST,
            "/api/v1/environments/dev/secrets/nope/rotate",
            Some(json!({"value": "sk-x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

/// Runs `sentinel rotate-master-key` against the app's store.
fn rotate_master_key(app: &TestApp, current: &str, new: &str) -> (bool, String, String) {
    let mut command = Command::new(BIN);
    command
        .args(["rotate-master-key", "--batch", "1", "--data-dir"])
        .arg(app.data_dir.path())
        .env("SENTINEL_MASTER_KEY", current)
        .env("SENTINEL_NEW_MASTER_KEY", new)
        .env_remove("SENTINEL_MASTER_KEY_FILE")
        .env_remove("SENTINEL_NEW_MASTER_KEY_FILE");
    if let Some(url) = &app.store_url {
        command.args(["--store", url]);
    }
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn master_key_rotation(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    let (key, _) = app.setup_env("prod", &[]).await;
    app.set_secret("prod", "spare", "sk-spare-CANARY-c3").await;
    app.stop().await;
    let old = app.master_key.clone();
    let new = MasterKey::generate().to_text();

    // A wrong current key is refused before anything changes.
    let (ok, _, err) = rotate_master_key(&app, &MasterKey::generate().to_text(), &new);
    assert!(!ok);
    assert!(err.contains("cannot be decrypted"), "{err}");
    assert!(!err.contains("CANARY"), "{err}");

    let (ok, out, err) = rotate_master_key(&app, &old, &new);
    assert!(ok, "{err}");
    assert!(out.contains("Re-wrapped 2 data keys"), "{out}");
    assert!(!format!("{out}{err}").contains("CANARY"));
    // Idempotent: a second run finds nothing left to do.
    let (ok, out, err) = rotate_master_key(&app, &old, &new);
    assert!(ok, "{err}");
    assert!(
        out.contains("Re-wrapped 0 data keys") && out.contains("2 were already"),
        "{out}"
    );

    // The old key no longer opens the secrets; the new one serves traffic.
    let store = app.store().await;
    let envs = store
        .list_environments(&store.ensure_org("default").await.unwrap().id)
        .await
        .unwrap();
    let prod = envs.iter().find(|e| e.name == "prod").unwrap();
    assert!(store.reveal_secrets(&prod.org_id, &prod.id).await.is_err());
    store.close().await;
    // Started with the old key by mistake, the environment does not load and
    // readiness says which one.
    app.restart_with_key(&old).await;
    let ready: Value = app
        .http
        .get(format!("{}/readyz", app.gateway))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let problems = ready["components"]["snapshot"]["problems"].to_string();
    assert!(
        problems.contains("prod") && problems.contains("cannot be decrypted"),
        "{ready}"
    );
    assert!(!problems.contains("CANARY") && !problems.contains(UPSTREAM_SECRET));
    app.restart_with_key(&new).await;
    app.wait_for_model(&key, "gpt-test").await;
    let response = app.chat(Some(&key), chat_body()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        credentials(&app.upstream).last().unwrap(),
        &format!("Bearer {UPSTREAM_SECRET}")
    );
    let audit = app
        .admin_ok(
            Method::GET,
            "/api/v1/audit?action=secrets.master_key_rotated",
            None,
        )
        .await;
    assert_eq!(
        audit["data"].as_array().unwrap().len(),
        2,
        "one event per batch"
    );
    app.stop().await;
}

on_both_stores!(
    rotation_under_live_traffic,
    credential_reuse_across_environments,
    master_key_rotation,
);

// ---- the leak scan, against a real `sentinel serve` process ----

const CANARIES: [&str; 3] = [
    "sk-leak-CANARY-one-5d1f0a",
    "sk-leak-CANARY-two-9e2a4b",
    "sk-leak-CANARY-three-77b0c",
];

/// A `sentinel serve` child writing its debug log to a file.
struct Serve {
    child: Child,
    gateway: String,
    console: String,
    _drain: std::thread::JoinHandle<()>,
}

impl Serve {
    fn start(data_dir: &std::path::Path, store: Option<&str>, log: &std::path::Path) -> Self {
        let mut command = Command::new(BIN);
        command
            .args([
                "serve",
                "--gateway-addr",
                "127.0.0.1:0",
                "--console-addr",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data_dir)
            .env("SENTINEL_MASTER_KEY", MasterKey::generate().to_text())
            .env("SENTINEL_BOOTSTRAP_TOKEN", ADMIN_TOKEN)
            .env("SENTINEL_LOG", "debug")
            .env_remove("SENTINEL_MASTER_KEY_FILE")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap());
        if let Some(url) = store {
            command.args(["--store", url]);
        }
        let mut child = command.spawn().unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let (mut gateway, mut console) = (None, None);
        let mut line = String::new();
        while (gateway.is_none() || console.is_none()) && reader.read_line(&mut line).unwrap() > 0 {
            let after = |marker: &str| line.split(marker).nth(1).map(|rest| rest.trim().to_owned());
            gateway = gateway.or_else(|| after("gateway (data plane): "));
            console = console.or_else(|| after("console (operators):  "));
            line.clear();
        }
        let drain = std::thread::spawn(move || {
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        Self {
            child,
            gateway: gateway.expect("the banner names the gateway"),
            console: console.expect("the banner names the console"),
            _drain: drain,
        }
    }

    /// SIGTERM, then wait for a graceful exit so the log is complete.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "serve exited with {status}");
    }
}

/// Runs the CLI against `console`, with `stdin` piped in.
fn cli(console: &str, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("SENTINEL_URL", console)
        .env("SENTINEL_TOKEN", ADMIN_TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

async fn no_secret_value_leaves_any_surface(backend: Backend) {
    let upstream = MockOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDatabase::create().await),
    };
    let log = dir.path().join("serve.log");
    let serve = Serve::start(
        &dir.path().join("data"),
        db.as_ref().map(|d| d.url.as_str()),
        &log,
    );
    let console = serve.console.clone();
    let http = reqwest::Client::builder().build().unwrap();
    let mut seen = String::new();
    let admin = |method: Method, path: String, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{console}{path}"))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let run = |args: &[&str], stdin: Option<&str>, expect_ok: bool, seen: &mut String| {
        let (ok, out) = cli(&console, args, stdin);
        assert_eq!(ok, expect_ok, "sentinel {args:?}: {out}");
        seen.push_str(&out);
    };

    // Set through the CLI, used by the gateway, rotated through the CLI.
    run(&["env", "create", "dev"], None, true, &mut seen);
    run(&["env", "create", "prod"], None, true, &mut seen);
    run(
        &["apps", "create", "--env", "dev", "web"],
        None,
        true,
        &mut seen,
    );
    run(
        &["secrets", "set", "--env", "dev", "upstream-key"],
        Some(CANARIES[0]),
        true,
        &mut seen,
    );
    let document = format!(
        "providers:\n  upstream:\n    kind: openai\n    base_url: {}\n    credential: secret:upstream-key\n    allow_private_network: true\nroute_plans:\n  chat:\n    models: [gpt-test]\n    targets:\n      - {{ provider: upstream, model: up-model }}\n\
         retention: {{ bodies: full }}\n",
        upstream.base_url()
    );
    let (status, text) = admin(
        Method::POST,
        "/api/v1/environments/dev/config".into(),
        Some(json!({"document": document, "message": "routes"})),
    )
    .await;
    assert!(status.is_success(), "{text}");
    let (_, text) = admin(
        Method::POST,
        "/api/v1/environments/dev/keys".into(),
        Some(json!({"application": "web"})),
    )
    .await;
    let created: Value = serde_json::from_str(&text).unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    let chat = || {
        http.post(format!("{}/v1/chat/completions", serve.gateway))
            .bearer_auth(&key)
            .json(&chat_body())
            .send()
    };
    let served_with = |canary: &str| credentials(&upstream).contains(&format!("Bearer {canary}"));
    let mut request_id = String::new();
    for _ in 0..400 {
        let response = chat().await.unwrap();
        if response.status() == 200 && served_with(CANARIES[0]) {
            request_id = support::request_id(&response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(!request_id.is_empty(), "the gateway never used the secret");
    run(
        &["secrets", "rotate", "--env", "dev", "upstream-key"],
        Some(CANARIES[1]),
        true,
        &mut seen,
    );
    let mut used = false;
    for _ in 0..400 {
        if chat().await.unwrap().status() == 200 && served_with(CANARIES[1]) {
            used = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(used, "the gateway never used the rotated secret");

    // Error bodies that had a value in their request.
    let refusals = [
        (
            Method::PUT,
            "/api/v1/environments/prod/secrets/other",
            json!({"value": CANARIES[1]}),
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            "/api/v1/environments/prod/secrets/nope/rotate",
            json!({"value": CANARIES[2]}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PUT,
            "/api/v1/environments/dev/secrets/Bad_Name",
            json!({"value": CANARIES[2]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            "/api/v1/environments/dev/secrets/x",
            json!({"value": CANARIES[2], "extra": CANARIES[2]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            "/api/v1/environments/nope/secrets/x",
            json!({"value": CANARIES[2]}),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, path, body, expected) in refusals {
        let (status, text) = admin(method, path.into(), Some(body)).await;
        assert_eq!(status, expected, "{path}: {text}");
        seen.push_str(&text);
    }
    run(
        &["secrets", "set", "--env", "prod", "other"],
        Some(CANARIES[1]),
        false,
        &mut seen,
    );

    // A verification run of dev: its requests, keys and provider tests go
    // through the log, and its stored run is read by the scan below.
    let (status, text) = admin(Method::POST, "/api/v1/environments/dev/verify".into(), None).await;
    assert!(status.is_success(), "verify: {status} {text}");
    seen.push_str(&text);

    // Every GET route of the console, from its own route table.
    let mut scanned = 0;
    for (method, route) in sentinel_console::ROUTES {
        if *method != "get" {
            continue;
        }
        let path = route
            .replace("{env}", "dev")
            .replace("{name}", "upstream-key")
            .replace("{n}", "1")
            .replace(
                "{id}",
                if route.contains("/keys/") {
                    &key_id
                } else if route.contains("/changes/") {
                    // The config applied above is change request 1.
                    "1"
                } else {
                    &request_id
                },
            );
        assert!(!path.contains('{'), "no value for a parameter of {route}");
        let paths = if path.starts_with("/api/v1/export/") {
            vec![
                format!("{path}?since=0"),
                format!("{path}?since=0&format=csv"),
            ]
        } else {
            vec![path]
        };
        for path in paths {
            let (status, text) = admin(Method::GET, path.clone(), None).await;
            assert!(status.is_success(), "GET {path}: {status} {text}");
            seen.push_str(&text);
            scanned += 1;
        }
    }
    assert!(scanned >= 20, "only {scanned} routes scanned");

    // The CLI's read commands.
    for args in [
        &["secrets", "list", "--env", "dev"][..],
        &["secrets", "versions", "--env", "dev", "upstream-key"],
        &[
            "secrets",
            "versions",
            "--env",
            "dev",
            "upstream-key",
            "--json",
        ],
        &["audit", "list"],
        &["audit", "list", "--json"],
        &["export", "audit", "--since", "0"],
        &["export", "requests", "--env", "dev", "--since", "0"],
        &["config", "export", "--env", "dev"],
        &["requests", "show", &request_id],
    ] {
        run(args, None, true, &mut seen);
    }
    assert!(seen.contains("retired"), "the versions listing was scanned");

    serve.stop();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("DEBUG"),
        "the log was captured at debug level: {}",
        &log[..log.len().min(2000)]
    );
    seen.push_str(&log);
    for canary in CANARIES {
        let tail = &canary[canary.len() - 12..];
        assert!(
            !seen.contains(canary) && !seen.contains(tail),
            "a secret value leaked"
        );
    }
}

mod leak_scan {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        no_secret_value_leaves_any_surface(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        no_secret_value_leaves_any_surface(Backend::Postgres).await;
    }
}
