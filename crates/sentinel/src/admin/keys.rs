//! `sentinel keys`: client keys. The key is printed once, by `create`.

use clap::Subcommand;
use serde_json::{Map, Value, json};

use super::{
    client::Client,
    pretty,
    table::{Table, fields, items, text, time},
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the keys of an environment (never the keys themselves).
    List {
        #[arg(long)]
        env: String,
    },
    /// Create a key for an application; the key is shown once.
    Create {
        #[arg(long)]
        env: String,
        #[arg(long = "app")]
        app: String,
        /// A label for the key (defaults to the application name).
        #[arg(long)]
        name: Option<String>,
        /// The key expires after this many days.
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<i64>,
    },
    /// Show one key's metadata.
    Show {
        #[arg(long)]
        env: String,
        id: String,
    },
    /// Revoke a key now.
    Revoke {
        #[arg(long)]
        env: String,
        id: String,
    },
    /// Rotate a key: a new key for the same application is shown once, and
    /// the old key stays valid for the overlap, then expires.
    Rotate {
        #[arg(long)]
        env: String,
        id: String,
        /// How long the old key stays valid: e.g. 90s, 30m, 1h, 7d.
        #[arg(long, value_parser = overlap_arg)]
        overlap: i64,
    },
}

/// `--overlap` in seconds.
fn overlap_arg(text: &str) -> Result<i64, String> {
    super::duration_s(text)
        .filter(|s| *s >= 0)
        .ok_or_else(|| format!("{text:?}: write a duration such as 90s, 30m, 1h or 7d"))
}

pub(super) async fn run(client: &Client, command: Command, json: bool) -> anyhow::Result<String> {
    match command {
        Command::List { env } => {
            let value = client.get(&["environments", &env, "keys"], &[]).await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_list(&value)
            })
        }
        Command::Create {
            env,
            app,
            name,
            expires_in_days,
        } => {
            let mut body = Map::new();
            body.insert("application".into(), json!(app));
            if let Some(name) = name {
                body.insert("name".into(), json!(name));
            }
            if let Some(days) = expires_in_days {
                body.insert("expires_in_days".into(), json!(days));
            }
            let value = client
                .post(&["environments", &env, "keys"], &Value::Object(body))
                .await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_created(&value)
            })
        }
        Command::Show { env, id } => {
            let value = client
                .get(&["environments", &env, "keys", &id], &[])
                .await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_one(&value)
            })
        }
        Command::Rotate { env, id, overlap } => {
            let value = client
                .post(
                    &["environments", &env, "keys", &id, "rotate"],
                    &json!({ "overlap_s": overlap }),
                )
                .await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_rotated(&value)
            })
        }
        Command::Revoke { env, id } => {
            let value = client
                .post(&["environments", &env, "keys", &id, "revoke"], &json!({}))
                .await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_one(&value)
            })
        }
    }
}

pub(crate) fn render_list(value: &Value) -> String {
    let mut table = Table::new(&[
        "ID",
        "NAME",
        "APP",
        "STATE",
        "PREFIX",
        "CREATED",
        "EXPIRES",
        "LAST USED",
    ]);
    for key in items(value) {
        table.row(vec![
            text(key, "id"),
            text(key, "name"),
            text(key, "application"),
            text(key, "state"),
            text(key, "prefix"),
            time(key, "created_at"),
            time(key, "expires_at"),
            time(key, "last_used_at"),
        ]);
    }
    table.render()
}

fn meta(key: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("id", text(key, "id")),
        ("name", text(key, "name")),
        ("environment", text(key, "environment")),
        ("application", text(key, "application")),
        ("state", text(key, "state")),
        ("prefix", text(key, "prefix")),
        ("created", time(key, "created_at")),
        ("expires", time(key, "expires_at")),
        ("revoked", time(key, "revoked_at")),
        ("last used", time(key, "last_used_at")),
    ]
}

pub(crate) fn render_one(key: &Value) -> String {
    fields(&meta(key))
}

pub(crate) fn render_created(key: &Value) -> String {
    let mut pairs = vec![("key", text(key, "key"))];
    pairs.extend(meta(key));
    let mut out = fields(&pairs);
    out.push_str("\nStore the key now: Sentinel keeps only its digest and cannot show it again.\n");
    out
}

pub(crate) fn render_rotated(value: &Value) -> String {
    let mut out = render_created(value);
    let old = &value["replaces"];
    out.push_str(&format!(
        "\nThe old key {} stays valid until {}.\n",
        text(old, "id"),
        time(old, "expires_at")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{Command as Top, tests::parse};

    #[test]
    fn create_takes_app_name_and_lifetime() {
        let Top::Keys {
            command:
                Command::Create {
                    env,
                    app,
                    name,
                    expires_in_days,
                },
            ..
        } = parse(&[
            "keys",
            "create",
            "--env",
            "dev",
            "--app",
            "checkout",
            "--name",
            "ci",
            "--expires-in-days",
            "30",
        ])
        .unwrap()
        else {
            panic!("expected keys create");
        };
        assert_eq!((env.as_str(), app.as_str()), ("dev", "checkout"));
        assert_eq!((name.as_deref(), expires_in_days), (Some("ci"), Some(30)));
        assert!(parse(&["keys", "create", "--env", "dev"]).is_err());
        assert!(parse(&["keys", "revoke", "--env", "dev"]).is_err());
    }

    #[test]
    fn rotate_takes_an_overlap_duration() {
        let Top::Keys {
            command: Command::Rotate { env, id, overlap },
            ..
        } = parse(&["keys", "rotate", "--env", "dev", "k1", "--overlap", "1h"]).unwrap()
        else {
            panic!("expected keys rotate");
        };
        assert_eq!((env.as_str(), id.as_str(), overlap), ("dev", "k1", 3600));
        assert!(parse(&["keys", "rotate", "--env", "dev", "k1", "--overlap", "soon"]).is_err());
        assert!(parse(&["keys", "rotate", "--env", "dev", "k1"]).is_err());
    }

    #[test]
    fn created_key_is_printed_with_a_warning() {
        let out =
            render_created(&json!({"key": "snt_dev_0123_abcd", "id": "0123", "state": "active"}));
        assert!(out.starts_with("key:         snt_dev_0123_abcd\n"), "{out}");
        assert!(out.contains("cannot show it again"));
    }

    #[test]
    fn list_shows_state_and_prefix() {
        let out = render_list(
            &json!({"data": [{"id": "0123", "name": "ci", "application": "checkout",
            "state": "revoked", "prefix": "snt_dev_0123", "created_at": 0, "expires_at": null}]}),
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "ID    NAME  APP       STATE    PREFIX        CREATED               EXPIRES  LAST USED"
        );
        assert_eq!(
            lines[1],
            "0123  ci    checkout  revoked  snt_dev_0123  1970-01-01 00:00:00Z  -        -"
        );
    }
}
