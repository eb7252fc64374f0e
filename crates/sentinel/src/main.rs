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
    let runtime = match runtime_builder().enable_all().build() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => sentinel::serve::run(args).await,
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

/// Tokio's scheduler for the CPUs this process may run on: one worker
/// thread per CPU; with a single CPU (e.g. `taskset -c 1`, a one-CPU
/// container) the current-thread scheduler, which does the same work
/// without the cross-thread bookkeeping of a work-stealing pool.
fn runtime_builder() -> tokio::runtime::Builder {
    match std::thread::available_parallelism() {
        Ok(cpus) if cpus.get() == 1 => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    }
}
