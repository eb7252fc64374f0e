//! `sentinel changes` (list, show, approve, reject, apply) and
//! `sentinel promote`: the review side of config changes. Opening a change
//! request is `config apply`, `config rollback` or `promote`.

use clap::Subcommand;
use serde_json::{Map, Value, json};

use super::{
    client::Client,
    pretty,
    table::{Table, fields, items, text, time},
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List an environment's change requests, newest first.
    List {
        #[arg(long)]
        env: String,
        /// Only pending, applied, rejected or stale ones.
        #[arg(long)]
        status: Option<String>,
    },
    /// Show a change request and its diff against the current revision.
    Show {
        #[arg(long)]
        env: String,
        /// The change request's number.
        id: i64,
    },
    /// Approve a pending change request (approvers and admins, not its author).
    Approve {
        #[arg(long)]
        env: String,
        id: i64,
        /// Apply it right after approving.
        #[arg(long)]
        apply: bool,
    },
    /// Reject a pending change request (its author may withdraw it).
    Reject {
        #[arg(long)]
        env: String,
        id: i64,
        /// Why it is rejected (kept with the request).
        #[arg(long)]
        reason: String,
    },
    /// Apply a pending change request (approved first in a protected environment).
    Apply {
        #[arg(long)]
        env: String,
        id: i64,
    },
}

pub(super) async fn run(client: &Client, command: Command, json: bool) -> anyhow::Result<String> {
    let (value, render): (Value, fn(&Value) -> String) = match command {
        Command::List { env, status } => (
            client
                .get(&["environments", &env, "changes"], &[("status", status)])
                .await?,
            render_list,
        ),
        Command::Show { env, id } => (
            client
                .get(&["environments", &env, "changes", &id.to_string()], &[])
                .await?,
            render_show,
        ),
        Command::Approve { env, id, apply } => (
            client
                .post(
                    &["environments", &env, "changes", &id.to_string(), "approve"],
                    &json!({ "apply": apply }),
                )
                .await?,
            render_proposed,
        ),
        Command::Reject { env, id, reason } => (
            client
                .post(
                    &["environments", &env, "changes", &id.to_string(), "reject"],
                    &json!({ "reason": reason }),
                )
                .await?,
            render_change,
        ),
        Command::Apply { env, id } => (
            client
                .post(
                    &["environments", &env, "changes", &id.to_string(), "apply"],
                    &json!({}),
                )
                .await?,
            render_proposed,
        ),
    };
    Ok(if json { pretty(&value) } else { render(&value) })
}

/// `sentinel promote --from staging --to prod [--only route_plans,policies]`.
pub(super) async fn promote(
    client: &Client,
    from: &str,
    to: &str,
    only: &[String],
    message: Option<String>,
    json: bool,
) -> anyhow::Result<String> {
    let mut body = Map::new();
    body.insert("from".into(), json!(from));
    if !only.is_empty() {
        body.insert("only".into(), json!(only));
    }
    if let Some(message) = message {
        body.insert("message".into(), json!(message));
    }
    let value = client
        .post(&["environments", to, "promotions"], &Value::Object(body))
        .await?;
    Ok(if json {
        pretty(&value)
    } else {
        render_proposed(&value)
    })
}

fn source(change: &Value) -> String {
    match (
        change["source"]["environment"].as_str(),
        change["source"]["revision"].as_i64(),
    ) {
        (Some(env), Some(rev)) => format!("{env} revision {rev}"),
        _ => "-".to_owned(),
    }
}

fn approvals(change: &Value) -> String {
    let list: Vec<String> = change["approvals"]
        .as_array()
        .map(|a| a.iter().map(|x| text(x, "by")).collect())
        .unwrap_or_default();
    if list.is_empty() {
        "-".to_owned()
    } else {
        list.join(",")
    }
}

pub(crate) fn render_list(value: &Value) -> String {
    let mut table = Table::new(&[
        "ID", "STATUS", "KIND", "BASE", "AUTHOR", "APPROVED", "CREATED", "MESSAGE",
    ]);
    for change in items(value) {
        table.row(vec![
            text(change, "id"),
            text(change, "status"),
            text(change, "kind"),
            text(change, "base_revision"),
            text(change, "author"),
            approvals(change),
            time(change, "created_at"),
            text(change, "message")
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        ]);
    }
    table.render()
}

pub(crate) fn render_change(change: &Value) -> String {
    fields(&[
        ("change request", text(change, "id")),
        ("environment", text(change, "environment")),
        ("status", text(change, "status")),
        ("kind", text(change, "kind")),
        ("source", source(change)),
        ("base revision", text(change, "base_revision")),
        ("author", text(change, "author")),
        ("created", time(change, "created_at")),
        ("message", text(change, "message")),
        ("approved by", approvals(change)),
        ("decided by", text(change, "decided_by")),
        ("reason", text(change, "reason")),
        ("applied as", text(change, "applied_revision")),
    ])
}

pub(crate) fn render_show(value: &Value) -> String {
    let mut out = render_change(value);
    let diff = &value["diff"];
    let (added, removed) = (
        diff["added"].as_u64().unwrap_or(0),
        diff["removed"].as_u64().unwrap_or(0),
    );
    let current = value["current_revision"].as_i64().unwrap_or(0);
    if added == 0 && removed == 0 {
        out.push_str(&format!(
            "no changes against the current revision ({current})\n"
        ));
    } else {
        out.push_str(&format!(
            "against the current revision ({current}): {added} line(s) added, {removed} removed\n"
        ));
        out.push_str(diff["text"].as_str().unwrap_or_default());
    }
    out
}

/// The answer to opening, approving or applying a change request.
pub(crate) fn render_proposed(value: &Value) -> String {
    let change = &value["change_request"];
    let env = text(change, "environment");
    let id = text(change, "id");
    let mut out = match value["status"].as_str() {
        Some("applied") => format!(
            "change request {id} applied as revision {} of {env} (hash {})\n",
            text(value, "revision"),
            text(value, "hash").chars().take(12).collect::<String>()
        ),
        _ if change["approvals"]
            .as_array()
            .is_some_and(|a| !a.is_empty()) =>
        {
            format!(
                "change request {id} of {env} is approved by {}; apply it: sentinel changes apply --env {env} {id}\n",
                approvals(change)
            )
        }
        _ => format!(
            "change request {id} of {env} is pending: {env} is protected, so an approver other than {} must approve it\n  sentinel changes show --env {env} {id}\n  sentinel changes approve --env {env} {id} [--apply]\n",
            text(change, "author")
        ),
    };
    for w in value["warnings"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "warning: {}: {}\n",
            text(w, "path"),
            text(w, "message")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{Command as Top, tests::parse};

    #[test]
    fn approve_takes_an_id_and_apply() {
        let Top::Changes {
            command: Command::Approve { env, id, apply },
            ..
        } = parse(&["changes", "approve", "--env", "prod", "3", "--apply"]).unwrap()
        else {
            panic!("expected changes approve");
        };
        assert_eq!((env.as_str(), id, apply), ("prod", 3, true));
        assert!(
            parse(&["changes", "reject", "--env", "prod", "3"]).is_err(),
            "a rejection needs a reason"
        );
    }

    #[test]
    fn promote_splits_only() {
        let Top::Promote { from, to, only, .. } = parse(&[
            "promote",
            "--from",
            "staging",
            "--to",
            "prod",
            "--only",
            "route_plans,policies",
        ])
        .unwrap() else {
            panic!("expected promote");
        };
        assert_eq!(
            (from.as_str(), to.as_str(), only),
            (
                "staging",
                "prod",
                vec!["route_plans".into(), "policies".into()]
            )
        );
    }

    #[test]
    fn pending_answers_say_what_to_do_next() {
        let out = render_proposed(&json!({"status": "pending", "change_request": {
            "id": 2, "environment": "prod", "author": "alice", "approvals": []}, "warnings": []}));
        assert!(
            out.starts_with("change request 2 of prod is pending"),
            "{out}"
        );
        assert!(
            out.contains("sentinel changes approve --env prod 2"),
            "{out}"
        );
        let out = render_proposed(
            &json!({"status": "applied", "revision": 4, "hash": "0123456789abcdef",
            "change_request": {"id": 2, "environment": "prod"}, "warnings": []}),
        );
        assert_eq!(
            out,
            "change request 2 applied as revision 4 of prod (hash 0123456789ab)\n"
        );
    }

    #[test]
    fn show_prints_the_diff() {
        let out = render_show(
            &json!({"id": 1, "environment": "dev", "status": "pending", "kind": "promotion",
            "source": {"environment": "staging", "revision": 7}, "approvals": [], "current_revision": 3,
            "diff": {"added": 1, "removed": 0, "text": "@@ -0,0 +1,1 @@\n+x\n"}}),
        );
        assert!(
            out.contains("source:         staging revision 7\n"),
            "{out}"
        );
        assert!(out.ends_with(
            "against the current revision (3): 1 line(s) added, 0 removed\n@@ -0,0 +1,1 @@\n+x\n"
        ));
    }
}
