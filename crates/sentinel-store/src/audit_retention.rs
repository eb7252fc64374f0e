//! Audit retention: an organization's chain is pruned from its oldest end
//! only, so what remains is still one unbroken chain. The seq and hash of
//! the last pruned event are kept as the chain's anchor (verification starts
//! there); a completed, unfiltered export moves the organization's export
//! watermark, and events above it are kept unless the retention says
//! otherwise.

use serde_json::json;

use crate::{AuditContext, Store, StoreError, audit::append_audit, backend::with_pool};

/// How long one environment's audit events are kept.
#[derive(Debug, Clone)]
pub struct AuditRetention {
    pub env_id: String,
    /// Events older than this (unix ms) may go.
    pub before: i64,
    /// They may go even when no export has covered them.
    pub prune_unexported: bool,
}

/// An event at the old end of the chain, as pruning sees it.
#[derive(sqlx::FromRow)]
struct OldEvent {
    seq: i64,
    time: i64,
    env_id: Option<String>,
    hash: String,
}

impl Store {
    /// The chain's anchor: the seq and hash of the last pruned event
    /// (`(0, "")` when nothing was pruned).
    pub(crate) async fn audit_anchor(&self, org_id: &str) -> Result<(i64, String), StoreError> {
        let row: Option<(i64, String)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT anchor_seq, anchor_hash FROM audit_retention WHERE org_id = $1")
                .bind(org_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.unwrap_or((0, String::new())))
    }

    /// The highest seq a completed export covered (0: none).
    pub async fn audit_exported_seq(&self, org_id: &str) -> Result<i64, StoreError> {
        let row: Option<(i64,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT exported_seq FROM audit_retention WHERE org_id = $1")
                .bind(org_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map_or(0, |(seq,)| seq))
    }

    /// Notes that an export of every environment's events from `since`
    /// (unix ms) up to `through_seq` completed. The watermark moves to
    /// `through_seq` only when no event between the watermark and
    /// `through_seq` is older than `since` (the export then covered every
    /// event up to it); returns whether it moved.
    pub async fn record_audit_export(
        &self,
        org_id: &str,
        since: i64,
        through_seq: i64,
    ) -> Result<bool, StoreError> {
        let _serial = self.write_guard().await;
        let moved = with_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_statement()).await?;
            let current: Option<(i64,)> =
                sqlx::query_as("SELECT exported_seq FROM audit_retention WHERE org_id = $1")
                    .bind(org_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let current = current.map_or(0, |(seq,)| seq);
            let (missed,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM audit_events
                 WHERE org_id = $1 AND seq > $2 AND seq <= $3 AND time < $4",
            )
            .bind(org_id)
            .bind(current)
            .bind(through_seq)
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
            let moved = through_seq > current && missed == 0;
            if moved {
                sqlx::query(
                    "INSERT INTO audit_retention (org_id, exported_seq) VALUES ($1, $2)
                     ON CONFLICT (org_id) DO UPDATE SET exported_seq = excluded.exported_seq",
                )
                .bind(org_id)
                .bind(through_seq)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            moved
        });
        Ok(moved)
    }

    /// Prunes the oldest end of the organization's chain: events, oldest
    /// first, while each one is past its environment's retention (events of
    /// no environment: past `org_before`) and exported (or its environment
    /// prunes unexported events). Stops at the first event that must stay,
    /// looks at `limit` events at most, and returns how many went. A prune
    /// moves the anchor and appends an `audit.prune` event in the same
    /// transaction.
    pub async fn prune_audit(
        &self,
        org_id: &str,
        retention: &[AuditRetention],
        org_before: Option<i64>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let _serial = self.write_guard().await;
        let pruned = with_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_statement()).await?;
            // Appenders lock the same row: no event is added meanwhile.
            sqlx::query("UPDATE organizations SET name = name WHERE id = $1")
                .bind(org_id)
                .execute(&mut *tx)
                .await?;
            let exported: Option<(i64,)> =
                sqlx::query_as("SELECT exported_seq FROM audit_retention WHERE org_id = $1")
                    .bind(org_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let exported = exported.map_or(0, |(seq,)| seq);
            let oldest: Vec<OldEvent> = sqlx::query_as(
                "SELECT seq, time, env_id, hash FROM audit_events WHERE org_id = $1
                 ORDER BY seq LIMIT $2",
            )
            .bind(org_id)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
            let prunable = |event: &OldEvent| match &event.env_id {
                Some(env) => retention.iter().any(|r| {
                    &r.env_id == env
                        && event.time < r.before
                        && (r.prune_unexported || event.seq <= exported)
                }),
                None => org_before.is_some_and(|b| event.time < b) && event.seq <= exported,
            };
            let last = oldest.iter().take_while(|e| prunable(e)).last();
            let Some(last) = last else {
                return Ok(0);
            };
            let deleted = sqlx::query("DELETE FROM audit_events WHERE org_id = $1 AND seq <= $2")
                .bind(org_id)
                .bind(last.seq)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "INSERT INTO audit_retention (org_id, anchor_seq, anchor_hash) VALUES ($1, $2, $3)
                 ON CONFLICT (org_id) DO UPDATE SET anchor_seq = excluded.anchor_seq, anchor_hash = excluded.anchor_hash",
            )
            .bind(org_id)
            .bind(last.seq)
            .bind(&last.hash)
            .execute(&mut *tx)
            .await?;
            let ctx = AuditContext {
                actor: "system".into(),
                ..AuditContext::default()
            };
            append_audit!(
                tx,
                org_id,
                &ctx,
                "audit.prune",
                "audit",
                None,
                json!({ "through_seq": last.seq, "events": deleted, "exported_seq": exported })
            );
            tx.commit().await?;
            deleted
        });
        Ok(pruned)
    }
}
