//! Config revisions: immutable, numbered, hash-linked documents per
//! environment. Parsing them is the config crate's job, not the store's.

use sentinel_core::ConfigRevision;

use crate::{
    AuditContext, Store, StoreError,
    backend::{with_pool, write_tx},
};

#[derive(sqlx::FromRow)]
struct RevisionRow {
    org_id: String,
    env_id: String,
    revision: i64,
    document: String,
    author: String,
    message: String,
    created_at: i64,
    hash: String,
    parent_hash: String,
}

impl From<RevisionRow> for ConfigRevision {
    fn from(r: RevisionRow) -> Self {
        Self {
            org_id: r.org_id,
            env_id: r.env_id,
            revision: r.revision,
            document: r.document,
            author: r.author,
            message: r.message,
            created_at: r.created_at,
            hash: r.hash,
            parent_hash: r.parent_hash,
        }
    }
}

/// Appends `$document` as the environment's next revision inside the open
/// transaction `$tx` and evaluates to `(revision, parent_hash, hash,
/// created_at)`. With `$expected` (an `Option<i64>`), refuses (Conflict)
/// unless the latest revision is still that number. Every other pending
/// change request of the environment (all but number `$except`) was planned
/// against an older revision, so it becomes stale here, with its audit event.
macro_rules! insert_revision {
    ($tx:ident, $org_id:expr, $env_id:expr, $document:expr, $author:expr, $message:expr, $expected:expr, $ctx:expr, $except:expr) => {{
        let org_id: &str = $org_id;
        let env_id: &str = $env_id;
        let document: &str = $document;
        let message: &str = $message;
        let expected_latest: Option<i64> = $expected;
        let ctx: &$crate::AuditContext = $ctx;
        let except: Option<i64> = $except;
        let hash = sentinel_core::key::sha256_hex(document.as_bytes());
        let created_at = $crate::backend::now_ms();
        let latest: Option<(i64, String)> =
            sqlx::query_as("SELECT revision, hash FROM config_revisions WHERE org_id = $1 AND env_id = $2 ORDER BY revision DESC LIMIT 1")
                .bind(org_id)
                .bind(env_id)
                .fetch_optional(&mut *$tx)
                .await?;
        let (latest_number, parent_hash) = latest.unwrap_or((0, String::new()));
        if let Some(expected) = expected_latest
            && expected != latest_number
        {
            return Err($crate::StoreError::Conflict {
                what: format!(
                    "the configuration changed: base revision {expected} is not the latest ({latest_number})"
                ),
            });
        }
        let revision = latest_number + 1;
        sqlx::query(
            "INSERT INTO config_revisions (org_id, env_id, revision, document, author, message, created_at, hash, parent_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(org_id)
        .bind(env_id)
        .bind(revision)
        .bind(document)
        .bind($author)
        .bind(message)
        .bind(created_at)
        .bind(&hash)
        .bind(&parent_hash)
        .execute(&mut *$tx)
        .await
        .map_err(|e| $crate::error::conflict(e, || "another change was applied at the same time; retry against the new revision".into()))?;
        $crate::audit::append_audit!(
            $tx,
            org_id,
            ctx,
            "config.apply",
            format!("config/{revision}"),
            Some(env_id),
            serde_json::json!({ "revision": revision, "hash": hash, "parent_hash": parent_hash, "message": message })
        );
        $crate::change::stale_pending!($tx, org_id, env_id, revision, ctx, except);
        (revision, parent_hash, hash, created_at)
    }};
}
pub(crate) use insert_revision;

const COLUMNS: &str =
    "org_id, env_id, revision, document, author, message, created_at, hash, parent_hash";

impl Store {
    /// Stores `document` as the environment's next revision. With
    /// `expected_latest`, refuses (Conflict) unless the latest revision is
    /// still that number (0 = none yet), so two operators cannot overwrite
    /// each other unknowingly.
    #[expect(
        clippy::too_many_arguments,
        reason = "a revision is its document plus who, why and against what"
    )]
    pub async fn append_revision(
        &self,
        org_id: &str,
        env_id: &str,
        document: &str,
        author: &str,
        message: &str,
        expected_latest: Option<i64>,
        ctx: &AuditContext,
    ) -> Result<ConfigRevision, StoreError> {
        let (revision, parent_hash, hash, created_at) = write_tx!(self, |tx| {
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
            insert_revision!(
                tx,
                org_id,
                env_id,
                document,
                author,
                message,
                expected_latest,
                ctx,
                None
            )
        })?;
        Ok(ConfigRevision {
            org_id: org_id.to_owned(),
            env_id: env_id.to_owned(),
            revision,
            document: document.to_owned(),
            author: author.to_owned(),
            message: message.to_owned(),
            created_at,
            hash,
            parent_hash,
        })
    }

    async fn revisions_where(
        &self,
        filter: &str,
        org_id: Option<&str>,
        env_id: Option<&str>,
        number: Option<i64>,
    ) -> Result<Vec<ConfigRevision>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM config_revisions WHERE {filter}");
        let rows: Vec<RevisionRow> = with_pool!(self, |pool| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
            if let Some(org) = org_id {
                query = query.bind(org);
            }
            if let Some(env) = env_id {
                query = query.bind(env);
            }
            if let Some(n) = number {
                query = query.bind(n);
            }
            query.fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(ConfigRevision::from).collect())
    }

    pub async fn latest_revision(
        &self,
        org_id: &str,
        env_id: &str,
    ) -> Result<Option<ConfigRevision>, StoreError> {
        Ok(self
            .revisions_where(
                "org_id = $1 AND env_id = $2 ORDER BY revision DESC LIMIT 1",
                Some(org_id),
                Some(env_id),
                None,
            )
            .await?
            .pop())
    }

    pub async fn get_revision(
        &self,
        org_id: &str,
        env_id: &str,
        revision: i64,
    ) -> Result<Option<ConfigRevision>, StoreError> {
        Ok(self
            .revisions_where(
                "org_id = $1 AND env_id = $2 AND revision = $3",
                Some(org_id),
                Some(env_id),
                Some(revision),
            )
            .await?
            .pop())
    }

    /// An environment's revisions, newest first.
    pub async fn list_revisions(
        &self,
        org_id: &str,
        env_id: &str,
    ) -> Result<Vec<ConfigRevision>, StoreError> {
        self.revisions_where(
            "org_id = $1 AND env_id = $2 ORDER BY revision DESC",
            Some(org_id),
            Some(env_id),
            None,
        )
        .await
    }

    /// The latest revision of every environment: for building the snapshot.
    pub async fn latest_revisions_all(&self) -> Result<Vec<ConfigRevision>, StoreError> {
        self.revisions_where(
            "revision = (SELECT MAX(l.revision) FROM config_revisions l WHERE l.org_id = config_revisions.org_id AND l.env_id = config_revisions.env_id)",
            None,
            None,
            None,
        )
        .await
    }
}
