//! Request records: batched, idempotent inserts and filtered, cursor-paged
//! search. The record is stored whole as JSON beside the columns that
//! filters use; `provider`, `policy_decision` and `latency_ms` are generated
//! from the JSON by the database (migration 0004), so inserts never name
//! them.

use sentinel_core::RequestRecord;

use crate::{Store, StoreError, backend::with_pool};

/// Records per INSERT statement (10 parameters each; well under SQLite's
/// 32766-parameter limit and PostgreSQL's 65535).
const ROWS_PER_STATEMENT: usize = 200;

/// Filters for [`Store::search_records`].
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub env_id: Option<String>,
    pub app_id: Option<String>,
    pub key_id: Option<String>,
    pub status: Option<u16>,
    pub error_code: Option<String>,
    pub model: Option<String>,
    /// The provider that answered (the last one tried).
    pub provider: Option<String>,
    /// The policy decision (`policy.decision` of the record): `allowed`,
    /// `denied`, `rate_limited`, `budget_exceeded`, `counters_unavailable`.
    pub policy_decision: Option<String>,
    /// Only requests that took at least this many milliseconds.
    pub min_latency_ms: Option<i64>,
    /// Unix ms, inclusive.
    pub since: Option<i64>,
    /// Unix ms, exclusive.
    pub until: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, clamped to 1..=500.
    pub limit: u32,
}

/// One page of records, newest first.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RecordPage {
    pub records: Vec<RequestRecord>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl Store {
    /// Inserts records in multi-row statements. A record whose id is already
    /// stored is skipped, so replaying a batch never duplicates.
    pub async fn insert_records(&self, records: &[RequestRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut texts = Vec::with_capacity(records.len());
        for record in records {
            texts.push(
                serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            );
        }
        let _serial = self.write_guard().await;
        with_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_statement()).await?;
            for (chunk, texts) in records
                .chunks(ROWS_PER_STATEMENT)
                .zip(texts.chunks(ROWS_PER_STATEMENT))
            {
                let mut builder = sqlx::QueryBuilder::new(
                    "INSERT INTO request_records (id, org_id, time, env_id, app_id, key_id, status, error_code, requested_model, record) ",
                );
                builder.push_values(chunk.iter().zip(texts), |mut row, (r, text)| {
                    row.push_bind(r.id.as_str())
                        .push_bind(r.org_id.as_str())
                        .push_bind(r.time)
                        .push_bind(r.env_id.as_deref())
                        .push_bind(r.app_id.as_deref())
                        .push_bind(r.key_id.as_deref())
                        .push_bind(i64::from(r.status))
                        .push_bind(r.error_code.as_deref())
                        .push_bind(r.requested_model.as_deref())
                        .push_bind(text.as_str());
                });
                builder.push(" ON CONFLICT (id) DO NOTHING");
                builder.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// One record of the organization.
    pub async fn get_record(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<RequestRecord>, StoreError> {
        let row: Option<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT record FROM request_records WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(text,)| {
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .transpose()
    }

    /// Records matching `filter`, newest first (ids are UUIDv7, so id order
    /// is arrival order), one page at a time.
    pub async fn search_records(
        &self,
        org_id: &str,
        filter: &RecordFilter,
    ) -> Result<RecordPage, StoreError> {
        let limit = filter.limit.clamp(1, 500);
        let rows: Vec<(String, String)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, record FROM request_records WHERE org_id = $1
                   AND ($2 IS NULL OR env_id = $2) AND ($3 IS NULL OR app_id = $3) AND ($4 IS NULL OR key_id = $4)
                   AND ($5 IS NULL OR status = $5) AND ($6 IS NULL OR error_code = $6) AND ($7 IS NULL OR requested_model = $7)
                   AND ($8 IS NULL OR time >= $8) AND ($9 IS NULL OR time < $9) AND ($10 IS NULL OR id < $10)
                   AND ($12 IS NULL OR provider = $12) AND ($13 IS NULL OR policy_decision = $13)
                   AND ($14 IS NULL OR latency_ms >= $14)
                 ORDER BY id DESC LIMIT $11",
            )
            .bind(org_id)
            .bind(filter.env_id.as_deref())
            .bind(filter.app_id.as_deref())
            .bind(filter.key_id.as_deref())
            .bind(filter.status.map(i64::from))
            .bind(filter.error_code.as_deref())
            .bind(filter.model.as_deref())
            .bind(filter.since)
            .bind(filter.until)
            .bind(filter.cursor.as_deref())
            .bind(i64::from(limit) + 1)
            .bind(filter.provider.as_deref())
            .bind(filter.policy_decision.as_deref())
            .bind(filter.min_latency_ms)
            .fetch_all(pool)
            .await?
        });
        let more = rows.len() > limit as usize;
        let mut records = Vec::with_capacity(rows.len().min(limit as usize));
        for (_, text) in rows.into_iter().take(limit as usize) {
            records.push(
                serde_json::from_str::<RequestRecord>(&text)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            );
        }
        let next_cursor = if more {
            records.last().map(|r| r.id.clone())
        } else {
            None
        };
        Ok(RecordPage {
            records,
            next_cursor,
        })
    }
}

impl Store {
    /// Deletes at most `limit` of an environment's records older than
    /// `before` (unix ms), oldest first; returns how many went. Callers
    /// loop in small batches so writers are never blocked for long.
    pub async fn delete_records_before(
        &self,
        org_id: &str,
        env_id: &str,
        before: i64,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let sql = "DELETE FROM request_records WHERE id IN (
                     SELECT id FROM request_records
                     WHERE org_id = $1 AND env_id = $2 AND time < $3
                     ORDER BY id LIMIT $4)";
        let deleted = with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(org_id)
                .bind(env_id)
                .bind(before)
                .bind(i64::from(limit))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted)
    }
}
