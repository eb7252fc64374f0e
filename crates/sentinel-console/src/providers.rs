//! `GET /api/v1/providers/health`: circuit-breaker state and recent errors
//! of every endpoint (provider + upstream model), as this replica sees them.
//!
//! `POST /api/v1/environments/{env}/providers/test`: one minimal call to
//! each (provider, model) of the environment's route plans, through the
//! gateway; outcomes are stored (audited) and answered.
//! `GET .../providers/tests`: the latest outcome of each, and the pairs the
//! route plans use now.

use axum::{
    Json as JsonOut,
    extract::{Path, State},
};
use sentinel_core::{EnvScope, Permission, ProviderProbe};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    ConsoleDeps, auth::Caller, environments, error::ApiError, extract::Json, extract::Query,
};

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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestRequest {
    /// Only this provider's models; every provider when absent.
    provider: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct TestList {
    data: Vec<ProviderProbe>,
}

/// Calls each (provider, model) once and stores the outcomes.
pub(crate) async fn test(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
    Json(body): Json<TestRequest>,
) -> Result<JsonOut<TestList>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Write).await?;
    if let Some(provider) = &body.provider
        && sentinel_core::Name::parse(provider).is_err()
    {
        return Err(ApiError::InvalidRequest(format!(
            "provider {provider:?} is not a provider name"
        )));
    }
    let data = (deps.provider_tests.run)(env.id.clone(), body.provider.clone())
        .await
        .map_err(ApiError::InvalidRequest)?;
    deps.store
        .insert_provider_tests(caller.org_id(), &env.id, &data, &caller.audit())
        .await?;
    Ok(JsonOut(TestList { data }))
}

#[derive(Debug, Serialize)]
pub(crate) struct TestTarget {
    provider: String,
    model: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct LatestTests {
    /// The latest outcome of each (provider, model) ever tested.
    data: Vec<ProviderProbe>,
    /// The (provider, model) pairs the route plans use now (empty when the
    /// gateway has not loaded the environment).
    targets: Vec<TestTarget>,
}

pub(crate) async fn tests(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
) -> Result<JsonOut<LatestTests>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    let data = deps
        .store
        .latest_provider_tests(caller.org_id(), &env.id)
        .await?;
    let targets = (deps.provider_tests.targets)(&env.id)
        .unwrap_or_default()
        .into_iter()
        .map(|(provider, model)| TestTarget { provider, model })
        .collect();
    Ok(JsonOut(LatestTests { data, targets }))
}
