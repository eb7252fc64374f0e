//! `sentinel alerts`: an environment's alert rules with their current
//! state, and the history of firings and resolutions with what each
//! delivery did. Destination URLs and secrets are never shown (the server
//! never returns them).

use clap::Subcommand;
use serde_json::Value;

use super::{
    client::Client,
    pretty,
    table::{Table, items, text, time},
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The environment's alert rules, each with its state and last value.
    List {
        #[arg(long)]
        env: String,
    },
    /// Firings and resolutions, newest first.
    History {
        #[arg(long)]
        env: String,
        /// Only this rule.
        #[arg(long)]
        rule: Option<String>,
        /// At most this many events (1 to 500).
        #[arg(long)]
        limit: Option<u32>,
        /// The next_cursor of the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
}

pub(super) async fn run(client: &Client, command: Command, json: bool) -> anyhow::Result<String> {
    match command {
        Command::List { env } => {
            let value = client.get(&["environments", &env, "alerts"], &[]).await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_list(&value)
            })
        }
        Command::History {
            env,
            rule,
            limit,
            cursor,
        } => {
            let query = [
                ("rule", rule),
                ("limit", limit.map(|l| l.to_string())),
                ("cursor", cursor),
            ];
            let value = client
                .get(&["environments", &env, "alerts", "history"], &query)
                .await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_history(&value)
            })
        }
    }
}

pub(crate) fn render_list(value: &Value) -> String {
    let mut table = Table::new(&[
        "RULE", "SIGNAL", "ABOVE", "WINDOW", "STATE", "VALUE", "SINCE", "NOTIFY",
    ]);
    for rule in value["rules"].as_array().map_or(&[][..], Vec::as_slice) {
        table.row(vec![
            text(rule, "name"),
            match rule["provider"].as_str() {
                Some(p) => format!("{} ({p})", text(rule, "signal")),
                None => text(rule, "signal"),
            },
            text(rule, "above"),
            format!("{}s", text(rule, "for_s")),
            text(rule, "state"),
            text(rule, "value"),
            time(rule, "since"),
            text(rule, "notify"),
        ]);
    }
    let mut out = if table.is_empty() {
        "no alert rules\n".to_owned()
    } else {
        table.render()
    };
    for problem in value["problems"].as_array().map_or(&[][..], Vec::as_slice) {
        out.push_str(&format!("problem: {}\n", problem.as_str().unwrap_or("")));
    }
    out
}

pub(crate) fn render_history(value: &Value) -> String {
    let mut table = Table::new(&[
        "TIME",
        "RULE",
        "STATE",
        "SIGNAL",
        "VALUE",
        "THRESHOLD",
        "DELIVERIES",
    ]);
    for event in items(value) {
        let deliveries = event["deliveries"]
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|d| {
                let outcome = if d["ok"].as_bool() == Some(true) {
                    "ok".to_owned()
                } else {
                    format!("failed: {}", text(d, "error"))
                };
                format!(
                    "{} {outcome} ({} attempts)",
                    text(d, "destination"),
                    text(d, "attempts")
                )
            })
            .collect::<Vec<_>>();
        table.row(vec![
            time(event, "time"),
            text(event, "rule"),
            text(event, "state"),
            text(event, "signal"),
            text(event, "value"),
            text(event, "threshold"),
            if deliveries.is_empty() {
                "pending".to_owned()
            } else {
                deliveries.join("; ")
            },
        ]);
    }
    let mut out = table.render();
    if let Some(cursor) = value["next_cursor"].as_str() {
        out.push_str(&format!("more: --cursor {cursor}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::admin::{Command as Top, tests::parse};

    #[test]
    fn history_takes_filters() {
        let Top::Alerts {
            command: Command::History {
                env, rule, limit, ..
            },
            ..
        } = parse(&[
            "alerts", "history", "--env", "prod", "--rule", "r", "--limit", "5",
        ])
        .unwrap()
        else {
            panic!("expected alerts history");
        };
        assert_eq!(
            (env.as_str(), rule.as_deref(), limit),
            ("prod", Some("r"), Some(5))
        );
    }

    #[test]
    fn list_and_history_render_tables() {
        let out = render_list(
            &json!({"rules": [{"name": "errors", "signal": "error_rate", "above": 0.05,
            "for_s": 60, "state": "firing", "value": 0.5, "since": 0, "notify": ["ops"], "provider": null}]}),
        );
        assert!(
            out.contains("errors") && out.contains("firing") && out.contains("60s"),
            "{out}"
        );
        assert_eq!(render_list(&json!({"rules": []})), "no alert rules\n");
        let out = render_history(
            &json!({"data": [{"time": 0, "rule": "errors", "state": "resolved",
            "signal": "error_rate", "value": 0.0, "threshold": 0.05,
            "deliveries": [{"destination": "ops", "ok": true, "attempts": 2}]}], "next_cursor": "abc"}),
        );
        assert!(
            out.contains("ops ok (2 attempts)") && out.contains("--cursor abc"),
            "{out}"
        );
    }
}
