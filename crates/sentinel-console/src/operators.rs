//! `/api/v1/operators` and `/api/v1/whoami`: the organization's operators.
//! A token is shown once, in the answer that creates the operator; only its
//! digest is stored.

use axum::{Json as JsonOut, extract::State, http::StatusCode};
use sentinel_core::{Operator, Role};
use serde::{Deserialize, Serialize};

use crate::{
    ConsoleDeps,
    auth::{Caller, new_operator_token},
    environments::List,
    error::ApiError,
    extract::Json,
};

const MAX_OPERATOR_NAME: usize = 128;

#[derive(Debug, Serialize)]
pub(crate) struct OperatorView {
    id: String,
    name: String,
    role: Role,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl From<Operator> for OperatorView {
    fn from(op: Operator) -> Self {
        Self {
            id: op.id,
            name: op.name,
            role: op.role,
            created_at: op.created_at,
            revoked_at: op.revoked_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct CreatedOperator {
    /// The operator token. Shown once; Sentinel cannot show it again.
    token: String,
    #[serde(flatten)]
    operator: OperatorView,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateOperator {
    name: String,
    role: String,
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

fn operator_name(name: &str) -> Result<String, ApiError> {
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

fn role(text: &str) -> Result<Role, ApiError> {
    Role::parse(text).ok_or_else(|| {
        ApiError::InvalidRequest(format!(
            "role {text:?} is not one of admin, operator, approver, auditor"
        ))
    })
}

pub(crate) async fn whoami(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
) -> Result<JsonOut<WhoAmI>, ApiError> {
    let org = deps
        .store
        .list_orgs()
        .await?
        .into_iter()
        .find(|o| o.id == caller.operator.org_id)
        .ok_or_else(|| ApiError::internal("the caller's organization is missing"))?;
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
    caller.require_admin()?;
    let operators = deps.store.list_operators(caller.org_id()).await?;
    Ok(JsonOut(List {
        data: operators.into_iter().map(OperatorView::from).collect(),
    }))
}

pub(crate) async fn create(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Json(body): Json<CreateOperator>,
) -> Result<(StatusCode, JsonOut<CreatedOperator>), ApiError> {
    caller.require_admin()?;
    let name = operator_name(&body.name)?;
    let role = role(&body.role)?;
    let (token, digest) = new_operator_token();
    let operator = deps
        .store
        .create_operator(caller.org_id(), &name, role, &digest, &caller.audit())
        .await?;
    Ok((
        StatusCode::CREATED,
        JsonOut(CreatedOperator {
            token,
            operator: operator.into(),
        }),
    ))
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
        assert_eq!(role("auditor").unwrap(), Role::Auditor);
        assert!(role("root").is_err());
    }
}
