//! `/api/v1/environments/{env}/policy/explain`: what the gateway's policy
//! stage would decide for a hypothetical request of one key, rule by rule,
//! with the live counters. Read-only: no counter is taken, no provider is
//! called; every role that can read the environment may ask.

use axum::{
    Json as JsonOut,
    extract::{Path, State},
};
use sentinel_core::Permission;
use sentinel_policy::ExplainQuery;

use crate::{ConsoleDeps, auth::Caller, environments, error::ApiError, extract::Json, keys};

pub(crate) async fn explain(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
    Json(query): Json<ExplainQuery>,
) -> Result<JsonOut<serde_json::Value>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    if query.model.is_empty() || query.model.len() > 256 {
        return Err(ApiError::InvalidRequest(
            "model must be a model name (1 to 256 characters)".into(),
        ));
    }
    if query.headers.len() > 64 {
        return Err(ApiError::InvalidRequest("at most 64 header names".into()));
    }
    let key = keys::find(&deps, &caller, &env, &query.key).await?;
    let app = deps
        .store
        .get_application(caller.org_id(), &key.app_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("application of key {:?}", key.id)))?;
    let explanation = (deps.explain)(env.id.clone(), app.id, app.name, query)
        .await
        .map_err(ApiError::InvalidRequest)?;
    Ok(JsonOut(explanation))
}
