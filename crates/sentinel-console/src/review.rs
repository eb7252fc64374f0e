//! `GET /api/v1/environments/{env}/review`: the production readiness review
//! of an environment (see `sentinel_review` and `docs/review.md`), judged
//! from the live store and this process's facts. `?staging=NAME` names the
//! environment whose evidence (connectivity tests, verify runs, operator
//! workflows, test traffic) counts too; `staging` when absent.

use axum::{
    Json as JsonOut,
    extract::{Path, State},
};
use sentinel_core::Permission;
use sentinel_review::{GatherError, Review};
use serde::Deserialize;

use crate::{
    ConsoleDeps, auth::Caller, clock::now_ms, environments, error::ApiError, extract::Query,
};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReviewQuery {
    staging: Option<String>,
}

pub(crate) async fn show(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
    Query(q): Query<ReviewQuery>,
) -> Result<JsonOut<Review>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    // Staging evidence is read too: the caller must be able to read it.
    if let Some(name) = &q.staging {
        environments::find_for(&deps, &caller, name, Permission::Read).await?;
    }
    let organization = caller.organization(&deps).await?.name;
    let facts = sentinel_review::gather(
        &deps.store,
        caller.org_id(),
        &organization,
        env,
        q.staging.as_deref(),
        deps.server_facts.clone(),
        now_ms(),
    )
    .await
    .map_err(|e| match e {
        GatherError::NoStaging(_) => ApiError::not_found(e),
        GatherError::Store(e) => e.into(),
    })?;
    Ok(JsonOut(sentinel_review::judge(&facts)))
}
