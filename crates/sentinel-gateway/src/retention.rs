//! Retention: a background pruner that deletes each environment's request
//! records older than its `retention.requests_days`, in small batches with
//! pauses, so the record writer and admin reads are never blocked for long.
//!
//! It reads retention settings from the snapshot (the applied revision);
//! several replicas pruning at once is harmless (deletes are idempotent).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{Gateway, unix_millis};

/// Records deleted per statement.
const BATCH: u32 = 1000;
/// Pause between batches.
const PAUSE: Duration = Duration::from_millis(20);
const DAY_MS: i64 = 86_400_000;

impl Gateway {
    /// Prunes every environment once; returns how many records went.
    pub async fn prune_records(&self) -> Result<u64, sentinel_store::StoreError> {
        let Some(snapshot) = self.snapshot() else {
            return Ok(0);
        };
        let now = unix_millis();
        let mut total = 0;
        for env in snapshot.envs() {
            let Some(days) = env.requests_days else {
                continue;
            };
            let before = now.saturating_sub(i64::from(days).saturating_mul(DAY_MS));
            loop {
                let deleted = self
                    .store()
                    .delete_records_before(&env.org_id, &env.id, before, BATCH)
                    .await?;
                total += deleted;
                if deleted < u64::from(BATCH) {
                    break;
                }
                tokio::time::sleep(PAUSE).await;
            }
        }
        if total > 0 {
            tracing::info!(
                deleted = total,
                "pruned request records past their retention"
            );
        }
        Ok(total)
    }

    /// Prunes every `every` until cancelled.
    pub async fn run_pruner(self, cancel: CancellationToken, every: Duration) {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(error) = self.prune_records().await {
                tracing::warn!(%error, "pruning request records failed; retrying at the next interval");
            }
        }
    }
}
