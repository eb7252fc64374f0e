//! `/api/v1/environments/{env}/keys`: client keys. A key is returned once,
//! in the answer that creates it; afterwards only its id, prefix and state
//! are shown. The store keeps only the key's digest, and no answer carries
//! it.

use std::collections::HashMap;

use axum::{
    Json as JsonOut,
    extract::{Path, State},
    http::StatusCode,
};
use sentinel_core::{ApiKey, Environment, KeyState, Permission};
use sentinel_store::NewKey;
use serde::{Deserialize, Serialize};

use crate::{
    ConsoleDeps, applications,
    auth::Caller,
    clock::now_ms,
    environments::{self, List},
    error::ApiError,
    extract::Json,
};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Longest accepted lifetime: ten years.
const MAX_DAYS: i64 = 3650;
const MAX_KEY_NAME: usize = 100;

/// A key's metadata. Never the key, never its digest.
#[derive(Debug, Serialize)]
pub(crate) struct KeyView {
    id: String,
    name: String,
    /// `snt_<env>_<id>`: enough to recognise a key, useless to use it.
    prefix: String,
    environment: String,
    application: String,
    app_id: String,
    state: KeyState,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl KeyView {
    fn new(key: ApiKey, env: &Environment, app_name: String, now: i64) -> Self {
        Self {
            state: key.state(now),
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            environment: env.name.clone(),
            application: app_name,
            app_id: key.app_id,
            created_at: key.created_at,
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
            last_used_at: key.last_used_at,
        }
    }
}

/// The answer to a key creation: the only one that carries the key.
#[derive(Debug, Serialize)]
pub(crate) struct CreatedKey {
    /// The full client key. Shown once; Sentinel cannot show it again.
    key: String,
    #[serde(flatten)]
    meta: KeyView,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKey {
    application: String,
    name: Option<String>,
    /// Unix milliseconds.
    expires_at: Option<i64>,
    expires_in_days: Option<i64>,
}

fn expiry(body: &CreateKey, now: i64) -> Result<Option<i64>, ApiError> {
    match (body.expires_at, body.expires_in_days) {
        (Some(_), Some(_)) => Err(ApiError::InvalidRequest(
            "give expires_at or expires_in_days, not both".into(),
        )),
        (Some(at), None) if at <= now => Err(ApiError::InvalidRequest(
            "expires_at is in the past (it is unix milliseconds)".into(),
        )),
        (Some(at), None) if at > now + MAX_DAYS * DAY_MS => Err(ApiError::InvalidRequest(format!(
            "expires_at is more than {MAX_DAYS} days away (it is unix milliseconds)"
        ))),
        (Some(at), None) => Ok(Some(at)),
        (None, Some(days)) if !(1..=MAX_DAYS).contains(&days) => Err(ApiError::InvalidRequest(
            format!("expires_in_days must be between 1 and {MAX_DAYS}"),
        )),
        (None, Some(days)) => Ok(Some(now + days * DAY_MS)),
        (None, None) => Ok(None),
    }
}

fn key_name(name: Option<&str>, app: &str) -> Result<String, ApiError> {
    let Some(name) = name else {
        return Ok(app.to_owned());
    };
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_KEY_NAME || name.chars().any(char::is_control)
    {
        return Err(ApiError::InvalidRequest(format!(
            "key name must be 1 to {MAX_KEY_NAME} printable characters"
        )));
    }
    Ok(name.to_owned())
}

async fn app_names(
    deps: &ConsoleDeps,
    caller: &Caller,
    env: &Environment,
) -> Result<HashMap<String, String>, ApiError> {
    Ok(deps
        .store
        .list_applications(caller.org_id(), &env.id)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect())
}

/// The key `id` of `env` in the caller's organization, or 404.
pub(crate) async fn find(
    deps: &ConsoleDeps,
    caller: &Caller,
    env: &Environment,
    id: &str,
) -> Result<ApiKey, ApiError> {
    deps.store
        .get_key(caller.org_id(), id)
        .await?
        .filter(|key| key.env_id == env.id)
        .ok_or_else(|| {
            ApiError::not_found(format_args!("key {id:?} in environment {:?}", env.name))
        })
}

async fn view(
    deps: &ConsoleDeps,
    caller: &Caller,
    env: &Environment,
    key: ApiKey,
) -> Result<KeyView, ApiError> {
    let names = app_names(deps, caller, env).await?;
    let app = names.get(&key.app_id).cloned().unwrap_or_default();
    Ok(KeyView::new(key, env, app, now_ms()))
}

pub(crate) async fn list(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
) -> Result<JsonOut<List<KeyView>>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    let names = app_names(&deps, &caller, &env).await?;
    let keys = deps.store.list_keys(caller.org_id(), Some(&env.id)).await?;
    let now = now_ms();
    Ok(JsonOut(List {
        data: keys
            .into_iter()
            .map(|key| {
                let app = names.get(&key.app_id).cloned().unwrap_or_default();
                KeyView::new(key, &env, app, now)
            })
            .collect(),
    }))
}

pub(crate) async fn create(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
    Json(body): Json<CreateKey>,
) -> Result<(StatusCode, JsonOut<CreatedKey>), ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Write).await?;
    let app = applications::find(&deps, &caller, &env, &body.application).await?;
    let now = now_ms();
    let expires_at = expiry(&body, now)?;
    let name = key_name(body.name.as_deref(), &app.name)?;
    let (stored, key) = deps
        .store
        .issue_key(
            NewKey {
                env: &env,
                app_id: &app.id,
                name: &name,
                expires_at,
                now,
            },
            &caller.audit(),
        )
        .await?;
    let meta = KeyView::new(stored, &env, app.name, now);
    Ok((
        StatusCode::CREATED,
        JsonOut(CreatedKey {
            key: key.expose().to_owned(),
            meta,
        }),
    ))
}

pub(crate) async fn show(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<JsonOut<KeyView>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    let key = find(&deps, &caller, &env, &id).await?;
    Ok(JsonOut(view(&deps, &caller, &env, key).await?))
}

/// Revokes a key now. Revoking a revoked key changes nothing and answers
/// with its current state.
pub(crate) async fn revoke(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<JsonOut<KeyView>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Write).await?;
    let key = find(&deps, &caller, &env, &id).await?;
    if key.revoked_at.is_none() {
        deps.store
            .revoke_key(caller.org_id(), &key.id, now_ms(), &caller.audit())
            .await?;
    }
    let key = find(&deps, &caller, &env, &id).await?;
    Ok(JsonOut(view(&deps, &caller, &env, key).await?))
}

/// Longest rotation overlap: thirty days.
const MAX_OVERLAP_S: i64 = 30 * 24 * 60 * 60;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateKey {
    /// How long the old key stays valid, in seconds.
    overlap_s: Option<i64>,
    /// The same, in minutes.
    overlap_minutes: Option<i64>,
}

/// The overlap of a rotation in milliseconds, from exactly one field.
fn overlap_ms(body: &RotateKey) -> Result<i64, ApiError> {
    let seconds = match (body.overlap_s, body.overlap_minutes) {
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidRequest(
                "give overlap_s or overlap_minutes, not both".into(),
            ));
        }
        (None, None) => {
            return Err(ApiError::InvalidRequest(
                "overlap_s (or overlap_minutes) is required: how long the old key stays valid"
                    .into(),
            ));
        }
        (Some(s), None) => ("overlap_s", s),
        (None, Some(m)) => ("overlap_minutes", m.saturating_mul(60)),
    };
    match seconds {
        (field, s) if !(0..=MAX_OVERLAP_S).contains(&s) => Err(ApiError::InvalidRequest(format!(
            "{field} must be from 0 to {} days",
            MAX_OVERLAP_S / 86_400
        ))),
        (_, s) => Ok(s * 1000),
    }
}

/// The answer to a rotation: the new key (shown once) and the old key's
/// metadata with its new expiry.
#[derive(Debug, Serialize)]
pub(crate) struct RotatedKey {
    #[serde(flatten)]
    created: CreatedKey,
    replaces: KeyView,
}

/// Rotates a key: a new key for the same application, and the old one
/// valid for the overlap only. Audited as `key.rotate`.
pub(crate) async fn rotate(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
    Json(body): Json<RotateKey>,
) -> Result<(StatusCode, JsonOut<RotatedKey>), ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Write).await?;
    let old = find(&deps, &caller, &env, &id).await?;
    let overlap = overlap_ms(&body)?;
    let now = now_ms();
    let state = old.state(now);
    let Some((stored, key)) = deps
        .store
        .rotate_key(&env, &old.id, overlap, now, &caller.audit())
        .await?
    else {
        return Err(ApiError::Conflict(format!(
            "key {id:?} is {}; only an active key can be rotated",
            state.as_str()
        )));
    };
    let names = app_names(&deps, &caller, &env).await?;
    let app = names.get(&stored.app_id).cloned().unwrap_or_default();
    let old = find(&deps, &caller, &env, &id).await?;
    let replaces = KeyView::new(old, &env, app.clone(), now);
    let meta = KeyView::new(stored, &env, app, now);
    Ok((
        StatusCode::CREATED,
        JsonOut(RotatedKey {
            created: CreatedKey {
                key: key.expose().to_owned(),
                meta,
            },
            replaces,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(expires_at: Option<i64>, expires_in_days: Option<i64>) -> CreateKey {
        CreateKey {
            application: "a".into(),
            name: None,
            expires_at,
            expires_in_days,
        }
    }

    #[test]
    fn expiry_takes_one_form_in_the_future() {
        let now = 1_000_000;
        assert_eq!(expiry(&body(None, None), now).unwrap(), None);
        assert_eq!(
            expiry(&body(None, Some(2)), now).unwrap(),
            Some(now + 2 * DAY_MS)
        );
        assert_eq!(
            expiry(&body(Some(now + 5), None), now).unwrap(),
            Some(now + 5)
        );
        assert!(expiry(&body(Some(now), None), now).is_err());
        assert!(expiry(&body(Some(now + 5), Some(1)), now).is_err());
        assert!(expiry(&body(None, Some(0)), now).is_err());
        assert!(expiry(&body(None, Some(MAX_DAYS + 1)), now).is_err());
    }

    #[test]
    fn overlap_takes_one_bounded_field() {
        let body = |overlap_s, overlap_minutes| RotateKey {
            overlap_s,
            overlap_minutes,
        };
        assert_eq!(overlap_ms(&body(Some(1), None)).unwrap(), 1000);
        assert_eq!(overlap_ms(&body(None, Some(2))).unwrap(), 120_000);
        assert_eq!(overlap_ms(&body(Some(0), None)).unwrap(), 0);
        for bad in [
            body(None, None),
            body(Some(1), Some(1)),
            body(Some(-1), None),
            body(Some(MAX_OVERLAP_S + 1), None),
        ] {
            assert!(overlap_ms(&bad).is_err());
        }
        let Err(ApiError::InvalidRequest(message)) = overlap_ms(&body(None, Some(-5))) else {
            panic!("a negative overlap is refused");
        };
        assert!(message.contains("overlap_minutes"), "{message}");
    }

    #[test]
    fn key_names_default_to_the_application() {
        assert_eq!(key_name(None, "checkout").unwrap(), "checkout");
        assert_eq!(key_name(Some(" ci "), "checkout").unwrap(), "ci");
        assert!(key_name(Some(""), "a").is_err());
        assert!(key_name(Some("a\nb"), "a").is_err());
    }
}
