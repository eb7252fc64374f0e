//! `sentinel operators` and `sentinel whoami`.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{
    client::Client,
    pretty,
    table::{Table, fields, items, text, time},
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the operators of your organization.
    List,
    /// Create an operator; its token is shown once.
    Create {
        name: String,
        /// admin, operator, approver or auditor.
        #[arg(long, value_parser = ["admin", "operator", "approver", "auditor"])]
        role: String,
    },
}

pub(super) async fn run(client: &Client, command: Command, json: bool) -> anyhow::Result<String> {
    match command {
        Command::List => {
            let value = client.get(&["operators"], &[]).await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_list(&value)
            })
        }
        Command::Create { name, role } => {
            let value = client
                .post(&["operators"], &json!({ "name": name, "role": role }))
                .await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_created(&value)
            })
        }
    }
}

pub(crate) fn render_list(value: &Value) -> String {
    let mut table = Table::new(&["NAME", "ROLE", "ID", "CREATED", "REVOKED"]);
    for op in items(value) {
        table.row(vec![
            text(op, "name"),
            text(op, "role"),
            text(op, "id"),
            time(op, "created_at"),
            time(op, "revoked_at"),
        ]);
    }
    table.render()
}

pub(crate) fn render_created(op: &Value) -> String {
    let mut out = fields(&[
        ("token", text(op, "token")),
        ("name", text(op, "name")),
        ("role", text(op, "role")),
        ("id", text(op, "id")),
    ]);
    out.push_str(
        "\nStore the token now: Sentinel keeps only its digest and cannot show it again.\n",
    );
    out
}

pub(crate) fn render_whoami(value: &Value) -> String {
    fields(&[
        ("name", text(value, "name")),
        ("role", text(value, "role")),
        ("id", text(value, "id")),
        ("organization", text(&value["organization"], "name")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{Command as Top, tests::parse};

    #[test]
    fn create_needs_a_known_role() {
        let Top::Operators {
            command: Command::Create { name, role },
            ..
        } = parse(&["operators", "create", "ci-bot", "--role", "operator"]).unwrap()
        else {
            panic!("expected operators create");
        };
        assert_eq!((name.as_str(), role.as_str()), ("ci-bot", "operator"));
        assert!(parse(&["operators", "create", "x", "--role", "root"]).is_err());
        assert!(parse(&["operators", "create", "x"]).is_err());
    }

    #[test]
    fn created_operator_shows_the_token_once_with_a_warning() {
        let out = render_created(
            &json!({"token": "sntop_abc", "name": "ci", "role": "operator", "id": "o1"}),
        );
        assert!(out.starts_with("token: sntop_abc\n"), "{out}");
        assert!(out.contains("cannot show it again"));
    }

    #[test]
    fn whoami_names_the_organization() {
        let out = render_whoami(
            &json!({"name": "alice", "role": "admin", "id": "o1", "organization": {"name": "default"}}),
        );
        assert_eq!(
            out,
            "name:         alice\nrole:         admin\nid:           o1\norganization: default\n"
        );
    }
}
