//! `/api/v1/environments/{env}/secrets`: provider credentials. Values go in
//! and never come out: answers carry names, versions, fingerprints and
//! times only.

use axum::{
    Json as JsonOut,
    extract::{Path, State},
};
use sentinel_core::{Environment, SecretMeta};
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
}

pub(crate) async fn list(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
) -> Result<JsonOut<List<SecretView>>, ApiError> {
    let env = environments::find(&deps, &caller, &env).await?;
    let secrets = deps.store.list_secrets(caller.org_id(), &env.id).await?;
    Ok(JsonOut(List {
        data: secrets
            .into_iter()
            .map(|s| SecretView::new(s, &env))
            .collect(),
    }))
}

/// Creates the secret or stores a new version of it.
pub(crate) async fn put(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path((env, name)): Path<(String, String)>,
    Json(body): Json<PutSecret>,
) -> Result<JsonOut<SecretView>, ApiError> {
    caller.require_write()?;
    let env = environments::find(&deps, &caller, &env).await?;
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
        .put_secret(
            caller.org_id(),
            &env.id,
            name.as_str(),
            &body.value,
            now_ms(),
            &caller.audit(),
        )
        .await?;
    Ok(JsonOut(SecretView::new(meta, &env)))
}
