//! The `sentinel` binary itself: `serve --demo` as a newcomer runs it, and
//! the admin commands against a live server.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};
use support::{ADMIN_TOKEN, Backend, TestApp, request_id};

const BIN: &str = env!("CARGO_BIN_EXE_sentinel");

/// A `sentinel serve` child process, stopped with SIGTERM on drop.
struct Serve {
    child: Child,
    lines: Vec<String>,
    /// Keeps reading stdout so the child never writes to a closed pipe.
    _drain: std::thread::JoinHandle<()>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Starts `sentinel serve --demo` on free ports and reads its banner.
fn serve_demo(data_dir: &std::path::Path) -> Serve {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--demo",
            "--gateway-addr",
            "127.0.0.1:0",
            "--console-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("SENTINEL_MASTER_KEY")
        .env_remove("SENTINEL_BOOTSTRAP_TOKEN")
        .env("SENTINEL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut lines = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        let done = line.starts_with("    curl ");
        lines.push(line.trim_end().to_owned());
        line.clear();
        if done {
            break;
        }
    }
    let drain = std::thread::spawn(move || {
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    Serve {
        child,
        lines,
        _drain: drain,
    }
}

fn value_after<'a>(lines: &'a [String], marker: &str) -> &'a str {
    let line = lines
        .iter()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no {marker:?} in {lines:#?}"));
    line.split(marker)
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prints_a_curl_line_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let serve = serve_demo(dir.path());
    let gateway = value_after(&serve.lines, "gateway (data plane): ").to_owned();
    let console = value_after(&serve.lines, "console (operators):  ").to_owned();
    let token = value_after(&serve.lines, "export SENTINEL_TOKEN=").to_owned();
    let key = serve
        .lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("snt_dev_"))
        .unwrap()
        .to_owned();
    assert!(
        serve
            .lines
            .iter()
            .any(|l| l.contains("A NEW MASTER KEY WAS GENERATED")),
        "the generated key is announced loudly"
    );

    // The printed curl line, run as printed.
    let curl = serve.lines.last().unwrap().trim().to_owned();
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("{curl} -i"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("x-sentinel-request-id: "));
    assert!(text.contains("echo: hello"), "{text}");

    // Streaming through the demo too.
    let http = reqwest::Client::builder().build().unwrap();
    let body = http
        .post(format!("{gateway}/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "demo", "stream": true, "messages": [{"role": "user", "content": "one two three"}]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");

    // The admin token works with the CLI.
    let output = Command::new(BIN)
        .args(["env", "list"])
        .env("SENTINEL_URL", &console)
        .env("SENTINEL_TOKEN", &token)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("dev"));
    drop(serve);

    // A second start reuses the data: no new admin token, a new demo key, the old one still works.
    let again = serve_demo(dir.path());
    assert!(
        !again.lines.iter().any(|l| l.contains("SENTINEL_TOKEN=")),
        "the admin token is shown only once"
    );
    assert!(!again.lines.iter().any(|l| l.contains("A NEW MASTER KEY")));
    let gateway = value_after(&again.lines, "gateway (data plane): ").to_owned();
    let response = http
        .post(format!("{gateway}/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "demo", "messages": [{"role": "user", "content": "still here"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let _ = request_id(&response);
}

/// Runs the CLI against `app`, with `stdin` piped in.
fn cli(app: &TestApp, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    cli_as(app, ADMIN_TOKEN, args, stdin)
}

/// [`cli`] with another operator's token.
fn cli_as(
    app: &TestApp,
    token: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("SENTINEL_URL", &app.console)
        .env("SENTINEL_TOKEN", token)
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
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_drive_a_live_server() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let app_ref = &app;
    let run = |args: &'static [&'static str], stdin: Option<&'static str>| {
        let (ok, out, err) = cli(app_ref, args, stdin);
        assert!(ok, "sentinel {args:?} failed: {err}");
        out
    };
    run(
        &["env", "create", "staging", "--host", "staging.gw.test"],
        None,
    );
    run(&["apps", "create", "--env", "staging", "web"], None);
    run(
        &["secrets", "set", "--env", "staging", "upstream-key"],
        Some(support::UPSTREAM_SECRET),
    );
    let listed = run(&["secrets", "list", "--env", "staging"], None);
    assert!(listed.contains("upstream-key") && !listed.contains(support::UPSTREAM_SECRET));

    let doc = app.data_dir.path().join("staging.yaml");
    std::fs::write(&doc, app.upstream_document()).unwrap();
    let doc = doc.to_str().unwrap().to_owned();
    let (ok, out, err) = cli(
        &app,
        &["config", "plan", "--env", "staging", "-f", &doc],
        None,
    );
    assert!(ok, "{err}");
    assert!(!out.is_empty());
    let (ok, _, err) = cli(
        &app,
        &[
            "config",
            "apply",
            "--env",
            "staging",
            "-f",
            &doc,
            "-m",
            "first routes",
        ],
        None,
    );
    assert!(ok, "{err}");
    let exported = run(&["config", "export", "--env", "staging"], None);
    assert_eq!(
        exported.trim_end(),
        app.upstream_document().trim_end(),
        "export prints the document as applied"
    );

    // An invalid document is refused with field paths, and nothing is applied.
    std::fs::write(app.data_dir.path().join("bad.yaml"), "route_plans:\n  chat:\n    models: [x]\n    targets:\n      - { provider: nope, model: m }\n").unwrap();
    let bad = app
        .data_dir
        .path()
        .join("bad.yaml")
        .to_str()
        .unwrap()
        .to_owned();
    let (ok, out, err) = cli(
        &app,
        &[
            "config", "apply", "--env", "staging", "-f", &bad, "-m", "broken",
        ],
        None,
    );
    assert!(!ok);
    assert!(
        format!("{out}{err}").contains("route_plans.chat.targets[0].provider"),
        "{out}{err}"
    );

    let (ok, out, err) = cli(
        &app,
        &[
            "keys", "create", "--env", "staging", "--app", "web", "--json",
        ],
        None,
    );
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(&out).unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("snt_staging_"));
    app.wait_for_model(&key, "gpt-test").await;
    let response = app
        .chat(Some(&key), json!({"model": "gpt-test", "messages": []}))
        .header("host", "staging.gw.test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    app.record(&id).await;

    let (ok, out, err) = cli(&app, &["requests", "show", &id], None);
    assert!(ok, "{err}");
    assert!(out.contains(&id) && out.contains("gpt-test"), "{out}");
    let (ok, out, err) = cli(
        &app,
        &["requests", "search", "--env", "staging", "--json"],
        None,
    );
    assert!(ok, "{err}");
    assert!(out.contains(&id));

    let key_id = created["id"].as_str().unwrap();
    let (ok, _, err) = cli(&app, &["keys", "revoke", "--env", "staging", key_id], None);
    assert!(ok, "{err}");
    let audit = run(&["audit", "list"], None);
    for action in [
        "environment.create",
        "application.create",
        "secret.set",
        "config.apply",
        "key.create",
        "key.revoke",
    ] {
        assert!(audit.contains(action), "audit lacks {action}: {audit}");
    }
    let health = run(&["providers", "health", "--env", "staging"], None);
    assert!(
        health.contains("BREAKER") && health.contains("upstream"),
        "{health}"
    );
    let verified = run(&["audit", "verify"], None);
    assert!(!verified.is_empty());

    // Errors name the server's code and the request id.
    let (ok, _, err) = cli(&app, &["apps", "create", "--env", "no-such-env", "x"], None);
    assert!(!ok);
    assert!(err.contains("not_found"), "{err}");
    app.stop().await;
    let _ = Duration::ZERO;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_explain_and_simulate_on_a_live_server() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let (key, key_id) = app.setup_env("prod", &[]).await;
    let with_policy = format!(
        "{}policies:\n  environment:\n    max_tokens: 100\n",
        app.upstream_document()
    );
    app.apply_config("prod", &with_policy).await;
    let ask = |max_tokens: u32| {
        app.chat(
            Some(&key),
            json!({"model": "gpt-test", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]}),
        )
    };
    // Wait for the policy to be live; replay only what follows.
    for _ in 0..200 {
        if ask(500).send().await.unwrap().status() == 403 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    // Recorded traffic: five requests, two of them asking for 500 tokens.
    for n in 0..5 {
        let max_tokens = if n < 2 { 500 } else { 50 };
        let response = app
            .chat(
                Some(&key),
                json!({"model": "gpt-test", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]}),
            )
            .send()
            .await
            .unwrap();
        let id = request_id(&response);
        let _ = app.record(&id).await;
    }

    let (ok, out, err) = cli(
        &app,
        &[
            "policy", "explain", "--env", "prod", "--key", &key_id, "--model", "gpt-test",
            "--tokens", "500",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(
        out.starts_with("decision: denied (rule environment.max_tokens)"),
        "{out}"
    );
    assert!(out.contains("REFUSE"), "{out}");
    assert!(!out.contains(&key), "the key itself never appears");

    // A candidate that caps output at 40 tokens would refuse all five;
    // three of them were allowed when recorded.
    let candidate = format!(
        "{}policies:\n  environment:\n    max_tokens: 40\n",
        app.upstream_document()
    );
    let (ok, out, err) = cli(
        &app,
        &[
            "policy", "simulate", "--env", "prod", "--since", &since, "-f", "-",
        ],
        Some(&candidate),
    );
    assert!(ok, "{err}");
    assert!(out.contains("replayed 5 of 5 records"), "{out}");
    assert!(out.contains("allowed -> refused: 3"), "{out}");
    assert!(out.contains("environment.max_tokens"), "{out}");
    // Piped: no progress bar on standard error.
    assert!(!err.contains("records ("), "{err}");

    let (ok, out, _) = cli(
        &app,
        &[
            "policy", "simulate", "--env", "prod", "--since", &since, "-f", "-", "--json",
        ],
        Some(&candidate),
    );
    assert!(ok);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["newly_refused"], 3);
    assert_eq!(report["rules"][0]["requests"], 5);

    // A broken candidate names the field.
    let (ok, _, err) = cli(
        &app,
        &["policy", "simulate", "--env", "prod", "-f", "-"],
        Some("policies:\n  environment:\n    max_tokens: 0\n"),
    );
    assert!(!ok);
    assert!(err.contains("policies.environment.max_tokens"), "{err}");
    app.stop().await;
}

/// The review workflow as an operator drives it: a change pending in a
/// protected environment, self-approval refused, approval and apply by a
/// second operator, history, rollback, and a promotion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_workflow_from_the_command_line() {
    let mut app = TestApp::start(Backend::Sqlite).await;
    let run_as = |token: &str, args: &[&str], stdin: Option<&str>| {
        let (ok, out, err) = cli_as(&app, token, args, stdin);
        assert!(ok, "sentinel {args:?} failed: {err}");
        out
    };
    let run = |args: &[&str], stdin: Option<&str>| run_as(ADMIN_TOKEN, args, stdin);
    run(&["env", "create", "prod", "--protected"], None);
    run(&["env", "create", "staging"], None);
    for env in ["prod", "staging"] {
        run(
            &["secrets", "set", "--env", env, "upstream-key"],
            Some(&format!("{}-{env}", support::UPSTREAM_SECRET)),
        );
    }
    let created: Value = serde_json::from_str(&run(
        &["operators", "create", "ada", "--role", "approver", "--json"],
        None,
    ))
    .unwrap();
    let ada = created["token"].as_str().unwrap().to_owned();
    let document = |model: &str| {
        format!(
            "{}    allow_http: true\nroute_plans:\n  chat:\n    models: [gpt-test]\n    targets:\n      - {{ provider: upstream, model: {model} }}\n",
            app.upstream_document()
                .split("route_plans:")
                .next()
                .unwrap()
        )
    };

    let out = run(
        &["config", "apply", "--env", "prod", "-f", "-", "-m", "first"],
        Some(&document("one")),
    );
    assert!(
        out.starts_with("change request 1 of prod is pending"),
        "{out}"
    );
    let (ok, _, err) = cli(&app, &["changes", "approve", "--env", "prod", "1"], None);
    assert!(!ok);
    assert!(err.contains("an approver other than its author"), "{err}");
    let out = run(&["changes", "list", "--env", "prod"], None);
    assert!(
        out.starts_with("ID  STATUS   KIND   BASE  AUTHOR  APPROVED"),
        "{out}"
    );
    let out = run(&["changes", "show", "--env", "prod", "1"], None);
    assert!(
        out.contains("+      - { provider: upstream, model: one }"),
        "{out}"
    );
    let out = run_as(&ada, &["changes", "approve", "--env", "prod", "1"], None);
    assert!(out.contains("is approved by ada"), "{out}");
    let out = run(&["changes", "apply", "--env", "prod", "1"], None);
    assert!(
        out.starts_with("change request 1 applied as revision 1 of prod"),
        "{out}"
    );

    run(
        &[
            "config", "apply", "--env", "prod", "-f", "-", "-m", "second",
        ],
        Some(&document("two")),
    );
    let out = run_as(
        &ada,
        &["changes", "approve", "--env", "prod", "2", "--apply"],
        None,
    );
    assert!(
        out.starts_with("change request 2 applied as revision 2"),
        "{out}"
    );
    let out = run(&["config", "history", "--env", "prod"], None);
    assert!(out.starts_with("REVISION  CREATED"), "{out}");
    assert!(out.contains("PARENT") && out.contains("second"), "{out}");
    let out = run(&["config", "rollback", "--env", "prod", "--to", "1"], None);
    assert!(
        out.starts_with("change request 3 of prod is pending"),
        "{out}"
    );
    let (ok, _, err) = cli(
        &app,
        &[
            "changes", "reject", "--env", "prod", "3", "--reason", "not now",
        ],
        None,
    );
    assert!(ok, "an author withdraws their own request: {err}");

    let out = run(
        &[
            "config", "apply", "--env", "staging", "-f", "-", "-m", "staging",
        ],
        Some(&document("three")),
    );
    assert!(
        out.starts_with("environment: staging\nrevision:    1\n"),
        "{out}"
    );
    let out = run(
        &[
            "promote",
            "--from",
            "staging",
            "--to",
            "prod",
            "--only",
            "route_plans",
        ],
        None,
    );
    assert!(
        out.starts_with("change request 4 of prod is pending"),
        "{out}"
    );
    let (ok, _, err) = cli(
        &app,
        &[
            "promote", "--from", "staging", "--to", "prod", "--only", "secrets",
        ],
        None,
    );
    assert!(!ok);
    assert!(
        err.contains("only: \"secrets\" cannot be promoted"),
        "{err}"
    );
    app.stop().await;
}
