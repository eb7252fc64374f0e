//! `/api/v1/operators` and `/api/v1/whoami`: the organization's operators
//! and their grants. A token is shown once, in the answer that creates the
//! operator; only its digest is stored.
//!
//! A grant is a role for named environments, or for every environment when
//! `environments` is left out. Operator management needs an org-wide admin
//! grant; an admin cannot change or revoke themselves (so an organization
//! never locks out its last admin by accident).

use axum::{
    Json as JsonOut,
    extract::{Path, State},
    http::StatusCode,
};
use sentinel_core::{Grant, Operator, Permission, Role};
use sentinel_store::NewOperator;
use serde::{Deserialize, Serialize};

use crate::{
    ConsoleDeps,
    auth::{Caller, new_operator_token},
    environments::List,
    error::ApiError,
    extract::Json,
};

const MAX_OPERATOR_NAME: usize = 128;
const MAX_GRANTS: usize = 64;

#[derive(Debug, Serialize)]
pub(crate) struct GrantView {
    role: Role,
    /// The environment, or `null` for every environment.
    environment: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct OperatorView {
    id: String,
    name: String,
    grants: Vec<GrantView>,
    platform_admin: bool,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl From<Operator> for OperatorView {
    fn from(op: Operator) -> Self {
        Self {
            id: op.id,
            name: op.name,
            grants: op
                .grants
                .into_iter()
                .map(|g| GrantView {
                    role: g.role,
                    environment: g.env_name,
                })
                .collect(),
            platform_admin: op.platform_admin,
            created_at: op.created_at,
            revoked_at: op.revoked_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct CreatedOperator {
    /// The operator token. Shown once; Sentinel cannot show it again.
    pub(crate) token: String,
    #[serde(flatten)]
    pub(crate) operator: OperatorView,
}

/// One grant as clients write it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantBody {
    role: String,
    /// Environment names; absent or `null` for every environment.
    environments: Option<Vec<String>>,
}

/// `{"name", "role", "environments"}` for one grant, or `{"name", "grants"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateOperator {
    name: String,
    role: Option<String>,
    environments: Option<Vec<String>>,
    grants: Option<Vec<GrantBody>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetGrants {
    grants: Vec<GrantBody>,
}

#[derive(Debug, Serialize)]
pub(crate) struct WhoAmI {
    #[serde(flatten)]
    operator: OperatorView,
    organization: OrgView,
}

#[derive(Debug, Serialize)]
pub(crate) struct OrgView {
    id: String,
    name: String,
}

pub(crate) fn operator_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_OPERATOR_NAME
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::InvalidRequest(format!(
            "operator name must be 1 to {MAX_OPERATOR_NAME} printable characters"
        )));
    }
    Ok(name.to_owned())
}

fn role(field: &str, text: &str) -> Result<Role, ApiError> {
    Role::parse(text).ok_or_else(|| {
        ApiError::InvalidRequest(format!(
            "{field}: role {text:?} is not one of admin, operator, approver, auditor"
        ))
    })
}

/// Turns grant bodies into grants on the caller's environments; `field`
/// names the list in errors (`grants[1].environments[0]: …`).
async fn grants(
    deps: &ConsoleDeps,
    caller: &Caller,
    field: &str,
    bodies: Vec<GrantBody>,
) -> Result<Vec<Grant>, ApiError> {
    if bodies.is_empty() || bodies.len() > MAX_GRANTS {
        return Err(ApiError::InvalidRequest(format!(
            "{field} must hold 1 to {MAX_GRANTS} grants"
        )));
    }
    let mut out: Vec<Grant> = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let role = role(&format!("{field}[{i}].role"), &body.role)?;
        let Some(names) = body.environments else {
            out.push(Grant::everywhere(role));
            continue;
        };
        if names.is_empty() {
            return Err(ApiError::InvalidRequest(format!(
                "{field}[{i}].environments is empty: name at least one environment, or leave it out for every environment"
            )));
        }
        for (j, name) in names.iter().enumerate() {
            let env = deps
                .store
                .get_environment_by_name(caller.org_id(), name)
                .await?
                .ok_or_else(|| {
                    ApiError::InvalidRequest(format!(
                        "{field}[{i}].environments[{j}]: environment {name:?} does not exist"
                    ))
                })?;
            out.push(Grant {
                role,
                env_id: Some(env.id),
                env_name: Some(env.name),
            });
        }
    }
    out.dedup();
    Ok(out)
}

/// The grants of an operator-create body: one shorthand grant or a list.
async fn create_grants(
    deps: &ConsoleDeps,
    caller: &Caller,
    body: &mut CreateOperator,
) -> Result<Vec<Grant>, ApiError> {
    match (body.role.take(), body.grants.take()) {
        (Some(role), None) => {
            let environments = body.environments.take();
            grants(
                deps,
                caller,
                "grants",
                vec![GrantBody { role, environments }],
            )
            .await
        }
        (None, Some(list)) if body.environments.is_none() => {
            grants(deps, caller, "grants", list).await
        }
        (None, Some(_)) => Err(ApiError::InvalidRequest(
            "environments goes with role; inside grants, give each grant its environments".into(),
        )),
        _ => Err(ApiError::InvalidRequest(
            "give either role (with optional environments) or grants".into(),
        )),
    }
}

pub(crate) async fn whoami(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
) -> Result<JsonOut<WhoAmI>, ApiError> {
    let org = caller.organization(&deps).await?;
    Ok(JsonOut(WhoAmI {
        operator: caller.operator.into(),
        organization: OrgView {
            id: org.id,
            name: org.name,
        },
    }))
}

pub(crate) async fn list(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
) -> Result<JsonOut<List<OperatorView>>, ApiError> {
    caller.require(Permission::Admin, None)?;
    let operators = deps.store.list_operators(caller.org_id()).await?;
    Ok(JsonOut(List {
        data: operators.into_iter().map(OperatorView::from).collect(),
    }))
}

pub(crate) async fn create(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Json(mut body): Json<CreateOperator>,
) -> Result<(StatusCode, JsonOut<CreatedOperator>), ApiError> {
    caller.require(Permission::Admin, None)?;
    let name = operator_name(&body.name)?;
    let grants = create_grants(&deps, &caller, &mut body).await?;
    let (token, digest) = new_operator_token();
    let operator = deps
        .store
        .create_operator_with(
            caller.org_id(),
            &NewOperator {
                name: &name,
                grants: &grants,
                platform_admin: false,
                token_digest_hex: &digest,
            },
            &caller.audit(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        JsonOut(CreatedOperator {
            token,
            operator: operator.into(),
        }),
    ))
}

/// The operator `id` of the caller's organization, other than the caller.
async fn other_operator(deps: &ConsoleDeps, caller: &Caller, id: &str) -> Result<(), ApiError> {
    deps.store
        .get_operator(caller.org_id(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("operator {id:?}")))?;
    if id == caller.operator.id {
        return Err(ApiError::Conflict(
            "you cannot change or revoke your own operator; ask another admin".into(),
        ));
    }
    Ok(())
}

/// `PUT /api/v1/operators/{id}/grants`: replaces the operator's grants.
pub(crate) async fn set_grants(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<SetGrants>,
) -> Result<JsonOut<OperatorView>, ApiError> {
    caller.require(Permission::Admin, None)?;
    other_operator(&deps, &caller, &id).await?;
    let grants = grants(&deps, &caller, "grants", body.grants).await?;
    let operator = deps
        .store
        .set_operator_grants(caller.org_id(), &id, &grants, &caller.audit())
        .await?;
    Ok(JsonOut(operator.into()))
}

/// `POST /api/v1/operators/{id}/revoke`: the token stops working at once.
pub(crate) async fn revoke(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<JsonOut<OperatorView>, ApiError> {
    caller.require(Permission::Admin, None)?;
    other_operator(&deps, &caller, &id).await?;
    let operator = deps
        .store
        .revoke_operator(caller.org_id(), &id, &caller.audit())
        .await?;
    Ok(JsonOut(operator.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_roles_are_checked() {
        assert_eq!(
            operator_name(" alice@example.com ").unwrap(),
            "alice@example.com"
        );
        assert!(operator_name("").is_err());
        assert!(operator_name("a\u{7}").is_err());
        assert_eq!(role("role", "auditor").unwrap(), Role::Auditor);
        let Err(ApiError::InvalidRequest(message)) = role("grants[0].role", "root") else {
            panic!("expected invalid_request");
        };
        assert!(message.starts_with("grants[0].role: "), "{message}");
    }
}
