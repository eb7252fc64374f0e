//! `sentinel secrets`: provider credentials. A value is read from standard
//! input or an environment variable, never from an argument.
//!
//! `set` creates a secret or stores a new version; `rotate` stores a new
//! version of an existing secret only (an unknown name is an error, so a
//! typo does not create a secret). Both retire the previous version.
//! `versions` lists every version, current or retired, never values.

use std::io::{IsTerminal as _, Read};

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::{Value, json};

use super::{
    client::Client,
    pretty,
    table::{Table, fields, items, text, time},
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List secrets: names, versions, fingerprints (never values).
    List {
        #[arg(long)]
        env: String,
    },
    /// Create a secret or store a new version. The value is read from
    /// standard input unless --from-env names a variable holding it.
    Set {
        #[arg(long)]
        env: String,
        name: String,
        /// Read the value from this environment variable.
        #[arg(long, value_name = "VAR")]
        from_env: Option<String>,
        /// Accept a value that is current in another environment (admins
        /// only; audited).
        #[arg(long)]
        allow_reuse: bool,
    },
    /// Store a new version of an existing secret and retire the previous
    /// one. Gateways use the new value from their next request.
    Rotate {
        #[arg(long)]
        env: String,
        name: String,
        /// Read the value from this environment variable.
        #[arg(long, value_name = "VAR")]
        from_env: Option<String>,
        /// Accept a value that is current in another environment (admins
        /// only; audited).
        #[arg(long)]
        allow_reuse: bool,
    },
    /// Every version of a secret: current or retired (never values).
    Versions {
        #[arg(long)]
        env: String,
        name: String,
    },
}

pub(super) async fn run(client: &Client, command: Command, json: bool) -> anyhow::Result<String> {
    match command {
        Command::List { env } => {
            let value = client.get(&["environments", &env, "secrets"], &[]).await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_list(&value)
            })
        }
        Command::Set {
            env,
            name,
            from_env,
            allow_reuse,
        } => {
            let value = read_value(from_env)?;
            let answer = client
                .put(
                    &["environments", &env, "secrets", &name],
                    &json!({ "value": value, "allow_reuse": allow_reuse }),
                )
                .await?;
            Ok(if json {
                pretty(&answer)
            } else {
                render_set(&answer)
            })
        }
        Command::Rotate {
            env,
            name,
            from_env,
            allow_reuse,
        } => {
            let value = read_value(from_env)?;
            let answer = client
                .post(
                    &["environments", &env, "secrets", &name, "rotate"],
                    &json!({ "value": value, "allow_reuse": allow_reuse }),
                )
                .await?;
            Ok(if json {
                pretty(&answer)
            } else {
                render_set(&answer)
            })
        }
        Command::Versions { env, name } => {
            let value = client
                .get(&["environments", &env, "secrets", &name, "versions"], &[])
                .await?;
            Ok(if json {
                pretty(&value)
            } else {
                render_versions(&value)
            })
        }
    }
}

/// The value from `--from-env VAR`, or standard input.
fn read_value(from_env: Option<String>) -> anyhow::Result<String> {
    match from_env {
        Some(var) => from_variable(&var, std::env::var(&var).ok()),
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("Type the secret value, then press Ctrl-D:");
            }
            from_reader(stdin.lock())
        }
    }
}

/// The value of `var`, which must be set and non-empty.
fn from_variable(var: &str, value: Option<String>) -> anyhow::Result<String> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => anyhow::bail!("environment variable {var} is not set or empty"),
    }
}

/// Reads the value from `input`, dropping one trailing newline (what `echo`
/// and a terminal add).
fn from_reader(mut input: impl Read) -> anyhow::Result<String> {
    let mut value = String::new();
    input
        .read_to_string(&mut value)
        .context("cannot read the secret value from standard input")?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    if value.is_empty() {
        anyhow::bail!("the secret value on standard input is empty");
    }
    Ok(value)
}

pub(crate) fn render_list(value: &Value) -> String {
    let mut table = Table::new(&["NAME", "VERSION", "FINGERPRINT", "UPDATED"]);
    for secret in items(value) {
        table.row(vec![
            text(secret, "name"),
            text(secret, "version"),
            text(secret, "fingerprint"),
            time(secret, "updated_at"),
        ]);
    }
    table.render()
}

fn render_versions(value: &Value) -> String {
    let mut table = Table::new(&["VERSION", "STATE", "FINGERPRINT", "CREATED", "RETIRED"]);
    for version in items(value) {
        table.row(vec![
            text(version, "version"),
            text(version, "state"),
            text(version, "fingerprint"),
            time(version, "created_at"),
            time(version, "retired_at"),
        ]);
    }
    table.render()
}

fn render_set(secret: &Value) -> String {
    fields(&[
        ("secret", text(secret, "name")),
        ("environment", text(secret, "environment")),
        ("version", text(secret, "version")),
        ("fingerprint", text(secret, "fingerprint")),
        ("updated", time(secret, "updated_at")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{Command as Top, tests::parse};

    #[test]
    fn values_never_come_from_arguments() {
        assert!(parse(&["secrets", "set", "--env", "dev", "openai", "sk-live"]).is_err());
        assert!(parse(&["secrets", "set", "--env", "dev", "openai", "--value", "sk"]).is_err());
        let Top::Secrets {
            command:
                Command::Set {
                    env,
                    name,
                    from_env,
                    ..
                },
            ..
        } = parse(&[
            "secrets",
            "set",
            "--env",
            "dev",
            "openai",
            "--from-env",
            "OPENAI_KEY",
        ])
        .unwrap()
        else {
            panic!("expected secrets set");
        };
        assert_eq!(
            (env.as_str(), name.as_str(), from_env.as_deref()),
            ("dev", "openai", Some("OPENAI_KEY"))
        );
    }

    #[test]
    fn stdin_values_lose_one_trailing_newline() {
        assert_eq!(from_reader(&b"sk-123\n"[..]).unwrap(), "sk-123");
        assert_eq!(from_reader(&b"sk-123\r\n"[..]).unwrap(), "sk-123");
        assert_eq!(from_reader(&b"a\n\n"[..]).unwrap(), "a\n");
        assert!(from_reader(&b"\n"[..]).is_err());
        assert!(from_reader(&b""[..]).is_err());
    }

    #[test]
    fn env_values_must_be_set() {
        assert_eq!(from_variable("K", Some("v".into())).unwrap(), "v");
        assert!(from_variable("K", Some(String::new())).is_err());
        assert!(
            from_variable("K", None)
                .unwrap_err()
                .to_string()
                .contains("K")
        );
    }

    #[test]
    fn rotate_takes_its_value_like_set() {
        assert!(parse(&["secrets", "rotate", "--env", "dev", "openai", "sk-live"]).is_err());
        let Top::Secrets {
            command: Command::Rotate {
                name, allow_reuse, ..
            },
            ..
        } = parse(&[
            "secrets",
            "rotate",
            "--env",
            "dev",
            "openai",
            "--allow-reuse",
        ])
        .unwrap()
        else {
            panic!("expected secrets rotate");
        };
        assert_eq!((name.as_str(), allow_reuse), ("openai", true));
    }

    #[test]
    fn versions_show_state_not_values() {
        let out = render_versions(&json!({"data": [
            {"version": 2, "state": "current", "fingerprint": "fp2", "created_at": 0, "retired_at": null},
            {"version": 1, "state": "retired", "fingerprint": "fp1", "created_at": 0, "retired_at": 0}
        ]}));
        assert!(
            out.contains("current") && out.contains("retired") && out.contains("fp1"),
            "{out}"
        );
    }

    #[test]
    fn list_shows_fingerprints_not_values() {
        let out = render_list(
            &json!({"data": [{"name": "openai", "version": 2, "fingerprint": "fp1", "updated_at": 0}]}),
        );
        assert_eq!(
            out,
            "NAME    VERSION  FINGERPRINT  UPDATED\nopenai  2        fp1          1970-01-01 00:00:00Z\n"
        );
    }
}
