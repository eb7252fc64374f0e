//! Change requests: proposed documents against a base revision, their
//! approval, rejection, application, and staleness. Every step writes its
//! audit event in the same transaction as the step. Applying goes through
//! the same revision insert as a direct apply, so the change feed and the
//! hash chain of revisions are the same either way.

use sentinel_core::{ChangeKind, ChangeRequest, ChangeStatus, ConfigRevision};
use serde_json::json;

use crate::{
    AuditContext, Store, StoreError,
    audit::append_audit,
    backend::{now_ms, with_pool, write_tx},
    config::insert_revision,
};

/// A change request to open.
#[derive(Debug, Clone)]
pub struct NewChange<'a> {
    pub kind: ChangeKind,
    pub document: &'a str,
    pub message: &'a str,
    /// Operator id and name of the author.
    pub author_id: &'a str,
    pub author: &'a str,
    /// The revision the document was planned against; `None` takes the
    /// current one. A number that is not the current revision is refused.
    pub base_revision: Option<i64>,
    /// Promotions and rollbacks: the environment and revision it came from.
    pub source_env: Option<&'a str>,
    pub source_revision: Option<i64>,
    /// Apply in the same transaction (unprotected environments).
    pub apply_now: bool,
}

/// What applying a change request did.
#[derive(Debug, Clone)]
pub enum ApplyOutcome {
    /// It became this revision.
    Applied {
        change: Box<ChangeRequest>,
        revision: Box<ConfigRevision>,
    },
    /// Its base is no longer the current revision; it is now stale.
    Stale {
        change: Box<ChangeRequest>,
        current_revision: i64,
    },
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    org_id: String,
    env_id: String,
    number: i64,
    kind: String,
    status: String,
    document: String,
    message: String,
    author_id: String,
    author: String,
    created_at: i64,
    base_revision: i64,
    source_env: Option<String>,
    source_revision: Option<i64>,
    approved_by_id: Option<String>,
    approved_by: Option<String>,
    approved_at: Option<i64>,
    decided_by: Option<String>,
    decided_at: Option<i64>,
    reason: Option<String>,
    applied_revision: Option<i64>,
}

impl TryFrom<ChangeRow> for ChangeRequest {
    type Error = StoreError;

    fn try_from(r: ChangeRow) -> Result<Self, StoreError> {
        let kind = ChangeKind::parse(&r.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("change request kind {:?}", r.kind)))?;
        let status = ChangeStatus::parse(&r.status)
            .ok_or_else(|| StoreError::Corrupt(format!("change request status {:?}", r.status)))?;
        Ok(Self {
            org_id: r.org_id,
            env_id: r.env_id,
            number: r.number,
            kind,
            status,
            document: r.document,
            message: r.message,
            author_id: r.author_id,
            author: r.author,
            created_at: r.created_at,
            base_revision: r.base_revision,
            source_env: r.source_env,
            source_revision: r.source_revision,
            approved_by_id: r.approved_by_id,
            approved_by: r.approved_by,
            approved_at: r.approved_at,
            decided_by: r.decided_by,
            decided_at: r.decided_at,
            reason: r.reason,
            applied_revision: r.applied_revision,
        })
    }
}

const COLUMNS: &str = "org_id, env_id, number, kind, status, document, message, author_id, author, created_at, base_revision, source_env, source_revision, approved_by_id, approved_by, approved_at, decided_by, decided_at, reason, applied_revision";

/// Marks every pending change request of an environment except `$except`
/// stale because revision `$revision` was just applied, inside the open
/// transaction `$tx`, with one audit event each.
macro_rules! stale_pending {
    ($tx:ident, $org_id:expr, $env_id:expr, $revision:expr, $ctx:expr, $except:expr) => {{
        let revision: i64 = $revision;
        let except: Option<i64> = $except;
        let pending: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT number, base_revision FROM change_requests
             WHERE org_id = $1 AND env_id = $2 AND status = 'pending' ORDER BY number",
        )
        .bind($org_id)
        .bind($env_id)
        .fetch_all(&mut *$tx)
        .await?;
        for (number, base) in pending {
            if Some(number) == except || base == revision {
                continue;
            }
            $crate::change::mark_stale!($tx, $org_id, $env_id, number, base, revision, $ctx);
        }
    }};
}
pub(crate) use stale_pending;

/// Marks change request `$number` stale (its base `$base` is not the current
/// revision `$current`), inside the open transaction `$tx`, with its audit event.
macro_rules! mark_stale {
    ($tx:ident, $org_id:expr, $env_id:expr, $number:expr, $base:expr, $current:expr, $ctx:expr) => {{
        let number: i64 = $number;
        let base: i64 = $base;
        let current: i64 = $current;
        let ctx: &$crate::AuditContext = $ctx;
        let reason = format!(
            "planned against revision {base}, but the current revision is {current}"
        );
        sqlx::query(
            "UPDATE change_requests SET status = 'stale', decided_by = $4, decided_at = $5, reason = $6
             WHERE org_id = $1 AND env_id = $2 AND number = $3",
        )
        .bind($org_id)
        .bind($env_id)
        .bind(number)
        .bind("sentinel")
        .bind($crate::backend::now_ms())
        .bind(&reason)
        .execute(&mut *$tx)
        .await?;
        $crate::audit::append_audit!(
            $tx,
            $org_id,
            ctx,
            "change.stale",
            format!("change/{number}"),
            Some($env_id),
            serde_json::json!({ "number": number, "base_revision": base, "current_revision": current })
        );
    }};
}
pub(crate) use mark_stale;

/// Loads change request `$number` inside `$tx`, or returns NotFound.
macro_rules! load_change {
    ($tx:ident, $org_id:expr, $env_id:expr, $number:expr) => {{
        let sql = format!(
            "SELECT {COLUMNS} FROM change_requests WHERE org_id = $1 AND env_id = $2 AND number = $3"
        );
        let row: Option<ChangeRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind($org_id)
            .bind($env_id)
            .bind($number)
            .fetch_optional(&mut *$tx)
            .await?;
        match row {
            Some(row) => ChangeRequest::try_from(row)?,
            None => {
                return Err(StoreError::NotFound {
                    what: format!("change request {}", $number),
                });
            }
        }
    }};
}

/// The latest revision number of an environment inside `$tx` (0 = none).
macro_rules! latest_number {
    ($tx:ident, $org_id:expr, $env_id:expr) => {{
        let latest: Option<(i64,)> = sqlx::query_as(
            "SELECT revision FROM config_revisions WHERE org_id = $1 AND env_id = $2 ORDER BY revision DESC LIMIT 1",
        )
        .bind($org_id)
        .bind($env_id)
        .fetch_optional(&mut *$tx)
        .await?;
        latest.map_or(0, |(n,)| n)
    }};
}

/// Marks change request `$number` applied as `$revision` inside `$tx`, with
/// its audit event.
macro_rules! mark_applied {
    ($tx:ident, $org_id:expr, $env_id:expr, $number:expr, $revision:expr, $by:expr, $ctx:expr) => {{
        let number: i64 = $number;
        let revision: i64 = $revision;
        sqlx::query(
            "UPDATE change_requests SET status = 'applied', decided_by = $4, decided_at = $5, applied_revision = $6
             WHERE org_id = $1 AND env_id = $2 AND number = $3",
        )
        .bind($org_id)
        .bind($env_id)
        .bind(number)
        .bind($by)
        .bind(now_ms())
        .bind(revision)
        .execute(&mut *$tx)
        .await?;
        append_audit!(
            $tx,
            $org_id,
            $ctx,
            "change.apply",
            format!("change/{number}"),
            Some($env_id),
            json!({ "number": number, "revision": revision })
        );
    }};
}

/// Refuses a step on a change request that is no longer pending.
fn require_pending(change: &ChangeRequest, step: &str) -> Result<(), StoreError> {
    if change.status == ChangeStatus::Pending {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            what: format!(
                "change request {} is {}; only a pending change request can be {step}",
                change.number,
                change.status.as_str()
            ),
        })
    }
}

impl Store {
    /// Opens a change request (audited `change.propose`, or `change.promote`
    /// for a promotion) and, with `apply_now`, applies it in the same
    /// transaction. Returns the request and the revision it became.
    pub async fn propose_change(
        &self,
        org_id: &str,
        env_id: &str,
        new: &NewChange<'_>,
        ctx: &AuditContext,
    ) -> Result<(ChangeRequest, Option<ConfigRevision>), StoreError> {
        write_tx!(self, |tx| {
            // Take the organization's write lock first: change numbers and
            // revision numbers are read, then written.
            let found: Option<(String,)> = sqlx::query_as(
                "UPDATE organizations SET name = name WHERE id = $1
                 AND EXISTS (SELECT 1 FROM environments WHERE id = $2 AND org_id = $1) RETURNING id",
            )
            .bind(org_id)
            .bind(env_id)
            .fetch_optional(&mut *tx)
            .await?;
            if found.is_none() {
                return Err(StoreError::NotFound {
                    what: "environment".into(),
                });
            }
            let latest = latest_number!(tx, org_id, env_id);
            let base = new.base_revision.unwrap_or(latest);
            if base != latest {
                return Err(StoreError::Conflict {
                    what: format!(
                        "the configuration changed: base revision {base} is not the latest ({latest})"
                    ),
                });
            }
            let (last,): (Option<i64>,) = sqlx::query_as(
                "SELECT MAX(number) FROM change_requests WHERE org_id = $1 AND env_id = $2",
            )
            .bind(org_id)
            .bind(env_id)
            .fetch_one(&mut *tx)
            .await?;
            let number = last.unwrap_or(0) + 1;
            let created_at = now_ms();
            sqlx::query(
                "INSERT INTO change_requests (org_id, env_id, number, kind, status, document, message, author_id, author, created_at, base_revision, source_env, source_revision)
                 VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(org_id)
            .bind(env_id)
            .bind(number)
            .bind(new.kind.as_str())
            .bind(new.document)
            .bind(new.message)
            .bind(new.author_id)
            .bind(new.author)
            .bind(created_at)
            .bind(base)
            .bind(new.source_env)
            .bind(new.source_revision)
            .execute(&mut *tx)
            .await?;
            let action = match new.kind {
                ChangeKind::Promotion => "change.promote",
                ChangeKind::Apply | ChangeKind::Rollback => "change.propose",
            };
            append_audit!(
                tx,
                org_id,
                ctx,
                action,
                format!("change/{number}"),
                Some(env_id),
                json!({
                    "number": number, "kind": new.kind.as_str(), "base_revision": base,
                    "source_env": new.source_env, "source_revision": new.source_revision,
                    "message": new.message,
                })
            );
            let applied = if new.apply_now {
                let (revision, parent_hash, hash, rev_created_at) = insert_revision!(
                    tx,
                    org_id,
                    env_id,
                    new.document,
                    new.author,
                    new.message,
                    Some(base),
                    ctx,
                    Some(number)
                );
                mark_applied!(tx, org_id, env_id, number, revision, new.author, ctx);
                Some(ConfigRevision {
                    org_id: org_id.to_owned(),
                    env_id: env_id.to_owned(),
                    revision,
                    document: new.document.to_owned(),
                    author: new.author.to_owned(),
                    message: new.message.to_owned(),
                    created_at: rev_created_at,
                    hash,
                    parent_hash,
                })
            } else {
                None
            };
            let change = load_change!(tx, org_id, env_id, number);
            (change, applied)
        })
    }

    /// Records an approval of a pending change request (audited
    /// `change.approve`). The caller checks the approver is not the author.
    pub async fn approve_change(
        &self,
        org_id: &str,
        env_id: &str,
        number: i64,
        approver_id: &str,
        approver: &str,
        ctx: &AuditContext,
    ) -> Result<ChangeRequest, StoreError> {
        write_tx!(self, |tx| {
            let change = load_change!(tx, org_id, env_id, number);
            require_pending(&change, "approved")?;
            if let Some(by) = &change.approved_by {
                return Err(StoreError::Conflict {
                    what: format!("change request {number} is already approved by {by}"),
                });
            }
            sqlx::query(
                "UPDATE change_requests SET approved_by_id = $4, approved_by = $5, approved_at = $6
                 WHERE org_id = $1 AND env_id = $2 AND number = $3",
            )
            .bind(org_id)
            .bind(env_id)
            .bind(number)
            .bind(approver_id)
            .bind(approver)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            append_audit!(
                tx,
                org_id,
                ctx,
                "change.approve",
                format!("change/{number}"),
                Some(env_id),
                json!({ "number": number, "author": change.author })
            );
            load_change!(tx, org_id, env_id, number)
        })
    }

    /// Rejects a pending change request (audited `change.reject`).
    pub async fn reject_change(
        &self,
        org_id: &str,
        env_id: &str,
        number: i64,
        by: &str,
        reason: &str,
        ctx: &AuditContext,
    ) -> Result<ChangeRequest, StoreError> {
        write_tx!(self, |tx| {
            let change = load_change!(tx, org_id, env_id, number);
            require_pending(&change, "rejected")?;
            sqlx::query(
                "UPDATE change_requests SET status = 'rejected', decided_by = $4, decided_at = $5, reason = $6
                 WHERE org_id = $1 AND env_id = $2 AND number = $3",
            )
            .bind(org_id)
            .bind(env_id)
            .bind(number)
            .bind(by)
            .bind(now_ms())
            .bind(reason)
            .execute(&mut *tx)
            .await?;
            append_audit!(
                tx,
                org_id,
                ctx,
                "change.reject",
                format!("change/{number}"),
                Some(env_id),
                json!({ "number": number, "reason": reason })
            );
            load_change!(tx, org_id, env_id, number)
        })
    }

    /// Applies a pending change request as the next revision (audited
    /// `config.apply` and `change.apply`). With `require_approval`, an
    /// unapproved request is refused. A request whose base is no longer the
    /// current revision is marked stale (audited `change.stale`) instead.
    pub async fn apply_change(
        &self,
        org_id: &str,
        env_id: &str,
        number: i64,
        require_approval: bool,
        by: &str,
        ctx: &AuditContext,
    ) -> Result<ApplyOutcome, StoreError> {
        write_tx!(self, |tx| {
            sqlx::query("UPDATE organizations SET name = name WHERE id = $1")
                .bind(org_id)
                .execute(&mut *tx)
                .await?;
            let change = load_change!(tx, org_id, env_id, number);
            let current = latest_number!(tx, org_id, env_id);
            if change.status == ChangeStatus::Stale {
                ApplyOutcome::Stale {
                    change: Box::new(change),
                    current_revision: current,
                }
            } else {
                require_pending(&change, "applied")?;
                if require_approval && change.approved_by.is_none() {
                    return Err(StoreError::Conflict {
                        what: format!(
                            "change request {number} needs an approval by an approver other than its author before it is applied"
                        ),
                    });
                }
                if change.base_revision == current {
                    let (revision, parent_hash, hash, created_at) = insert_revision!(
                        tx,
                        org_id,
                        env_id,
                        &change.document,
                        &change.author,
                        &change.message,
                        Some(current),
                        ctx,
                        Some(number)
                    );
                    mark_applied!(tx, org_id, env_id, number, revision, by, ctx);
                    let revision = ConfigRevision {
                        org_id: org_id.to_owned(),
                        env_id: env_id.to_owned(),
                        revision,
                        document: change.document.clone(),
                        author: change.author.clone(),
                        message: change.message.clone(),
                        created_at,
                        hash,
                        parent_hash,
                    };
                    ApplyOutcome::Applied {
                        change: Box::new(load_change!(tx, org_id, env_id, number)),
                        revision: Box::new(revision),
                    }
                } else {
                    mark_stale!(
                        tx,
                        org_id,
                        env_id,
                        number,
                        change.base_revision,
                        current,
                        ctx
                    );
                    ApplyOutcome::Stale {
                        change: Box::new(load_change!(tx, org_id, env_id, number)),
                        current_revision: current,
                    }
                }
            }
        })
    }

    /// One change request.
    pub async fn get_change(
        &self,
        org_id: &str,
        env_id: &str,
        number: i64,
    ) -> Result<Option<ChangeRequest>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM change_requests WHERE org_id = $1 AND env_id = $2 AND number = $3"
        );
        let row: Option<ChangeRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(org_id)
                .bind(env_id)
                .bind(number)
                .fetch_optional(pool)
                .await?
        });
        row.map(ChangeRequest::try_from).transpose()
    }

    /// An environment's change requests, newest first, optionally of one status.
    pub async fn list_changes(
        &self,
        org_id: &str,
        env_id: &str,
        status: Option<ChangeStatus>,
    ) -> Result<Vec<ChangeRequest>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM change_requests WHERE org_id = $1 AND env_id = $2
               AND ($3 IS NULL OR status = $3) ORDER BY number DESC"
        );
        let rows: Vec<ChangeRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(org_id)
                .bind(env_id)
                .bind(status.map(ChangeStatus::as_str))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(ChangeRequest::try_from).collect()
    }
}
