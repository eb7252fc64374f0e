//! `sentinel audit`: list audit events and verify the hash chain.

use clap::Subcommand;
use serde_json::Value;

use super::{
    client::Client,
    pretty,
    table::{Table, items, text, time},
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List audit events.
    List {
        /// Only this action, e.g. key.create.
        #[arg(long)]
        action: Option<String>,
        /// Only events of this environment.
        #[arg(long)]
        env: Option<String>,
        /// From this time (inclusive): unix milliseconds or RFC 3339.
        #[arg(long)]
        since: Option<String>,
        /// Before this time (exclusive): unix milliseconds or RFC 3339.
        #[arg(long)]
        until: Option<String>,
        /// At most this many events (1 to 500).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Recompute the audit hash chain; fails if it was tampered with.
    Verify,
}

pub(super) async fn run(client: &Client, command: Command, json: bool) -> anyhow::Result<String> {
    match command {
        Command::List {
            action,
            env,
            since,
            until,
            limit,
        } => {
            let query = [
                ("action", action),
                ("env", env),
                ("since", since),
                ("until", until),
                ("limit", limit.map(|l| l.to_string())),
            ];
            let value = client.get(&["audit"], &query).await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_list(&value)
            })
        }
        Command::Verify => {
            let value = client.get(&["audit", "verify"], &[]).await?;
            if json {
                return Ok(pretty(&value));
            }
            let (ok, out) = render_verify(&value);
            if ok {
                Ok(out)
            } else {
                anyhow::bail!("{}", out.trim_end())
            }
        }
    }
}

pub(crate) fn render_list(value: &Value) -> String {
    let mut table = Table::new(&["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "SOURCE"]);
    for event in items(value) {
        table.row(vec![
            text(event, "seq"),
            time(event, "time"),
            text(event, "actor"),
            text(event, "action"),
            text(event, "target"),
            text(event, "source_addr"),
        ]);
    }
    table.render()
}

/// Whether the chain verified, and what to print. The answer's exact
/// fields are the store's; `valid` or `ok` says whether it held.
pub(crate) fn render_verify(value: &Value) -> (bool, String) {
    let ok = value["valid"]
        .as_bool()
        .or_else(|| value["ok"].as_bool())
        .unwrap_or(false);
    let mut out = if ok {
        "audit chain verified\n".to_owned()
    } else {
        "audit chain verification FAILED\n".to_owned()
    };
    if let (Some(seq), Some(id)) = (
        value["first_bad_seq"].as_i64(),
        value["first_bad_id"].as_str(),
    ) {
        out.push_str(&format!("  first bad event: seq {seq}, id {id}\n"));
    }
    if let Some(map) = value.as_object() {
        for (k, v) in map {
            if k != "valid" && k != "ok" && !v.is_null() {
                let shown = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                out.push_str(&format!("  {k}: {shown}\n"));
            }
        }
    }
    (ok, out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::admin::{Command as Top, tests::parse};

    #[test]
    fn list_takes_filters() {
        let Top::Audit {
            command: Command::List { action, limit, .. },
            ..
        } = parse(&["audit", "list", "--action", "key.create", "--limit", "5"]).unwrap()
        else {
            panic!("expected audit list");
        };
        assert_eq!((action.as_deref(), limit), (Some("key.create"), Some(5)));
    }

    #[test]
    fn verify_reports_both_outcomes() {
        let (ok, out) = render_verify(&json!({"valid": true, "events": 12}));
        assert!(ok);
        assert_eq!(out, "audit chain verified\n  events: 12\n");
        let (ok, out) = render_verify(
            &json!({"ok": false, "events": 9, "first_bad_seq": 7, "first_bad_id": "0190-e7"}),
        );
        assert!(!ok);
        assert!(
            out.contains("FAILED") && out.contains("first bad event: seq 7, id 0190-e7"),
            "{out}"
        );
    }

    #[test]
    fn list_renders_a_table() {
        let out = render_list(
            &json!({"data": [{"seq": 1, "time": 0, "actor": "op1", "action": "env.create",
            "target": "environment/dev", "source_addr": "127.0.0.1"}]}),
        );
        assert_eq!(
            out,
            "SEQ  TIME                  ACTOR  ACTION      TARGET           SOURCE\n\
             1    1970-01-01 00:00:00Z  op1    env.create  environment/dev  127.0.0.1\n"
        );
    }
}
