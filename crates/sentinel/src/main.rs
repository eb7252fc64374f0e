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
    match cli.command {
        Command::Serve(args) => {
            // `serve` reads its configuration before the runtime starts:
            // the runtime's idle spin is part of it.
            let server = match sentinel::serve::resolve(&args) {
                Ok(server) => server,
                Err(error) => return failed(&error),
            };
            let idle_spin = std::time::Duration::from_micros(server.idle_spin_us);
            in_runtime(idle_spin, sentinel::serve::run(args, server))
        }
        Command::RotateMasterKey(args) => in_runtime(std::time::Duration::ZERO, async move {
            let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            sentinel::rotate_master_key::run(args, &env)
                .await
                .map(|outcome| println!("{outcome}"))
        }),
        Command::Admin(command) => in_runtime(std::time::Duration::ZERO, admin::run(command)),
    }
}

/// Runs `work` to completion on a runtime spinning for up to `idle_spin`
/// before it parks ([`sentinel_runtime::build`]).
fn in_runtime(
    idle_spin: std::time::Duration,
    work: impl Future<Output = anyhow::Result<()>>,
) -> std::process::ExitCode {
    let runtime = match sentinel_runtime::build(idle_spin) {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => failed(&error),
    }
}

fn failed(error: &anyhow::Error) -> std::process::ExitCode {
    eprintln!("error: {error:#}");
    std::process::ExitCode::FAILURE
}
