//! Provider connectivity tests: each run's outcomes, written with their
//! audit event in one transaction; the latest outcome per provider and
//! model is what the readiness review reads.

use sentinel_core::ProviderProbe;
use serde_json::json;

use crate::{
    AuditContext, Store, StoreError,
    audit::append_audit,
    backend::{new_id, with_pool, write_tx},
};

#[derive(sqlx::FromRow)]
struct ProbeRow {
    provider: String,
    model: String,
    ok: bool,
    status: Option<i64>,
    latency_ms: i64,
    error: Option<String>,
    time: i64,
}

impl From<ProbeRow> for ProviderProbe {
    fn from(r: ProbeRow) -> Self {
        Self {
            provider: r.provider,
            model: r.model,
            ok: r.ok,
            status: r.status.and_then(|s| u16::try_from(s).ok()),
            latency_ms: r.latency_ms,
            error: r.error,
            time: r.time,
        }
    }
}

impl Store {
    /// Stores the outcomes of one test run of an environment's providers,
    /// with a `providers.test` audit event.
    pub async fn insert_provider_tests(
        &self,
        org_id: &str,
        env_id: &str,
        probes: &[ProviderProbe],
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        write_tx!(self, |tx| {
            for probe in probes {
                sqlx::query(
                    "INSERT INTO provider_tests (id, org_id, env_id, provider, model, ok, status, latency_ms, error, time)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(new_id())
                .bind(org_id)
                .bind(env_id)
                .bind(&probe.provider)
                .bind(&probe.model)
                .bind(probe.ok)
                .bind(probe.status.map(i64::from))
                .bind(probe.latency_ms)
                .bind(probe.error.as_deref())
                .bind(probe.time)
                .execute(&mut *tx)
                .await?;
            }
            let outcomes: Vec<_> = probes
                .iter()
                .map(|p| json!({ "provider": p.provider, "model": p.model, "ok": p.ok, "status": p.status }))
                .collect();
            append_audit!(
                tx,
                org_id,
                ctx,
                "providers.test",
                format!("env/{env_id}/providers"),
                Some(env_id),
                json!({ "outcomes": outcomes })
            );
        })
    }

    /// The latest test outcome of each (provider, model) of an environment,
    /// by provider then model.
    pub async fn latest_provider_tests(
        &self,
        org_id: &str,
        env_id: &str,
    ) -> Result<Vec<ProviderProbe>, StoreError> {
        let rows: Vec<ProbeRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT t.provider, t.model, t.ok, t.status, t.latency_ms, t.error, t.time
                 FROM provider_tests t
                 WHERE t.org_id = $1 AND t.env_id = $2
                   AND t.id = (SELECT l.id FROM provider_tests l
                               WHERE l.org_id = t.org_id AND l.env_id = t.env_id
                                 AND l.provider = t.provider AND l.model = t.model
                               ORDER BY l.time DESC, l.id DESC LIMIT 1)
                 ORDER BY t.provider, t.model",
            )
            .bind(org_id)
            .bind(env_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(ProviderProbe::from).collect())
    }
}
