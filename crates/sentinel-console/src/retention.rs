//! `GET /api/v1/environments/{env}/retention`: how long the environment
//! keeps request records, as its current config revision says (what the
//! console's Settings page shows beside the export downloads).

use axum::{
    Json as JsonOut,
    extract::{Path, State},
};
use sentinel_config::CompileContext;
use sentinel_core::Permission;
use serde::Serialize;

use crate::{ConsoleDeps, auth::Caller, environments, error::ApiError};

#[derive(Debug, Serialize)]
pub(crate) struct RetentionView {
    environment: String,
    /// The config revision read (0: none applied yet).
    revision: i64,
    /// Days request records are kept; `None` keeps them forever.
    requests_days: Option<u32>,
}

pub(crate) async fn show(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
) -> Result<JsonOut<RetentionView>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    let latest = deps.store.latest_revision(caller.org_id(), &env.id).await?;
    let Some(rev) = latest else {
        return Ok(JsonOut(RetentionView {
            environment: env.name,
            revision: 0,
            requests_days: None,
        }));
    };
    // Only the retention section is read: secret references need not
    // resolve for that, so every name counts as present.
    let ctx = CompileContext {
        catalog: deps.registry.as_ref(),
        protected: env.protected,
        secret_exists: &|_| true,
    };
    let (config, _) = sentinel_config::compile(&rev.document, &ctx).map_err(|errors| {
        ApiError::internal(format!(
            "stored revision {} no longer compiles: {} error(s)",
            rev.revision,
            errors.errors.len()
        ))
    })?;
    Ok(JsonOut(RetentionView {
        environment: env.name,
        revision: rev.revision,
        requests_days: config.retention().requests_days,
    }))
}
