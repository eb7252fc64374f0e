//! Provider credentials, encrypted at rest and versioned.
//!
//! Invariants:
//! - Each secret name has at most one **current** version (`retired_at IS
//!   NULL`); writing a new version retires the previous one in the same
//!   transaction. Retired versions are kept for the record but never
//!   revealed, so gateways stop using a credential from their next snapshot.
//! - A value whose keyed fingerprint equals a *current* secret's in another
//!   environment of the organization is refused, unless the caller asked
//!   for the override, which is audited (`secret.reuse_allowed`).
//! - Every row records the id of the master key that wrapped its data key
//!   (`key_id`); [`Store::rotate_master_key`] re-wraps rows in batches, one
//!   transaction each, skipping rows already under the new key, so an
//!   interrupted rotation is resumed by running it again.
//! - Values appear in no error, audit event or answer: only names,
//!   versions, fingerprints and times.

use std::collections::HashMap;

use sentinel_core::SecretMeta;
use serde_json::json;

use crate::{
    AuditContext, MasterKey, SecretValue, Store, StoreError,
    audit::append_audit,
    backend::{new_id, with_pool, write_tx},
    crypto::Crypto,
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

#[derive(sqlx::FromRow)]
struct WrappedRow {
    id: String,
    org_id: String,
    env_id: String,
    name: String,
    version: i64,
    wrapped_key: Vec<u8>,
    sealed: Vec<u8>,
}

/// The current version of each secret name.
const CURRENT: &str = "s.retired_at IS NULL";

/// How a secret write treats an existing name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretWriteMode {
    /// Create the secret, or store a new version of it (the previous one is
    /// retired).
    Set,
    /// Store a new version of an existing secret; refused when the name
    /// does not exist, so a typo does not create a new secret.
    Rotate,
}

/// Options of a secret write.
#[derive(Debug, Clone, Copy)]
pub struct SecretWrite {
    pub mode: SecretWriteMode,
    /// Accept a value that is the current value of a secret in another
    /// environment. The caller checks that the operator may (admins only);
    /// the store audits it.
    pub allow_reuse: bool,
}

/// One version of a secret: never its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecretVersion {
    pub version: i64,
    pub fingerprint: String,
    pub created_at: i64,
    /// When a newer version replaced this one; `None` for the current one.
    pub retired_at: Option<i64>,
}

/// What a master-key rotation run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterKeyRotation {
    pub from_key_id: String,
    pub to_key_id: String,
    /// Data keys re-wrapped by this run.
    pub rewrapped: u64,
    /// Data keys already under the new key (done by an earlier run).
    pub already: u64,
}

impl Store {
    /// Sets a secret: a new version if the name exists, retiring the
    /// previous one. Refuses a value in use in another environment.
    pub async fn put_secret(
        &self,
        org_id: &str,
        env_id: &str,
        name: &str,
        value: &str,
        now: i64,
        ctx: &AuditContext,
    ) -> Result<SecretMeta, StoreError> {
        self.write_secret(
            org_id,
            env_id,
            name,
            value,
            SecretWrite {
                mode: SecretWriteMode::Set,
                allow_reuse: false,
            },
            now,
            ctx,
        )
        .await
    }

    /// Writes a new version of a secret (see [`SecretWriteMode`]). The new
    /// version is current at commit; gateways use it from their next
    /// snapshot and never use the retired one again.
    #[expect(
        clippy::too_many_arguments,
        reason = "one write, each argument distinct"
    )]
    pub async fn write_secret(
        &self,
        org_id: &str,
        env_id: &str,
        name: &str,
        value: &str,
        write: SecretWrite,
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
            // Lock the organization's row first, so two writes of the same
            // value to two environments cannot both pass the reuse check
            // (on PostgreSQL each statement after the wait sees the other's
            // commit; SQLite has one writer at a time anyway).
            sqlx::query("UPDATE organizations SET name = name WHERE id = $1")
                .bind(org_id)
                .execute(&mut *tx)
                .await?;
            let (latest, first): (Option<i64>, Option<i64>) =
                sqlx::query_as("SELECT MAX(version), MIN(created_at) FROM secrets WHERE org_id = $1 AND env_id = $2 AND name = $3")
                    .bind(org_id)
                    .bind(env_id)
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?;
            if write.mode == SecretWriteMode::Rotate && latest.is_none() {
                return Err(StoreError::NotFound {
                    what: format!("secret {name} (use set to create it)"),
                });
            }
            let reused: Option<(String, String)> = sqlx::query_as(
                "SELECT e.name, s.name FROM secrets s JOIN environments e ON e.id = s.env_id
                 WHERE s.org_id = $1 AND s.env_id <> $2 AND s.retired_at IS NULL AND s.fingerprint = $3
                 ORDER BY e.name, s.name LIMIT 1",
            )
            .bind(org_id)
            .bind(env_id)
            .bind(&fingerprint)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((other_env, other_name)) = &reused {
                if !write.allow_reuse {
                    return Err(StoreError::Conflict {
                        what: format!(
                            "this value is the current value of secret {other_name} in environment {other_env}; \
                             environments should not share credentials (an admin may override with allow_reuse)"
                        ),
                    });
                }
                append_audit!(
                    tx,
                    org_id,
                    ctx,
                    "secret.reuse_allowed",
                    format!("secret/{name}"),
                    Some(env_id),
                    json!({ "name": name, "fingerprint": fingerprint, "also_in_environment": other_env, "also_as_secret": other_name })
                );
            }
            let version = latest.unwrap_or(0) + 1;
            let sealed = crypto.seal(org_id, env_id, name, version, value)?;
            sqlx::query(
                "UPDATE secrets SET retired_at = $4 WHERE org_id = $1 AND env_id = $2 AND name = $3 AND retired_at IS NULL",
            )
            .bind(org_id)
            .bind(env_id)
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let id = new_id();
            sqlx::query(
                "INSERT INTO secrets (id, org_id, env_id, name, version, wrapped_key, sealed, fingerprint, created_at, key_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
            .bind(crypto.key_id())
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict(e, || format!("secret {name} was changed concurrently; retry")))?;
            let action = match write.mode {
                SecretWriteMode::Rotate => "secret.rotate",
                SecretWriteMode::Set => "secret.set",
            };
            append_audit!(
                tx,
                org_id,
                ctx,
                action,
                format!("secret/{name}"),
                Some(env_id),
                json!({ "name": name, "version": version, "retired_version": latest, "fingerprint": fingerprint })
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

    /// Every version of one secret, newest first; `NotFound` when the name
    /// has none.
    pub async fn list_secret_versions(
        &self,
        org_id: &str,
        env_id: &str,
        name: &str,
    ) -> Result<Vec<SecretVersion>, StoreError> {
        let rows: Vec<(i64, String, i64, Option<i64>)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT version, fingerprint, created_at, retired_at FROM secrets
                 WHERE org_id = $1 AND env_id = $2 AND name = $3 ORDER BY version DESC",
            )
            .bind(org_id)
            .bind(env_id)
            .bind(name)
            .fetch_all(pool)
            .await?
        });
        if rows.is_empty() {
            return Err(StoreError::NotFound {
                what: format!("secret {name}"),
            });
        }
        Ok(rows
            .into_iter()
            .map(
                |(version, fingerprint, created_at, retired_at)| SecretVersion {
                    version,
                    fingerprint,
                    created_at,
                    retired_at,
                },
            )
            .collect())
    }

    /// The id of the master key this store was opened with.
    pub fn master_key_id(&self) -> &str {
        self.inner.crypto.key_id()
    }

    /// How many data keys are wrapped under each master key id (`None`: a
    /// row written before key ids were recorded). After a complete rotation
    /// there is one entry, the new key's id.
    pub async fn secret_key_ids(&self) -> Result<Vec<(Option<String>, i64)>, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as("SELECT key_id, COUNT(*) FROM secrets GROUP BY key_id ORDER BY key_id")
                .fetch_all(pool)
                .await?
        }))
    }

    /// Re-wraps every data key from this store's master key to `new`, in
    /// transactions of `batch` rows, and recomputes fingerprints under
    /// `new`. Rows already under `new` are skipped, so an interrupted run
    /// is resumed by running it again. Each batch appends one audit event
    /// per organization it touched (`secrets.master_key_rotated`). A row
    /// that opens with neither key stops the run with `MasterKeyMismatch`,
    /// naming the secret, after the batches before it committed.
    pub async fn rotate_master_key(
        &self,
        new: &MasterKey,
        batch: u32,
        ctx: &AuditContext,
    ) -> Result<MasterKeyRotation, StoreError> {
        let old = &self.inner.crypto;
        let to = Crypto::new(new);
        let from_key_id = old.key_id().to_owned();
        let to_key_id = to.key_id().to_owned();
        if from_key_id == to_key_id {
            return Err(StoreError::InvalidMasterKey(
                "the new master key is the current one",
            ));
        }
        let (already,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM secrets WHERE key_id = $1")
                .bind(&to_key_id)
                .fetch_one(pool)
                .await?
        });
        let batch = i64::from(batch.max(1));
        let mut rewrapped = 0u64;
        loop {
            let done = write_tx!(self, |tx| {
                let rows: Vec<WrappedRow> = sqlx::query_as(
                    "SELECT id, org_id, env_id, name, version, wrapped_key, sealed FROM secrets
                     WHERE key_id IS NULL OR key_id <> $1 ORDER BY id LIMIT $2",
                )
                .bind(&to_key_id)
                .bind(batch)
                .fetch_all(&mut *tx)
                .await?;
                let mut per_org: std::collections::BTreeMap<String, u64> = Default::default();
                for row in &rows {
                    let r = old.rewrap(
                        &to,
                        &row.org_id,
                        &row.env_id,
                        &row.name,
                        row.version,
                        &row.wrapped_key,
                        &row.sealed,
                    )?;
                    sqlx::query(
                        "UPDATE secrets SET wrapped_key = $2, fingerprint = $3, key_id = $4 WHERE id = $1",
                    )
                    .bind(&row.id)
                    .bind(&r.wrapped_key)
                    .bind(&r.fingerprint)
                    .bind(&to_key_id)
                    .execute(&mut *tx)
                    .await?;
                    *per_org.entry(row.org_id.clone()).or_default() += 1;
                }
                for (org_id, count) in &per_org {
                    append_audit!(
                        tx,
                        org_id,
                        ctx,
                        "secrets.master_key_rotated",
                        "master_key",
                        None::<&str>,
                        json!({ "from_key_id": from_key_id, "to_key_id": to_key_id, "rewrapped": count })
                    );
                }
                u64::try_from(rows.len()).unwrap_or(u64::MAX)
            })?;
            rewrapped += done;
            if done == 0 {
                break;
            }
        }
        Ok(MasterKeyRotation {
            from_key_id,
            to_key_id,
            rewrapped,
            already: u64::try_from(already).unwrap_or(0),
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
             FROM secrets s WHERE s.org_id = $1 AND s.env_id = $2 AND {CURRENT} ORDER BY s.name"
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

    /// Decrypts the current version of every secret of an environment;
    /// retired versions are never decrypted.
    ///
    /// This is the only way a secret value leaves the store; call it only to
    /// build the gateway snapshot.
    pub async fn reveal_secrets(
        &self,
        org_id: &str,
        env_id: &str,
    ) -> Result<HashMap<String, SecretValue>, StoreError> {
        let sql = format!(
            "SELECT s.name, s.version, s.wrapped_key, s.sealed FROM secrets s WHERE s.org_id = $1 AND s.env_id = $2 AND {CURRENT}"
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
