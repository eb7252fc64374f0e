//! `/api/v1/environments`: list, create, show and update environments.
//! Environments are addressed by name in URLs.

use axum::{
    Json as JsonOut,
    extract::{Path, State},
    http::StatusCode,
};
use sentinel_core::{Environment, Name, Permission};
use serde::{Deserialize, Serialize};

use crate::{ConsoleDeps, auth::Caller, error::ApiError, extract::Json};

/// An environment as the admin API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct EnvironmentView {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) protected: bool,
    pub(crate) hosts: Vec<String>,
    pub(crate) created_at: i64,
}

impl From<Environment> for EnvironmentView {
    fn from(env: Environment) -> Self {
        Self {
            id: env.id,
            name: env.name,
            protected: env.protected,
            hosts: env.hosts,
            created_at: env.created_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct List<T> {
    pub(crate) data: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateEnvironment {
    name: String,
    #[serde(default)]
    protected: bool,
    #[serde(default)]
    hosts: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateEnvironment {
    protected: Option<bool>,
    hosts: Option<Vec<String>>,
}

/// Checks an operator-chosen name against core's grammar.
pub(crate) fn parse_name(what: &str, name: &str) -> Result<Name, ApiError> {
    Name::parse(name).map_err(|e| ApiError::InvalidRequest(format!("{what} name {name:?}: {e}")))
}

/// The environment `name` in the caller's organization, or 404.
pub(crate) async fn find(
    deps: &ConsoleDeps,
    caller: &Caller,
    name: &str,
) -> Result<Environment, ApiError> {
    deps.store
        .get_environment_by_name(caller.org_id(), name)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("environment {name:?}")))
}

/// The environment `name` in the caller's organization (404 otherwise),
/// once the caller's grants allow `permission` on it (403 otherwise).
pub(crate) async fn find_for(
    deps: &ConsoleDeps,
    caller: &Caller,
    name: &str,
    permission: Permission,
) -> Result<Environment, ApiError> {
    let env = find(deps, caller, name).await?;
    caller.require(permission, Some(&env))?;
    Ok(env)
}

/// Data-plane host names: lowercase DNS names, optionally with a port.
fn normalize_hosts(hosts: Vec<String>) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::with_capacity(hosts.len());
    for host in hosts {
        let host = host.trim().to_ascii_lowercase();
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host.as_str(), None),
        };
        let name_ok = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
        if !name_ok || !port_ok {
            return Err(ApiError::InvalidRequest(format!(
                "host {host:?}: expected a host name such as api.example.com or api.example.com:8443 (no scheme, no path)"
            )));
        }
        if !out.contains(&host) {
            out.push(host);
        }
    }
    Ok(out)
}

pub(crate) async fn list(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
) -> Result<JsonOut<List<EnvironmentView>>, ApiError> {
    // Only the environments the caller may read.
    let scope = caller.scope(Permission::Read);
    let envs = deps.store.list_environments(caller.org_id()).await?;
    Ok(JsonOut(List {
        data: envs
            .into_iter()
            .filter(|e| scope.contains(&e.id))
            .map(EnvironmentView::from)
            .collect(),
    }))
}

pub(crate) async fn create(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Json(body): Json<CreateEnvironment>,
) -> Result<(StatusCode, JsonOut<EnvironmentView>), ApiError> {
    caller.require(Permission::Write, None)?;
    let name = parse_name("environment", &body.name)?;
    let hosts = normalize_hosts(body.hosts)?;
    let env = deps
        .store
        .create_environment(
            caller.org_id(),
            name.as_str(),
            body.protected,
            &hosts,
            &caller.audit(),
        )
        .await?;
    Ok((StatusCode::CREATED, JsonOut(env.into())))
}

pub(crate) async fn show(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
) -> Result<JsonOut<EnvironmentView>, ApiError> {
    let env = find(&deps, &caller, &env).await?;
    caller.require(Permission::Read, Some(&env))?;
    Ok(JsonOut(env.into()))
}

pub(crate) async fn update(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
    Json(body): Json<UpdateEnvironment>,
) -> Result<JsonOut<EnvironmentView>, ApiError> {
    let current = find(&deps, &caller, &env).await?;
    caller.require(Permission::Write, Some(&current))?;
    let protected = body.protected.unwrap_or(current.protected);
    if current.protected && !protected {
        // Lifting protection removes the second pair of eyes: admins only.
        caller
            .require(Permission::Admin, Some(&current))
            .map_err(|_| {
                ApiError::Forbidden(format!(
                    "only admins may lift protection from environment {env:?}"
                ))
            })?;
    }
    let hosts = match body.hosts {
        Some(hosts) => normalize_hosts(hosts)?,
        None => current.hosts.clone(),
    };
    let updated = deps
        .store
        .update_environment(
            caller.org_id(),
            &current.id,
            protected,
            &hosts,
            &caller.audit(),
        )
        .await?;
    Ok(JsonOut(updated.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_normalized_and_checked() {
        let ok = |hosts: &[&str]| normalize_hosts(hosts.iter().map(|h| h.to_string()).collect());
        assert_eq!(
            ok(&["API.example.com", "api.example.com", "gw.local:8443"]).unwrap(),
            ["api.example.com", "gw.local:8443"]
        );
        assert!(ok(&["https://api.example.com"]).is_err());
        assert!(ok(&["api.example.com/v1"]).is_err());
        assert!(ok(&[""]).is_err());
        assert!(ok(&["a..b"]).is_err());
        assert!(ok(&["a:0"]).is_err());
    }

    #[test]
    fn names_follow_the_core_grammar() {
        assert!(parse_name("environment", "prod").is_ok());
        let Err(ApiError::InvalidRequest(message)) = parse_name("environment", "Prod_1") else {
            panic!("expected invalid_request");
        };
        assert!(message.contains("environment name \"Prod_1\""), "{message}");
    }
}
