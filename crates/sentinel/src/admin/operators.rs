//! `sentinel operators` and `sentinel whoami`.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{
    client::Client,
    pretty,
    table::{Table, fields, items, text, time},
};

const ROLES: [&str; 4] = ["admin", "operator", "approver", "auditor"];

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the operators of your organization with their grants.
    List,
    /// Create an operator; its token is shown once.
    Create {
        name: String,
        /// admin, operator, approver or auditor.
        #[arg(long, value_parser = ROLES)]
        role: String,
        /// Grant the role in this environment only (repeatable); without
        /// it, in every environment.
        #[arg(long = "env")]
        environments: Vec<String>,
    },
    /// Add a grant to an operator (its other grants stay).
    Grant {
        /// The operator's id.
        id: String,
        #[arg(long, value_parser = ROLES)]
        role: String,
        /// This environment only (repeatable); without it, every environment.
        #[arg(long = "env")]
        environments: Vec<String>,
    },
    /// Revoke an operator: its token stops working at once.
    Revoke {
        /// The operator's id.
        id: String,
    },
}

/// The grant body for a role and optional environments.
fn grant(role: &str, environments: Vec<String>) -> Value {
    if environments.is_empty() {
        json!({ "role": role })
    } else {
        json!({ "role": role, "environments": environments })
    }
}

/// The operator's current grants as the API takes them back.
fn grant_bodies(operator: &Value) -> Vec<Value> {
    operator["grants"]
        .as_array()
        .map(|grants| {
            grants
                .iter()
                .map(|g| match g["environment"].as_str() {
                    Some(env) => json!({ "role": g["role"], "environments": [env] }),
                    None => json!({ "role": g["role"] }),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) async fn run(client: &Client, command: Command, json: bool) -> anyhow::Result<String> {
    let value = match command {
        Command::List => {
            let value = client.get(&["operators"], &[]).await?;
            return Ok(if json {
                pretty(&value)
            } else {
                render_list(&value)
            });
        }
        Command::Create {
            name,
            role,
            environments,
        } => {
            let mut body = grant(&role, environments);
            body["name"] = json!(name);
            let value = client.post(&["operators"], &body).await?;
            return Ok(if json {
                pretty(&value)
            } else {
                render_created(&value)
            });
        }
        Command::Grant {
            id,
            role,
            environments,
        } => {
            let list = client.get(&["operators"], &[]).await?;
            let operator = items(&list)
                .iter()
                .find(|op| op["id"] == id.as_str())
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("operator {id:?} not found"))?;
            let mut grants = grant_bodies(&operator);
            grants.push(grant(&role, environments));
            client
                .put(&["operators", &id, "grants"], &json!({ "grants": grants }))
                .await?
        }
        Command::Revoke { id } => {
            client
                .post(&["operators", &id, "revoke"], &json!({}))
                .await?
        }
    };
    Ok(if json {
        pretty(&value)
    } else {
        render_list(&json!({ "data": [value] }))
    })
}

/// `role` for an org-wide grant, `role@env` for one environment.
fn grants_text(op: &Value) -> String {
    let grants: Vec<String> = op["grants"]
        .as_array()
        .map(|grants| {
            grants
                .iter()
                .map(|g| {
                    let role = g["role"].as_str().unwrap_or("?");
                    match g["environment"].as_str() {
                        Some(env) => format!("{role}@{env}"),
                        None => role.to_owned(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if grants.is_empty() {
        "-".to_owned()
    } else {
        grants.join(",")
    }
}

pub(crate) fn render_list(value: &Value) -> String {
    let mut table = Table::new(&["NAME", "GRANTS", "ID", "CREATED", "REVOKED"]);
    for op in items(value) {
        table.row(vec![
            text(op, "name"),
            grants_text(op),
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
        ("grants", grants_text(op)),
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
        ("grants", grants_text(value)),
        ("id", text(value, "id")),
        ("organization", text(&value["organization"], "name")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{Command as Top, tests::parse};

    #[test]
    fn create_needs_a_known_role_and_takes_environments() {
        let Top::Operators {
            command:
                Command::Create {
                    name,
                    role,
                    environments,
                },
            ..
        } = parse(&[
            "operators",
            "create",
            "ci-bot",
            "--role",
            "operator",
            "--env",
            "dev",
        ])
        .unwrap()
        else {
            panic!("expected operators create");
        };
        assert_eq!((name.as_str(), role.as_str()), ("ci-bot", "operator"));
        assert_eq!(environments, ["dev"]);
        assert!(parse(&["operators", "create", "x", "--role", "root"]).is_err());
        assert!(parse(&["operators", "create", "x"]).is_err());
        assert!(parse(&["operators", "revoke"]).is_err());
    }

    #[test]
    fn grant_keeps_the_existing_grants() {
        let op = json!({"grants": [{"role": "operator", "environment": "dev"}, {"role": "auditor", "environment": null}]});
        assert_eq!(
            grant_bodies(&op),
            [
                json!({"role": "operator", "environments": ["dev"]}),
                json!({"role": "auditor"})
            ]
        );
        assert_eq!(grants_text(&op), "operator@dev,auditor");
        assert_eq!(grant("admin", vec![]), json!({"role": "admin"}));
    }

    #[test]
    fn created_operator_shows_the_token_once_with_a_warning() {
        let out = render_created(
            &json!({"token": "sntop_abc", "name": "ci", "grants": [{"role": "operator", "environment": null}], "id": "o1"}),
        );
        assert!(out.starts_with("token:  sntop_abc\n"), "{out}");
        assert!(out.contains("grants: operator\n"), "{out}");
        assert!(out.contains("cannot show it again"));
    }

    #[test]
    fn whoami_names_the_organization() {
        let out = render_whoami(
            &json!({"name": "alice", "grants": [{"role": "admin", "environment": null}], "id": "o1", "organization": {"name": "default"}}),
        );
        assert_eq!(
            out,
            "name:         alice\ngrants:       admin\nid:           o1\norganization: default\n"
        );
    }
}
