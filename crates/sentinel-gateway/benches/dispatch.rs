//! In-process cost of the dispatch loop: the happy path through one- and
//! three-target plans, and a plan whose every circuit is open.
//!
//! `cargo bench -p sentinel-gateway --features bench --bench dispatch`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark prints its results"
)]

use std::time::Duration;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{name:<28} n={} p50={:>6.2} µs p99={:>6.2} µs max={:>7.2} µs",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6,
        times.last().unwrap().as_secs_f64() * 1e6,
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        const N: usize = 200_000;
        // Warm up allocators and caches.
        let _ = sentinel_gateway::bench::happy_path(1, 10_000).await;
        report(
            "happy path, 1 target",
            sentinel_gateway::bench::happy_path(1, N).await,
        );
        report(
            "happy path, 3 targets",
            sentinel_gateway::bench::happy_path(3, N).await,
        );
        report(
            "open circuit, 1 target",
            sentinel_gateway::bench::open_circuit(1, N).await,
        );
        report(
            "open circuit, 3 targets",
            sentinel_gateway::bench::open_circuit(3, N).await,
        );
    });
}
