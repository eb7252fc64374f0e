//! `sentinel rotate-master-key`: re-wraps every secret's data key under a
//! new master key, against the store directly (like `serve`, it reads
//! `--store`/`--data-dir` and the current key from `SENTINEL_MASTER_KEY`,
//! `SENTINEL_MASTER_KEY_FILE` or the data directory; the new key comes from
//! `SENTINEL_NEW_MASTER_KEY` or `SENTINEL_NEW_MASTER_KEY_FILE`).
//!
//! Invariants: values are never printed or logged; the run is idempotent
//! (rows already under the new key are skipped, so an interrupted run is
//! finished by running it again with the same keys); it succeeds only when
//! every data key ends under the new key. Replicas keep serving from their
//! loaded snapshots; they must be restarted with the new key afterwards.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use sentinel_store::{AuditContext, Store};

use crate::serve::{ServeArgs, server_config};

/// Flags of `sentinel rotate-master-key`.
#[derive(Debug, Clone, Args)]
pub struct RotateArgs {
    /// Server config file (TOML), for the store and data directory.
    #[arg(long, env = "SENTINEL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (the embedded store and a generated master key).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Store URL: sqlite://PATH or postgres://…
    #[arg(long)]
    pub store: Option<String>,
    /// Data keys re-wrapped per transaction.
    #[arg(long, default_value_t = 100)]
    pub batch: u32,
}

/// What a run did, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotateOutcome {
    pub from_key_id: String,
    pub to_key_id: String,
    pub rewrapped: u64,
    pub already: u64,
}

impl std::fmt::Display for RotateOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Re-wrapped {} data keys from master key {} to {} ({} were already under it).",
            self.rewrapped, self.from_key_id, self.to_key_id, self.already
        )?;
        writeln!(
            f,
            "Every secret is now under master key {}. Restart every replica with the new key,",
            self.to_key_id
        )?;
        write!(
            f,
            "and replace the old key wherever it is kept (SENTINEL_MASTER_KEY, the key file)."
        )
    }
}

/// Runs the rotation. `env` is the process environment, passed in so tests
/// never modify it.
pub async fn run(
    args: RotateArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<RotateOutcome> {
    let server = server_config(
        &ServeArgs {
            config: args.config.clone(),
            data_dir: args.data_dir.clone(),
            store: args.store.clone(),
            ..ServeArgs::default()
        },
        env,
    )?;
    let (current, _) = crate::master_key::existing(env, &server.data_dir)?.context(
        "no current master key: set SENTINEL_MASTER_KEY or SENTINEL_MASTER_KEY_FILE, or point --data-dir at the directory holding master.key",
    )?;
    let new = crate::master_key::new_key(env)?;
    let url = crate::app::store_url(&server)?;
    let store = Store::open(&url, current)
        .await
        .context("cannot open the store")?;
    let ctx = AuditContext {
        actor: "system:rotate-master-key".into(),
        source_addr: None,
        request_id: None,
    };
    let result = store.rotate_master_key(&new, args.batch, &ctx).await;
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            store.close().await;
            return Err(error).context(
                "master-key rotation stopped; batches before the failure are committed and \
                 running the command again with the same keys resumes it",
            );
        }
    };
    let left: i64 = store
        .secret_key_ids()
        .await?
        .into_iter()
        .filter(|(id, _)| id.as_deref() != Some(report.to_key_id.as_str()))
        .map(|(_, n)| n)
        .sum();
    store.close().await;
    if left > 0 {
        anyhow::bail!("{left} data keys are still under another master key; run the command again");
    }
    Ok(RotateOutcome {
        from_key_id: report.from_key_id,
        to_key_id: report.to_key_id,
        rewrapped: report.rewrapped,
        already: report.already,
    })
}

/// Warns at start-up when some secrets are wrapped under another master key
/// than the one this process has: an unfinished rotation, or a replica
/// started with the wrong key. Environments using those secrets fail to
/// load and are reported in `/readyz`; the log says why.
pub(crate) async fn warn_if_unfinished(store: &Store) {
    let current = store.master_key_id().to_owned();
    match store.secret_key_ids().await {
        Ok(ids) => {
            let other: i64 = ids
                .iter()
                .filter(|(id, _)| id.as_deref().is_some_and(|id| id != current))
                .map(|(_, n)| n)
                .sum();
            if other > 0 {
                tracing::warn!(
                    secrets = other,
                    master_key_id = %current,
                    "some secrets are wrapped under another master key: finish the rotation with `sentinel rotate-master-key`, or start with the key they are under"
                );
            }
        }
        Err(error) => tracing::warn!(%error, "cannot check which master key wraps the secrets"),
    }
}
