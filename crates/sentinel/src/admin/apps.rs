//! `sentinel apps`: applications of an environment.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{
    client::Client,
    pretty,
    table::{Table, fields, items, text, time},
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the applications of an environment.
    List {
        #[arg(long)]
        env: String,
    },
    /// Create an application.
    Create {
        #[arg(long)]
        env: String,
        /// Lowercase letters, digits and '-', starting with a letter.
        name: String,
    },
}

pub(super) async fn run(client: &Client, command: Command, json: bool) -> anyhow::Result<String> {
    match command {
        Command::List { env } => {
            let value = client
                .get(&["environments", &env, "applications"], &[])
                .await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_list(&value)
            })
        }
        Command::Create { env, name } => {
            let value = client
                .post(
                    &["environments", &env, "applications"],
                    &json!({ "name": name }),
                )
                .await?;
            Ok(if json {
                pretty(&value)
            } else {
                fields(&[
                    ("application", text(&value, "name")),
                    ("environment", text(&value, "environment")),
                    ("id", text(&value, "id")),
                    ("created", time(&value, "created_at")),
                ])
            })
        }
    }
}

pub(crate) fn render_list(value: &Value) -> String {
    let mut table = Table::new(&["NAME", "ID", "CREATED"]);
    for app in items(value) {
        table.row(vec![
            text(app, "name"),
            text(app, "id"),
            time(app, "created_at"),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{Command as Top, tests::parse};

    #[test]
    fn create_needs_env_and_name() {
        let Top::Apps {
            command: Command::Create { env, name },
            ..
        } = parse(&["apps", "create", "--env", "dev", "checkout"]).unwrap()
        else {
            panic!("expected apps create");
        };
        assert_eq!((env.as_str(), name.as_str()), ("dev", "checkout"));
        assert!(parse(&["apps", "create", "checkout"]).is_err());
        assert!(parse(&["apps", "list"]).is_err());
    }

    #[test]
    fn list_renders_a_table() {
        let value = json!({"data": [{"name": "checkout", "id": "a1", "created_at": 0}]});
        assert_eq!(
            render_list(&value),
            "NAME      ID  CREATED\ncheckout  a1  1970-01-01 00:00:00Z\n"
        );
    }
}
