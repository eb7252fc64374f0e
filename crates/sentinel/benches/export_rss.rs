//! Peak memory of a large export: fills a SQLite store with synthetic
//! request records, starts Sentinel on it, streams
//! `GET /api/v1/export/requests` to the end (discarding the bytes), and
//! reports the process's peak resident memory during the export alone
//! (the peak is reset through `/proc/self/clear_refs` after the fill).
//!
//! `EXPORT_RECORDS=1000000 cargo bench -p sentinel --bench export_rss`
//! (Linux only; runs each size given, e.g. `EXPORT_RECORDS="100000 1000000"`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark prints its results and fails loudly"
)]

use std::{sync::Arc, time::Instant};

use sentinel::app::{self, AppOptions};
use sentinel_config::ServerConfig;
use sentinel_core::RequestRecord;
use sentinel_store::{AuditContext, MasterKey, Store};

const TOKEN: &str = "sntop_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS (Linux)");
}

fn synthetic(n: usize, org: &str, env: &str, base: i64) -> RequestRecord {
    RequestRecord {
        id: format!("{base:013x}-{n:010}"),
        org_id: org.to_owned(),
        time: base + i64::try_from(n).unwrap(),
        env_id: Some(env.to_owned()),
        env_name: Some("bench".to_owned()),
        app_id: Some("app-0000000000000001".to_owned()),
        app_name: Some("checkout".to_owned()),
        key_id: Some("0123456789abcdef".to_owned()),
        ingress: "chat_completions".to_owned(),
        requested_model: Some("gpt-4o-mini".to_owned()),
        provider: Some("openai-main".to_owned()),
        upstream_model: Some("gpt-4o-mini".to_owned()),
        upstream_status: Some(200),
        status: 200,
        prompt_tokens: Some(812),
        completion_tokens: Some(164),
        total_tokens: Some(976),
        cost_micros: Some(220),
        price_source: Some("builtin".to_owned()),
        latency_ms: 840,
        ttfb_ms: Some(210),
        client_addr: Some("10.1.2.3".to_owned()),
        route_plan: Some("chat".to_owned()),
        config_revision: Some(7),
        ..RequestRecord::default()
    }
}

async fn run(records: usize) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("sentinel.db").display()
    );
    let master_key = MasterKey::generate().to_text();

    let fill_started = Instant::now();
    let store = Store::open(&url, MasterKey::parse(&master_key).unwrap())
        .await
        .unwrap();
    let org = store.ensure_org("default").await.unwrap();
    let env = store
        .create_environment(&org.id, "bench", false, &[], &AuditContext::default())
        .await
        .unwrap();
    let base = 1_764_000_000_000;
    let mut batch = Vec::with_capacity(5000);
    for n in 0..records {
        batch.push(synthetic(n, &org.id, &env.id, base));
        if batch.len() == 5000 {
            store.insert_records(&batch).await.unwrap();
            batch.clear();
        }
    }
    store.insert_records(&batch).await.unwrap();
    store.close().await;
    let fill = fill_started.elapsed();

    let server = ServerConfig {
        gateway_addr: "127.0.0.1:0".parse().unwrap(),
        console_addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        store: Some(url),
        ..ServerConfig::default()
    };
    let env_lookup = move |name: &str| match name {
        "SENTINEL_MASTER_KEY" => Some(master_key.clone()),
        "SENTINEL_BOOTSTRAP_TOKEN" => Some(TOKEN.to_owned()),
        _ => None,
    };
    let running = app::start(AppOptions {
        server,
        demo: false,
        env: Arc::new(env_lookup),
    })
    .await
    .unwrap();

    let before = status_kib("VmRSS:");
    reset_peak();
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let mut response = client
        .get(format!(
            "http://{}/api/v1/export/requests?env=bench&since=0",
            running.console_addr
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (mut bytes, mut lines) = (0u64, 0u64);
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let took = started.elapsed();
    let peak = status_kib("VmHWM:");
    assert_eq!(lines, records as u64, "every record exported");
    println!(
        "records={records:>8} fill={:>6.1}s export={:>6.1}s ({:>7.0} records/s, {:>5} MiB) rss_before={:>4} MiB peak_during_export={:>4} MiB",
        fill.as_secs_f64(),
        took.as_secs_f64(),
        records as f64 / took.as_secs_f64(),
        bytes / (1 << 20),
        before / 1024,
        peak / 1024,
    );
    running.stop().await.unwrap();
}

fn main() {
    let sizes: Vec<usize> = std::env::var("EXPORT_RECORDS")
        .unwrap_or_else(|_| "100000 1000000".to_owned())
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for records in sizes {
        runtime.block_on(run(records));
    }
}
