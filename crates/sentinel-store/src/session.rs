//! Console sessions: what a signed-in browser presents instead of an
//! operator token. Only the digest of the session cookie is stored, so
//! every replica sharing the store accepts the same sessions and a reader of
//! the table cannot use one.

use sentinel_core::Operator;
use serde_json::json;

use crate::{
    AuditContext, Store, StoreError,
    audit::append_audit,
    backend::{now_ms, with_pool, write_tx},
    org::{OPERATOR_COLUMNS, OperatorRow},
};

/// A live session and the operator it belongs to.
#[derive(Debug, Clone)]
pub struct Session {
    pub operator: Operator,
    /// Unix ms; the session is refused from then on.
    pub expires_at: i64,
}

impl Store {
    /// Stores a new session for `operator` (digest of its cookie) and audits
    /// the sign-in, in one transaction. Expired sessions of every
    /// organization are pruned on the way.
    pub async fn create_session(
        &self,
        operator: &Operator,
        digest_hex: &str,
        expires_at: i64,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        write_tx!(self, |tx| {
            sqlx::query("DELETE FROM operator_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO operator_sessions (digest, org_id, operator_id, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(digest_hex)
            .bind(&operator.org_id)
            .bind(&operator.id)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            append_audit!(
                tx,
                &operator.org_id,
                ctx,
                "session.create",
                format!("operator/{}", operator.id),
                None,
                json!({ "expires_at": expires_at })
            );
        })
    }

    /// The unexpired session with this cookie digest, if its operator is
    /// still active.
    pub async fn find_session(&self, digest_hex: &str) -> Result<Option<Session>, StoreError> {
        let columns = OPERATOR_COLUMNS
            .split(", ")
            .map(|c| format!("o.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, s.expires_at FROM operator_sessions s
               JOIN operators o ON o.id = s.operator_id AND o.org_id = s.org_id
             WHERE s.digest = $1 AND s.expires_at > $2 AND o.revoked_at IS NULL"
        );
        let row: Option<SessionRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(digest_hex)
                .bind(now_ms())
                .fetch_optional(pool)
                .await?
        });
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(Session {
            expires_at: row.expires_at,
            operator: self.with_grants(row.operator).await?,
        }))
    }

    /// Ends a session (sign-out) and audits it. Ending an unknown or
    /// already-ended session changes nothing and writes nothing.
    pub async fn delete_session(
        &self,
        org_id: &str,
        digest_hex: &str,
        ctx: &AuditContext,
    ) -> Result<bool, StoreError> {
        write_tx!(self, |tx| {
            let gone =
                sqlx::query("DELETE FROM operator_sessions WHERE org_id = $1 AND digest = $2")
                    .bind(org_id)
                    .bind(digest_hex)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if gone > 0 {
                append_audit!(
                    tx,
                    org_id,
                    ctx,
                    "session.delete",
                    format!("operator/{}", ctx.actor),
                    None,
                    json!({})
                );
            }
            gone > 0
        })
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    #[sqlx(flatten)]
    operator: OperatorRow,
    expires_at: i64,
}
