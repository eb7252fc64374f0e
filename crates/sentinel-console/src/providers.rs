//! `GET /api/v1/providers/health`: circuit-breaker state and recent errors
//! of every endpoint (provider + upstream model), as this replica sees them.

use axum::{Json as JsonOut, extract::State};
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
        Some(name) => Some(environments::find(&deps, &caller, name).await?),
        None => None,
    };
    let data = (deps.provider_health)()
        .into_iter()
        .filter(|(org_id, _)| org_id == caller.org_id())
        .map(|(_, entry)| entry)
        .filter(|entry| {
            env.as_ref()
                .is_none_or(|e| entry["environment"] == e.name.as_str())
        })
        .collect();
    Ok(JsonOut(HealthList { data }))
}
