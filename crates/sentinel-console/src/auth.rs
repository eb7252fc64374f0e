//! Operator authentication and authorization.
//!
//! Operators present `Authorization: Bearer sntop_<64 hex>` (the CLI,
//! scripts) or the web console's session cookie (see [`crate::session`];
//! state changes then need the CSRF token too). The Bearer token wins when
//! both are present. Only the SHA-256 digest of a token is stored; like
//! client keys, a token carries 256 random bits, so a fast digest is safe.
//! Every admin handler takes a [`Caller`], which scopes it to the
//! operator's organization.

use std::net::SocketAddr;

use aws_lc_rs::digest;
use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts},
};
use sentinel_core::{Operator, Role};
use sentinel_store::AuditContext;

use crate::{ConsoleDeps, RequestId, error::ApiError, session};

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

    /// Who the store records as the author of a change.
    pub(crate) fn audit(&self) -> AuditContext {
        AuditContext {
            actor: self.operator.id.clone(),
            source_addr: self.source_addr.clone(),
            request_id: Some(self.request_id.clone()),
        }
    }

    /// Admins and operators change things; approvers and auditors read.
    pub(crate) fn require_write(&self) -> Result<(), ApiError> {
        match self.operator.role {
            Role::Admin | Role::Operator => Ok(()),
            role @ (Role::Approver | Role::Auditor) => Err(ApiError::Forbidden(format!(
                "role {} may read but not change this organization",
                role.as_str()
            ))),
        }
    }

    /// Operator management is for admins only.
    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        if self.operator.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "only admins manage operators (your role: {})",
                self.operator.role.as_str()
            )))
        }
    }
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
        let header = header
            .to_str()
            .map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::Unauthorized("Authorization must be Bearer sntop_…".into()))?;
        let operator = authenticate_token(deps, token).await?;
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

    fn caller(role: Role) -> Caller {
        Caller {
            operator: Operator {
                id: "op".into(),
                org_id: "org".into(),
                name: "n".into(),
                role,
                created_at: 0,
                revoked_at: None,
            },
            request_id: "r".into(),
            source_addr: None,
            session: None,
        }
    }

    #[test]
    fn roles_gate_writes_and_operator_management() {
        let check = |role, write: bool, admin: bool| {
            assert_eq!(caller(role).require_write().is_ok(), write, "{role:?}");
            assert_eq!(caller(role).require_admin().is_ok(), admin, "{role:?}");
        };
        check(Role::Admin, true, true);
        check(Role::Operator, true, false);
        check(Role::Approver, false, false);
        check(Role::Auditor, false, false);
    }
}
