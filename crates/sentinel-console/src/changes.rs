//! `/api/v1/environments/{env}/changes`: change requests — list, show
//! (with the diff against the current revision), approve, reject, apply —
//! plus the two other ways to open one: `config/rollback` (a past revision
//! of the same environment) and `promotions` (sections of another
//! environment's current revision).
//!
//! Every change to a document goes through a change request. In an
//! unprotected environment it is applied as it is opened; in a protected one
//! it waits for an approval by an approver (or admin) other than its author,
//! then is applied (`apply`, or `approve` with `"apply": true`). A request
//! whose base revision is no longer the current one is stale and must be
//! re-planned. The store writes each step with its audit event.

use axum::{
    Json as JsonOut,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
};
use sentinel_core::{
    ChangeKind, ChangeRequest, ChangeStatus, ConfigRevision, Environment, Permission,
};
use sentinel_store::{ApplyOutcome, NewChange};
use serde::{Deserialize, Serialize};

use crate::{
    ConsoleDeps,
    auth::Caller,
    config::{self, RevisionView, diff},
    environments::{self, List},
    error::{ApiError, FieldError},
    extract::{Json, Query, parse_json},
};

/// Where a promotion or rollback came from.
#[derive(Debug, Serialize)]
pub(crate) struct SourceView {
    environment: String,
    revision: i64,
}

#[derive(Debug, Serialize)]
pub(crate) struct ApprovalView {
    by: String,
    at: i64,
}

/// A change request as the admin API shows it (without its document).
#[derive(Debug, Serialize)]
pub(crate) struct ChangeView {
    id: i64,
    environment: String,
    kind: &'static str,
    status: &'static str,
    message: String,
    author: String,
    created_at: i64,
    base_revision: i64,
    source: Option<SourceView>,
    approvals: Vec<ApprovalView>,
    decided_by: Option<String>,
    decided_at: Option<i64>,
    /// Why it was rejected, or why it went stale.
    reason: Option<String>,
    applied_revision: Option<i64>,
}

impl ChangeView {
    fn new(change: &ChangeRequest, env: &Environment) -> Self {
        Self {
            id: change.number,
            environment: env.name.clone(),
            kind: change.kind.as_str(),
            status: change.status.as_str(),
            message: change.message.clone(),
            author: change.author.clone(),
            created_at: change.created_at,
            base_revision: change.base_revision,
            source: change.source_env.clone().zip(change.source_revision).map(
                |(environment, revision)| SourceView {
                    environment,
                    revision,
                },
            ),
            approvals: change
                .approved_by
                .clone()
                .zip(change.approved_at)
                .map(|(by, at)| ApprovalView { by, at })
                .into_iter()
                .collect(),
            decided_by: change.decided_by.clone(),
            decided_at: change.decided_at,
            reason: change.reason.clone(),
            applied_revision: change.applied_revision,
        }
    }
}

/// One change request with its document and its diff against the current
/// revision.
#[derive(Debug, Serialize)]
pub(crate) struct ChangeDetail {
    #[serde(flatten)]
    change: ChangeView,
    document: String,
    current_revision: i64,
    diff: diff::LineDiff,
}

/// The answer to anything that opens or applies a change request.
#[derive(Debug, Serialize)]
pub(crate) struct Proposed {
    /// `applied` or `pending`.
    status: &'static str,
    /// The new revision, when applied.
    #[serde(flatten)]
    revision: Option<RevisionView>,
    change_request: ChangeView,
    warnings: Vec<FieldError>,
}

/// A change request to open, as the handlers prepare it.
pub(crate) struct Proposal<'a> {
    pub(crate) kind: ChangeKind,
    pub(crate) document: &'a str,
    pub(crate) message: &'a str,
    pub(crate) base_revision: Option<i64>,
    /// Environment name and revision the document came from.
    pub(crate) source: Option<(&'a str, i64)>,
}

fn answer(
    env: &Environment,
    change: &ChangeRequest,
    revision: Option<ConfigRevision>,
    warnings: Vec<FieldError>,
) -> (StatusCode, JsonOut<Proposed>) {
    let status = if revision.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    (
        status,
        JsonOut(Proposed {
            status: change.status.as_str(),
            revision: revision.map(|rev| RevisionView::new(rev, env)),
            change_request: ChangeView::new(change, env),
            warnings,
        }),
    )
}

/// Opens a change request for a document already validated: applied at
/// once unless the environment is protected.
pub(crate) async fn propose(
    deps: &ConsoleDeps,
    caller: &Caller,
    env: &Environment,
    proposal: Proposal<'_>,
    warnings: Vec<FieldError>,
) -> Result<(StatusCode, JsonOut<Proposed>), ApiError> {
    let new = NewChange {
        kind: proposal.kind,
        document: proposal.document,
        message: proposal.message,
        author_id: &caller.operator.id,
        author: &caller.operator.name,
        base_revision: proposal.base_revision,
        source_env: proposal.source.map(|(env, _)| env),
        source_revision: proposal.source.map(|(_, rev)| rev),
        apply_now: !env.protected,
    };
    let (change, revision) = deps
        .store
        .propose_change(caller.org_id(), &env.id, &new, &caller.audit())
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(what) => ApiError::Conflict(format!(
                "{what}; export the current document, merge your change and apply it again"
            )),
            other => other,
        })?;
    Ok(answer(env, &change, revision, warnings))
}

fn parse_number(env: &Environment, id: &str) -> Result<i64, ApiError> {
    id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::not_found(format_args!(
            "change request {id:?} of environment {:?}",
            env.name
        ))
    })
}

async fn find(
    deps: &ConsoleDeps,
    caller: &Caller,
    (env, id): (&str, &str),
    permission: Permission,
) -> Result<(Environment, ChangeRequest), ApiError> {
    let env = environments::find_for(deps, caller, env, permission).await?;
    let number = parse_number(&env, id)?;
    let change = deps
        .store
        .get_change(caller.org_id(), &env.id, number)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format_args!(
                "change request {number} of environment {:?}",
                env.name
            ))
        })?;
    Ok((env, change))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    status: Option<String>,
}

pub(crate) async fn list(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<JsonOut<List<ChangeView>>, ApiError> {
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(ChangeStatus::parse(s).ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "status {s:?} is not one of pending, applied, rejected, stale"
            ))
        })?),
    };
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    let changes = deps
        .store
        .list_changes(caller.org_id(), &env.id, status)
        .await?;
    Ok(JsonOut(List {
        data: changes.iter().map(|c| ChangeView::new(c, &env)).collect(),
    }))
}

pub(crate) async fn show(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<JsonOut<ChangeDetail>, ApiError> {
    let (env, change) = find(&deps, &caller, (&env, &id), Permission::Read).await?;
    let current = deps.store.latest_revision(caller.org_id(), &env.id).await?;
    let (current_revision, current_document) = current
        .map(|rev| (rev.revision, rev.document))
        .unwrap_or_default();
    Ok(JsonOut(ChangeDetail {
        change: ChangeView::new(&change, &env),
        diff: diff::diff(&current_document, &change.document),
        document: change.document,
        current_revision,
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApproveBody {
    /// Apply right after approving.
    #[serde(default)]
    apply: bool,
}

/// A body that may be left out: absent or empty means the defaults.
fn optional_body<T: Default + serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_json(bytes)
    }
}

pub(crate) async fn approve(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, JsonOut<Proposed>), ApiError> {
    let body: ApproveBody = optional_body(&body)?;
    let (env, change) = find(&deps, &caller, (&env, &id), Permission::Approve).await?;
    if change.author_id == caller.operator.id {
        return Err(ApiError::Forbidden(format!(
            "you proposed change request {}; an approver other than its author must approve it",
            change.number
        )));
    }
    let change = deps
        .store
        .approve_change(
            caller.org_id(),
            &env.id,
            change.number,
            &caller.operator.id,
            &caller.operator.name,
            &caller.audit(),
        )
        .await?;
    if body.apply {
        return apply_now(&deps, &caller, &env, &change).await;
    }
    Ok((
        StatusCode::OK,
        JsonOut(Proposed {
            status: change.status.as_str(),
            revision: None,
            change_request: ChangeView::new(&change, &env),
            warnings: Vec::new(),
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectBody {
    reason: String,
}

pub(crate) async fn reject(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
    Json(body): Json<RejectBody>,
) -> Result<JsonOut<ChangeView>, ApiError> {
    let (env, change) = find(&deps, &caller, (&env, &id), Permission::Read).await?;
    // Reviewers reject; an author may withdraw their own request.
    if change.author_id == caller.operator.id {
        caller.require(Permission::Write, Some(&env))?;
    } else {
        caller.require(Permission::Approve, Some(&env))?;
    }
    let reason = config::check_message(&body.reason).map_err(|_| {
        ApiError::InvalidRequest(
            "reason must say why the change is rejected (1 to 2000 characters)".into(),
        )
    })?;
    let change = deps
        .store
        .reject_change(
            caller.org_id(),
            &env.id,
            change.number,
            &caller.operator.name,
            reason,
            &caller.audit(),
        )
        .await?;
    Ok(JsonOut(ChangeView::new(&change, &env)))
}

pub(crate) async fn apply(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<(StatusCode, JsonOut<Proposed>), ApiError> {
    let (env, change) = find(&deps, &caller, (&env, &id), Permission::Read).await?;
    caller
        .require(Permission::Write, Some(&env))
        .or_else(|_| caller.require(Permission::Approve, Some(&env)))?;
    apply_now(&deps, &caller, &env, &change).await
}

/// Applies a change request: re-validated against the environment as it is
/// now (a secret may have been removed since), then written unless stale.
async fn apply_now(
    deps: &ConsoleDeps,
    caller: &Caller,
    env: &Environment,
    change: &ChangeRequest,
) -> Result<(StatusCode, JsonOut<Proposed>), ApiError> {
    let mut warnings = Vec::new();
    if change.status == ChangeStatus::Pending {
        let checked = config::check(deps, caller, env, &change.document).await?;
        if !checked.errors.is_empty() {
            return Err(ApiError::InvalidConfig(checked.errors));
        }
        warnings = checked.warnings;
    }
    let outcome = deps
        .store
        .apply_change(
            caller.org_id(),
            &env.id,
            change.number,
            env.protected,
            &caller.operator.name,
            &caller.audit(),
        )
        .await?;
    match outcome {
        ApplyOutcome::Applied { change, revision } => {
            Ok(answer(env, &change, Some(*revision), warnings))
        }
        ApplyOutcome::Stale {
            change,
            current_revision,
        } => Err(ApiError::Conflict(format!(
            "change request {} is stale: it was planned against revision {}, but the current revision of {:?} is {current_revision}; re-plan it (sentinel config plan --env {} -f FILE) and apply it again",
            change.number, change.base_revision, env.name, env.name
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RollbackBody {
    to: i64,
    message: Option<String>,
}

/// Opens a change request whose document is a past revision.
pub(crate) async fn rollback(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
    Json(body): Json<RollbackBody>,
) -> Result<(StatusCode, JsonOut<Proposed>), ApiError> {
    let default_message = format!("roll back to revision {}", body.to);
    let message = config::check_message(body.message.as_deref().unwrap_or(&default_message))?;
    let env = environments::find_for(&deps, &caller, &env, Permission::Write).await?;
    let past = deps
        .store
        .get_revision(caller.org_id(), &env.id, body.to)
        .await?
        .ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "to: environment {:?} has no revision {}",
                env.name, body.to
            ))
        })?;
    let current = deps.store.latest_revision(caller.org_id(), &env.id).await?;
    let current_number = current.as_ref().map_or(0, |r| r.revision);
    if current_number == past.revision {
        return Err(ApiError::InvalidRequest(format!(
            "to: revision {} is already the current revision of {:?}",
            past.revision, env.name
        )));
    }
    let checked = config::check(&deps, &caller, &env, &past.document).await?;
    if !checked.errors.is_empty() {
        return Err(ApiError::InvalidConfig(checked.errors));
    }
    let proposal = Proposal {
        kind: ChangeKind::Rollback,
        document: &past.document,
        message,
        base_revision: Some(current_number),
        source: Some((&env.name, past.revision)),
    };
    propose(&deps, &caller, &env, proposal, checked.warnings).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromoteBody {
    from: String,
    /// Sections to promote; route plans and policies when absent.
    #[serde(default)]
    only: Vec<String>,
    message: Option<String>,
}

/// Opens a change request in `{env}` carrying sections of another
/// environment's current revision.
pub(crate) async fn promote(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
    Json(body): Json<PromoteBody>,
) -> Result<(StatusCode, JsonOut<Proposed>), ApiError> {
    let sections = sentinel_config::parse_sections(&body.only)
        .map_err(|e| ApiError::InvalidRequest(format!("{}: {}", e.path, e.message)))?;
    let target = environments::find_for(&deps, &caller, &env, Permission::Write).await?;
    let source = environments::find_for(&deps, &caller, &body.from, Permission::Read).await?;
    if source.id == target.id {
        return Err(ApiError::InvalidRequest(
            "from: an environment cannot be promoted into itself".into(),
        ));
    }
    let source_rev = deps
        .store
        .latest_revision(caller.org_id(), &source.id)
        .await?
        .ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "from: environment {:?} has no revision to promote",
                source.name
            ))
        })?;
    let current = deps
        .store
        .latest_revision(caller.org_id(), &target.id)
        .await?;
    let (base, target_document) = current
        .map(|rev| (rev.revision, rev.document))
        .unwrap_or_default();
    let secrets: Vec<String> = deps
        .store
        .list_secrets(caller.org_id(), &target.id)
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    let promoted = sentinel_config::promote(
        &source_rev.document,
        &target_document,
        &sections,
        &|name: &str| secrets.iter().any(|s| s == name),
    )
    .map_err(|errors| {
        ApiError::InvalidConfig(errors.errors.into_iter().map(config::error_entry).collect())
    })?;
    if !promoted.missing.is_empty() {
        return Err(ApiError::InvalidConfig(
            promoted
                .missing
                .iter()
                .map(|m| FieldError {
                    path: m.path().to_owned(),
                    message: m.message(),
                    line: None,
                    column: None,
                })
                .collect(),
        ));
    }
    if promoted.document == target_document {
        return Err(ApiError::InvalidRequest(format!(
            "nothing to promote: {} of {:?} revision {} already match {:?}",
            sections.join(", "),
            source.name,
            source_rev.revision,
            target.name
        )));
    }
    let checked = config::check(&deps, &caller, &target, &promoted.document).await?;
    if !checked.errors.is_empty() {
        return Err(ApiError::InvalidConfig(checked.errors));
    }
    let default_message = format!(
        "promote {} from {} revision {}",
        sections.join(", "),
        source.name,
        source_rev.revision
    );
    let message = config::check_message(body.message.as_deref().unwrap_or(&default_message))?;
    let proposal = Proposal {
        kind: ChangeKind::Promotion,
        document: &promoted.document,
        message,
        base_revision: Some(base),
        source: Some((&source.name, source_rev.revision)),
    };
    propose(&deps, &caller, &target, proposal, checked.warnings).await
}
