//! Organizations and operators.

use sentinel_core::{Grant, Operator, Organization, Role};
use serde_json::json;

use crate::{
    AuditContext, Store, StoreError,
    audit::append_audit,
    backend::{new_id, now_ms, with_pool, write_tx},
    error::conflict,
};

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: String,
    name: String,
    created_at: i64,
}

impl From<OrgRow> for Organization {
    fn from(r: OrgRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OperatorRow {
    id: String,
    org_id: String,
    name: String,
    platform_admin: bool,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl OperatorRow {
    fn into_operator(self, grants: Vec<Grant>) -> Operator {
        Operator {
            id: self.id,
            org_id: self.org_id,
            name: self.name,
            grants,
            platform_admin: self.platform_admin,
            created_at: self.created_at,
            revoked_at: self.revoked_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    operator_id: String,
    role: String,
    env_id: Option<String>,
    env_name: Option<String>,
}

impl TryFrom<GrantRow> for Grant {
    type Error = StoreError;
    fn try_from(r: GrantRow) -> Result<Self, StoreError> {
        Ok(Self {
            role: Role::parse(&r.role)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown role {:?}", r.role)))?,
            env_id: r.env_id,
            env_name: r.env_name,
        })
    }
}

/// An operator to create: its name, grants and the digest of its token.
#[derive(Debug, Clone)]
pub struct NewOperator<'a> {
    pub name: &'a str,
    pub grants: &'a [Grant],
    pub platform_admin: bool,
    pub token_digest_hex: &'a str,
}

/// The actor of the events a platform administrator causes in another
/// organization's audit log.
pub const PLATFORM_ACTOR: &str = "platform";

pub(crate) const OPERATOR_COLUMNS: &str =
    "id, org_id, name, platform_admin, created_at, revoked_at";

const GRANT_SELECT: &str = "SELECT g.operator_id, g.role, g.env_id, e.name AS env_name
     FROM operator_grants g LEFT JOIN environments e ON e.id = g.env_id";

/// Grants as the audit log shows them: role and environment name.
fn grants_json(grants: &[Grant]) -> serde_json::Value {
    grants
        .iter()
        .map(|g| json!({ "role": g.role.as_str(), "environment": g.env_name }))
        .collect()
}

/// Inserts an operator's grants inside the open transaction `$tx`; a grant
/// naming an environment of another organization is refused as absent.
macro_rules! insert_grants {
    ($tx:ident, $org_id:expr, $operator_id:expr, $grants:expr, $now:expr) => {{
        for grant in $grants {
            let inserted = sqlx::query(
                "INSERT INTO operator_grants (id, org_id, operator_id, role, env_id, created_at)
                 SELECT $1, $2, $3, $4, $5, $6
                 WHERE $5 IS NULL OR EXISTS (SELECT 1 FROM environments WHERE id = $5 AND org_id = $2)",
            )
            .bind(new_id())
            .bind($org_id)
            .bind($operator_id)
            .bind(grant.role.as_str())
            .bind(grant.env_id.as_deref())
            .bind($now)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Err(StoreError::NotFound {
                    what: format!(
                        "environment {}",
                        grant.env_name.as_deref().or(grant.env_id.as_deref()).unwrap_or("?")
                    ),
                });
            }
        }
    }};
}

/// Inserts an operator row inside the open transaction `$tx`.
macro_rules! insert_operator {
    ($tx:ident, $operator:expr, $new:expr) => {{
        let operator: &Operator = $operator;
        let new: &NewOperator<'_> = $new;
        // `role` is a legacy column (see migration 0006): the first grant's.
        let legacy_role = new.grants.first().map_or("", |g| g.role.as_str());
        sqlx::query("INSERT INTO operators (id, org_id, name, role, token_digest, created_at, platform_admin) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&operator.id)
            .bind(&operator.org_id)
            .bind(new.name)
            .bind(legacy_role)
            .bind(new.token_digest_hex)
            .bind(operator.created_at)
            .bind(new.platform_admin)
            .execute(&mut *$tx)
            .await
            .map_err(|e| conflict(e, || "that operator token is already in use".into()))?;
        insert_grants!($tx, &operator.org_id, &operator.id, new.grants, operator.created_at);
    }};
}

impl Store {
    /// The organization named `name`, created (and audited) if missing.
    pub async fn ensure_org(&self, name: &str) -> Result<Organization, StoreError> {
        if let Some(org) = self.get_org_by_name(name).await? {
            return Ok(org);
        }
        let id = new_id();
        let ctx = AuditContext {
            actor: "system".into(),
            ..AuditContext::default()
        };
        let created = write_tx!(self, |tx| {
            let inserted = sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
                .bind(&id)
                .bind(name)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if inserted == 1 {
                append_audit!(
                    tx,
                    &id,
                    &ctx,
                    "org.create",
                    format!("org/{name}"),
                    None,
                    json!({ "name": name })
                );
            }
        });
        created?;
        self.get_org_by_name(name)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("organization {name}"),
            })
    }

    pub async fn get_org_by_name(&self, name: &str) -> Result<Option<Organization>, StoreError> {
        let row: Option<OrgRow> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT id, name, created_at FROM organizations WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(Organization::from))
    }

    pub async fn list_orgs(&self) -> Result<Vec<Organization>, StoreError> {
        let rows: Vec<OrgRow> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT id, name, created_at FROM organizations ORDER BY name")
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(Organization::from).collect())
    }

    /// Creates an organization with its first admin operator (admin of
    /// every environment), audited in the new organization (as
    /// [`PLATFORM_ACTOR`]) and in the creator's (`actor_org_id`, as `ctx`).
    pub async fn create_org(
        &self,
        name: &str,
        first_admin: &NewOperator<'_>,
        actor_org_id: &str,
        ctx: &AuditContext,
    ) -> Result<(Organization, Operator), StoreError> {
        let org = Organization {
            id: new_id(),
            name: name.to_owned(),
            created_at: now_ms(),
        };
        let operator = Operator {
            id: new_id(),
            org_id: org.id.clone(),
            name: first_admin.name.to_owned(),
            grants: first_admin.grants.to_vec(),
            platform_admin: first_admin.platform_admin,
            created_at: org.created_at,
            revoked_at: None,
        };
        write_tx!(self, |tx| {
            sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(&org.id)
                .bind(name)
                .bind(org.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict(e, || format!("organization {name:?} already exists")))?;
            insert_operator!(tx, &operator, first_admin);
            // The new organization's log names the platform, not the
            // creator's operator id: that belongs to another organization.
            let platform = AuditContext {
                actor: PLATFORM_ACTOR.into(),
                ..ctx.clone()
            };
            let details = json!({ "name": name });
            append_audit!(
                tx,
                &org.id,
                &platform,
                "org.create",
                format!("org/{name}"),
                None,
                details.clone()
            );
            append_audit!(
                tx,
                &org.id,
                &platform,
                "operator.create",
                format!("operator/{}", operator.id),
                None,
                json!({ "name": first_admin.name, "grants": grants_json(first_admin.grants) })
            );
            append_audit!(
                tx,
                actor_org_id,
                ctx,
                "org.create",
                format!("org/{name}"),
                None,
                details
            );
        })?;
        Ok((org, operator))
    }

    /// Creates an operator holding `role` in every environment.
    pub async fn create_operator(
        &self,
        org_id: &str,
        name: &str,
        role: Role,
        token_digest_hex: &str,
        ctx: &AuditContext,
    ) -> Result<Operator, StoreError> {
        let grants = [Grant::everywhere(role)];
        self.create_operator_with(
            org_id,
            &NewOperator {
                name,
                grants: &grants,
                platform_admin: false,
                token_digest_hex,
            },
            ctx,
        )
        .await
    }

    /// Creates an operator with a hashed token and its grants. A grant
    /// naming another organization's environment answers `NotFound`.
    pub async fn create_operator_with(
        &self,
        org_id: &str,
        new: &NewOperator<'_>,
        ctx: &AuditContext,
    ) -> Result<Operator, StoreError> {
        let operator = Operator {
            id: new_id(),
            org_id: org_id.to_owned(),
            name: new.name.to_owned(),
            grants: new.grants.to_vec(),
            platform_admin: new.platform_admin,
            created_at: now_ms(),
            revoked_at: None,
        };
        write_tx!(self, |tx| {
            insert_operator!(tx, &operator, new);
            append_audit!(
                tx,
                org_id,
                ctx,
                "operator.create",
                format!("operator/{}", operator.id),
                None,
                json!({
                    "name": new.name,
                    "grants": grants_json(new.grants),
                    "platform_admin": new.platform_admin,
                })
            );
        })?;
        Ok(operator)
    }

    /// Replaces an operator's grants (audited with before and after).
    pub async fn set_operator_grants(
        &self,
        org_id: &str,
        operator_id: &str,
        grants: &[Grant],
        ctx: &AuditContext,
    ) -> Result<Operator, StoreError> {
        let before = self
            .get_operator(org_id, operator_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("operator {operator_id}"),
            })?;
        write_tx!(self, |tx| {
            sqlx::query("DELETE FROM operator_grants WHERE org_id = $1 AND operator_id = $2")
                .bind(org_id)
                .bind(operator_id)
                .execute(&mut *tx)
                .await?;
            insert_grants!(tx, org_id, operator_id, grants, now_ms());
            append_audit!(
                tx,
                org_id,
                ctx,
                "operator.grants",
                format!("operator/{operator_id}"),
                None,
                json!({ "before": grants_json(&before.grants), "after": grants_json(grants) })
            );
        })?;
        self.get_operator(org_id, operator_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("operator {operator_id}"),
            })
    }

    /// Revokes an operator: its token stops working at once. Revoking a
    /// revoked operator changes nothing.
    pub async fn revoke_operator(
        &self,
        org_id: &str,
        operator_id: &str,
        ctx: &AuditContext,
    ) -> Result<Operator, StoreError> {
        let now = now_ms();
        write_tx!(self, |tx| {
            let revoked = sqlx::query(
                "UPDATE operators SET revoked_at = $3 WHERE id = $1 AND org_id = $2 AND revoked_at IS NULL",
            )
            .bind(operator_id)
            .bind(org_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if revoked == 1 {
                append_audit!(
                    tx,
                    org_id,
                    ctx,
                    "operator.revoke",
                    format!("operator/{operator_id}"),
                    None,
                    json!({})
                );
            }
        })?;
        self.get_operator(org_id, operator_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("operator {operator_id}"),
            })
    }

    /// One operator of the organization, revoked or not.
    pub async fn get_operator(
        &self,
        org_id: &str,
        operator_id: &str,
    ) -> Result<Option<Operator>, StoreError> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE id = $1 AND org_id = $2");
        let row: Option<OperatorRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(operator_id)
                .bind(org_id)
                .fetch_optional(pool)
                .await?
        });
        match row {
            Some(row) => Ok(Some(self.with_grants(row).await?)),
            None => Ok(None),
        }
    }

    /// The operator of `row`, with its grants.
    pub(crate) async fn with_grants(&self, row: OperatorRow) -> Result<Operator, StoreError> {
        let grants = self.grants_of(&row.org_id, Some(&row.id)).await?;
        Ok(row.into_operator(grants.into_iter().map(|(_, g)| g).collect()))
    }

    /// The grants of one operator, or of every operator of the organization,
    /// as `(operator id, grant)`, org-wide grants first.
    async fn grants_of(
        &self,
        org_id: &str,
        operator_id: Option<&str>,
    ) -> Result<Vec<(String, Grant)>, StoreError> {
        let sql = format!(
            "{GRANT_SELECT} WHERE g.org_id = $1 AND ($2 IS NULL OR g.operator_id = $2)
             ORDER BY g.operator_id, e.name IS NOT NULL, e.name, g.role"
        );
        let rows: Vec<GrantRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(org_id)
                .bind(operator_id)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|r| Ok((r.operator_id.clone(), Grant::try_from(r)?)))
            .collect()
    }

    /// The active operator holding a token (the token identifies the org).
    pub async fn find_operator_by_token_digest(
        &self,
        digest_hex: &str,
    ) -> Result<Option<Operator>, StoreError> {
        let sql = format!(
            "SELECT {OPERATOR_COLUMNS} FROM operators WHERE token_digest = $1 AND revoked_at IS NULL"
        );
        let row: Option<OperatorRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(digest_hex)
                .fetch_optional(pool)
                .await?
        });
        match row {
            Some(row) => Ok(Some(self.with_grants(row).await?)),
            None => Ok(None),
        }
    }

    /// Operators across every organization (to know whether to bootstrap).
    pub async fn count_operators(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM operators")
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }

    pub async fn list_operators(&self, org_id: &str) -> Result<Vec<Operator>, StoreError> {
        let sql = format!(
            "SELECT {OPERATOR_COLUMNS} FROM operators WHERE org_id = $1 ORDER BY created_at, id"
        );
        let rows: Vec<OperatorRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(org_id)
                .fetch_all(pool)
                .await?
        });
        let mut grants = self.grants_of(org_id, None).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let mine = grants
                    .extract_if(.., |(op, _)| *op == row.id)
                    .map(|(_, g)| g)
                    .collect();
                row.into_operator(mine)
            })
            .collect())
    }
}
