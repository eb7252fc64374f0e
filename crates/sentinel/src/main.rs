#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "this is the command line: it talks on stdout and stderr"
)]

//! `sentinel`: the command line. Parsing and dispatch only; the wiring lives
//! in the library so tests run exactly what the binary runs.

mod admin;

use clap::{Parser, Subcommand};

/// jemalloc rather than glibc's allocator: the request path allocates and
/// frees many small objects and an 8 KB read buffer per HTTP message, and
/// glibc spent about 15% of a saturated core on it (fastbin consolidation,
/// chunk unlinking); see BENCHMARKS.md, issue 2, third pass.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "sentinel",
    version,
    about = "Sentinel: a production gateway for model access"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway and the console.
    Serve(sentinel::serve::ServeArgs),
    /// Re-wrap every secret's data key under a new master key (run against
    /// the store; then restart replicas with the new key).
    RotateMasterKey(sentinel::rotate_master_key::RotateArgs),
    #[command(flatten)]
    Admin(admin::Command),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `serve` reads its configuration before the runtime starts: the
    // runtime's idle spin is part of it.
    let server = match &cli.command {
        Command::Serve(args) => match sentinel::serve::resolve(args) {
            Ok(server) => Some(server),
            Err(error) => {
                eprintln!("error: {error:#}");
                return std::process::ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let idle_spin = server.as_ref().map_or(std::time::Duration::ZERO, |s| {
        std::time::Duration::from_micros(s.idle_spin_us)
    });
    let runtime = match sentinel_runtime::build(idle_spin) {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => match server {
                Some(server) => sentinel::serve::run(args, server).await,
                None => Err(anyhow::anyhow!("the server configuration was not resolved")),
            },
            Command::RotateMasterKey(args) => {
                let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
                sentinel::rotate_master_key::run(args, &env)
                    .await
                    .map(|outcome| println!("{outcome}"))
            }
            Command::Admin(command) => admin::run(command).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
