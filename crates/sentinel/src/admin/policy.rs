//! `sentinel policy`: explain the decision for a hypothetical request, and
//! simulate a candidate document's policies against recorded traffic.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use sentinel_core::RequestRecord;
use serde_json::{Value, json};

use super::{
    client::Client,
    config::read_document,
    pretty,
    simulate::{Report, simulate},
    table::{Table, format_ms, items, text},
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The decision for a request of one key, and which rule makes it
    /// (rule by rule, with the live counters; nothing is sent or counted).
    Explain(ExplainArgs),
    /// Replay recorded requests through a candidate document's policies
    /// and report, per rule, what would change. Nothing is sent or written.
    Simulate(SimulateArgs),
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[arg(long)]
    env: String,
    /// The key id (16 hex digits), never the key itself.
    #[arg(long)]
    key: String,
    #[arg(long)]
    model: String,
    /// The output-token cap the request would ask for.
    #[arg(long)]
    tokens: Option<u64>,
    /// chat_completions (default), embeddings or anthropic_messages.
    #[arg(long)]
    api: Option<String>,
    /// The client's address.
    #[arg(long = "from", value_name = "IP")]
    from: Option<std::net::IpAddr>,
    /// A metadata header the request would carry (repeatable).
    #[arg(long = "header", value_name = "NAME")]
    headers: Vec<String>,
    /// The request body's size in bytes.
    #[arg(long)]
    body_bytes: Option<u64>,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The environment the candidate document is for.
    #[arg(long)]
    env: String,
    /// Replay the records of this environment (default: --env).
    #[arg(long = "records-from", value_name = "ENV")]
    records_from: Option<String>,
    /// How far back: e.g. 24h, 30m, 7d, or a time (unix ms, RFC 3339).
    #[arg(long, default_value = "24h")]
    since: String,
    /// The candidate document (YAML; '-' for standard input).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: String,
}

pub(super) async fn run(client: &Client, command: Command, json: bool) -> anyhow::Result<String> {
    match command {
        Command::Explain(args) => {
            let mut body = json!({ "key": args.key, "model": args.model, "headers": args.headers });
            for (field, value) in [
                ("tokens", args.tokens.map(Value::from)),
                ("api", args.api.map(Value::from)),
                ("source_ip", args.from.map(|ip| Value::from(ip.to_string()))),
                ("body_bytes", args.body_bytes.map(Value::from)),
            ] {
                if let Some(value) = value {
                    body[field] = value;
                }
            }
            let value = client
                .post(&["environments", &args.env, "policy", "explain"], &body)
                .await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_explanation(&value)
            })
        }
        Command::Simulate(args) => {
            let report = run_simulation(client, &args).await?;
            Ok(if json {
                pretty(&serde_json::to_value(&report)?)
            } else {
                render_report(&report, &args)
            })
        }
    }
}

async fn run_simulation(client: &Client, args: &SimulateArgs) -> anyhow::Result<Report> {
    let document = read_document(&args.file)?;
    let raw = sentinel_config::parse_document(&document)
        .map_err(|e| anyhow::anyhow!("the candidate document is not valid:\n{e}"))?;
    let policies = match sentinel_policy::compile(&raw.policies) {
        Ok((set, _warnings)) => set,
        Err(issues) => {
            let lines: Vec<String> = issues
                .iter()
                .map(|i| format!("  {}: {}", i.path, i.message))
                .collect();
            anyhow::bail!(
                "the candidate's policies are not valid:\n{}",
                lines.join("\n")
            );
        }
    };
    let since = super::since_ms(&args.since)?;
    let from = args.records_from.as_deref().unwrap_or(&args.env);
    let records = fetch_records(client, from, since).await?;
    let bar = progress_bar(records.len() as u64);
    let report = simulate(&policies, records, &mut |done| {
        bar.set_position(done as u64)
    })
    .await;
    bar.finish_and_clear();
    Ok(report)
}

/// A progress bar on a terminal's standard error; hidden when piped.
fn progress_bar(len: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} records ({eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("replaying");
    bar
}

/// Every record of `env` since `since` (unix ms), page by page.
async fn fetch_records(
    client: &Client,
    env: &str,
    since: i64,
) -> anyhow::Result<Vec<RequestRecord>> {
    let bar = progress_bar(0);
    bar.set_message("reading records");
    let mut records = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client
            .get(
                &["requests"],
                &[
                    ("env", Some(env.to_owned())),
                    ("since", Some(since.to_string())),
                    ("limit", Some("500".to_owned())),
                    ("cursor", cursor.clone()),
                ],
            )
            .await?;
        for item in items(&page) {
            let record: RequestRecord = serde_json::from_value(item.clone())
                .context("the server sent a request record this client cannot read")?;
            records.push(record);
        }
        bar.set_position(records.len() as u64);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    bar.finish_and_clear();
    Ok(records)
}

pub(crate) fn render_explanation(value: &Value) -> String {
    let mut out = format!("decision: {}", text(value, "decision"));
    if let Some(rule) = value["rule"].as_str() {
        out.push_str(&format!(" (rule {rule})"));
    }
    out.push('\n');
    if let Some(revision) = value["revision"].as_i64() {
        out.push_str(&format!("config revision: {revision}\n"));
    }
    if value["served"] == json!(false) {
        out.push_str(
            "note: no route plan serves this model; the request would get 404 model_not_found\n",
        );
    }
    let mut table = Table::new(&["RULE", "MODE", "RESULT", "WHY"]);
    for check in value["checks"].as_array().into_iter().flatten() {
        table.row(vec![
            text(check, "rule"),
            text(check, "mode"),
            verdict(check),
            text(check, "message"),
        ]);
    }
    for limit in value["limits"].as_array().into_iter().flatten() {
        table.row(vec![
            text(limit, "rule"),
            text(limit, "mode"),
            verdict(limit),
            text(limit, "message"),
        ]);
    }
    if table.is_empty() {
        out.push_str("no policy applies to this key\n");
    } else {
        out.push_str(&table.render());
    }
    out.push_str(&format!(
        "reserves: {} tokens, {}\n",
        text(&value["demand"], "tokens"),
        text(&value["demand"], "cost")
    ));
    if let Some(error) = value["counters_error"].as_str() {
        out.push_str(&format!("counters could not be read: {error}\n"));
    }
    out
}

fn verdict(check: &Value) -> String {
    match (check["passed"].as_bool(), check["mode"].as_str()) {
        (Some(true), _) => "pass".to_owned(),
        (_, Some("shadow")) => "would refuse".to_owned(),
        _ => "REFUSE".to_owned(),
    }
}

fn render_report(report: &Report, args: &SimulateArgs) -> String {
    let from = args.records_from.as_deref().unwrap_or(&args.env);
    let mut out = format!(
        "replayed {} of {} records of {from} since {} through the candidate for {}\n",
        report.replayed, report.records, args.since, args.env
    );
    out.push_str(&format!(
        "allowed -> refused: {}   refused -> allowed: {}\n",
        report.newly_refused, report.newly_allowed
    ));
    if report.rules.is_empty() {
        out.push_str("no rule of the candidate refuses any replayed request\n");
    } else {
        let mut table = Table::new(&[
            "RULE", "MODE", "OUTCOME", "REQUESTS", "NEWLY", "FIRST", "LAST",
        ]);
        for rule in &report.rules {
            table.row(vec![
                rule.rule.clone(),
                rule.mode.clone(),
                rule.outcome.clone(),
                rule.requests.to_string(),
                rule.newly_refused.to_string(),
                format_ms(rule.first_ms),
                format_ms(rule.last_ms),
            ]);
        }
        out.push_str(&table.render());
    }
    for note in &report.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}
