//! In-process cost of the policy stage per request: the rules of three
//! scopes, the charges of their limits, and one admission plus settlement
//! on the in-process counters; and the same with no policy in force.
//!
//! `cargo bench -p sentinel-gateway --bench policy`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark prints its results"
)]

use std::time::{Duration, Instant};

use sentinel_gateway::{CounterIds, charges};
use sentinel_limits::{Actual, Counters, Demand, MemoryCounters};
use sentinel_policy::{Api, PolicySet, RequestFacts};

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

fn policies(yaml: &str) -> PolicySet {
    let raw = sentinel_config::parse_document(yaml).unwrap().policies;
    sentinel_policy::compile(&raw).unwrap().0
}

const TYPICAL: &str = r#"
policies:
  environment:
    allowed_models: [gpt-4o-mini, gpt-4o, "claude-*"]
    max_tokens: 4096
    max_body_bytes: 1048576
    required_metadata: [x-end-user-id]
    rate_limit: { rpm: 100000000, tpm: 100000000000, concurrency: 100000 }
    budget: { usd_per_day: 1000000, usd_per_month: 10000000, alert_at: [0.8, 1.0] }
  app/*:
    rate_limit: { rpm: 100000000 }
    budget: { usd_per_day: 100000 }
  key/*:
    mode: shadow
    rate_limit: { rpm: 100000000 }
"#;

async fn one_request(set: &PolicySet, counters: &MemoryCounters, now: i64) {
    let applicable = set.applicable("checkout", "0123456789abcdef");
    if applicable.is_empty() {
        return;
    }
    let has = |name: &str| name == "x-end-user-id";
    let facts = RequestFacts {
        api: Api::ChatCompletions,
        model: "gpt-4o-mini",
        max_tokens: Some(256),
        body_bytes: 600,
        source_ip: None,
        has_header: &has,
    };
    let findings = applicable.check(&facts);
    assert!(findings.is_empty());
    let charges = charges(
        &applicable,
        &CounterIds {
            org_id: "0190f0a0-0000-7000-8000-000000000001",
            env_id: "0190f0a0-0000-7000-8000-000000000002",
            app_id: "0190f0a0-0000-7000-8000-000000000003",
            key_id: "0123456789abcdef",
        },
    );
    if charges.is_empty() {
        return;
    }
    let demand = Demand {
        tokens: 406,
        cost_micros: 2_600,
    };
    let admission = counters
        .admit(&charges, demand, now)
        .await
        .unwrap()
        .unwrap();
    counters.settle(
        admission.lease,
        Actual {
            tokens: Some(120),
            cost_micros: Some(300),
        },
        now,
    );
}

async fn measure(set: &PolicySet, n: usize) -> Vec<Duration> {
    let counters = MemoryCounters::new();
    let start = 1_700_000_000_000;
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        // One request per 100 µs of simulated time.
        let now = start + (i / 10) as i64;
        let t = Instant::now();
        one_request(set, &counters, now).await;
        times.push(t.elapsed());
    }
    times
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        const N: usize = 200_000;
        let typical = policies(TYPICAL);
        let none = PolicySet::default();
        let _ = measure(&typical, 10_000).await;
        report("no policy", measure(&none, N).await);
        report(
            "3 scopes, 6 rules, 8 limits (memory counters)",
            measure(&typical, N).await,
        );
    });
}
