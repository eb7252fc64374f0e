//! Organizations and operators.

use sentinel_core::{Operator, Organization, Role};
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
    role: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<OperatorRow> for Operator {
    type Error = StoreError;
    fn try_from(r: OperatorRow) -> Result<Self, StoreError> {
        Ok(Self {
            role: Role::parse(&r.role)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown role {:?}", r.role)))?,
            id: r.id,
            org_id: r.org_id,
            name: r.name,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        })
    }
}

pub(crate) const OPERATOR_COLUMNS: &str = "id, org_id, name, role, created_at, revoked_at";

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

    /// Creates an operator with a hashed token.
    pub async fn create_operator(
        &self,
        org_id: &str,
        name: &str,
        role: Role,
        token_digest_hex: &str,
        ctx: &AuditContext,
    ) -> Result<Operator, StoreError> {
        let operator = Operator {
            id: new_id(),
            org_id: org_id.to_owned(),
            name: name.to_owned(),
            role,
            created_at: now_ms(),
            revoked_at: None,
        };
        write_tx!(self, |tx| {
            sqlx::query("INSERT INTO operators (id, org_id, name, role, token_digest, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&operator.id)
                .bind(org_id)
                .bind(name)
                .bind(role.as_str())
                .bind(token_digest_hex)
                .bind(operator.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict(e, || "that operator token is already in use".into()))?;
            append_audit!(
                tx,
                org_id,
                ctx,
                "operator.create",
                format!("operator/{}", operator.id),
                None,
                json!({ "name": name, "role": role.as_str() })
            );
        })?;
        Ok(operator)
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
        row.map(Operator::try_from).transpose()
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
        rows.into_iter().map(Operator::try_from).collect()
    }
}
