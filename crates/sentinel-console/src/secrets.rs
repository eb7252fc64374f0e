//! `/api/v1/environments/{env}/secrets`: provider credentials. Values go in
//! and never come out: answers carry names, versions, fingerprints and
//! times only.
//!
//! `PUT …/secrets/{name}` creates a secret or stores a new version;
//! `POST …/secrets/{name}/rotate` stores a new version of an existing one
//! (404 for an unknown name, so a typo does not create a secret). Either
//! way the previous version is retired: kept, listed, never used again.
//! A value that is the current value of a secret in another environment is
//! refused with 409 unless an admin sends `"allow_reuse": true`, which the
//! store audits.

use axum::{
    Json as JsonOut,
    extract::{Path, State},
};
use sentinel_core::{Environment, Permission, SecretMeta};
use sentinel_store::{SecretVersion, SecretWrite, SecretWriteMode};
use serde::{Deserialize, Serialize};

use crate::{
    ConsoleDeps,
    auth::Caller,
    clock::now_ms,
    environments::{self, List, parse_name},
    error::ApiError,
    extract::Json,
};

/// Largest accepted secret value. Credentials are short; a large value is
/// a mistake (a file pasted instead of a key).
const MAX_SECRET_BYTES: usize = 64 * 1024;

#[derive(Debug, Serialize)]
pub(crate) struct SecretView {
    name: String,
    environment: String,
    version: i64,
    /// Keyed fingerprint: equal values have equal fingerprints.
    fingerprint: String,
    created_at: i64,
    updated_at: i64,
}

impl SecretView {
    fn new(meta: SecretMeta, env: &Environment) -> Self {
        Self {
            name: meta.name,
            environment: env.name.clone(),
            version: meta.version,
            fingerprint: meta.fingerprint,
            created_at: meta.created_at,
            updated_at: meta.updated_at,
        }
    }
}

/// The body of a secret write. Not `Debug`, so the value cannot reach a log.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutSecret {
    value: String,
    /// Accept a value in use in another environment (admins only; audited).
    #[serde(default)]
    allow_reuse: bool,
}

/// The versions of one secret, newest first.
#[derive(Debug, Serialize)]
pub(crate) struct SecretVersions {
    name: String,
    environment: String,
    data: Vec<VersionView>,
}

#[derive(Debug, Serialize)]
pub(crate) struct VersionView {
    version: i64,
    /// `current` or `retired`.
    state: &'static str,
    fingerprint: String,
    created_at: i64,
    retired_at: Option<i64>,
}

impl From<SecretVersion> for VersionView {
    fn from(v: SecretVersion) -> Self {
        Self {
            version: v.version,
            state: if v.retired_at.is_some() {
                "retired"
            } else {
                "current"
            },
            fingerprint: v.fingerprint,
            created_at: v.created_at,
            retired_at: v.retired_at,
        }
    }
}

pub(crate) async fn list(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
) -> Result<JsonOut<List<SecretView>>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    let secrets = deps.store.list_secrets(caller.org_id(), &env.id).await?;
    Ok(JsonOut(List {
        data: secrets
            .into_iter()
            .map(|s| SecretView::new(s, &env))
            .collect(),
    }))
}

/// Every version of one secret (never values). A sensitive read: audited.
pub(crate) async fn versions(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path((env, name)): Path<(String, String)>,
) -> Result<JsonOut<SecretVersions>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    let name = parse_name("secret", &name)?;
    let versions = deps
        .store
        .list_secret_versions(caller.org_id(), &env.id, name.as_str())
        .await?;
    deps.store
        .append_audit_event(
            caller.org_id(),
            &caller.audit(),
            "secret.versions.read",
            &format!("secret/{}", name.as_str()),
            Some(&env.id),
            serde_json::json!({ "environment": env.name, "name": name.as_str() }),
        )
        .await?;
    Ok(JsonOut(SecretVersions {
        name: name.as_str().to_owned(),
        environment: env.name.clone(),
        data: versions.into_iter().map(VersionView::from).collect(),
    }))
}

/// Creates the secret or stores a new version of it.
pub(crate) async fn put(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path((env, name)): Path<(String, String)>,
    Json(body): Json<PutSecret>,
) -> Result<JsonOut<SecretView>, ApiError> {
    write(deps, caller, env, name, body, SecretWriteMode::Set).await
}

/// Stores a new version of an existing secret and retires the previous one.
pub(crate) async fn rotate(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path((env, name)): Path<(String, String)>,
    Json(body): Json<PutSecret>,
) -> Result<JsonOut<SecretView>, ApiError> {
    write(deps, caller, env, name, body, SecretWriteMode::Rotate).await
}

async fn write(
    deps: ConsoleDeps,
    caller: Caller,
    env: String,
    name: String,
    body: PutSecret,
    mode: SecretWriteMode,
) -> Result<JsonOut<SecretView>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Write).await?;
    if body.allow_reuse {
        caller.require(Permission::Admin, Some(&env))?;
    }
    let name = parse_name("secret", &name)?;
    if body.value.is_empty() {
        return Err(ApiError::InvalidRequest("secret value is empty".into()));
    }
    if body.value.len() > MAX_SECRET_BYTES {
        return Err(ApiError::PayloadTooLarge(format!(
            "secret value is larger than {MAX_SECRET_BYTES} bytes"
        )));
    }
    let meta = deps
        .store
        .write_secret(
            caller.org_id(),
            &env.id,
            name.as_str(),
            &body.value,
            SecretWrite {
                mode,
                allow_reuse: body.allow_reuse,
            },
            now_ms(),
            &caller.audit(),
        )
        .await?;
    Ok(JsonOut(SecretView::new(meta, &env)))
}
