//! Request records: batched, idempotent inserts and filtered, cursor-paged
//! search. The record is stored as the columns that filters and the
//! overview use, all written from the record at insert, and the rest of it
//! as JSON beside them (see `record_json`). (`provider`, `policy_decision`,
//! `latency_ms` and `cost_micros` were generated from the JSON by the
//! database until migration 0012, which made every insert parse the JSON
//! again.)
//!
//! Writes come in batches from the gateway's record writer (hundreds of
//! records per call under load), so the insert path is shaped for them: one
//! transaction per batch, which also advances the keys' last-used times;
//! multi-row INSERTs of a few fixed sizes, so every statement text recurs
//! and stays in the connection's prepared-statement cache.

use std::collections::HashMap;

use sentinel_core::RequestRecord;

use crate::{
    Store, StoreError,
    backend::{with_pool, with_record_pool},
    record_json::{self, RecordRow, record_columns},
};

/// Records per INSERT statement at most (14 parameters each: well under
/// SQLite's 32766-parameter limit and PostgreSQL's 65535). A power of two:
/// the remainder of a batch is sent in power-of-two chunks, so at most
/// nine statement texts ever exist.
const ROWS_PER_STATEMENT: usize = 256;

/// Starting capacity of a record's JSON text (without its columns, a plain
/// answered request takes about 500 bytes), so it is not regrown and copied
/// while it is written.
const RECORD_TEXT_CAPACITY: usize = 768;

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
    /// Inserts records and advances the last-used time of the keys they
    /// name, in one transaction. A record whose id is already stored is
    /// skipped, so replaying a batch never duplicates; a key's last-used
    /// time never moves backwards.
    pub async fn insert_records(&self, records: &[RequestRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let texts = records
            .iter()
            .map(|record| record_json::to_row_json(record, RECORD_TEXT_CAPACITY))
            .collect::<Result<Vec<_>, _>>()?;
        let used = keys_used(records);
        let (insert, on_conflict) = self.insert_skipping_known_ids();
        let _serial = self.write_guard().await;
        with_record_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_statement()).await?;
            // The JSON texts move into the statements' arguments (a borrowed
            // `&str` would be copied once more).
            let mut texts = texts.into_iter();
            let mut at = 0;
            for len in statement_sizes(records.len()) {
                let rows = records[at..at + len].iter().zip(texts.by_ref().take(len));
                at += len;
                let mut builder = sqlx::QueryBuilder::new(format!(
                    "{insert}request_records (id, org_id, time, env_id, app_id, key_id, status, error_code, requested_model, provider, policy_decision, latency_ms, cost_micros, record) "
                ));
                builder.push_values(rows, |mut row, (r, text)| {
                    row.push_bind(r.id.as_str())
                        .push_bind(r.org_id.as_str())
                        .push_bind(r.time)
                        .push_bind(r.env_id.as_deref())
                        .push_bind(r.app_id.as_deref())
                        .push_bind(r.key_id.as_deref())
                        .push_bind(i64::from(r.status))
                        .push_bind(r.error_code.as_deref())
                        .push_bind(r.requested_model.as_deref())
                        .push_bind(r.provider.as_deref())
                        .push_bind(r.policy.as_ref().map(|p| p.decision.as_str()))
                        .push_bind(r.latency_ms)
                        .push_bind(r.cost_micros)
                        .push_bind(text);
                });
                builder.push(on_conflict);
                builder.build().execute(&mut *tx).await?;
            }
            crate::body::insert_bodies!(tx, records, (insert, on_conflict));
            for ((org_id, key_id), time) in &used {
                sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE org_id = $2 AND id = $3 AND (last_used_at IS NULL OR last_used_at < $1)")
                    .bind(time)
                    .bind(org_id)
                    .bind(key_id)
                    .execute(&mut *tx)
                    .await?;
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
        let row: Option<RecordRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                record_columns!(),
                " FROM request_records WHERE org_id = $1 AND id = $2"
            ))
            .bind(org_id)
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(record_json::from_row).transpose()
    }

    /// Records matching `filter`, newest first (ids are UUIDv7, so id order
    /// is arrival order), one page at a time.
    ///
    /// Only the filters given become conditions, so the planner sees plain
    /// equalities: a search by environment walks `(org_id, env_id, id)`,
    /// any other the `(org_id, id)` index, newest first, until the page is
    /// full.
    pub async fn search_records(
        &self,
        org_id: &str,
        filter: &RecordFilter,
    ) -> Result<RecordPage, StoreError> {
        let limit = filter.limit.clamp(1, 500);
        let rows: Vec<RecordRow> = with_pool!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new(concat!(
                "SELECT ",
                record_columns!(),
                " FROM request_records WHERE org_id = "
            ));
            query.push_bind(org_id);
            if let Some(env_id) = &filter.env_id {
                query.push(" AND env_id = ").push_bind(env_id.as_str());
            }
            if let Some(app_id) = &filter.app_id {
                query.push(" AND app_id = ").push_bind(app_id.as_str());
            }
            if let Some(key_id) = &filter.key_id {
                query.push(" AND key_id = ").push_bind(key_id.as_str());
            }
            if let Some(status) = filter.status {
                query.push(" AND status = ").push_bind(i64::from(status));
            }
            if let Some(error_code) = &filter.error_code {
                query
                    .push(" AND error_code = ")
                    .push_bind(error_code.as_str());
            }
            if let Some(model) = &filter.model {
                query
                    .push(" AND requested_model = ")
                    .push_bind(model.as_str());
            }
            if let Some(since) = filter.since {
                query.push(" AND time >= ").push_bind(since);
            }
            if let Some(until) = filter.until {
                query.push(" AND time < ").push_bind(until);
            }
            if let Some(provider) = &filter.provider {
                query.push(" AND provider = ").push_bind(provider.as_str());
            }
            if let Some(decision) = &filter.policy_decision {
                query
                    .push(" AND policy_decision = ")
                    .push_bind(decision.as_str());
            }
            if let Some(min) = filter.min_latency_ms {
                query.push(" AND latency_ms >= ").push_bind(min);
            }
            if let Some(cursor) = &filter.cursor {
                query.push(" AND id < ").push_bind(cursor.as_str());
            }
            query
                .push(" ORDER BY id DESC LIMIT ")
                .push_bind(i64::from(limit) + 1);
            query.build_query_as().fetch_all(pool).await?
        });
        let more = rows.len() > limit as usize;
        let mut records = Vec::with_capacity(rows.len().min(limit as usize));
        for row in rows.into_iter().take(limit as usize) {
            records.push(record_json::from_row(row)?);
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
        self.delete_batch(sql, org_id, env_id, before, limit).await
    }

    /// Runs one batched prune `sql` that takes (organization, environment,
    /// before, limit) as `$1`..`$4`; returns how many rows went.
    pub(crate) async fn delete_batch(
        &self,
        sql: &'static str,
        org_id: &str,
        env_id: &str,
        before: i64,
        limit: u32,
    ) -> Result<u64, StoreError> {
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

/// The latest time each (organization, key) was used in `records`.
fn keys_used(records: &[RequestRecord]) -> HashMap<(&str, &str), i64> {
    let mut used: HashMap<(&str, &str), i64> = HashMap::new();
    for record in records {
        if let Some(key) = &record.key_id {
            let time = used
                .entry((record.org_id.as_str(), key.as_str()))
                .or_insert(record.time);
            *time = (*time).max(record.time);
        }
    }
    used
}

/// Rows per INSERT statement for `n` records: full statements, then the
/// remainder's binary digits, largest first (e.g. 300 → 256, 32, 8, 4).
fn statement_sizes(n: usize) -> impl Iterator<Item = usize> {
    let full = n / ROWS_PER_STATEMENT;
    let rest = n % ROWS_PER_STATEMENT;
    std::iter::repeat_n(ROWS_PER_STATEMENT, full).chain(
        (0..ROWS_PER_STATEMENT.trailing_zeros())
            .rev()
            .map(|bit| 1 << bit)
            .filter(move |size| rest & size != 0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_cover_the_batch_in_a_few_fixed_sizes() {
        for n in [0, 1, 7, 255, 256, 257, 300, 1000] {
            let sizes: Vec<usize> = statement_sizes(n).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n, "{n}: {sizes:?}");
            assert!(
                sizes
                    .iter()
                    .all(|s| s.is_power_of_two() && *s <= ROWS_PER_STATEMENT)
            );
        }
        assert_eq!(statement_sizes(300).collect::<Vec<_>>(), [256, 32, 8, 4]);
    }

    #[test]
    fn the_latest_use_of_each_key_counts() {
        let record = |org: &str, key: Option<&str>, time| RequestRecord {
            org_id: org.into(),
            key_id: key.map(Into::into),
            time,
            ..RequestRecord::default()
        };
        let records = [
            record("o", Some("k"), 5),
            record("o", Some("k"), 9),
            record("o", Some("k"), 7),
            record("o", None, 20),
            record("p", Some("k"), 1),
        ];
        let used = keys_used(&records);
        assert_eq!(used.len(), 2);
        assert_eq!(used[&("o", "k")], 9);
        assert_eq!(used[&("p", "k")], 1);
    }
}

/// The few fields of one record that the console's overview charts need.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecordPoint {
    /// Unix ms.
    pub time: i64,
    pub status: i64,
    pub error_code: Option<String>,
    pub latency_ms: Option<i64>,
    pub cost_micros: Option<i64>,
    pub provider: Option<String>,
}

impl Store {
    /// The chart fields of an environment's records in `[since, until)`,
    /// the newest `limit` of them, oldest first.
    pub async fn record_points(
        &self,
        org_id: &str,
        env_id: &str,
        since: i64,
        until: i64,
        limit: u32,
    ) -> Result<Vec<RecordPoint>, StoreError> {
        let mut points: Vec<RecordPoint> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT time, status, error_code, latency_ms, cost_micros, provider
                   FROM request_records
                  WHERE org_id = $1 AND env_id = $2 AND time >= $3 AND time < $4
                  ORDER BY time DESC LIMIT $5",
            )
            .bind(org_id)
            .bind(env_id)
            .bind(since)
            .bind(until)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        points.reverse();
        Ok(points)
    }
}
