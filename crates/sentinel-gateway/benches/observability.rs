//! In-process cost of observability per request, with no OTLP endpoint:
//! counting a finished request record into the gateway's Prometheus
//! metrics (the only metrics work a request does), the request's tracing
//! span under the JSON log subscriber at `info` (what `sentinel serve`
//! installs), and both together; plus the cost of one scrape.
//!
//! `cargo bench -p sentinel-gateway --bench observability`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark prints its results"
)]

use std::time::{Duration, Instant};

use sentinel_core::{AttemptRecord, PolicyFinding, PolicyOutcome, RequestRecord};
use sentinel_gateway::metrics::Metrics;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{name:<44} n={} p50={:>6.2} µs p99={:>6.2} µs",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6,
    );
}

/// A plain answered request: one attempt, tokens, cost, policy allowed.
fn plain(i: usize) -> RequestRecord {
    RequestRecord {
        id: format!("0190f0a0-0000-7000-8000-{i:012}"),
        env_name: Some("prod".into()),
        app_name: Some(format!("app-{}", i % 8)),
        key_id: Some("0123456789abcdef".into()),
        ingress: "chat_completions".into(),
        requested_model: Some("gpt-4o-mini".into()),
        route_plan: Some("chat".into()),
        provider: Some("openai".into()),
        upstream_model: Some("gpt-4o-mini".into()),
        status: 200,
        latency_ms: 42,
        prompt_tokens: Some(120),
        completion_tokens: Some(40),
        total_tokens: Some(160),
        cost_micros: Some(42),
        attempts: vec![AttemptRecord {
            provider: "openai".into(),
            upstream_model: "gpt-4o-mini".into(),
            status: Some(200),
            outcome: "ok".into(),
            latency_ms: 40,
            ..AttemptRecord::default()
        }],
        policy: Some(PolicyOutcome {
            decision: "allowed".into(),
            ..PolicyOutcome::default()
        }),
        ..RequestRecord::default()
    }
}

/// A request that retried, fell back and met a shadow finding.
fn eventful(i: usize) -> RequestRecord {
    let mut record = plain(i);
    let failed = |provider: &str, next: &str| AttemptRecord {
        provider: provider.into(),
        upstream_model: "gpt-4o-mini".into(),
        status: Some(503),
        outcome: "server_error".into(),
        next: Some(next.into()),
        ..AttemptRecord::default()
    };
    record
        .attempts
        .insert(0, failed("azure", "fallback: server_error"));
    record
        .attempts
        .insert(0, failed("azure", "retry: server_error, after 80 ms"));
    if let Some(policy) = record.policy.as_mut() {
        policy.findings.push(PolicyFinding {
            rule: "app/*.max_tokens".into(),
            mode: "shadow".into(),
            message: "m".into(),
        });
    }
    record
}

fn bench_observe(name: &str, metrics: &Metrics, make: fn(usize) -> RequestRecord, n: usize) {
    let records: Vec<RequestRecord> = (0..n).map(make).collect();
    for record in records.iter().take(1000) {
        metrics.observe(record); // warm: every label set registered
    }
    let mut times = Vec::with_capacity(n);
    for record in &records {
        let started = Instant::now();
        metrics.observe(record);
        times.push(started.elapsed());
    }
    report(name, times);
}

/// The span `pipeline::handle` opens around a request, entered and left
/// as an instrumented future would be (twice: a poll and the finish).
fn request_span(id: &str) {
    let span = tracing::info_span!("request", request_id = %id);
    drop(span.enter());
    let _entered = span.enter();
}

fn main() {
    let n = 200_000;
    let metrics = Metrics::new();
    bench_observe("metrics/observe_plain", &metrics, plain, n);
    bench_observe("metrics/observe_retry_fallback", &metrics, eventful, n);

    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let ids: Vec<String> = (0..n)
            .map(|i| format!("0190f0a0-0000-7000-8000-{i:012}"))
            .collect();
        let mut times = Vec::with_capacity(n);
        for id in &ids {
            let started = Instant::now();
            request_span(id);
            times.push(started.elapsed());
        }
        report("tracing/request_span", times);

        let records: Vec<RequestRecord> = (0..n).map(plain).collect();
        let mut times = Vec::with_capacity(n);
        for record in &records {
            let started = Instant::now();
            request_span(&record.id);
            metrics.observe(record);
            times.push(started.elapsed());
        }
        report("observability/span_and_metrics_plain", times);
    });

    let mut times = Vec::with_capacity(100);
    for _ in 0..100 {
        let started = Instant::now();
        std::hint::black_box(metrics.render_for_bench());
        times.push(started.elapsed());
    }
    report("metrics/render (one scrape, 8 applications)", times);
}
