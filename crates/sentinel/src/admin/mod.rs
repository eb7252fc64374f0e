//! Admin commands: `sentinel env|apps|keys|secrets|config|changes|promote|policy|requests|
//! audit|alerts|orgs|operators|review|verify|whoami`. Each talks to the console's admin API, so every change
//! is authenticated and audited exactly as it is from any other client.
//!
//! Output is a human-readable table by default and the server's JSON with
//! `--json`. Secret values are read from standard input or an environment
//! variable, never from an argument, so they stay out of `ps` and shell
//! history.

mod alerts;
mod apps;
mod audit;
mod changes;
mod client;
mod config;
mod env;
mod export;
mod keys;
mod operators;
mod orgs;
mod policy;
mod providers;
mod requests;
mod review;
mod secrets;
mod simulate;
mod table;
mod verify;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::Value;

use client::Client;

/// Where the console is and who is calling. Accepted before or after the
/// subcommand.
#[derive(Debug, Clone, Args)]
pub struct Conn {
    /// The console's URL.
    #[arg(
        long,
        env = "SENTINEL_URL",
        default_value = "http://127.0.0.1:8081",
        global = true
    )]
    pub server: String,
    /// An operator token (sntop_…). Prefer the environment variable: an
    /// argument shows in the process list.
    #[arg(long, env = "SENTINEL_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The admin commands, flattened into the binary's top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Environments: list, create, show, update.
    Env {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: env::Command,
    },
    /// Applications of an environment: list, create.
    Apps {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: apps::Command,
    },
    /// Client keys: list, create (shown once), show, revoke.
    Keys {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: keys::Command,
    },
    /// Provider credentials: list (never values), set.
    Secrets {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: secrets::Command,
    },
    /// Environment config documents: export, plan, apply, history, rollback.
    Config {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: config::Command,
    },
    /// Change requests: list, show, approve, reject, apply.
    Changes {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: changes::Command,
    },
    /// Open a change request in --to carrying sections of --from's current
    /// revision (route plans and policies unless --only says otherwise).
    /// Secrets and keys are never promoted.
    Promote {
        #[command(flatten)]
        conn: Conn,
        /// The source environment.
        #[arg(long)]
        from: String,
        /// The target environment.
        #[arg(long)]
        to: String,
        /// Sections to promote: route_plans, policies, providers, prices.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Why (kept in the history); a default names source and sections.
        #[arg(short = 'm', long = "message")]
        message: Option<String>,
    },
    /// Request records: search, show.
    Requests {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: requests::Command,
    },
    /// The audit log: list, verify.
    Audit {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: audit::Command,
    },
    /// Export request records or audit events (JSON Lines or CSV).
    Export {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: export::Command,
    },
    /// Alerts: rules with their state, and their history.
    Alerts {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: alerts::Command,
    },
    /// Policies: explain a decision, simulate a candidate on recorded traffic.
    Policy {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: policy::Command,
    },
    /// Provider endpoints: health (breaker state, recent errors).
    Providers {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: providers::Command,
    },
    /// Organizations (platform administrators only): list, create.
    Orgs {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: orgs::Command,
    },
    /// Operators of your organization (admins only): list, create, grant,
    /// revoke.
    Operators {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        command: operators::Command,
    },
    /// The production readiness review of an environment: the review's
    /// questions and the rollout checklist, each item pass, fail or
    /// unknown with evidence and a fix. Exits 1 when a required item fails.
    Review {
        #[command(flatten)]
        conn: Conn,
        /// The environment to review.
        #[arg(long)]
        env: String,
        /// text (default), md or json (also --json).
        #[arg(long, value_enum, default_value = "text")]
        format: review::Format,
        /// The environment whose evidence counts too (default: staging).
        #[arg(long)]
        staging: Option<String>,
        /// Exit 1 also when a required item is unknown.
        #[arg(long)]
        strict: bool,
    },
    /// Prove an environment's request and operator flows end to end with
    /// a short-lived key (revoked at the end); exits non-zero when a step
    /// failed. --latest prints the stored latest run.
    Verify {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        args: verify::VerifyArgs,
    },
    /// Show the operator the token belongs to.
    Whoami {
        #[command(flatten)]
        conn: Conn,
    },
}

/// Runs one admin command and prints its answer.
pub async fn run(command: Command) -> anyhow::Result<()> {
    let output = match command {
        Command::Env { conn, command } => {
            env::run(&Client::new(&conn)?, command, conn.json).await?
        }
        Command::Apps { conn, command } => {
            apps::run(&Client::new(&conn)?, command, conn.json).await?
        }
        Command::Keys { conn, command } => {
            keys::run(&Client::new(&conn)?, command, conn.json).await?
        }
        Command::Secrets { conn, command } => {
            secrets::run(&Client::new(&conn)?, command, conn.json).await?
        }
        Command::Config { conn, command } => {
            config::run(&Client::new(&conn)?, command, conn.json).await?
        }
        Command::Changes { conn, command } => {
            changes::run(&Client::new(&conn)?, command, conn.json).await?
        }
        Command::Promote {
            conn,
            from,
            to,
            only,
            message,
        } => changes::promote(&Client::new(&conn)?, &from, &to, &only, message, conn.json).await?,
        Command::Requests { conn, command } => {
            requests::run(&Client::new(&conn)?, command, conn.json).await?
        }
        Command::Audit { conn, command } => {
            audit::run(&Client::new(&conn)?, command, conn.json).await?
        }
        Command::Alerts { conn, command } => {
            alerts::run(&Client::new(&conn)?, command, conn.json).await?
        }
        Command::Operators { conn, command } => {
            operators::run(&Client::new(&conn)?, command, conn.json).await?
        }
        Command::Orgs { conn, command } => {
            orgs::run(&Client::new(&conn)?, command, conn.json).await?
        }
        Command::Export { conn, command } => export::run(&Client::new(&conn)?, command).await?,
        Command::Policy { conn, command } => {
            policy::run(&Client::new(&conn)?, command, conn.json).await?
        }
        Command::Providers { conn, command } => {
            providers::run(&Client::new(&conn)?, command, conn.json).await?
        }
        Command::Review {
            conn,
            env,
            format,
            staging,
            strict,
        } => {
            let format = if conn.json {
                review::Format::Json
            } else {
                format
            };
            let client = Client::new(&conn)?;
            let (output, refusal) =
                review::run(&client, &env, staging.as_deref(), format, strict).await?;
            print!("{output}");
            return refusal.map_or(Ok(()), |why| Err(anyhow::anyhow!(why)));
        }
        Command::Verify { conn, args } => {
            let env = args.env.clone();
            let (output, ok) = verify::run(&Client::new(&conn)?, args, conn.json).await?;
            print!("{output}");
            if !ok {
                anyhow::bail!("verification of {env} failed (see the steps marked FAIL)");
            }
            String::new()
        }
        Command::Whoami { conn } => {
            let value = Client::new(&conn)?.get(&["whoami"], &[]).await?;
            if conn.json {
                pretty(&value)
            } else {
                operators::render_whoami(&value)
            }
        }
    };
    print!("{output}");
    Ok(())
}

/// `24h`, `30m`, `7d`, `90s` before now, or a time as the server reads it.
pub(crate) fn since_ms(text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    if let Some(seconds) = duration_s(text) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        return Ok(now.saturating_sub(seconds.saturating_mul(1000)));
    }
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .with_context(|| {
            format!(
                "--since {text:?}: write e.g. 24h, 7d, unix milliseconds or 2025-01-31T12:00:00Z"
            )
        })?;
    Ok(i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

/// A duration written `90s`, `30m`, `1h` or `7d`, in seconds.
pub(crate) fn duration_s(text: &str) -> Option<i64> {
    let text = text.trim();
    let per = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let n = text[..text.len() - 1].parse::<i64>().ok()?;
    Some(n.saturating_mul(per))
}

/// The server's JSON, indented, with a final newline.
pub(crate) fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches, Parser};

    use super::*;

    /// Stands in for the binary's top level, which flattens [`Command`].
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    pub(crate) fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        let mut argv = vec!["sentinel"];
        argv.extend_from_slice(args);
        let matches = Cli::command().try_get_matches_from(argv)?;
        Cli::from_arg_matches(&matches).map(|cli| cli.command)
    }

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn connection_options_go_before_or_after_the_subcommand() {
        let Command::Env { conn, .. } = parse(&[
            "env",
            "--server",
            "http://c:1",
            "list",
            "--json",
            "--token",
            "sntop_x",
        ])
        .unwrap() else {
            panic!("expected env");
        };
        assert_eq!(conn.server, "http://c:1");
        assert_eq!(conn.token.as_deref(), Some("sntop_x"));
        assert!(conn.json);
    }

    #[test]
    fn whoami_takes_connection_options() {
        let Command::Whoami { conn } = parse(&["whoami", "--json"]).unwrap() else {
            panic!("expected whoami");
        };
        assert!(conn.json);
    }

    #[test]
    fn a_missing_token_is_reported_clearly() {
        let conn = Conn {
            server: "http://127.0.0.1:8081".into(),
            token: None,
            json: false,
        };
        let error = Client::new(&conn).err().unwrap().to_string();
        assert!(error.contains("SENTINEL_TOKEN"), "{error}");
    }
}
