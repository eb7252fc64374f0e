//! The audit log: every control-plane change, appended in the same
//! transaction as the change, chained by hash per organization.

use sentinel_core::{AuditEvent, key::sha256_hex};
use serde::Serialize;

use crate::{
    Store, StoreError,
    backend::{with_pool, write_tx},
};

/// Who is making a change, for its audit event.
#[derive(Debug, Clone, Default)]
pub struct AuditContext {
    /// Operator id, or `system` for Sentinel's own changes.
    pub actor: String,
    pub source_addr: Option<String>,
    pub request_id: Option<String>,
}

/// Filters for [`Store::list_audit`].
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub env_id: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only events before this position in the chain (the previous page's
    /// last `seq`), for paging.
    pub before_seq: Option<i64>,
    /// At most this many events, newest first (clamped to 1..=1000).
    pub limit: u32,
}

/// The result of recomputing an organization's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditVerification {
    pub ok: bool,
    pub events: u64,
    /// Events up to this seq were pruned; verification starts from the
    /// anchor they left (0: nothing pruned).
    pub pruned_through_seq: i64,
    /// The first event whose hash or link does not match, if any: its
    /// position in the chain and its id.
    pub first_bad_seq: Option<i64>,
    pub first_bad_id: Option<String>,
}

/// The chained hash of an event's fields.
#[expect(
    clippy::too_many_arguments,
    reason = "the hash covers every field of the event"
)]
pub(crate) fn event_hash(
    seq: i64,
    time: i64,
    actor: &str,
    action: &str,
    target: &str,
    env_id: Option<&str>,
    details: &str,
    source_addr: Option<&str>,
    request_id: Option<&str>,
    prev_hash: &str,
) -> String {
    let canonical = serde_json::json!([
        seq,
        time,
        actor,
        action,
        target,
        env_id,
        details,
        source_addr,
        request_id,
        prev_hash
    ]);
    sha256_hex(canonical.to_string().as_bytes())
}

/// Appends an audit event inside the open transaction `$tx`.
macro_rules! append_audit {
    ($tx:ident, $org_id:expr, $ctx:expr, $action:expr, $target:expr, $env_id:expr, $details:expr) => {{
        let org_id: &str = $org_id;
        let ctx: &$crate::AuditContext = $ctx;
        let env_id: Option<&str> = $env_id;
        let details: String = $details.to_string();
        // Lock the organization's row until commit so concurrent writers
        // append one after another instead of racing for the same `seq`
        // (a no-op write: a row lock on PostgreSQL, and SQLite already has
        // one writer at a time).
        sqlx::query("UPDATE organizations SET name = name WHERE id = $1")
            .bind(org_id)
            .execute(&mut *$tx)
            .await?;
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_events WHERE org_id = $1 ORDER BY seq DESC LIMIT 1")
                .bind(org_id)
                .fetch_optional(&mut *$tx)
                .await?;
        // With every event pruned, the chain continues from its anchor.
        let last = match last {
            Some(last) => Some(last),
            None => sqlx::query_as(
                "SELECT anchor_seq, anchor_hash FROM audit_retention WHERE org_id = $1",
            )
            .bind(org_id)
            .fetch_optional(&mut *$tx)
            .await?,
        };
        let (seq, prev_hash): (i64, String) =
            last.map_or((1, String::new()), |(s, h)| (s + 1, h));
        let time = $crate::backend::now_ms();
        let hash = $crate::audit::event_hash(
            seq,
            time,
            &ctx.actor,
            $action,
            &$target,
            env_id,
            &details,
            ctx.source_addr.as_deref(),
            ctx.request_id.as_deref(),
            &prev_hash,
        );
        sqlx::query(
            "INSERT INTO audit_events (id, org_id, seq, time, actor, action, target, env_id, details, source_addr, request_id, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind($crate::backend::new_id())
        .bind(org_id)
        .bind(seq)
        .bind(time)
        .bind(&ctx.actor)
        .bind($action)
        .bind(&$target)
        .bind(env_id)
        .bind(&details)
        .bind(ctx.source_addr.as_deref())
        .bind(ctx.request_id.as_deref())
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(crate) use append_audit;

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    org_id: String,
    seq: i64,
    time: i64,
    actor: String,
    action: String,
    target: String,
    env_id: Option<String>,
    details: String,
    source_addr: Option<String>,
    request_id: Option<String>,
    prev_hash: String,
    hash: String,
}

impl AuditRow {
    fn expected_hash(&self) -> String {
        event_hash(
            self.seq,
            self.time,
            &self.actor,
            &self.action,
            &self.target,
            self.env_id.as_deref(),
            &self.details,
            self.source_addr.as_deref(),
            self.request_id.as_deref(),
            &self.prev_hash,
        )
    }

    fn into_event(self) -> AuditEvent {
        AuditEvent {
            details: serde_json::from_str(&self.details).unwrap_or(serde_json::Value::Null),
            id: self.id,
            org_id: self.org_id,
            seq: self.seq,
            time: self.time,
            actor: self.actor,
            action: self.action,
            target: self.target,
            env_id: self.env_id,
            source_addr: self.source_addr,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

const COLUMNS: &str = "id, org_id, seq, time, actor, action, target, env_id, details, source_addr, request_id, prev_hash, hash";

impl Store {
    /// Audit events of an organization, newest first.
    pub async fn list_audit(
        &self,
        org_id: &str,
        filter: AuditFilter,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let limit = i64::from(filter.limit.clamp(1, 1000));
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_events WHERE org_id = $1
               AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR env_id = $3)
               AND ($4 IS NULL OR time >= $4) AND ($5 IS NULL OR time < $5)
               AND ($7 IS NULL OR seq < $7)
             ORDER BY seq DESC LIMIT $6"
        );
        let rows: Vec<AuditRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(org_id)
                .bind(filter.action.as_deref())
                .bind(filter.env_id.as_deref())
                .bind(filter.since)
                .bind(filter.until)
                .bind(limit)
                .bind(filter.before_seq)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(AuditRow::into_event).collect())
    }

    /// Appends an event that changes nothing else: a sensitive read, such
    /// as an export, or a failed login. `details` must never hold a secret
    /// value. Publishes no change: no configuration moved.
    pub async fn append_audit_event(
        &self,
        org_id: &str,
        ctx: &AuditContext,
        action: &str,
        target: &str,
        env_id: Option<&str>,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        let target = target.to_owned();
        write_tx!(quiet self, |tx| {
            append_audit!(tx, org_id, ctx, action, target, env_id, details);
        })
    }

    /// Recomputes every hash and link of the organization's chain.
    pub async fn verify_audit_chain(&self, org_id: &str) -> Result<AuditVerification, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM audit_events WHERE org_id = $1 ORDER BY seq");
        let rows: Vec<AuditRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(org_id)
                .fetch_all(pool)
                .await?
        });
        let (anchor_seq, mut prev) = self.audit_anchor(org_id).await?;
        for (expected_seq, row) in (anchor_seq + 1..).zip(rows.iter()) {
            if row.seq != expected_seq || row.prev_hash != prev || row.hash != row.expected_hash() {
                return Ok(AuditVerification {
                    ok: false,
                    events: rows.len() as u64,
                    pruned_through_seq: anchor_seq,
                    first_bad_seq: Some(row.seq),
                    first_bad_id: Some(row.id.clone()),
                });
            }
            prev.clone_from(&row.hash);
        }
        Ok(AuditVerification {
            ok: true,
            events: rows.len() as u64,
            pruned_through_seq: anchor_seq,
            first_bad_seq: None,
            first_bad_id: None,
        })
    }
}
