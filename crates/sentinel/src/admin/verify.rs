//! `sentinel verify --env E`: proves an environment's request flow and
//! operator flow end to end (the console runs it in-process against its
//! gateway; see `docs/operator-guide.md`), prints each step with its
//! outcome, duration and detail, and exits non-zero when a step failed.
//! `--latest` prints the stored latest run instead of starting one. A
//! spinner shows on a terminal while the run is going; piped output stays
//! quiet.

use std::{io::IsTerminal as _, time::Duration};

use clap::{Args, ValueEnum};
use serde_json::Value;

use super::{
    client::Client,
    pretty,
    table::{Table, format_ms, text},
};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The environment to verify.
    #[arg(long)]
    pub env: String,
    /// Output: a step table (text) or the run as JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print the environment's latest stored run; start no new one.
    #[arg(long)]
    pub latest: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Runs (or reads) a verification; the output and whether every step
/// passed.
pub(super) async fn run(
    client: &Client,
    args: VerifyArgs,
    json: bool,
) -> anyhow::Result<(String, bool)> {
    let json = json || args.format == Format::Json;
    let segments = ["environments", args.env.as_str(), "verify"];
    let run = if args.latest {
        client.get(&segments, &[]).await?
    } else {
        let spinner = if !json && std::io::stderr().is_terminal() {
            let spinner = indicatif::ProgressBar::new_spinner();
            spinner.set_message(format!(
                "verifying {} (requests, fallbacks, keys, providers)...",
                args.env
            ));
            spinner.enable_steady_tick(Duration::from_millis(120));
            spinner
        } else {
            indicatif::ProgressBar::hidden()
        };
        let answer = client.post(&segments, &Value::Null).await;
        spinner.finish_and_clear();
        answer?
    };
    let ok = run["ok"] == true;
    Ok((
        if json {
            pretty(&run)
        } else {
            render(&args.env, &run)
        },
        ok,
    ))
}

/// Each step on one line, then a summary.
pub(crate) fn render(env: &str, run: &Value) -> String {
    let steps = run["steps"].as_array().map_or(&[][..], Vec::as_slice);
    let mut table = Table::new(&["RESULT", "STEP", "TIME", "DETAIL"]);
    for step in steps {
        let mut detail = text(step, "detail");
        if let Some(id) = step["request_id"].as_str() {
            detail.push_str(&format!(" (request {id})"));
        }
        table.row(vec![
            if step["ok"] == true { "ok" } else { "FAIL" }.to_owned(),
            text(step, "name"),
            format!("{} ms", text(step, "duration_ms")),
            detail,
        ]);
    }
    let failed: Vec<String> = steps
        .iter()
        .filter(|s| s["ok"] != true)
        .map(|s| text(s, "name"))
        .collect();
    let started = run["started_at"]
        .as_i64()
        .map_or_else(|| "-".to_owned(), format_ms);
    let mut out = format!(
        "verify {env}: run {} by {} at {started}\n\n",
        text(run, "id"),
        text(run, "actor")
    );
    out.push_str(&table.render());
    out.push('\n');
    out.push_str(&if failed.is_empty() {
        format!(
            "{} steps passed in {} ms: {env} is verified\n",
            steps.len(),
            text(run, "duration_ms")
        )
    } else {
        format!(
            "{} of {} steps failed in {} ms: {}\n",
            failed.len(),
            steps.len(),
            text(run, "duration_ms"),
            failed.join(", ")
        )
    });
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn steps_show_result_time_and_detail_then_a_summary() {
        let run = json!({"id": "r1", "env_id": "e", "actor": "alice", "started_at": 1_700_000_000_000_i64,
            "duration_ms": 840, "ok": false, "steps": [
            {"kind": "setup", "name": "setup", "ok": true, "duration_ms": 12, "detail": "key snt_staging_ab loaded"},
            {"kind": "fallback", "name": "fallback through route plan chat", "ok": false, "duration_ms": 30,
             "detail": "HTTP 502 upstream_error", "request_id": "req-9"}]});
        let out = render("staging", &run);
        assert!(
            out.starts_with("verify staging: run r1 by alice at "),
            "{out}"
        );
        assert!(out.contains("ok      setup"), "{out}");
        assert!(
            out.contains("FAIL    fallback through route plan chat  30 ms  HTTP 502 upstream_error (request req-9)"),
            "{out}"
        );
        assert!(
            out.ends_with("1 of 2 steps failed in 840 ms: fallback through route plan chat\n"),
            "{out}"
        );
        let passed = json!({"id": "r2", "actor": "a", "duration_ms": 5, "ok": true,
            "steps": [{"name": "cleanup", "ok": true, "duration_ms": 1, "detail": "done"}]});
        assert!(render("dev", &passed).ends_with("1 steps passed in 5 ms: dev is verified\n"));
    }
}
