//! `sentinel verify` runs: each run of an environment with its steps,
//! written with its `environment.verify` audit event in one transaction.
//! Runs are kept (they are small); the readiness review reads the latest.

use sentinel_core::{VerifyRun, VerifyStep};
use serde_json::json;

use crate::{
    AuditContext, Store, StoreError,
    audit::append_audit,
    backend::{with_pool, write_tx},
};

#[derive(sqlx::FromRow)]
struct RunRow {
    id: String,
    env_id: String,
    actor: String,
    started_at: i64,
    duration_ms: i64,
    ok: bool,
    steps: String,
}

impl TryFrom<RunRow> for VerifyRun {
    type Error = StoreError;

    fn try_from(r: RunRow) -> Result<Self, StoreError> {
        let steps: Vec<VerifyStep> =
            serde_json::from_str(&r.steps).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Self {
            id: r.id,
            env_id: r.env_id,
            actor: r.actor,
            started_at: r.started_at,
            duration_ms: r.duration_ms,
            ok: r.ok,
            steps,
        })
    }
}

impl Store {
    /// Stores one verification run of `run.env_id`, with an
    /// `environment.verify` audit event (target `verify/<run id>`, the ok
    /// flag and the names of failed steps).
    pub async fn insert_verify_run(
        &self,
        org_id: &str,
        run: &VerifyRun,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let steps =
            serde_json::to_string(&run.steps).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let failed: Vec<&str> = run
            .steps
            .iter()
            .filter(|s| !s.ok)
            .map(|s| s.name.as_str())
            .collect();
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO verify_runs (id, org_id, env_id, actor, started_at, duration_ms, ok, steps)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&run.id)
            .bind(org_id)
            .bind(&run.env_id)
            .bind(&run.actor)
            .bind(run.started_at)
            .bind(run.duration_ms)
            .bind(run.ok)
            .bind(&steps)
            .execute(&mut *tx)
            .await?;
            append_audit!(
                tx,
                org_id,
                ctx,
                "environment.verify",
                format!("verify/{}", run.id),
                Some(run.env_id.as_str()),
                json!({
                    "ok": run.ok,
                    "steps": run.steps.len(),
                    "failed": failed,
                    "duration_ms": run.duration_ms,
                })
            );
        })
    }

    /// The latest verification run of an environment (by start time), if
    /// there is one.
    pub async fn latest_verify_run(
        &self,
        org_id: &str,
        env_id: &str,
    ) -> Result<Option<VerifyRun>, StoreError> {
        let row: Option<RunRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, env_id, actor, started_at, duration_ms, ok, steps
                 FROM verify_runs
                 WHERE org_id = $1 AND env_id = $2
                 ORDER BY started_at DESC, id DESC LIMIT 1",
            )
            .bind(org_id)
            .bind(env_id)
            .fetch_optional(pool)
            .await?
        });
        row.map(VerifyRun::try_from).transpose()
    }
}
