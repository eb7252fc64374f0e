//! `sentinel providers`: the health of provider endpoints as this replica
//! sees them (circuit-breaker state, counts, the success rate and latency
//! percentiles of recent attempts, recent errors), and connectivity tests
//! (`providers test`): one minimal call per provider and model, provider by
//! provider, each outcome printed as it arrives (with a progress bar on a
//! terminal; a plain table when piped).

use std::io::IsTerminal as _;

use clap::Subcommand;
use serde_json::{Value, json};

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
    /// Make one minimal call (max_tokens 1) to each provider and model of an
    /// environment's route plans and record the outcomes.
    Test {
        #[arg(long)]
        env: String,
        /// Only this provider.
        #[arg(long, conflicts_with = "all")]
        provider: Option<String>,
        /// Every provider (the default).
        #[arg(long)]
        all: bool,
    },
    /// The latest test outcome of each provider and model.
    Tests {
        #[arg(long)]
        env: String,
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
        Command::Test { env, provider, .. } => test(client, &env, provider, json).await,
        Command::Tests { env } => {
            let value = client
                .get(&["environments", &env, "providers", "tests"], &[])
                .await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_tests(&value)
            })
        }
    }
}

/// Tests provider by provider, so each outcome shows as soon as it is known.
async fn test(
    client: &Client,
    env: &str,
    provider: Option<String>,
    json: bool,
) -> anyhow::Result<String> {
    let listed = client
        .get(&["environments", env, "providers", "tests"], &[])
        .await?;
    let targets = listed["targets"].as_array().cloned().unwrap_or_default();
    let mut providers: Vec<String> = match provider {
        Some(p) => vec![p],
        None => targets
            .iter()
            .filter_map(|t| t["provider"].as_str().map(str::to_owned))
            .collect(),
    };
    providers.dedup();
    if providers.is_empty() {
        anyhow::bail!(
            "environment {env:?} has no provider to test (no route plan, or the gateway has not loaded it)"
        );
    }
    let terminal = !json && std::io::stderr().is_terminal();
    let bar = if terminal {
        let bar = indicatif::ProgressBar::new(targets.len().max(providers.len()) as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} models")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut outcomes = Vec::new();
    for name in &providers {
        bar.set_message(format!("testing {name}"));
        let answer = client
            .post(
                &["environments", env, "providers", "test"],
                &json!({ "provider": name }),
            )
            .await?;
        for outcome in items(&answer) {
            if terminal {
                bar.println(outcome_line(outcome));
            }
            bar.inc(1);
            outcomes.push(outcome.clone());
        }
    }
    bar.finish_and_clear();
    let failed = outcomes.iter().filter(|o| o["ok"] != true).count();
    let all = json!({ "data": outcomes });
    Ok(if json {
        pretty(&all)
    } else if terminal {
        format!("{} tested, {failed} failed\n", outcomes.len())
    } else {
        render_tests(&all)
    })
}

fn outcome_line(outcome: &Value) -> String {
    format!(
        "{} {}/{}  {}  {}ms{}",
        if outcome["ok"] == true {
            "ok    "
        } else {
            "FAILED"
        },
        text(outcome, "provider"),
        text(outcome, "model"),
        text(outcome, "status"),
        text(outcome, "latency_ms"),
        outcome["error"]
            .as_str()
            .map(|e| format!("  {e}"))
            .unwrap_or_default()
    )
}

pub(crate) fn render_tests(value: &Value) -> String {
    let mut table = Table::new(&[
        "PROVIDER", "MODEL", "RESULT", "STATUS", "LATENCY", "TESTED", "ERROR",
    ]);
    for outcome in items(value) {
        table.row(vec![
            text(outcome, "provider"),
            text(outcome, "model"),
            if outcome["ok"] == true {
                "ok"
            } else {
                "failed"
            }
            .to_owned(),
            text(outcome, "status"),
            format!("{}ms", text(outcome, "latency_ms")),
            time(outcome, "time"),
            text(outcome, "error"),
        ]);
    }
    table.render()
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
    fn tests_render_a_table_without_upstream_bodies() {
        let value = json!({"data": [
            {"provider": "good", "model": "m1", "ok": true, "status": 200, "latency_ms": 12, "error": null, "time": 0},
            {"provider": "bad", "model": "m2", "ok": false, "status": 401, "latency_ms": 3,
             "error": "the provider answered HTTP 401", "time": 0}]});
        let out = render_tests(&value);
        assert!(out.contains("good      m1     ok"), "{out}");
        assert!(out.contains("failed  401"), "{out}");
        assert!(
            outcome_line(&items(&value)[1]).starts_with("FAILED bad/m2  401  3ms"),
            "{}",
            outcome_line(&items(&value)[1])
        );
    }

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
