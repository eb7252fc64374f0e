//! Operator authentication and authorization.
//!
//! Operators present `Authorization: Bearer sntop_<64 hex>` (the CLI,
//! scripts) or the web console's session cookie (see [`crate::session`];
//! state changes then need the CSRF token too). The Bearer token wins when
//! both are present. Only the SHA-256 digest of a token is stored; like
//! client keys, a token carries 256 random bits, so a fast digest is safe.
//! Every admin handler takes a [`Caller`], which scopes it to the
//! operator's organization.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use aws_lc_rs::digest;
use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts},
};
use sentinel_core::{EnvScope, Environment, Operator, Permission};
use sentinel_store::AuditContext;

use crate::{ConsoleDeps, RequestId, error::ApiError, login::LoginThrottle, session};

const TOKEN_PREFIX: &str = "sntop_";
const TOKEN_HEX_LEN: usize = 64;

/// Makes a new operator token: `(token, digest hex)`. The token is shown
/// once; only the digest is stored.
pub fn new_operator_token() -> (String, String) {
    let token = format!(
        "{TOKEN_PREFIX}{}",
        sentinel_core::key::hex(&random_bytes::<32>())
    );
    let digest = token_digest(&token);
    (token, digest)
}

/// SHA-256 of the presented token, hex.
pub(crate) fn token_digest(token: &str) -> String {
    sentinel_core::key::hex(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
}

/// `N` bytes from the system's secure random source.
#[expect(
    clippy::expect_used,
    reason = "AWS-LC aborts the process rather than return an error from its RNG; the error branch is unreachable"
)]
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).expect("system random source");
    bytes
}

fn well_formed(token: &str) -> bool {
    token
        .strip_prefix(TOKEN_PREFIX)
        .is_some_and(|hex| hex.len() == TOKEN_HEX_LEN && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The organization whose audit log records failed logins: a token that
/// matches no operator names no organization.
pub(crate) const LOGIN_AUDIT_ORG: &str = "default";

/// The authenticated operator of one admin request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) operator: Operator,
    pub(crate) request_id: String,
    pub(crate) source_addr: Option<String>,
    /// Set when the request was authenticated by the console's session
    /// cookie rather than a Bearer token.
    pub(crate) session: Option<session::SessionAuth>,
}

/// The active operator holding `token`, or why not.
pub(crate) async fn authenticate_token(
    deps: &ConsoleDeps,
    token: &str,
) -> Result<Operator, ApiError> {
    let unknown = || ApiError::Unauthorized("unknown or revoked operator token".into());
    if !well_formed(token) {
        return Err(unknown());
    }
    let operator = deps
        .store
        .find_operator_by_token_digest(&token_digest(token))
        .await?
        .ok_or_else(unknown)?;
    if operator.revoked_at.is_some() {
        return Err(unknown());
    }
    Ok(operator)
}

impl Caller {
    pub(crate) fn org_id(&self) -> &str {
        &self.operator.org_id
    }

    /// The caller's organization, as stored.
    pub(crate) async fn organization(
        &self,
        deps: &ConsoleDeps,
    ) -> Result<sentinel_core::Organization, ApiError> {
        deps.store
            .list_orgs()
            .await?
            .into_iter()
            .find(|o| o.id == self.operator.org_id)
            .ok_or_else(|| ApiError::internal("the caller's organization is missing"))
    }

    /// Who the store records as the author of a change.
    pub(crate) fn audit(&self) -> AuditContext {
        AuditContext {
            actor: self.operator.id.clone(),
            source_addr: self.source_addr.clone(),
            request_id: Some(self.request_id.clone()),
        }
    }

    /// Checks that the caller's grants allow `permission` on `env` (the
    /// environment the route acts on), or, with `None`, organization-wide.
    /// Look the environment up first: another organization's answers 404.
    pub(crate) fn require(
        &self,
        permission: Permission,
        env: Option<&Environment>,
    ) -> Result<(), ApiError> {
        if self.operator.may(permission, env.map(|e| e.id.as_str())) {
            return Ok(());
        }
        Err(ApiError::Forbidden(match env {
            Some(env) => format!(
                "your grants do not allow {} in environment {:?}",
                permission.as_str(),
                env.name
            ),
            None => format!(
                "this needs {} permission for every environment; your grants do not give it",
                permission.as_str()
            ),
        }))
    }

    /// Checks an environment-scoped permission for a route whose environment
    /// is optional (a query parameter): with an environment, on it; without
    /// one, organization-wide, naming what to do instead.
    pub(crate) fn require_in(
        &self,
        permission: Permission,
        env: Option<&Environment>,
    ) -> Result<(), ApiError> {
        if env.is_none() && !self.operator.may(permission, None) {
            return Err(ApiError::Forbidden(format!(
                "your grants allow {} in some environments only: pass env=NAME",
                permission.as_str()
            )));
        }
        self.require(permission, env)
    }

    /// The environments where the caller holds `permission`.
    pub(crate) fn scope(&self, permission: Permission) -> EnvScope {
        self.operator.scope(permission)
    }

    /// Creating and listing organizations is for platform administrators.
    pub(crate) fn require_platform_admin(&self) -> Result<(), ApiError> {
        if self.operator.platform_admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "only platform administrators manage organizations".into(),
            ))
        }
    }
}

/// Why a presented credential was refused, for the audit log.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    MalformedHeader,
    MalformedToken,
    UnknownToken,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Self::MalformedHeader => "malformed_authorization_header",
            Self::MalformedToken => "malformed_token",
            Self::UnknownToken => "unknown_or_revoked_token",
        }
    }

    fn error(self) -> ApiError {
        ApiError::Unauthorized(
            match self {
                Self::MalformedHeader => "Authorization must be Bearer sntop_…",
                Self::MalformedToken | Self::UnknownToken => "unknown or revoked operator token",
            }
            .into(),
        )
    }
}

/// Counts a failed login and writes its audit event (never the token).
async fn refuse(
    deps: &ConsoleDeps,
    throttle: Option<&LoginThrottle>,
    addr: &str,
    ctx: AuditContext,
    refusal: Refusal,
) -> ApiError {
    if let Some(throttle) = throttle {
        throttle.fail(addr, Instant::now());
    }
    let audited = async {
        let org = deps.store.ensure_org(LOGIN_AUDIT_ORG).await?;
        deps.store
            .append_audit_event(
                &org.id,
                &ctx,
                "operator.login_failed",
                "operator/unknown",
                None,
                serde_json::json!({ "reason": refusal.as_str() }),
            )
            .await
    };
    if let Err(error) = audited.await {
        tracing::warn!(request_id = ?ctx.request_id, %error, "could not audit a failed operator login");
    }
    refusal.error()
}

impl FromRequestParts<ConsoleDeps> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, deps: &ConsoleDeps) -> Result<Self, ApiError> {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let source_addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        let throttle = parts.extensions.get::<Arc<LoginThrottle>>().cloned();
        let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
            if let Some(value) = session::cookie_value(&parts.headers) {
                return session::authenticate_cookie(parts, deps, value, request_id, source_addr)
                    .await;
            }
            return Err(ApiError::Unauthorized(
                "missing operator token: send Authorization: Bearer sntop_… (or sign in to the console)"
                    .into(),
            ));
        };
        let addr = source_addr.clone().unwrap_or_else(|| "unknown".into());
        if let Some(throttle) = &throttle
            && let Err(retry_after) = throttle.check(&addr, Instant::now())
        {
            return Err(ApiError::TooManyRequests {
                message: "too many failed operator logins from this address; try again later"
                    .into(),
                retry_after_s: retry_after.as_secs(),
            });
        }
        let ctx = AuditContext {
            actor: "anonymous".into(),
            source_addr: source_addr.clone(),
            request_id: Some(request_id.clone()),
        };
        let token = header.to_str().ok().and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
                .map(str::trim)
        });
        let Some(token) = token else {
            return Err(refuse(
                deps,
                throttle.as_deref(),
                &addr,
                ctx,
                Refusal::MalformedHeader,
            )
            .await);
        };
        if !well_formed(token) {
            return Err(refuse(
                deps,
                throttle.as_deref(),
                &addr,
                ctx,
                Refusal::MalformedToken,
            )
            .await);
        }
        let operator = deps
            .store
            .find_operator_by_token_digest(&token_digest(token))
            .await?;
        let Some(operator) = operator.filter(|op| op.revoked_at.is_none()) else {
            return Err(refuse(deps, throttle.as_deref(), &addr, ctx, Refusal::UnknownToken).await);
        };
        Ok(Self {
            operator,
            request_id,
            source_addr,
            session: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use sentinel_core::{Grant, Role};

    use super::*;

    #[test]
    fn tokens_have_the_documented_shape() {
        let (token, digest) = new_operator_token();
        assert!(well_formed(&token), "{token}");
        assert_eq!(token.len(), TOKEN_PREFIX.len() + TOKEN_HEX_LEN);
        assert_eq!(digest, token_digest(&token));
        assert_eq!(digest.len(), 64);
        assert_ne!(new_operator_token().0, token);
    }

    #[test]
    fn malformed_tokens_are_refused_before_the_store() {
        assert!(!well_formed("sntop_"));
        assert!(!well_formed("snt_dev_0123"));
        assert!(!well_formed(&format!("sntop_{}", "g".repeat(64))));
        assert!(well_formed(&format!("sntop_{}", "a".repeat(64))));
    }

    fn caller(grants: Vec<Grant>) -> Caller {
        Caller {
            operator: Operator {
                id: "op".into(),
                org_id: "org".into(),
                name: "n".into(),
                grants,
                platform_admin: false,
                created_at: 0,
                revoked_at: None,
            },
            request_id: "r".into(),
            source_addr: None,
            session: None,
        }
    }

    fn env(id: &str) -> Environment {
        Environment {
            id: id.into(),
            org_id: "org".into(),
            name: id.into(),
            protected: false,
            hosts: Vec::new(),
            created_at: 0,
        }
    }

    #[test]
    fn checks_take_the_environment_the_route_acts_on() {
        let dev_operator = caller(vec![Grant {
            role: Role::Operator,
            env_id: Some("dev".into()),
            env_name: Some("dev".into()),
        }]);
        assert!(
            dev_operator
                .require(Permission::Write, Some(&env("dev")))
                .is_ok()
        );
        let Err(ApiError::Forbidden(message)) =
            dev_operator.require(Permission::Write, Some(&env("prod")))
        else {
            panic!("expected forbidden");
        };
        assert!(message.contains("environment \"prod\""), "{message}");
        assert!(dev_operator.require(Permission::Read, None).is_err());
        assert!(dev_operator.require_in(Permission::Read, None).is_err());
        assert!(dev_operator.require_platform_admin().is_err());

        let admin = caller(vec![Grant::everywhere(Role::Admin)]);
        assert!(admin.require(Permission::Admin, None).is_ok());
        assert!(admin.require_in(Permission::Audit, None).is_ok());
    }
}
