//! `sentinel config`: an environment's config document — export, plan,
//! apply, history.

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::{Map, Value, json};

use super::{
    client::Client,
    pretty,
    table::{Table, fields, items, text, time},
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the current document (only the document, so it can be edited
    /// and applied again).
    Export {
        #[arg(long)]
        env: String,
        /// A past revision instead of the current one.
        #[arg(long, value_name = "N")]
        revision: Option<i64>,
    },
    /// Validate a document and show its diff against the current revision.
    Plan {
        #[arg(long)]
        env: String,
        /// The YAML document ('-' for standard input).
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: String,
    },
    /// Validate a document and open a change request for it: applied at
    /// once, or pending approval in a protected environment.
    Apply {
        #[arg(long)]
        env: String,
        /// The YAML document ('-' for standard input).
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: String,
        /// Why the change is made (kept in the history).
        #[arg(short = 'm', long = "message")]
        message: String,
        /// Refuse to apply if the current revision is no longer N.
        #[arg(long = "base", value_name = "N")]
        base: Option<i64>,
    },
    /// List the revisions of an environment.
    History {
        #[arg(long)]
        env: String,
    },
    /// Open a change request whose document is revision N (reviewed like
    /// any change in a protected environment).
    Rollback {
        #[arg(long)]
        env: String,
        #[arg(long = "to", value_name = "N")]
        to: i64,
        /// Why (kept in the history); "roll back to revision N" by default.
        #[arg(short = 'm', long = "message")]
        message: Option<String>,
    },
}

pub(super) fn read_document(file: &str) -> anyhow::Result<String> {
    if file == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text)
            .context("cannot read the document from standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))
    }
}

pub(super) async fn run(client: &Client, command: Command, json: bool) -> anyhow::Result<String> {
    match command {
        Command::Export { env, revision } => {
            let value = match revision {
                Some(n) => {
                    client
                        .get(
                            &["environments", &env, "config", "revisions", &n.to_string()],
                            &[],
                        )
                        .await?
                }
                None => client.get(&["environments", &env, "config"], &[]).await?,
            };
            Ok(if json {
                pretty(&value)
            } else {
                render_export(&value)
            })
        }
        Command::Plan { env, file } => {
            let document = read_document(&file)?;
            let value = client
                .post(
                    &["environments", &env, "config", "plan"],
                    &json!({ "document": document }),
                )
                .await?;
            if json {
                return Ok(pretty(&value));
            }
            let out = render_plan(&value);
            if value["valid"].as_bool() == Some(true) {
                Ok(out)
            } else {
                // The problems go to the error so the exit status says so.
                anyhow::bail!("{}", out.trim_end())
            }
        }
        Command::Apply {
            env,
            file,
            message,
            base,
        } => {
            let document = read_document(&file)?;
            let mut body = Map::new();
            body.insert("document".into(), json!(document));
            body.insert("message".into(), json!(message));
            if let Some(base) = base {
                body.insert("base_revision".into(), json!(base));
            }
            let value = client
                .post(&["environments", &env, "config"], &Value::Object(body))
                .await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_applied(&value)
            })
        }
        Command::Rollback { env, to, message } => {
            let mut body = Map::new();
            body.insert("to".into(), json!(to));
            if let Some(message) = message {
                body.insert("message".into(), json!(message));
            }
            let value = client
                .post(
                    &["environments", &env, "config", "rollback"],
                    &Value::Object(body),
                )
                .await?;
            Ok(if json {
                pretty(&value)
            } else {
                super::changes::render_proposed(&value)
            })
        }
        Command::History { env } => {
            let value = client
                .get(&["environments", &env, "config", "revisions"], &[])
                .await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_history(&value)
            })
        }
    }
}

/// The document alone, with a final newline when it has content.
pub(crate) fn render_export(value: &Value) -> String {
    let mut document = value["document"].as_str().unwrap_or_default().to_owned();
    if !document.is_empty() && !document.ends_with('\n') {
        document.push('\n');
    }
    document
}

fn problems(value: &Value, field: &str) -> Vec<String> {
    value[field]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|e| {
                    let path = e["path"].as_str().unwrap_or_default();
                    let message = e["message"].as_str().unwrap_or_default();
                    let at = match (e["line"].as_u64(), e["column"].as_u64()) {
                        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
                        _ => String::new(),
                    };
                    if path.is_empty() {
                        format!("{message}{at}")
                    } else {
                        format!("{path}: {message}{at}")
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn render_plan(value: &Value) -> String {
    let mut out = String::new();
    let errors = problems(value, "errors");
    let warnings = problems(value, "warnings");
    if errors.is_empty() {
        out.push_str(&format!(
            "valid: yes (against revision {})\n",
            value["base_revision"].as_i64().unwrap_or(0)
        ));
    } else {
        out.push_str(&format!("valid: no, {} error(s)\n", errors.len()));
        for e in &errors {
            out.push_str(&format!("  error: {e}\n"));
        }
    }
    for w in &warnings {
        out.push_str(&format!("  warning: {w}\n"));
    }
    let diff = &value["diff"];
    let (added, removed) = (
        diff["added"].as_u64().unwrap_or(0),
        diff["removed"].as_u64().unwrap_or(0),
    );
    if added == 0 && removed == 0 {
        out.push_str("no changes\n");
    } else {
        out.push_str(&format!("{added} line(s) added, {removed} removed\n"));
        out.push_str(diff["text"].as_str().unwrap_or_default());
    }
    out
}

pub(crate) fn render_applied(value: &Value) -> String {
    if value["status"].as_str() == Some("pending") {
        return super::changes::render_proposed(value);
    }
    let mut out = fields(&[
        ("environment", text(value, "environment")),
        ("revision", text(value, "revision")),
        ("hash", text(value, "hash")),
        ("author", text(value, "author")),
        ("created", time(value, "created_at")),
    ]);
    for w in problems(value, "warnings") {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

pub(crate) fn render_history(value: &Value) -> String {
    let mut table = Table::new(&["REVISION", "CREATED", "AUTHOR", "HASH", "PARENT", "MESSAGE"]);
    for rev in items(value) {
        let short = |field: &str| text(rev, field).chars().take(12).collect::<String>();
        table.row(vec![
            text(rev, "revision"),
            time(rev, "created_at"),
            text(rev, "author"),
            short("hash"),
            short("parent_hash"),
            text(rev, "message")
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{Command as Top, tests::parse};

    #[test]
    fn apply_takes_file_message_and_base() {
        let Top::Config {
            command:
                Command::Apply {
                    env,
                    file,
                    message,
                    base,
                },
            ..
        } = parse(&[
            "config", "apply", "--env", "dev", "-f", "dev.yaml", "-m", "first", "--base", "3",
        ])
        .unwrap()
        else {
            panic!("expected config apply");
        };
        assert_eq!(
            (env.as_str(), file.as_str(), message.as_str(), base),
            ("dev", "dev.yaml", "first", Some(3))
        );
        assert!(
            parse(&["config", "apply", "--env", "dev", "-f", "dev.yaml"]).is_err(),
            "message is required"
        );
        assert!(parse(&["config", "plan", "--env", "dev", "--file", "x.yaml"]).is_ok());
    }

    #[test]
    fn export_prints_only_the_document() {
        assert_eq!(
            render_export(&json!({"revision": 2, "document": "providers: {}"})),
            "providers: {}\n"
        );
        assert_eq!(render_export(&json!({"revision": 0, "document": ""})), "");
    }

    #[test]
    fn plan_lists_errors_with_paths_and_lines() {
        let out = render_plan(&json!({
            "valid": false, "base_revision": 1,
            "errors": [{"path": "providers.a.kind", "message": "unknown kind"}, {"path": "", "message": "bad", "line": 3, "column": 1}],
            "warnings": [],
            "diff": {"added": 1, "removed": 0, "text": "@@ -0,0 +1,1 @@\n+x\n"}
        }));
        assert_eq!(
            out,
            "valid: no, 2 error(s)\n  error: providers.a.kind: unknown kind\n  error: bad (line 3, column 1)\n\
             1 line(s) added, 0 removed\n@@ -0,0 +1,1 @@\n+x\n"
        );
    }

    #[test]
    fn plan_without_changes_says_so() {
        let out = render_plan(
            &json!({"valid": true, "base_revision": 4, "errors": [], "warnings": [{"path": "p", "message": "m"}],
            "diff": {"added": 0, "removed": 0, "text": ""}}),
        );
        assert_eq!(
            out,
            "valid: yes (against revision 4)\n  warning: p: m\nno changes\n"
        );
    }

    #[test]
    fn history_shows_short_hashes_and_first_message_lines() {
        let out = render_history(
            &json!({"data": [{"revision": 1, "created_at": 0, "author": "alice",
            "hash": "0123456789abcdef", "parent_hash": "", "message": "first\nmore"}]}),
        );
        assert_eq!(
            out,
            "REVISION  CREATED               AUTHOR  HASH          PARENT  MESSAGE\n1         1970-01-01 00:00:00Z  alice   0123456789ab  -       first\n"
        );
    }
}
