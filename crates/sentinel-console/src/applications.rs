//! `/api/v1/environments/{env}/applications`: the consuming applications of
//! an environment.

use axum::{
    Json as JsonOut,
    extract::{Path, State},
    http::StatusCode,
};
use sentinel_core::{Application, Environment, Permission};
use serde::{Deserialize, Serialize};

use crate::{
    ConsoleDeps,
    auth::Caller,
    environments::{self, List, parse_name},
    error::ApiError,
    extract::Json,
};

#[derive(Debug, Serialize)]
pub(crate) struct ApplicationView {
    id: String,
    name: String,
    environment: String,
    created_at: i64,
}

impl ApplicationView {
    fn new(app: Application, env: &Environment) -> Self {
        Self {
            id: app.id,
            name: app.name,
            environment: env.name.clone(),
            created_at: app.created_at,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateApplication {
    name: String,
}

/// The application `name` of `env`, or 404.
pub(crate) async fn find(
    deps: &ConsoleDeps,
    caller: &Caller,
    env: &Environment,
    name: &str,
) -> Result<Application, ApiError> {
    deps.store
        .get_application_by_name(caller.org_id(), &env.id, name)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format_args!(
                "application {name:?} in environment {:?}",
                env.name
            ))
        })
}

pub(crate) async fn list(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
) -> Result<JsonOut<List<ApplicationView>>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    let apps = deps
        .store
        .list_applications(caller.org_id(), &env.id)
        .await?;
    Ok(JsonOut(List {
        data: apps
            .into_iter()
            .map(|a| ApplicationView::new(a, &env))
            .collect(),
    }))
}

pub(crate) async fn create(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
    Json(body): Json<CreateApplication>,
) -> Result<(StatusCode, JsonOut<ApplicationView>), ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Write).await?;
    let name = parse_name("application", &body.name)?;
    let app = deps
        .store
        .create_application(caller.org_id(), &env.id, name.as_str(), &caller.audit())
        .await?;
    Ok((
        StatusCode::CREATED,
        JsonOut(ApplicationView::new(app, &env)),
    ))
}
