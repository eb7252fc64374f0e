//! Environments (with their data-plane hosts) and applications.

use std::collections::HashMap;

use sentinel_core::{Application, Environment};
use serde_json::json;

use crate::{
    AuditContext, Store, StoreError,
    audit::append_audit,
    backend::{new_id, now_ms, with_pool, write_tx},
    error::conflict,
};

#[derive(sqlx::FromRow)]
struct EnvRow {
    id: String,
    org_id: String,
    name: String,
    protected: bool,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct HostRow {
    host: String,
    env_id: String,
}

#[derive(sqlx::FromRow)]
struct AppRow {
    id: String,
    org_id: String,
    env_id: String,
    name: String,
    created_at: i64,
}

impl From<AppRow> for Application {
    fn from(r: AppRow) -> Self {
        Self {
            id: r.id,
            org_id: r.org_id,
            env_id: r.env_id,
            name: r.name,
            created_at: r.created_at,
        }
    }
}

fn with_hosts(rows: Vec<EnvRow>, hosts: Vec<HostRow>) -> Vec<Environment> {
    let mut by_env: HashMap<String, Vec<String>> = HashMap::new();
    for h in hosts {
        by_env.entry(h.env_id).or_default().push(h.host);
    }
    rows.into_iter()
        .map(|r| {
            let mut hosts = by_env.remove(&r.id).unwrap_or_default();
            hosts.sort();
            Environment {
                id: r.id,
                org_id: r.org_id,
                name: r.name,
                protected: r.protected,
                hosts,
                created_at: r.created_at,
            }
        })
        .collect()
}

/// Hosts are compared lowercased, without a trailing dot.
fn normalize_hosts(hosts: &[String]) -> Vec<String> {
    let mut out: Vec<String> = hosts
        .iter()
        .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Binds `$hosts` to an environment inside the open transaction `$tx`; a
/// host already bound elsewhere is a conflict.
macro_rules! insert_hosts {
    ($tx:ident, $org_id:expr, $env_id:expr, $hosts:expr) => {
        for host in $hosts {
            sqlx::query("INSERT INTO environment_hosts (host, org_id, env_id) VALUES ($1, $2, $3)")
                .bind(host)
                .bind($org_id)
                .bind($env_id)
                .execute(&mut *$tx)
                .await
                .map_err(|e| {
                    conflict(e, || {
                        format!("host {host} already belongs to another environment")
                    })
                })?;
        }
    };
}

const ENV_COLUMNS: &str = "id, org_id, name, protected, created_at";
const APP_COLUMNS: &str = "id, org_id, env_id, name, created_at";

impl Store {
    /// Creates an environment; names are unique within an organization and
    /// each host belongs to one environment only.
    pub async fn create_environment(
        &self,
        org_id: &str,
        name: &str,
        protected: bool,
        hosts: &[String],
        ctx: &AuditContext,
    ) -> Result<Environment, StoreError> {
        let env = Environment {
            id: new_id(),
            org_id: org_id.to_owned(),
            name: name.to_owned(),
            protected,
            hosts: normalize_hosts(hosts),
            created_at: now_ms(),
        };
        write_tx!(self, |tx| {
            sqlx::query("INSERT INTO environments (id, org_id, name, protected, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&env.id)
                .bind(org_id)
                .bind(name)
                .bind(protected)
                .bind(env.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict(e, || format!("an environment named {name} already exists")))?;
            insert_hosts!(tx, org_id, &env.id, &env.hosts);
            append_audit!(
                tx,
                org_id,
                ctx,
                "environment.create",
                format!("environment/{name}"),
                Some(env.id.as_str()),
                json!({ "name": name, "protected": protected, "hosts": env.hosts })
            );
        })?;
        Ok(env)
    }

    /// Changes an environment's protected flag and hosts.
    pub async fn update_environment(
        &self,
        org_id: &str,
        env_id: &str,
        protected: bool,
        hosts: &[String],
        ctx: &AuditContext,
    ) -> Result<Environment, StoreError> {
        let before =
            self.get_environment(org_id, env_id)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "environment".into(),
                })?;
        let hosts = normalize_hosts(hosts);
        write_tx!(self, |tx| {
            sqlx::query("UPDATE environments SET protected = $1 WHERE id = $2 AND org_id = $3")
                .bind(protected)
                .bind(env_id)
                .bind(org_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM environment_hosts WHERE env_id = $1 AND org_id = $2")
                .bind(env_id)
                .bind(org_id)
                .execute(&mut *tx)
                .await?;
            insert_hosts!(tx, org_id, env_id, &hosts);
            append_audit!(
                tx,
                org_id,
                ctx,
                "environment.update",
                format!("environment/{}", before.name),
                Some(env_id),
                json!({
                    "before": { "protected": before.protected, "hosts": before.hosts },
                    "after": { "protected": protected, "hosts": hosts },
                })
            );
        })?;
        self.get_environment(org_id, env_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "environment".into(),
            })
    }

    async fn environments_where(
        &self,
        filter: &str,
        org_id: Option<&str>,
        value: Option<&str>,
    ) -> Result<Vec<Environment>, StoreError> {
        let sql = format!("SELECT {ENV_COLUMNS} FROM environments WHERE {filter} ORDER BY name");
        let host_sql =
            "SELECT host, env_id FROM environment_hosts WHERE ($1 IS NULL OR org_id = $1)";
        let (rows, hosts): (Vec<EnvRow>, Vec<HostRow>) = with_pool!(self, |pool| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
            if let Some(org) = org_id {
                query = query.bind(org);
            }
            if let Some(v) = value {
                query = query.bind(v);
            }
            let rows = query.fetch_all(pool).await?;
            let hosts = sqlx::query_as(host_sql)
                .bind(org_id)
                .fetch_all(pool)
                .await?;
            (rows, hosts)
        });
        Ok(with_hosts(rows, hosts))
    }

    pub async fn list_environments(&self, org_id: &str) -> Result<Vec<Environment>, StoreError> {
        self.environments_where("org_id = $1", Some(org_id), None)
            .await
    }

    pub async fn get_environment_by_name(
        &self,
        org_id: &str,
        name: &str,
    ) -> Result<Option<Environment>, StoreError> {
        Ok(self
            .environments_where("org_id = $1 AND name = $2", Some(org_id), Some(name))
            .await?
            .pop())
    }

    pub async fn get_environment(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<Environment>, StoreError> {
        Ok(self
            .environments_where("org_id = $1 AND id = $2", Some(org_id), Some(id))
            .await?
            .pop())
    }

    /// Every organization's environments: for building the gateway snapshot.
    pub async fn list_all_environments(&self) -> Result<Vec<Environment>, StoreError> {
        self.environments_where("1 = 1", None, None).await
    }

    pub async fn create_application(
        &self,
        org_id: &str,
        env_id: &str,
        name: &str,
        ctx: &AuditContext,
    ) -> Result<Application, StoreError> {
        let app = Application {
            id: new_id(),
            org_id: org_id.to_owned(),
            env_id: env_id.to_owned(),
            name: name.to_owned(),
            created_at: now_ms(),
        };
        write_tx!(self, |tx| {
            let env_exists: Option<(String,)> =
                sqlx::query_as("SELECT id FROM environments WHERE id = $1 AND org_id = $2")
                    .bind(env_id)
                    .bind(org_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if env_exists.is_none() {
                return Err(StoreError::NotFound {
                    what: "environment".into(),
                });
            }
            sqlx::query("INSERT INTO applications (id, org_id, env_id, name, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&app.id)
                .bind(org_id)
                .bind(env_id)
                .bind(name)
                .bind(app.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict(e, || format!("an application named {name} already exists in this environment")))?;
            append_audit!(
                tx,
                org_id,
                ctx,
                "application.create",
                format!("application/{name}"),
                Some(env_id),
                json!({ "name": name })
            );
        })?;
        Ok(app)
    }

    async fn applications_where(
        &self,
        filter: &str,
        binds: &[&str],
    ) -> Result<Vec<Application>, StoreError> {
        let sql = format!("SELECT {APP_COLUMNS} FROM applications WHERE {filter} ORDER BY name");
        let rows: Vec<AppRow> = with_pool!(self, |pool| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
            for b in binds {
                query = query.bind(*b);
            }
            query.fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(Application::from).collect())
    }

    pub async fn list_applications(
        &self,
        org_id: &str,
        env_id: &str,
    ) -> Result<Vec<Application>, StoreError> {
        self.applications_where("org_id = $1 AND env_id = $2", &[org_id, env_id])
            .await
    }

    pub async fn get_application_by_name(
        &self,
        org_id: &str,
        env_id: &str,
        name: &str,
    ) -> Result<Option<Application>, StoreError> {
        Ok(self
            .applications_where(
                "org_id = $1 AND env_id = $2 AND name = $3",
                &[org_id, env_id, name],
            )
            .await?
            .pop())
    }

    pub async fn get_application(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<Option<Application>, StoreError> {
        Ok(self
            .applications_where("org_id = $1 AND id = $2", &[org_id, id])
            .await?
            .pop())
    }

    /// Every organization's applications: for building the gateway snapshot.
    pub async fn list_all_applications(&self) -> Result<Vec<Application>, StoreError> {
        self.applications_where("1 = 1", &[]).await
    }
}
