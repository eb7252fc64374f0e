//! `sentinel providers`: the health of provider endpoints as this replica
//! sees them (circuit-breaker state, counts, the success rate and latency
//! percentiles of recent attempts, recent errors).

use clap::Subcommand;
use serde_json::Value;

use super::{
    client::Client,
    pretty,
    table::{Table, items, text, time},
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Breaker state, recent success rate and latency (last 5 minutes), totals and the latest error of every endpoint.
    Health {
        /// Only endpoints of this environment.
        #[arg(long)]
        env: Option<String>,
    },
}

pub(super) async fn run(client: &Client, command: Command, json: bool) -> anyhow::Result<String> {
    match command {
        Command::Health { env } => {
            let value = client
                .get(&["providers", "health"], &[("env", env)])
                .await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_health(&value)
            })
        }
    }
}

pub(crate) fn render_health(value: &Value) -> String {
    let mut table = Table::new(&[
        "ENVIRONMENT",
        "PROVIDER",
        "MODEL",
        "BREAKER",
        "SUCCESS (5M)",
        "P50",
        "P95",
        "P99",
        "OK",
        "FAILED",
        "LAST CHANGE",
        "LAST ERROR",
    ]);
    for endpoint in items(value) {
        let last_error = endpoint["recent_errors"]
            .as_array()
            .and_then(|errors| errors.last())
            .and_then(|e| e["error"].as_str())
            .unwrap_or("-")
            .chars()
            .take(60)
            .collect::<String>();
        let window = &endpoint["window"];
        let rate = window["success_rate"].as_f64().map_or_else(
            || "-".to_owned(),
            |r| format!("{:.1}% of {}", r * 100.0, text(window, "attempts")),
        );
        let latency = |p: &str| {
            window["latency_ms"][p]
                .as_u64()
                .map_or_else(|| "-".to_owned(), |ms| format!("{ms}ms"))
        };
        table.row(vec![
            text(endpoint, "environment"),
            text(endpoint, "provider"),
            text(endpoint, "model"),
            text(endpoint, "breaker"),
            rate,
            latency("p50"),
            latency("p95"),
            latency("p99"),
            text(endpoint, "successes"),
            text(endpoint, "failures"),
            time(endpoint, "last_transition_at"),
            last_error,
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn health_renders_a_table() {
        let value = json!({"data": [{"environment": "prod", "provider": "openai", "model": "gpt-4o-mini", "breaker": "open",
            "successes": 3, "failures": 20, "last_transition_at": 1_700_000_000_000_i64,
            "recent_errors": [{"time": 1, "error": "status 503"}],
            "window": {"seconds": 300, "attempts": 8, "successes": 6, "success_rate": 0.75,
                       "latency_ms": {"p50": 120, "p95": 900, "p99": 1500}}},
            {"environment": "prod", "provider": "idle", "model": "m", "breaker": "closed",
            "successes": 0, "failures": 0, "recent_errors": [],
            "window": {"seconds": 300, "attempts": 0, "successes": 0, "success_rate": null, "latency_ms": null}}]});
        let out = render_health(&value);
        assert!(
            out.contains("openai") && out.contains("open") && out.contains("status 503"),
            "{out}"
        );
        assert!(out.contains("75.0% of 8    120ms  900ms  1500ms"), "{out}");
        assert!(
            out.contains("closed   -             -      -      -"),
            "{out}"
        );
    }
}
