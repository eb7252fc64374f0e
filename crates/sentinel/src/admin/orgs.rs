//! `sentinel orgs`: organizations (platform administrators only).

use clap::Subcommand;
use serde_json::{Value, json};

use super::{
    client::Client,
    operators, pretty,
    table::{Table, fields, items, text, time},
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every organization.
    List,
    /// Create an organization and its first admin; the token is shown once.
    Create {
        /// Lowercase letters, digits and '-', starting with a letter.
        name: String,
        /// The first admin's name.
        #[arg(long, default_value = "admin")]
        admin_name: String,
    },
}

pub(super) async fn run(client: &Client, command: Command, json: bool) -> anyhow::Result<String> {
    let value = match command {
        Command::List => client.get(&["orgs"], &[]).await?,
        Command::Create { name, admin_name } => {
            client
                .post(
                    &["orgs"],
                    &json!({ "name": name, "admin_name": admin_name }),
                )
                .await?
        }
    };
    Ok(if json {
        pretty(&value)
    } else if value.get("admin").is_some() {
        render_created(&value)
    } else {
        render_list(&value)
    })
}

fn render_list(value: &Value) -> String {
    let mut table = Table::new(&["NAME", "ID", "CREATED"]);
    for org in items(value) {
        table.row(vec![
            text(org, "name"),
            text(org, "id"),
            time(org, "created_at"),
        ]);
    }
    table.render()
}

fn render_created(value: &Value) -> String {
    let mut out = fields(&[
        ("organization", text(value, "name")),
        ("id", text(value, "id")),
    ]);
    out.push_str("\nIts first admin:\n");
    out.push_str(&operators::render_created(&value["admin"]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{Command as Top, tests::parse};

    #[test]
    fn create_takes_a_name_and_an_optional_admin_name() {
        let Top::Orgs {
            command: Command::Create { name, admin_name },
            ..
        } = parse(&["orgs", "create", "acme"]).unwrap()
        else {
            panic!("expected orgs create");
        };
        assert_eq!((name.as_str(), admin_name.as_str()), ("acme", "admin"));
        assert!(parse(&["orgs", "create"]).is_err());
    }

    #[test]
    fn created_org_shows_the_admin_token_once() {
        let out = render_created(&json!({"name": "acme", "id": "g1", "admin": {
            "token": "sntop_x", "name": "admin", "id": "o1",
            "grants": [{"role": "admin", "environment": null}]}}));
        assert!(out.starts_with("organization: acme\n"), "{out}");
        assert!(out.contains("token:  sntop_x"), "{out}");
        assert!(out.contains("cannot show it again"), "{out}");
    }
}
