//! Retention: a background pruner that deletes, per environment, request
//! records older than `retention.requests_days` and bodies older than
//! `retention.bodies_days`, in small batches with pauses, so the record
//! writer and admin reads are never blocked for long; and prunes each
//! organization's audit chain from its oldest end (see
//! `sentinel_store::Store::prune_audit`): events past their environment's
//! `audit_days`, only once exported unless `audit_prune_unexported`.
//!
//! It reads retention settings from the snapshot (the applied revision);
//! several replicas pruning at once is harmless (deletes are idempotent, and
//! audit pruning runs under the organization's lock).

use std::{collections::BTreeMap, time::Duration};

use sentinel_store::{AuditRetention, StoreError};
use tokio_util::sync::CancellationToken;

use crate::{Gateway, unix_millis};

/// Rows deleted per statement.
const BATCH: u32 = 1000;
/// Pause between batches.
const PAUSE: Duration = Duration::from_millis(20);
const DAY_MS: i64 = 86_400_000;

/// What one pass of the pruner deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub records: u64,
    pub bodies: u64,
    pub audit_events: u64,
}

fn cutoff(now: i64, days: u32) -> i64 {
    now.saturating_sub(i64::from(days).saturating_mul(DAY_MS))
}

/// Deletes in batches until a batch comes back short.
async fn in_batches<F, Fut>(mut delete: F) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        let deleted = delete().await?;
        total += deleted;
        if deleted < u64::from(BATCH) {
            return Ok(total);
        }
        tokio::time::sleep(PAUSE).await;
    }
}

impl Gateway {
    /// Prunes every environment once; returns how many records went.
    pub async fn prune_records(&self) -> Result<u64, StoreError> {
        Ok(self.prune().await?.records)
    }

    /// Prunes records, bodies and audit events once.
    pub async fn prune(&self) -> Result<Pruned, StoreError> {
        let Some(snapshot) = self.snapshot() else {
            return Ok(Pruned::default());
        };
        let now = unix_millis();
        let mut pruned = Pruned::default();
        // Audit retention by organization: the chain is the organization's.
        let mut audit: BTreeMap<&str, Vec<AuditRetention>> = BTreeMap::new();
        let mut longest: BTreeMap<&str, u32> = BTreeMap::new();
        for env in snapshot.envs() {
            let retention = env.retention;
            let store = self.store();
            if let Some(days) = retention.requests_days {
                let before = cutoff(now, days);
                pruned.records +=
                    in_batches(|| store.delete_records_before(&env.org_id, &env.id, before, BATCH))
                        .await?;
            }
            if let Some(days) = retention.bodies_days {
                let before = cutoff(now, days);
                pruned.bodies +=
                    in_batches(|| store.delete_bodies_before(&env.org_id, &env.id, before, BATCH))
                        .await?;
            }
            if let Some(days) = retention.audit_days {
                audit.entry(&env.org_id).or_default().push(AuditRetention {
                    env_id: env.id.clone(),
                    before: cutoff(now, days),
                    prune_unexported: retention.audit_prune_unexported,
                });
                let most = longest.entry(&env.org_id).or_default();
                *most = (*most).max(days);
            }
        }
        for (org_id, rules) in &audit {
            // Events of no environment go after the longest audit_days of
            // the organization's environments, and only once exported.
            let org_before = longest.get(org_id).map(|days| cutoff(now, *days));
            pruned.audit_events +=
                in_batches(|| self.store().prune_audit(org_id, rules, org_before, BATCH)).await?;
        }
        if pruned != Pruned::default() {
            tracing::info!(
                records = pruned.records,
                bodies = pruned.bodies,
                audit_events = pruned.audit_events,
                "pruned data past its retention"
            );
        }
        Ok(pruned)
    }

    /// Prunes every `every` until cancelled.
    pub async fn run_pruner(self, cancel: CancellationToken, every: Duration) {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(error) = self.prune().await {
                tracing::warn!(%error, "pruning past retention failed; retrying at the next interval");
            }
        }
    }
}
