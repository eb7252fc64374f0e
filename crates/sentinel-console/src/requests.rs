//! `/api/v1/requests`: request records, the trail from a client's
//! `x-sentinel-request-id` to the policy outcome and every provider attempt.

use axum::{
    Json as JsonOut,
    extract::{Path, State},
};
use sentinel_core::{Permission, RequestRecord};
use sentinel_store::{RecordFilter, StoredBodies};
use serde::{Deserialize, Serialize};

use crate::{
    ConsoleDeps, applications, auth::Caller, clock::parse_time, environments, error::ApiError,
    extract::Query,
};

pub(crate) const DEFAULT_LIMIT: u32 = 50;
pub(crate) const MAX_LIMIT: u32 = 500;

/// Search filters. Names (environment, application) are resolved within the
/// caller's organization; times are unix milliseconds or RFC 3339.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchQuery {
    env: Option<String>,
    app: Option<String>,
    key: Option<String>,
    status: Option<u16>,
    error_code: Option<String>,
    model: Option<String>,
    provider: Option<String>,
    policy: Option<String>,
    min_latency_ms: Option<i64>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Page {
    data: Vec<RequestRecord>,
    /// Pass as `cursor` to get the next (older) page; absent on the last.
    next_cursor: Option<String>,
}

pub(crate) fn limit(requested: Option<u32>) -> Result<u32, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::InvalidRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        ))),
    }
}

/// The policy decisions a record can carry (`policy.decision`).
pub(crate) const POLICY_DECISIONS: &[&str] = &[
    "allowed",
    "denied",
    "rate_limited",
    "budget_exceeded",
    "counters_unavailable",
];

pub(crate) async fn search(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Query(q): Query<SearchQuery>,
) -> Result<JsonOut<Page>, ApiError> {
    let limit = limit(q.limit)?;
    if q.policy
        .as_deref()
        .is_some_and(|p| !POLICY_DECISIONS.contains(&p))
    {
        return Err(ApiError::InvalidRequest(format!(
            "policy must be one of {}",
            POLICY_DECISIONS.join(", ")
        )));
    }
    if q.min_latency_ms.is_some_and(|ms| ms < 0) {
        return Err(ApiError::InvalidRequest(
            "min_latency_ms must not be negative".into(),
        ));
    }
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
    // Without env, records of every environment: only for org-wide readers.
    caller.require_in(Permission::Read, env.as_ref())?;
    let app = match (&q.app, &env) {
        (Some(name), Some(env)) => Some(applications::find(&deps, &caller, env, name).await?),
        (Some(_), None) => {
            return Err(ApiError::InvalidRequest(
                "app needs env: application names are unique within an environment".into(),
            ));
        }
        (None, _) => None,
    };
    let filter = RecordFilter {
        env_id: env.map(|e| e.id),
        app_id: app.map(|a| a.id),
        key_id: q.key,
        status: q.status,
        error_code: q.error_code,
        model: q.model,
        provider: q.provider,
        policy_decision: q.policy,
        min_latency_ms: q.min_latency_ms,
        since,
        until,
        cursor: q.cursor,
        limit,
    };
    let page = deps.store.search_records(caller.org_id(), &filter).await?;
    Ok(JsonOut(Page {
        data: page.records,
        next_cursor: page.next_cursor,
    }))
}

pub(crate) async fn show(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<JsonOut<RequestRecord>, ApiError> {
    Ok(JsonOut(readable_record(&deps, &caller, &id).await?))
}

/// The record `id` of the caller's organization (404 otherwise), once the
/// caller may read the environment that served it (403 otherwise).
async fn readable_record(
    deps: &ConsoleDeps,
    caller: &Caller,
    id: &str,
) -> Result<RequestRecord, ApiError> {
    let record = deps
        .store
        .get_record(caller.org_id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("request {id:?}")))?;
    if !caller
        .operator
        .may(Permission::Read, record.env_id.as_deref())
    {
        return Err(ApiError::Forbidden(format!(
            "your grants do not allow read in environment {:?}, where request {id:?} was served",
            record.env_name.as_deref().unwrap_or("(none)")
        )));
    }
    Ok(record)
}

/// The request's stored bodies: a sensitive read, audited
/// (`request.body.read`) before the bodies leave. 404 when the request is
/// not the caller's organization's or no bodies were kept.
pub(crate) async fn body(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<JsonOut<StoredBodies>, ApiError> {
    let record = readable_record(&deps, &caller, &id).await?;
    let bodies = deps
        .store
        .get_bodies(caller.org_id(), &id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format_args!(
                "bodies of request {id:?} (kept only when its environment's retention.bodies is redacted or full, until bodies_days)"
            ))
        })?;
    deps.store
        .append_audit_event(
            caller.org_id(),
            &caller.audit(),
            "request.body.read",
            &format!("request/{id}"),
            record.env_id.as_deref(),
            serde_json::json!({ "mode": bodies.mode }),
        )
        .await?;
    Ok(JsonOut(bodies))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some(1)).unwrap(), 1);
        assert_eq!(limit(Some(MAX_LIMIT)).unwrap(), MAX_LIMIT);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(MAX_LIMIT + 1)).is_err());
    }
}
