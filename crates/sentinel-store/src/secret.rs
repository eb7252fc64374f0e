//! Provider credentials, encrypted at rest and versioned.

use std::collections::HashMap;

use sentinel_core::SecretMeta;
use serde_json::json;

use crate::{
    AuditContext, SecretValue, Store, StoreError,
    audit::append_audit,
    backend::{new_id, with_pool, write_tx},
    error::conflict,
};

#[derive(sqlx::FromRow)]
struct MetaRow {
    id: String,
    org_id: String,
    env_id: String,
    name: String,
    version: i64,
    fingerprint: String,
    created_at: i64,
    first_created_at: i64,
}

#[derive(sqlx::FromRow)]
struct SealedRow {
    name: String,
    version: i64,
    wrapped_key: Vec<u8>,
    sealed: Vec<u8>,
}

/// The latest version of each secret name.
const LATEST: &str = "s.version = (SELECT MAX(v.version) FROM secrets v WHERE v.org_id = s.org_id AND v.env_id = s.env_id AND v.name = s.name)";

impl Store {
    /// Sets a secret: a new version if the name exists. Gateways use the new
    /// version from their next snapshot; older versions are kept.
    pub async fn put_secret(
        &self,
        org_id: &str,
        env_id: &str,
        name: &str,
        value: &str,
        now: i64,
        ctx: &AuditContext,
    ) -> Result<SecretMeta, StoreError> {
        let crypto = &self.inner.crypto;
        let fingerprint = crypto.fingerprint(value);
        let (id, version, first_created_at) = write_tx!(self, |tx| {
            let env: Option<(String,)> =
                sqlx::query_as("SELECT id FROM environments WHERE id = $1 AND org_id = $2")
                    .bind(env_id)
                    .bind(org_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if env.is_none() {
                return Err(StoreError::NotFound {
                    what: "environment".into(),
                });
            }
            let (latest, first): (Option<i64>, Option<i64>) =
                sqlx::query_as("SELECT MAX(version), MIN(created_at) FROM secrets WHERE org_id = $1 AND env_id = $2 AND name = $3")
                    .bind(org_id)
                    .bind(env_id)
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?;
            let version = latest.unwrap_or(0) + 1;
            let sealed = crypto.seal(org_id, env_id, name, version, value)?;
            let id = new_id();
            sqlx::query(
                "INSERT INTO secrets (id, org_id, env_id, name, version, wrapped_key, sealed, fingerprint, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&id)
            .bind(org_id)
            .bind(env_id)
            .bind(name)
            .bind(version)
            .bind(&sealed.wrapped_key)
            .bind(&sealed.sealed)
            .bind(&sealed.fingerprint)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict(e, || format!("secret {name} was changed concurrently; retry")))?;
            append_audit!(
                tx,
                org_id,
                ctx,
                "secret.set",
                format!("secret/{name}"),
                Some(env_id),
                json!({ "name": name, "version": version, "fingerprint": fingerprint })
            );
            (id, version, first.unwrap_or(now))
        })?;
        Ok(SecretMeta {
            id,
            org_id: org_id.to_owned(),
            env_id: env_id.to_owned(),
            name: name.to_owned(),
            version,
            fingerprint,
            created_at: first_created_at,
            updated_at: now,
        })
    }

    /// Names, versions and fingerprints of an environment's secrets, never
    /// their values.
    pub async fn list_secrets(
        &self,
        org_id: &str,
        env_id: &str,
    ) -> Result<Vec<SecretMeta>, StoreError> {
        let sql = format!(
            "SELECT s.id, s.org_id, s.env_id, s.name, s.version, s.fingerprint, s.created_at,
                    (SELECT MIN(f.created_at) FROM secrets f WHERE f.org_id = s.org_id AND f.env_id = s.env_id AND f.name = s.name) AS first_created_at
             FROM secrets s WHERE s.org_id = $1 AND s.env_id = $2 AND {LATEST} ORDER BY s.name"
        );
        let rows: Vec<MetaRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(org_id)
                .bind(env_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| SecretMeta {
                id: r.id,
                org_id: r.org_id,
                env_id: r.env_id,
                name: r.name,
                version: r.version,
                fingerprint: r.fingerprint,
                created_at: r.first_created_at,
                updated_at: r.created_at,
            })
            .collect())
    }

    /// Decrypts the latest version of every secret of an environment.
    ///
    /// This is the only way a secret value leaves the store; call it only to
    /// build the gateway snapshot.
    pub async fn reveal_secrets(
        &self,
        org_id: &str,
        env_id: &str,
    ) -> Result<HashMap<String, SecretValue>, StoreError> {
        let sql = format!(
            "SELECT s.name, s.version, s.wrapped_key, s.sealed FROM secrets s WHERE s.org_id = $1 AND s.env_id = $2 AND {LATEST}"
        );
        let rows: Vec<SealedRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(org_id)
                .bind(env_id)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|r| {
                let value = self.inner.crypto.open(
                    org_id,
                    env_id,
                    &r.name,
                    r.version,
                    &r.wrapped_key,
                    &r.sealed,
                )?;
                Ok((r.name, value))
            })
            .collect()
    }
}
