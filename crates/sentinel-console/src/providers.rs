//! `GET /api/v1/providers/health`: circuit-breaker state and recent errors
//! of every endpoint (provider + upstream model), as this replica sees them.

use axum::{Json as JsonOut, extract::State};
use sentinel_core::{EnvScope, Permission};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ConsoleDeps, auth::Caller, environments, error::ApiError, extract::Query};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthQuery {
    env: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct HealthList {
    data: Vec<Value>,
}

pub(crate) async fn health(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Query(q): Query<HealthQuery>,
) -> Result<JsonOut<HealthList>, ApiError> {
    let env = match &q.env {
        Some(name) => Some(environments::find_for(&deps, &caller, name, Permission::Read).await?),
        None => None,
    };
    // Without env, only the environments the caller may read (`None`: all).
    let readable: Option<Vec<String>> = match caller.scope(Permission::Read) {
        EnvScope::All => None,
        EnvScope::Only(ids) => Some(
            deps.store
                .list_environments(caller.org_id())
                .await?
                .into_iter()
                .filter(|e| ids.contains(&e.id))
                .map(|e| e.name)
                .collect(),
        ),
    };
    let data = (deps.provider_health)()
        .into_iter()
        .filter(|(org_id, _)| org_id == caller.org_id())
        .map(|(_, entry)| entry)
        .filter(|entry| {
            env.as_ref()
                .is_none_or(|e| entry["environment"] == e.name.as_str())
        })
        .filter(|entry| {
            readable
                .as_ref()
                .is_none_or(|names| names.iter().any(|n| entry["environment"] == n.as_str()))
        })
        .collect();
    Ok(JsonOut(HealthList { data }))
}
