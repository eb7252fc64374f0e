//! `/api/v1/environments/{env}/config`: the environment's config document,
//! its revisions, plan (a dry run) and apply (which opens a change request,
//! see [`crate::changes`]).
//!
//! Plan and apply call the same `sentinel_config::compile` the gateway uses
//! to build its snapshot, with this environment's protection and secret
//! names, so a document that applies here also loads there. Applying only
//! appends a revision; the store's change feed makes the gateway reload.

pub(crate) mod diff;

use axum::{
    Json as JsonOut,
    extract::{Path, State},
    http::StatusCode,
};
use sentinel_config::{CompileContext, ConfigError, ConfigWarning, MAX_DOCUMENT_BYTES};
use sentinel_core::{ChangeKind, ConfigRevision, Environment, Permission};
use serde::{Deserialize, Serialize};

use crate::{
    ConsoleDeps,
    auth::Caller,
    changes,
    environments::{self, List},
    error::{ApiError, FieldError},
    extract::Json,
};

const MAX_MESSAGE_CHARS: usize = 2000;

/// One revision with its document.
#[derive(Debug, Serialize)]
pub(crate) struct RevisionView {
    environment: String,
    /// 0 when the environment has no revision yet.
    revision: i64,
    document: String,
    author: String,
    message: String,
    created_at: Option<i64>,
    hash: String,
    parent_hash: String,
}

impl RevisionView {
    pub(crate) fn new(rev: ConfigRevision, env: &Environment) -> Self {
        Self {
            environment: env.name.clone(),
            revision: rev.revision,
            document: rev.document,
            author: rev.author,
            message: rev.message,
            created_at: Some(rev.created_at),
            hash: rev.hash,
            parent_hash: rev.parent_hash,
        }
    }

    /// The state before the first apply.
    fn empty(env: &Environment) -> Self {
        Self {
            environment: env.name.clone(),
            revision: 0,
            document: String::new(),
            author: String::new(),
            message: String::new(),
            created_at: None,
            hash: String::new(),
            parent_hash: String::new(),
        }
    }
}

/// One revision in the history, without its document.
#[derive(Debug, Serialize)]
pub(crate) struct RevisionSummary {
    revision: i64,
    author: String,
    message: String,
    created_at: i64,
    hash: String,
    parent_hash: String,
}

impl From<ConfigRevision> for RevisionSummary {
    fn from(rev: ConfigRevision) -> Self {
        Self {
            revision: rev.revision,
            author: rev.author,
            message: rev.message,
            created_at: rev.created_at,
            hash: rev.hash,
            parent_hash: rev.parent_hash,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanBody {
    document: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplyBody {
    document: String,
    message: String,
    /// The revision the document was written against; a newer latest
    /// revision makes the apply fail with 409 instead of overwriting it.
    base_revision: Option<i64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct PlanView {
    valid: bool,
    /// The revision the plan compares against (0 when there is none).
    base_revision: i64,
    errors: Vec<FieldError>,
    warnings: Vec<FieldError>,
    diff: diff::LineDiff,
}

/// The outcome of compiling a document for one environment.
pub(crate) struct Checked {
    pub(crate) errors: Vec<FieldError>,
    pub(crate) warnings: Vec<FieldError>,
}

pub(crate) fn error_entry(error: ConfigError) -> FieldError {
    FieldError {
        path: error.path,
        message: error.message,
        line: error.location.map(|l| l.line),
        column: error.location.map(|l| l.column),
    }
}

fn warning_entry(warning: ConfigWarning) -> FieldError {
    FieldError {
        path: warning.path,
        message: warning.message,
        line: None,
        column: None,
    }
}

pub(crate) fn check_size(document: &str) -> Result<(), ApiError> {
    if document.len() > MAX_DOCUMENT_BYTES {
        return Err(ApiError::PayloadTooLarge(format!(
            "config document is larger than {MAX_DOCUMENT_BYTES} bytes"
        )));
    }
    Ok(())
}

pub(crate) async fn check(
    deps: &ConsoleDeps,
    caller: &Caller,
    env: &Environment,
    document: &str,
) -> Result<Checked, ApiError> {
    let secrets: Vec<String> = deps
        .store
        .list_secrets(caller.org_id(), &env.id)
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    let secret_exists = |name: &str| secrets.iter().any(|s| s == name);
    let ctx = CompileContext {
        catalog: deps.registry.as_ref(),
        protected: env.protected,
        secret_exists: &secret_exists,
    };
    Ok(match sentinel_config::compile(document, &ctx) {
        Ok((_config, warnings)) => Checked {
            errors: Vec::new(),
            warnings: warnings.into_iter().map(warning_entry).collect(),
        },
        Err(errors) => Checked {
            errors: errors.errors.into_iter().map(error_entry).collect(),
            warnings: Vec::new(),
        },
    })
}

pub(crate) async fn current(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
) -> Result<JsonOut<RevisionView>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    let latest = deps.store.latest_revision(caller.org_id(), &env.id).await?;
    Ok(JsonOut(match latest {
        Some(rev) => RevisionView::new(rev, &env),
        None => RevisionView::empty(&env),
    }))
}

pub(crate) async fn revisions(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
) -> Result<JsonOut<List<RevisionSummary>>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    let revisions = deps.store.list_revisions(caller.org_id(), &env.id).await?;
    Ok(JsonOut(List {
        data: revisions.into_iter().map(RevisionSummary::from).collect(),
    }))
}

pub(crate) async fn revision(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path((env, n)): Path<(String, String)>,
) -> Result<JsonOut<RevisionView>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    let not_found =
        || ApiError::not_found(format_args!("revision {n} of environment {:?}", env.name));
    let number: i64 = n.parse().map_err(|_| not_found())?;
    let rev = deps
        .store
        .get_revision(caller.org_id(), &env.id, number)
        .await?
        .ok_or_else(not_found)?;
    Ok(JsonOut(RevisionView::new(rev, &env)))
}

/// Validates a document and shows what it would change, without applying.
pub(crate) async fn plan(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
    Json(body): Json<PlanBody>,
) -> Result<JsonOut<PlanView>, ApiError> {
    check_size(&body.document)?;
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    let checked = check(&deps, &caller, &env, &body.document).await?;
    let latest = deps.store.latest_revision(caller.org_id(), &env.id).await?;
    let (base_revision, base_document) = latest
        .map(|rev| (rev.revision, rev.document))
        .unwrap_or_default();
    Ok(JsonOut(PlanView {
        valid: checked.errors.is_empty(),
        base_revision,
        diff: diff::diff(&base_document, &body.document),
        errors: checked.errors,
        warnings: checked.warnings,
    }))
}

/// Validates a change message: it says why, in 1 to 2000 characters.
pub(crate) fn check_message(message: &str) -> Result<&str, ApiError> {
    let message = message.trim();
    if message.is_empty() || message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::InvalidRequest(format!(
            "message must say why the change is made (1 to {MAX_MESSAGE_CHARS} characters)"
        )));
    }
    Ok(message)
}

/// Validates a document and opens a change request for it: applied at
/// once in an unprotected environment (201), waiting for an approval in a
/// protected one (202).
pub(crate) async fn apply(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
    Json(body): Json<ApplyBody>,
) -> Result<(StatusCode, JsonOut<changes::Proposed>), ApiError> {
    check_size(&body.document)?;
    let message = check_message(&body.message)?;
    if body.base_revision.is_some_and(|b| b < 0) {
        return Err(ApiError::InvalidRequest(
            "base_revision must be 0 or more".into(),
        ));
    }
    let env = environments::find_for(&deps, &caller, &env, Permission::Write).await?;
    let checked = check(&deps, &caller, &env, &body.document).await?;
    if !checked.errors.is_empty() {
        return Err(ApiError::InvalidConfig(checked.errors));
    }
    let proposal = changes::Proposal {
        kind: ChangeKind::Apply,
        document: &body.document,
        message,
        base_revision: body.base_revision,
        source: None,
    };
    changes::propose(&deps, &caller, &env, proposal, checked.warnings).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_keep_path_and_location() {
        let mut error = ConfigError::new("providers.a.kind", "unknown kind");
        assert_eq!(
            error_entry(error.clone()),
            FieldError {
                path: "providers.a.kind".into(),
                message: "unknown kind".into(),
                line: None,
                column: None,
            }
        );
        error.location = Some(sentinel_config::SourceLocation { line: 3, column: 5 });
        let entry = error_entry(error);
        assert_eq!((entry.line, entry.column), (Some(3), Some(5)));
    }
}
