//! `sentinel env`: environments.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{
    client::Client,
    pretty,
    table::{Table, fields, items, text, time},
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List environments.
    List,
    /// Create an environment.
    Create {
        /// Lowercase letters, digits and '-', starting with a letter.
        name: String,
        /// Changes will need a second operator's approval; plain http refused.
        #[arg(long)]
        protected: bool,
        /// A data-plane host that belongs to this environment (repeatable).
        #[arg(long = "host", value_name = "HOST")]
        hosts: Vec<String>,
    },
    /// Show one environment.
    Show { name: String },
    /// Change an environment's protection or hosts.
    Update {
        name: String,
        /// Turn protection on or off (lifting it needs an admin).
        #[arg(long, value_name = "BOOL")]
        protected: Option<bool>,
        /// Replace the hosts with these (repeatable).
        #[arg(long = "host", value_name = "HOST", conflicts_with = "no_hosts")]
        hosts: Vec<String>,
        /// Remove every host.
        #[arg(long)]
        no_hosts: bool,
    },
}

pub(super) async fn run(client: &Client, command: Command, json: bool) -> anyhow::Result<String> {
    let value = match command {
        Command::List => {
            let value = client.get(&["environments"], &[]).await?;
            return Ok(if json {
                pretty(&value)
            } else {
                render_list(&value)
            });
        }
        Command::Create {
            name,
            protected,
            hosts,
        } => {
            client
                .post(
                    &["environments"],
                    &json!({ "name": name, "protected": protected, "hosts": hosts }),
                )
                .await?
        }
        Command::Show { name } => client.get(&["environments", &name], &[]).await?,
        Command::Update {
            name,
            protected,
            hosts,
            no_hosts,
        } => {
            let body = update_body(protected, hosts, no_hosts)?;
            client.patch(&["environments", &name], &body).await?
        }
    };
    Ok(if json {
        pretty(&value)
    } else {
        render_one(&value)
    })
}

/// The PATCH body: only what was asked to change.
fn update_body(
    protected: Option<bool>,
    hosts: Vec<String>,
    no_hosts: bool,
) -> anyhow::Result<Value> {
    let mut body = serde_json::Map::new();
    if let Some(protected) = protected {
        body.insert("protected".into(), json!(protected));
    }
    if no_hosts || !hosts.is_empty() {
        body.insert("hosts".into(), json!(hosts));
    }
    if body.is_empty() {
        anyhow::bail!("nothing to change: give --protected, --host or --no-hosts");
    }
    Ok(Value::Object(body))
}

pub(crate) fn render_list(value: &Value) -> String {
    let mut table = Table::new(&["NAME", "PROTECTED", "HOSTS", "CREATED"]);
    for env in items(value) {
        table.row(vec![
            text(env, "name"),
            yes_no(&env["protected"]),
            text(env, "hosts"),
            time(env, "created_at"),
        ]);
    }
    table.render()
}

pub(crate) fn render_one(env: &Value) -> String {
    fields(&[
        ("name", text(env, "name")),
        ("id", text(env, "id")),
        ("protected", yes_no(&env["protected"])),
        ("hosts", text(env, "hosts")),
        ("created", time(env, "created_at")),
    ])
}

fn yes_no(value: &Value) -> String {
    if value.as_bool().unwrap_or(false) {
        "yes"
    } else {
        "no"
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{Command as Top, tests::parse};

    #[test]
    fn create_takes_protection_and_hosts() {
        let Top::Env {
            command:
                Command::Create {
                    name,
                    protected,
                    hosts,
                },
            ..
        } = parse(&[
            "env",
            "create",
            "prod",
            "--protected",
            "--host",
            "a.example.com",
            "--host",
            "b.example.com",
        ])
        .unwrap()
        else {
            panic!("expected env create");
        };
        assert_eq!((name.as_str(), protected), ("prod", true));
        assert_eq!(hosts, ["a.example.com", "b.example.com"]);
        assert!(parse(&["env", "create"]).is_err());
    }

    #[test]
    fn update_sends_only_what_changes() {
        assert_eq!(
            update_body(Some(false), vec![], false).unwrap(),
            json!({"protected": false})
        );
        assert_eq!(
            update_body(None, vec![], true).unwrap(),
            json!({"hosts": []})
        );
        assert_eq!(
            update_body(None, vec!["a".into()], false).unwrap(),
            json!({"hosts": ["a"]})
        );
        assert!(update_body(None, vec![], false).is_err());
        assert!(parse(&["env", "update", "dev", "--protected", "true"]).is_ok());
        assert!(parse(&["env", "update", "dev", "--host", "a", "--no-hosts"]).is_err());
    }

    #[test]
    fn list_renders_a_table() {
        let value = json!({"data": [
            {"name": "dev", "protected": false, "hosts": [], "created_at": 0},
            {"name": "prod", "protected": true, "hosts": ["api.example.com"], "created_at": 1_700_000_000_000i64},
        ]});
        assert_eq!(
            render_list(&value),
            "NAME  PROTECTED  HOSTS            CREATED\n\
             dev   no         -                1970-01-01 00:00:00Z\n\
             prod  yes        api.example.com  2023-11-14 22:13:20Z\n"
        );
    }
}
