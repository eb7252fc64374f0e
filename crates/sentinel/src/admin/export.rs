//! `sentinel export requests|audit`: a time window of request records or
//! audit events as JSON Lines or CSV, streamed from the admin API to a file
//! or standard output in constant memory.
//!
//! A file is written as `FILE.partial` and renamed when the export is
//! complete, so an interrupted export never looks like a finished one.

use std::{
    io::{IsTerminal as _, Write as _},
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};

use super::client::Client;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Request records, newest first.
    Requests(ExportArgs),
    /// Audit events, newest first.
    Audit(ExportArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Environment name (audit: all environments when absent).
    #[arg(long)]
    env: Option<String>,
    /// From: e.g. 24h, 7d, unix milliseconds or RFC 3339.
    #[arg(long)]
    since: String,
    /// Until (exclusive): unix milliseconds or RFC 3339.
    #[arg(long)]
    until: Option<String>,
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

pub(super) async fn run(client: &Client, command: Command) -> anyhow::Result<String> {
    let (what, args) = match command {
        Command::Requests(args) => {
            if args.env.is_none() {
                anyhow::bail!("--env is required for request exports");
            }
            ("requests", args)
        }
        Command::Audit(args) => ("audit", args),
    };
    let since = super::since_ms(&args.since)?.to_string();
    let format = match args.format {
        Format::Jsonl => "jsonl",
        Format::Csv => "csv",
    };
    let mut response = client
        .get_stream(
            &["export", what],
            &[
                ("env", args.env.clone()),
                ("since", Some(since)),
                ("until", args.until.clone()),
                ("format", Some(format.to_owned())),
            ],
        )
        .await?;
    let mut sink = Sink::open(args.output.as_deref())?;
    let bar = progress(what);
    let mut lines: u64 = 0;
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(error) => {
                sink.abandon();
                return Err(anyhow::Error::new(error)
                    .context("the export was cut off before it finished; nothing was kept"));
            }
        };
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        sink.write(&chunk)?;
        bar.set_position(lines);
    }
    bar.finish_and_clear();
    let rows = match args.format {
        // The CSV header is a line, not a row.
        Format::Csv => lines.saturating_sub(1),
        Format::Jsonl => lines,
    };
    sink.finish()?;
    Ok(match &args.output {
        Some(path) => format!("exported {rows} {what} rows to {}\n", path.display()),
        None => String::new(),
    })
}

fn progress(what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {msg}: {pos} lines ({per_sec})")
    {
        bar.set_style(style);
    }
    bar.set_message(format!("exporting {what}"));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Where the export goes: standard output, or a file written beside its
/// final name and renamed at the end.
enum Sink {
    Stdout(std::io::StdoutLock<'static>),
    File {
        file: std::io::BufWriter<std::fs::File>,
        partial: PathBuf,
        target: PathBuf,
    },
}

impl Sink {
    fn open(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(target) = path else {
            return Ok(Self::Stdout(std::io::stdout().lock()));
        };
        let mut partial = target.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        Ok(Self::File {
            file: std::io::BufWriter::new(file),
            partial,
            target: target.to_owned(),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Self::Stdout(out) => out
                .write_all(bytes)
                .context("cannot write to standard output"),
            Self::File { file, partial, .. } => file
                .write_all(bytes)
                .with_context(|| format!("cannot write {}", partial.display())),
        }
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Self::Stdout(mut out) => out.flush().context("cannot write to standard output"),
            Self::File {
                file,
                partial,
                target,
            } => {
                let file = file.into_inner().map_err(|e| {
                    anyhow::anyhow!("cannot write {}: {}", partial.display(), e.error())
                })?;
                file.sync_all()
                    .with_context(|| format!("cannot write {}", partial.display()))?;
                std::fs::rename(&partial, &target).with_context(|| {
                    format!(
                        "cannot rename {} to {}",
                        partial.display(),
                        target.display()
                    )
                })
            }
        }
    }

    /// Drops what was written of an export that did not finish.
    fn abandon(self) {
        if let Self::File { partial, .. } = self {
            let _ = std::fs::remove_file(partial);
        }
    }
}
