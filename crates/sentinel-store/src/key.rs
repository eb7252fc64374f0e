//! Client keys: stored as digests, never as keys.

use sentinel_core::{ApiKey, ClientKey, Environment, Name};
use serde_json::json;

use crate::{
    AuditContext, Store, StoreError,
    audit::append_audit,
    backend::{with_pool, write_tx},
    error::conflict,
};

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    org_id: String,
    env_id: String,
    app_id: String,
    name: String,
    prefix: String,
    digest: String,
    revoked_at: Option<i64>,
    expires_at: Option<i64>,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<KeyRow> for ApiKey {
    fn from(r: KeyRow) -> Self {
        Self {
            id: r.id,
            org_id: r.org_id,
            env_id: r.env_id,
            app_id: r.app_id,
            name: r.name,
            prefix: r.prefix,
            digest_hex: r.digest,
            revoked_at: r.revoked_at,
            expires_at: r.expires_at,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

const COLUMNS: &str = "id, org_id, env_id, app_id, name, prefix, digest, revoked_at, expires_at, created_at, last_used_at";

/// What to issue a key for.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    pub env: &'a Environment,
    pub app_id: &'a str,
    pub name: &'a str,
    pub expires_at: Option<i64>,
    pub now: i64,
}

/// Inserts a key's row inside the open transaction `$tx`.
macro_rules! insert_key_row {
    ($tx:ident, $key:expr) => {{
        let key: &ApiKey = $key;
        sqlx::query(
            "INSERT INTO api_keys (id, org_id, env_id, app_id, name, prefix, digest, revoked_at, expires_at, created_at, last_used_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&key.id)
        .bind(&key.org_id)
        .bind(&key.env_id)
        .bind(&key.app_id)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(&key.digest_hex)
        .bind(key.revoked_at)
        .bind(key.expires_at)
        .bind(key.created_at)
        .bind(key.last_used_at)
        .execute(&mut *$tx)
        .await
        .map_err(|e| conflict(e, || "a key with that id already exists".into()))?;
    }};
}

impl Store {
    /// Issues a new client key: random, `snt_<env>_…`, stored as a digest.
    /// The returned [`ClientKey`] is the only copy of the key; show it once.
    pub async fn issue_key(
        &self,
        new: NewKey<'_>,
        ctx: &AuditContext,
    ) -> Result<(ApiKey, ClientKey), StoreError> {
        let (stored, key) = generate(&new)?;
        self.insert_key(&stored, ctx).await?;
        Ok((stored, key))
    }

    /// Rotates key `id`: issues a new key for the same application (same
    /// name, no expiry) and makes the old one expire `overlap_ms` after
    /// `now` (sooner if it already expired sooner), in one transaction with
    /// one `key.rotate` audit event. `None` when there is no such key in
    /// the environment or it is revoked or expired.
    pub async fn rotate_key(
        &self,
        env: &Environment,
        id: &str,
        overlap_ms: i64,
        now: i64,
        ctx: &AuditContext,
    ) -> Result<Option<(ApiKey, ClientKey)>, StoreError> {
        let Some(old) = self
            .get_key(&env.org_id, id)
            .await?
            .filter(|k| k.env_id == env.id && k.revoked_at.is_none())
            .filter(|k| k.expires_at.is_none_or(|at| at > now))
        else {
            return Ok(None);
        };
        let (stored, key) = generate(&NewKey {
            env,
            app_id: &old.app_id,
            name: &old.name,
            expires_at: None,
            now,
        })?;
        let old_expires_at = old
            .expires_at
            .map_or(now + overlap_ms, |at| at.min(now + overlap_ms));
        write_tx!(self, |tx| {
            let updated = sqlx::query(
                "UPDATE api_keys SET expires_at = $1
                 WHERE id = $2 AND org_id = $3 AND revoked_at IS NULL",
            )
            .bind(old_expires_at)
            .bind(&old.id)
            .bind(&old.org_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                return Err(StoreError::NotFound { what: "key".into() });
            }
            insert_key_row!(tx, &stored);
            append_audit!(
                tx,
                &old.org_id,
                ctx,
                "key.rotate",
                format!("key/{}", old.id),
                Some(old.env_id.as_str()),
                json!({
                    "new_key_id": stored.id,
                    "new_prefix": stored.prefix,
                    "app_id": stored.app_id,
                    "overlap_ms": overlap_ms,
                    "old_expires_at": old_expires_at,
                })
            );
        })?;
        Ok(Some((stored, key)))
    }

    /// Stores a new key (its digest). The application must belong to the
    /// key's environment and organization.
    pub async fn insert_key(&self, key: &ApiKey, ctx: &AuditContext) -> Result<(), StoreError> {
        write_tx!(self, |tx| {
            let app: Option<(String,)> = sqlx::query_as(
                "SELECT id FROM applications WHERE id = $1 AND org_id = $2 AND env_id = $3",
            )
            .bind(&key.app_id)
            .bind(&key.org_id)
            .bind(&key.env_id)
            .fetch_optional(&mut *tx)
            .await?;
            if app.is_none() {
                return Err(StoreError::NotFound {
                    what: "application".into(),
                });
            }
            insert_key_row!(tx, key);
            append_audit!(
                tx,
                &key.org_id,
                ctx,
                "key.create",
                format!("key/{}", key.id),
                Some(key.env_id.as_str()),
                json!({ "prefix": key.prefix, "name": key.name, "app_id": key.app_id, "expires_at": key.expires_at })
            );
        })
    }

    async fn keys_where(&self, filter: &str, binds: &[&str]) -> Result<Vec<ApiKey>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM api_keys WHERE {filter} ORDER BY created_at DESC, id");
        let rows: Vec<KeyRow> = with_pool!(self, |pool| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
            for b in binds {
                query = query.bind(*b);
            }
            query.fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(ApiKey::from).collect())
    }

    /// Keys of an organization, optionally of one environment, newest first.
    pub async fn list_keys(
        &self,
        org_id: &str,
        env_id: Option<&str>,
    ) -> Result<Vec<ApiKey>, StoreError> {
        match env_id {
            Some(env) => {
                self.keys_where("org_id = $1 AND env_id = $2", &[org_id, env])
                    .await
            }
            None => self.keys_where("org_id = $1", &[org_id]).await,
        }
    }

    pub async fn get_key(&self, org_id: &str, id: &str) -> Result<Option<ApiKey>, StoreError> {
        Ok(self
            .keys_where("org_id = $1 AND id = $2", &[org_id, id])
            .await?
            .pop())
    }

    /// Every organization's keys: for building the gateway snapshot.
    pub async fn list_all_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.keys_where("1 = 1", &[]).await
    }

    /// Revokes a key as of `now`. False when there is no such key or it was
    /// already revoked.
    pub async fn revoke_key(
        &self,
        org_id: &str,
        id: &str,
        now: i64,
        ctx: &AuditContext,
    ) -> Result<bool, StoreError> {
        write_tx!(self, |tx| {
            let env: Option<(String,)> = sqlx::query_as(
                "SELECT env_id FROM api_keys WHERE id = $1 AND org_id = $2 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(org_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((env_id,)) = env else {
                return Ok(false);
            };
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND org_id = $3")
                .bind(now)
                .bind(id)
                .bind(org_id)
                .execute(&mut *tx)
                .await?;
            append_audit!(
                tx,
                org_id,
                ctx,
                "key.revoke",
                format!("key/{id}"),
                Some(env_id.as_str()),
                json!({ "revoked_at": now })
            );
            true
        })
    }

    /// Records when keys were last used (keeps the latest time). Not audited
    /// and not a configuration change.
    pub async fn mark_keys_used(&self, used: &[(String, i64)]) -> Result<(), StoreError> {
        let _serial = self.write_guard().await;
        with_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_statement()).await?;
            for (id, time) in used {
                sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)")
                    .bind(time)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

/// A new random key for `new`, and its stored form.
fn generate(new: &NewKey<'_>) -> Result<(ApiKey, ClientKey), StoreError> {
    let env_name = Name::parse(&new.env.name)
        .map_err(|e| StoreError::Corrupt(format!("environment name: {e}")))?;
    let mut random = [0u8; 40];
    aws_lc_rs::rand::fill(&mut random).map_err(|_| StoreError::Random)?;
    let key = ClientKey::new(&env_name, &random);
    let stored = ApiKey {
        id: key.id().to_owned(),
        org_id: new.env.org_id.clone(),
        env_id: new.env.id.clone(),
        app_id: new.app_id.to_owned(),
        name: new.name.to_owned(),
        prefix: key.display_prefix().to_owned(),
        digest_hex: key.digest().to_hex(),
        revoked_at: None,
        expires_at: new.expires_at,
        created_at: new.now,
        last_used_at: None,
    };
    Ok((stored, key))
}
