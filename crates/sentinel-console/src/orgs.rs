//! `/api/v1/orgs`: organizations, for platform administrators only. Each
//! new organization gets its first admin (every environment), whose token
//! is shown once in the answer. Other operators get 403: that organizations
//! exist is no secret, their contents are.

use axum::{Json as JsonOut, extract::State, http::StatusCode};
use sentinel_core::{Grant, Organization, Role};
use sentinel_store::NewOperator;
use serde::{Deserialize, Serialize};

use crate::{
    ConsoleDeps,
    auth::{Caller, new_operator_token},
    environments::{List, parse_name},
    error::ApiError,
    extract::Json,
    operators::{CreatedOperator, operator_name},
};

#[derive(Debug, Serialize)]
pub(crate) struct OrgView {
    id: String,
    name: String,
    created_at: i64,
}

impl From<Organization> for OrgView {
    fn from(org: Organization) -> Self {
        Self {
            id: org.id,
            name: org.name,
            created_at: org.created_at,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateOrg {
    name: String,
    /// The first admin's name; `admin` when left out.
    admin_name: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CreatedOrg {
    #[serde(flatten)]
    org: OrgView,
    /// The organization's first admin, with its token (shown once).
    admin: CreatedOperator,
}

pub(crate) async fn list(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
) -> Result<JsonOut<List<OrgView>>, ApiError> {
    caller.require_platform_admin()?;
    let orgs = deps.store.list_orgs().await?;
    Ok(JsonOut(List {
        data: orgs.into_iter().map(OrgView::from).collect(),
    }))
}

pub(crate) async fn create(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Json(body): Json<CreateOrg>,
) -> Result<(StatusCode, JsonOut<CreatedOrg>), ApiError> {
    caller.require_platform_admin()?;
    let name = parse_name("organization", &body.name)?;
    let admin_name = operator_name(body.admin_name.as_deref().unwrap_or("admin"))?;
    let (token, digest) = new_operator_token();
    let grants = [Grant::everywhere(Role::Admin)];
    let (org, admin) = deps
        .store
        .create_org(
            name.as_str(),
            &NewOperator {
                name: &admin_name,
                grants: &grants,
                platform_admin: false,
                token_digest_hex: &digest,
            },
            caller.org_id(),
            &caller.audit(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        JsonOut(CreatedOrg {
            org: org.into(),
            admin: CreatedOperator {
                token,
                operator: admin.into(),
            },
        }),
    ))
}
