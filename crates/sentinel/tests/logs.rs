//! Secrets never reach the logs: a real `sentinel serve` process at debug
//! level, given a provider secret and a client key, used for good and failing
//! requests and admin calls, writes neither to its log.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::Duration,
};

use sentinel_testkit::openai_mock::{Behavior, MockOpenAi};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_sentinel");
const CANARY: &str = "sk-LOG-CANARY-6b1f0e9d";
const TOKEN: &str = "sntop_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_keys_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("sentinel.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--gateway-addr",
            "127.0.0.1:0",
            "--console-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("SENTINEL_LOG", "debug")
        .env("SENTINEL_LOG_FORMAT", "json")
        .env("SENTINEL_BOOTSTRAP_TOKEN", TOKEN)
        .env_remove("SENTINEL_MASTER_KEY")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut gateway = String::new();
    let mut console = String::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.trim().strip_prefix("gateway (data plane): ") {
            gateway = rest.to_owned();
        }
        if let Some(rest) = line.trim().strip_prefix("console (operators):  ") {
            console = rest.to_owned();
            break;
        }
        line.clear();
    }
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));

    let upstream = MockOpenAi::start().await;
    let http = reqwest::Client::builder().build().unwrap();
    let admin = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{console}/api/v1{path}"))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    admin(
        reqwest::Method::POST,
        "/environments",
        Some(json!({"name": "prod"})),
    )
    .await
    .unwrap();
    admin(
        reqwest::Method::POST,
        "/environments/prod/applications",
        Some(json!({"name": "web"})),
    )
    .await
    .unwrap();
    // The secret goes in through the CLI, as an operator would set it.
    let mut cli = Command::new(BIN)
        .args(["secrets", "set", "--env", "prod", "upstream"])
        .env("SENTINEL_URL", &console)
        .env("SENTINEL_TOKEN", TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    cli.stdin
        .take()
        .unwrap()
        .write_all(CANARY.as_bytes())
        .unwrap();
    assert!(cli.wait().unwrap().success());
    let document = format!(
        "providers:\n  up:\n    kind: openai\n    base_url: {}\n    credential: secret:upstream\n    allow_private_network: true\nroute_plans:\n  r:\n    models: [m]\n    targets: [{{ provider: up, model: m }}]\n",
        upstream.base_url()
    );
    admin(
        reqwest::Method::POST,
        "/environments/prod/config",
        Some(json!({"document": document, "message": "m"})),
    )
    .await
    .unwrap();
    let key: Value = admin(
        reqwest::Method::POST,
        "/environments/prod/keys",
        Some(json!({"application": "web"})),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let key = key["key"].as_str().unwrap().to_owned();

    let chat = |key: String| {
        http.post(format!("{gateway}/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    let mut served = false;
    for _ in 0..200 {
        if chat(key.clone()).await.unwrap().status() == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(served);
    // Failing paths log the most: a wrong key, an upstream that fails.
    let last = if key.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &key[..key.len() - 1]);
    chat(wrong).await.unwrap();
    upstream.set_behavior(Behavior::Fail(401));
    let failed = chat(key.clone()).await.unwrap();
    let failed_id = failed.headers()["x-sentinel-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    child.wait().unwrap();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("sentinel is serving"),
        "the log was captured: {logs}"
    );
    assert!(!logs.contains(CANARY), "a provider secret reached the log");
    assert!(
        !logs.contains(&key[key.len() - 64..]),
        "a client key reached the log"
    );
    assert!(
        !logs.contains(&TOKEN[6..]),
        "an operator token reached the log"
    );
    // Every line logged while the gateway handled a request carries its id,
    // from the request's span when the line does not name it itself.
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let in_request: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s["name"] == "request"))
        })
        .collect();
    let gateway_lines = lines.iter().filter(|l| {
        l["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("sentinel_gateway::pipeline"))
    });
    for line in gateway_lines {
        assert!(
            line["span"]["request_id"].is_string(),
            "a request's log line without its request id: {line}"
        );
    }
    let of_failed: Vec<&&Value> = in_request
        .iter()
        .filter(|l| l["span"]["request_id"] == failed_id.as_str())
        .collect();
    assert!(
        of_failed.len() >= 2,
        "the failed request's lines carry its id: {of_failed:?}"
    );
    assert!(
        of_failed.iter().any(|l| !l["target"]
            .as_str()
            .unwrap()
            .starts_with("sentinel_gateway")),
        "lines of other crates logged during the request carry its id too: {of_failed:?}"
    );
    assert_eq!(
        upstream.calls().last().unwrap().headers["authorization"],
        format!("Bearer {CANARY}")
    );
}
