//! `sentinel requests`: search request records, show one with its provider
//! attempts, and trace one: the path from the key to what the client got.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::{
    client::Client,
    pretty,
    table::{Table, fields, items, text, time},
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Search request records, newest first.
    Search(Box<SearchArgs>),
    /// Show one request record by its request id.
    Show { id: String },
    /// The whole path of one request: key → application → policy outcome →
    /// route plan and revision → each attempt → what the client received.
    Trace { id: String },
}

#[derive(Debug, Default, Args)]
pub struct SearchArgs {
    /// Environment name.
    #[arg(long)]
    env: Option<String>,
    /// Application name (needs --env).
    #[arg(long)]
    app: Option<String>,
    /// Key id.
    #[arg(long)]
    key: Option<String>,
    /// HTTP status the client received.
    #[arg(long)]
    status: Option<u16>,
    /// Stable error code the client received, e.g. upstream_timeout.
    #[arg(long)]
    error_code: Option<String>,
    /// Requested model.
    #[arg(long)]
    model: Option<String>,
    /// Provider that answered (the last one tried).
    #[arg(long)]
    provider: Option<String>,
    /// Policy decision: allowed, denied, rate_limited, budget_exceeded, counters_unavailable.
    #[arg(long)]
    policy: Option<String>,
    /// Only requests that took at least this many milliseconds.
    #[arg(long)]
    min_latency_ms: Option<u64>,
    /// From this time (inclusive): unix milliseconds or RFC 3339, e.g. 2025-01-31T12:00:00Z.
    #[arg(long)]
    since: Option<String>,
    /// Before this time (exclusive): unix milliseconds or RFC 3339.
    #[arg(long)]
    until: Option<String>,
    /// At most this many records (1 to 500).
    #[arg(long)]
    limit: Option<u32>,
    /// Continue from a previous page's cursor.
    #[arg(long)]
    cursor: Option<String>,
}

impl SearchArgs {
    fn query(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("env", self.env.clone()),
            ("app", self.app.clone()),
            ("key", self.key.clone()),
            ("status", self.status.map(|s| s.to_string())),
            ("error_code", self.error_code.clone()),
            ("model", self.model.clone()),
            ("provider", self.provider.clone()),
            ("policy", self.policy.clone()),
            (
                "min_latency_ms",
                self.min_latency_ms.map(|ms| ms.to_string()),
            ),
            ("since", self.since.clone()),
            ("until", self.until.clone()),
            ("limit", self.limit.map(|l| l.to_string())),
            ("cursor", self.cursor.clone()),
        ]
    }
}

pub(super) async fn run(client: &Client, command: Command, json: bool) -> anyhow::Result<String> {
    match command {
        Command::Search(args) => {
            let value = client.get(&["requests"], &args.query()).await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_search(&value)
            })
        }
        Command::Show { id } => {
            let value = client.get(&["requests", &id], &[]).await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_record(&value)
            })
        }
        Command::Trace { id } => {
            let value = client.get(&["requests", &id], &[]).await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_trace(&value)
            })
        }
    }
}

/// One request's path, one step per line, in the order it happened.
pub(crate) fn render_trace(record: &Value) -> String {
    let mut out = format!(
        "request {}  {}  {}\n",
        text(record, "id"),
        time(record, "time"),
        text(record, "ingress")
    );
    let step = |out: &mut String, name: &str, line: String| {
        out.push_str(&format!("  {name:<12}{line}\n"));
    };
    step(
        &mut out,
        "key",
        format!(
            "{} (environment {}, from {})",
            text(record, "key_id"),
            text(record, "env_name"),
            text(record, "client_addr")
        ),
    );
    step(&mut out, "application", text(record, "app_name"));
    let policy = record.get("policy").filter(|p| p.is_object());
    step(
        &mut out,
        "policy",
        match policy {
            None => "none applied".to_owned(),
            Some(policy) => {
                let mut line = text(policy, "decision");
                if let Some(rule) = policy["rule"].as_str() {
                    line.push_str(&format!(" by {rule}"));
                }
                if let Some(counters) = policy["counters"].as_str() {
                    line.push_str(&format!("; counters unreachable, failed {counters}"));
                }
                for finding in policy["findings"].as_array().into_iter().flatten() {
                    line.push_str(&format!(
                        "\n{:14}{} {}: {}",
                        "",
                        text(finding, "mode"),
                        text(finding, "rule"),
                        text(finding, "message")
                    ));
                }
                line
            }
        },
    );
    step(
        &mut out,
        "route",
        match record["route_plan"].as_str() {
            Some(plan) => format!(
                "model {} → plan {plan} (revision {})",
                text(record, "requested_model"),
                text(record, "config_revision")
            ),
            None => format!("model {} → no route plan", text(record, "requested_model")),
        },
    );
    let attempts = record["attempts"].as_array().map_or(&[][..], Vec::as_slice);
    if attempts.is_empty() {
        step(
            &mut out,
            "attempts",
            "none (answered by Sentinel)".to_owned(),
        );
    }
    for (i, attempt) in attempts.iter().enumerate() {
        let mut line = format!(
            "{}. +{}ms {}/{}: {}",
            i + 1,
            text(attempt, "started_ms"),
            text(attempt, "provider"),
            text(attempt, "upstream_model"),
            text(attempt, "outcome"),
        );
        if let Some(status) = attempt["status"].as_u64() {
            line.push_str(&format!(" {status}"));
        }
        line.push_str(&format!(" in {}ms", text(attempt, "latency_ms")));
        if let Some(error) = attempt["error"].as_str() {
            line.push_str(&format!(" ({error})"));
        }
        if let Some(next) = attempt["next"].as_str() {
            line.push_str(&format!(" → {next}"));
        }
        step(&mut out, if i == 0 { "attempts" } else { "" }, line);
    }
    let mut client = text(record, "status");
    if let Some(code) = record["error_code"].as_str() {
        client.push_str(&format!(" {code}"));
    }
    if record["stream"].as_bool() == Some(true) {
        client.push_str(match record["stream_completed"].as_bool() {
            Some(true) => ", stream completed",
            Some(false) => ", stream NOT completed",
            None => ", stream",
        });
    }
    client.push_str(&format!(
        " after {}ms (first byte {}ms); tokens {} prompt, {} completion; cost {}",
        text(record, "latency_ms"),
        text(record, "ttfb_ms"),
        text(record, "prompt_tokens"),
        text(record, "completion_tokens"),
        cost(record)
    ));
    step(&mut out, "client got", client);
    if let Some(detail) = record["error_detail"].as_str() {
        step(&mut out, "detail", detail.to_owned());
    }
    out
}

pub(crate) fn render_search(value: &Value) -> String {
    let mut table = Table::new(&[
        "TIME",
        "REQUEST ID",
        "ENV",
        "APP",
        "MODEL",
        "STATUS",
        "ERROR",
        "LATENCY",
    ]);
    for record in items(value) {
        table.row(vec![
            time(record, "time"),
            text(record, "id"),
            text(record, "env_name"),
            text(record, "app_name"),
            text(record, "requested_model"),
            text(record, "status"),
            text(record, "error_code"),
            format!("{}ms", text(record, "latency_ms")),
        ]);
    }
    let mut out = table.render();
    if let Some(cursor) = value["next_cursor"].as_str() {
        out.push_str(&format!("more: --cursor {cursor}\n"));
    }
    out
}

/// The record's cost in USD, exact (`$0.000058`), with where its price came
/// from; or why there is none.
fn cost(record: &Value) -> String {
    let source = record["price_source"].as_str();
    match (record["cost_micros"].as_u64(), source) {
        (Some(micros), Some(source)) => format!(
            "${} ({source} price)",
            sentinel_core::price::format_usd(micros)
        ),
        (Some(micros), None) => format!("${}", sentinel_core::price::format_usd(micros)),
        (None, Some(sentinel_core::price::PRICE_SOURCE_UNKNOWN)) => {
            "- (no price known for this upstream model)".to_owned()
        }
        (None, Some(_)) => "- (no token counts)".to_owned(),
        (None, None) => "-".to_owned(),
    }
}

pub(crate) fn render_record(record: &Value) -> String {
    let tokens = format!(
        "{} prompt, {} completion, {} total",
        text(record, "prompt_tokens"),
        text(record, "completion_tokens"),
        text(record, "total_tokens")
    );
    let mut out = fields(&[
        ("request id", text(record, "id")),
        ("time", time(record, "time")),
        ("environment", text(record, "env_name")),
        ("application", text(record, "app_name")),
        ("key", text(record, "key_id")),
        ("ingress", text(record, "ingress")),
        ("model", text(record, "requested_model")),
        ("route plan", text(record, "route_plan")),
        ("revision", text(record, "config_revision")),
        ("provider", text(record, "provider")),
        ("upstream model", text(record, "upstream_model")),
        ("status", text(record, "status")),
        ("error code", text(record, "error_code")),
        ("error detail", text(record, "error_detail")),
        ("stream", text(record, "stream")),
        ("stream completed", text(record, "stream_completed")),
        ("tokens", tokens),
        ("cost", cost(record)),
        ("latency", format!("{}ms", text(record, "latency_ms"))),
        ("first byte", format!("{}ms", text(record, "ttfb_ms"))),
        ("client", text(record, "client_addr")),
    ]);
    if let Some(policy) = record.get("policy").filter(|p| p.is_object()) {
        out.push_str(&render_policy(policy));
    }
    let attempts = record["attempts"].as_array().map_or(&[][..], Vec::as_slice);
    if !attempts.is_empty() {
        out.push_str("\nattempts:\n");
        let mut table = Table::new(&[
            "#", "PROVIDER", "MODEL", "STATUS", "OUTCOME", "LATENCY", "ERROR",
        ]);
        for (i, attempt) in attempts.iter().enumerate() {
            table.row(vec![
                (i + 1).to_string(),
                text(attempt, "provider"),
                text(attempt, "upstream_model"),
                text(attempt, "status"),
                text(attempt, "outcome"),
                format!("{}ms", text(attempt, "latency_ms")),
                text(attempt, "error"),
            ]);
        }
        out.push_str(&table.render());
    }
    out
}

/// The policy outcome: the decision, the deciding rule, every finding and
/// what was redacted.
fn render_policy(policy: &Value) -> String {
    let mut out = format!("\npolicy: {}", text(policy, "decision"));
    if let Some(rule) = policy["rule"].as_str() {
        out.push_str(&format!(" (rule {rule})"));
    }
    if let Some(counters) = policy["counters"].as_str() {
        out.push_str(&format!("; counters unreachable, failed {counters}"));
    }
    out.push('\n');
    let findings = policy["findings"].as_array().map_or(&[][..], Vec::as_slice);
    if !findings.is_empty() {
        let mut table = Table::new(&["RULE", "MODE", "MESSAGE"]);
        for finding in findings {
            table.row(vec![
                text(finding, "rule"),
                text(finding, "mode"),
                text(finding, "message"),
            ]);
        }
        out.push_str(&table.render());
    }
    for redaction in policy["redactions"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "redacted ({}): {} × {}\n",
            text(redaction, "mode"),
            text(redaction, "count"),
            text(redaction, "kind")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::admin::{Command as Top, tests::parse};

    #[test]
    fn search_filters_become_query_pairs() {
        let Top::Requests {
            command: Command::Search(args),
            ..
        } = parse(&[
            "requests",
            "search",
            "--env",
            "dev",
            "--status",
            "502",
            "--since",
            "2025-01-01T00:00:00Z",
            "--limit",
            "10",
        ])
        .unwrap()
        else {
            panic!("expected requests search");
        };
        let set: Vec<(&str, String)> = args
            .query()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        assert_eq!(
            set,
            [
                ("env", "dev".to_owned()),
                ("status", "502".to_owned()),
                ("since", "2025-01-01T00:00:00Z".to_owned()),
                ("limit", "10".to_owned())
            ]
        );
        assert!(parse(&["requests", "search", "--status", "abc"]).is_err());
    }

    #[test]
    fn triage_filters_become_query_pairs() {
        let Top::Requests {
            command: Command::Search(args),
            ..
        } = parse(&[
            "requests",
            "search",
            "--provider",
            "openai",
            "--policy",
            "denied",
            "--min-latency-ms",
            "1500",
        ])
        .unwrap()
        else {
            panic!("expected requests search");
        };
        let set: Vec<(&str, String)> = args
            .query()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        assert_eq!(
            set,
            [
                ("provider", "openai".to_owned()),
                ("policy", "denied".to_owned()),
                ("min_latency_ms", "1500".to_owned()),
            ]
        );
        assert!(parse(&["requests", "search", "--min-latency-ms", "-1"]).is_err());
        assert!(matches!(
            parse(&["requests", "trace", "r1"]).unwrap(),
            Top::Requests {
                command: Command::Trace { .. },
                ..
            }
        ));
    }

    #[test]
    fn a_trace_reads_from_key_to_client() {
        let out = render_trace(&json!({
            "id": "r1", "time": 0, "ingress": "chat_completions", "key_id": "k1", "env_name": "prod",
            "app_name": "web", "client_addr": "10.0.0.1", "requested_model": "gpt", "route_plan": "chat",
            "config_revision": 3, "status": 200, "stream": false, "latency_ms": 90, "ttfb_ms": 90,
            "prompt_tokens": 11, "completion_tokens": 3, "cost_micros": 58, "price_source": "builtin",
            "policy": {"decision": "allowed", "findings": [{"rule": "app/web.max_tokens", "mode": "shadow", "message": "too many"}]},
            "attempts": [
                {"provider": "a", "upstream_model": "m1", "status": 502, "outcome": "server_error", "started_ms": 0, "latency_ms": 5, "next": "retry: server_error"},
                {"provider": "a", "upstream_model": "m1", "outcome": "timeout", "started_ms": 10, "latency_ms": 30, "error": "timed out", "next": "fallback: timeout"},
                {"provider": "b", "upstream_model": "m2", "status": 200, "outcome": "ok", "started_ms": 41, "latency_ms": 40}
            ]
        }));
        let expected = [
            "  key         k1 (environment prod, from 10.0.0.1)",
            "  application web",
            "  policy      allowed\n              shadow app/web.max_tokens: too many",
            "  route       model gpt → plan chat (revision 3)",
            "  attempts    1. +0ms a/m1: server_error 502 in 5ms → retry: server_error",
            "              2. +10ms a/m1: timeout in 30ms (timed out) → fallback: timeout",
            "              3. +41ms b/m2: ok 200 in 40ms",
            "  client got  200 after 90ms (first byte 90ms); tokens 11 prompt, 3 completion; cost $0.000058 (builtin price)",
        ];
        let mut at = 0;
        for line in expected {
            let found = out[at..]
                .find(line)
                .unwrap_or_else(|| panic!("{line:?} in order in:\n{out}"));
            at += found + line.len();
        }

        let refused = render_trace(
            &json!({"id": "r2", "status": 403, "error_code": "policy_denied",
            "error_detail": "model x is not allowed", "attempts": [],
            "policy": {"decision": "denied", "rule": "environment.allowed_models"}}),
        );
        assert!(
            refused.contains("policy      denied by environment.allowed_models"),
            "{refused}"
        );
        assert!(refused.contains("model - → no route plan"), "{refused}");
        assert!(
            refused.contains("attempts    none (answered by Sentinel)"),
            "{refused}"
        );
        assert!(
            refused.contains("client got  403 policy_denied after"),
            "{refused}"
        );
        assert!(
            refused.contains("detail      model x is not allowed"),
            "{refused}"
        );
    }

    #[test]
    fn search_shows_the_next_cursor() {
        let out = render_search(
            &json!({"data": [{"time": 0, "id": "r1", "env_name": "dev", "app_name": "a",
            "requested_model": "m", "status": 200, "error_code": null, "latency_ms": 12}], "next_cursor": "c2"}),
        );
        assert!(out.ends_with("more: --cursor c2\n"), "{out}");
        assert!(
            out.contains("r1          dev  a    m      200     -      12ms"),
            "{out}"
        );
    }

    #[test]
    fn a_record_shows_its_cost_in_usd() {
        let out = render_record(&json!({"id": "r1", "cost_micros": 58, "price_source": "builtin"}));
        assert!(
            out.contains("cost:             $0.000058 (builtin price)\n"),
            "{out}"
        );
        let out = render_record(
            &json!({"id": "r1", "cost_micros": 2_500_000, "price_source": "environment"}),
        );
        assert!(out.contains("$2.50 (environment price)"), "{out}");
        let out =
            render_record(&json!({"id": "r1", "cost_micros": null, "price_source": "unknown"}));
        assert!(
            out.contains("cost:             - (no price known for this upstream model)"),
            "{out}"
        );
        let out = render_record(&json!({"id": "r1"}));
        assert!(out.contains("cost:             -\n"), "{out}");
    }

    #[test]
    fn a_record_lists_its_attempts() {
        let out = render_record(&json!({"id": "r1", "status": 200, "attempts": [
            {"provider": "p1", "upstream_model": "m", "status": 429, "outcome": "rate_limited", "latency_ms": 5, "error": null},
            {"provider": "p2", "upstream_model": "m", "status": 200, "outcome": "ok", "latency_ms": 7, "error": null}]}));
        assert!(out.contains("request id:       r1\n"), "{out}");
        assert!(
            out.contains("1  p1        m      429     rate_limited  5ms      -"),
            "{out}"
        );
        assert!(
            out.contains("2  p2        m      200     ok            7ms      -"),
            "{out}"
        );
    }

    #[test]
    fn records_show_their_policy_outcome() {
        let record = json!({"id": "r1", "status": 403, "attempts": [], "policy": {
            "decision": "denied", "rule": "environment.allowed_models",
            "findings": [
                {"rule": "environment.allowed_models", "mode": "enforce", "message": "model \"x\" is not allowed"},
                {"rule": "app/checkout.max_tokens", "mode": "shadow", "message": "too many tokens"}
            ],
            "redactions": [{"kind": "email", "mode": "enforce", "count": 2}]}});
        let out = render_record(&record);
        assert!(
            out.contains("policy: denied (rule environment.allowed_models)"),
            "{out}"
        );
        assert!(
            out.lines()
                .any(|l| l.starts_with("app/checkout.max_tokens") && l.contains(" shadow ")),
            "{out}"
        );
        assert!(out.contains("redacted (enforce): 2 × email"), "{out}");
    }
}
