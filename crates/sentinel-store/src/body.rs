//! Request and response bodies, for environments whose retention keeps
//! them: one row per request in `request_bodies`, apart from the record so
//! records stay small. Rows are written by the record writer with their
//! records (already redacted when the mode says so) and pruned after the
//! environment's `bodies_days`.

use sentinel_core::RequestRecord;
use serde::Serialize;

use crate::{Store, StoreError, backend::with_pool};

/// A request's stored bodies, as text (invalid UTF-8 replaced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StoredBodies {
    /// `redacted` or `full`.
    pub mode: String,
    pub request: Option<String>,
    pub request_truncated: bool,
    pub response: Option<String>,
    pub response_truncated: bool,
}

/// Bodies per INSERT statement at most (9 parameters each).
const ROWS_PER_STATEMENT: usize = 256;

/// Inserts the bodies `records` carry inside the open transaction `$tx`;
/// a request id already stored is skipped (replays duplicate nothing).
/// `$insert_sql` is the pair from `Store::insert_skipping_known_ids`.
macro_rules! insert_bodies {
    ($tx:ident, $records:expr, $insert_sql:expr) => {{
        let (insert, on_conflict): (&str, &str) = $insert_sql;
        let with_bodies: Vec<(&sentinel_core::RequestRecord, &sentinel_core::RecordBodies)> =
            $crate::body::carrying_bodies($records).collect();
        for chunk in with_bodies.chunks($crate::body::rows_per_statement()) {
            let mut builder = sqlx::QueryBuilder::new(format!(
                "{insert}request_bodies (id, org_id, env_id, time, mode, request, request_truncated, response, response_truncated) "
            ));
            builder.push_values(chunk, |mut row, (r, b)| {
                row.push_bind(r.id.as_str())
                    .push_bind(r.org_id.as_str())
                    .push_bind(r.env_id.as_deref())
                    .push_bind(r.time)
                    .push_bind(b.mode.as_str())
                    .push_bind($crate::body::body_text(b.request.as_deref()))
                    .push_bind(b.request_truncated)
                    .push_bind($crate::body::body_text(b.response.as_deref()))
                    .push_bind(b.response_truncated);
            });
            builder.push(on_conflict);
            builder.build().execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use insert_bodies;

pub(crate) fn carrying_bodies(
    records: &[RequestRecord],
) -> impl Iterator<Item = (&RequestRecord, &sentinel_core::RecordBodies)> {
    records
        .iter()
        .filter_map(|r| r.bodies.as_deref().map(|b| (r, b)))
}

pub(crate) const fn rows_per_statement() -> usize {
    ROWS_PER_STATEMENT
}

/// A body as text; invalid UTF-8 (a cut character) is replaced.
pub(crate) fn body_text(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|b| String::from_utf8_lossy(b).into_owned())
}

impl Store {
    /// The stored bodies of a request of the organization, if any.
    pub async fn get_bodies(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<StoredBodies>, StoreError> {
        let row: Option<StoredBodies> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT mode, request, request_truncated, response, response_truncated
                 FROM request_bodies WHERE org_id = $1 AND id = $2",
            )
            .bind(org_id)
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row)
    }

    /// Deletes at most `limit` of an environment's bodies older than
    /// `before` (unix ms), oldest first; returns how many went.
    pub async fn delete_bodies_before(
        &self,
        org_id: &str,
        env_id: &str,
        before: i64,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let sql = "DELETE FROM request_bodies WHERE id IN (
                     SELECT id FROM request_bodies
                     WHERE org_id = $1 AND env_id = $2 AND time < $3
                     ORDER BY time LIMIT $4)";
        self.delete_batch(sql, org_id, env_id, before, limit).await
    }
}
