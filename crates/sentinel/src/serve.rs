//! `sentinel serve`: flags, logging, signals, and the start-up banner.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use clap::Args;
use sentinel_config::ServerConfig;

use crate::app::{self, AppOptions, KeySource};

/// Flags of `sentinel serve`; each overrides the config file and environment.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Server config file (TOML).
    #[arg(long, env = "SENTINEL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for the embedded store, the spool and a generated master key.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Store URL: sqlite://PATH or postgres://… (default: SQLite in the data directory).
    #[arg(long)]
    pub store: Option<String>,
    /// Redis URL for rate-limit and budget counters shared by replicas.
    #[arg(long)]
    pub redis: Option<String>,
    /// OTLP/HTTP collector for traces, e.g. http://127.0.0.1:4318.
    #[arg(long)]
    pub otlp_endpoint: Option<String>,
    /// Data-plane listener address.
    #[arg(long)]
    pub gateway_addr: Option<SocketAddr>,
    /// Console listener address.
    #[arg(long)]
    pub console_addr: Option<SocketAddr>,
    /// Seed a `dev` environment with the mock provider and print a ready curl line.
    #[arg(long)]
    pub demo: bool,
}

/// Resolves the server configuration: defaults < file < environment < flags.
/// Flags go through the same validation as the environment variables.
pub fn server_config(
    args: &ServeArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<ServerConfig> {
    let invalid =
        |e: sentinel_config::ConfigErrors| anyhow::anyhow!("invalid server configuration:\n{e}");
    let mut config = ServerConfig::load(args.config.as_deref(), env).map_err(invalid)?;
    let flags = |name: &str| -> Option<String> {
        match name {
            "SENTINEL_DATA_DIR" => args.data_dir.as_ref().map(|d| d.display().to_string()),
            "SENTINEL_STORE" => args.store.clone(),
            "SENTINEL_REDIS" => args.redis.clone(),
            "SENTINEL_OTLP_ENDPOINT" => args.otlp_endpoint.clone(),
            "SENTINEL_GATEWAY_ADDR" => args.gateway_addr.map(|a| a.to_string()),
            "SENTINEL_CONSOLE_ADDR" => args.console_addr.map(|a| a.to_string()),
            _ => None,
        }
    };
    config.apply_overrides(&flags).map_err(invalid)?;
    Ok(config)
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The server configuration `sentinel serve` runs with: defaults, the
/// config file, the process environment, then `args`.
pub fn resolve(args: &ServeArgs) -> anyhow::Result<ServerConfig> {
    server_config(args, &process_env)
}

/// Runs `server` (from [`resolve`]) until SIGINT or SIGTERM, then shuts
/// down gracefully.
pub async fn run(args: ServeArgs, server: ServerConfig) -> anyhow::Result<()> {
    init_logging(&server);
    let running = app::start(AppOptions {
        server,
        demo: args.demo,
        env: Arc::new(process_env),
    })
    .await?;
    banner(&running);
    let shutdown = running.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        shutdown.cancel();
    });
    running.wait().await
}

fn init_logging(server: &ServerConfig) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SENTINEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match server.log_format {
        sentinel_config::LogFormat::Json => true,
        sentinel_config::LogFormat::Text => false,
        sentinel_config::LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Err(error) = result {
        tracing::warn!(%error, "logging was already initialised");
    }
}

/// The start-up banner, for the person who started the process. Write
/// errors are ignored: a closed stdout must never take the server down.
fn banner(running: &app::Running) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let gateway = format!("{}://{}", running.gateway_scheme, running.gateway_addr);
    let console = format!("{}://{}", running.console_scheme, running.console_addr);
    let _ = writeln!(out, "Sentinel is running.");
    let _ = writeln!(out, "  gateway (data plane): {gateway}");
    let _ = writeln!(out, "  console (operators):  {console}");
    match &running.master_key_source {
        KeySource::Generated(path) => {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "  !!! A NEW MASTER KEY WAS GENERATED at {} !!!",
                path.display()
            );
            let _ = writeln!(
                out,
                "  It encrypts every provider secret. Back it up, keep it out of the data store's backups,"
            );
            let _ = writeln!(
                out,
                "  and in production supply it through SENTINEL_MASTER_KEY or SENTINEL_MASTER_KEY_FILE instead."
            );
        }
        KeySource::File(path) => {
            let _ = writeln!(out, "  master key: file {}", path.display());
        }
        KeySource::Environment => {
            let _ = writeln!(out, "  master key: SENTINEL_MASTER_KEY");
        }
    }
    if let Some(token) = &running.bootstrap_token {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  First start: an admin operator token was created. It is shown ONCE:"
        );
        let _ = writeln!(out, "    export SENTINEL_URL={console}");
        let _ = writeln!(out, "    export SENTINEL_TOKEN={token}");
    }
    if let Some(demo) = &running.demo {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  Demo environment `{}` is ready with the mock provider. Its key (shown once):",
            demo.env
        );
        let _ = writeln!(out, "    {}", demo.key);
        let _ = writeln!(out, "  Try it:");
        let _ = writeln!(
            out,
            "    curl -s {gateway}/v1/chat/completions -H 'Authorization: Bearer {}' -H 'Content-Type: application/json' -d '{{\"model\":\"demo\",\"messages\":[{{\"role\":\"user\",\"content\":\"hello\"}}]}}'",
            demo.key
        );
    }
    let _ = writeln!(out);
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
