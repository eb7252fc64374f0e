//! `/api/v1/audit`: the organization's audit chain, and its verification.

use axum::{Json as JsonOut, extract::State};
use sentinel_core::{AuditEvent, Permission};
use sentinel_store::AuditFilter;
use serde::Deserialize;

use crate::{
    ConsoleDeps,
    auth::Caller,
    clock::parse_time,
    environments::{self, List},
    error::ApiError,
    extract::Query,
    requests::limit,
};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    action: Option<String>,
    env: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
}

pub(crate) async fn list(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<JsonOut<List<AuditEvent>>, ApiError> {
    let limit = limit(q.limit)?;
    let since = q
        .since
        .as_deref()
        .map(|t| parse_time("since", t))
        .transpose()?;
    let until = q
        .until
        .as_deref()
        .map(|t| parse_time("until", t))
        .transpose()?;
    let env = match &q.env {
        Some(name) => Some(environments::find(&deps, &caller, name).await?),
        None => None,
    };
    // Without env, events of every environment and of the organization.
    caller.require_in(Permission::Audit, env.as_ref())?;
    let env_id = env.map(|e| e.id);
    let filter = AuditFilter {
        action: q.action,
        env_id,
        since,
        until,
        before_seq: None,
        limit,
    };
    let events = deps.store.list_audit(caller.org_id(), filter).await?;
    Ok(JsonOut(List { data: events }))
}

/// Recomputes the organization's hash chain.
pub(crate) async fn verify(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
) -> Result<JsonOut<serde_json::Value>, ApiError> {
    caller.require(Permission::Audit, None)?;
    let outcome = deps.store.verify_audit_chain(caller.org_id()).await?;
    Ok(JsonOut(
        serde_json::to_value(outcome).map_err(ApiError::internal)?,
    ))
}
