//! identify: the client key → who is calling (key, application, environment),
//! checked against the data-plane host's environment.
//!
//! Lookups use the key id (public) and compare the digest in constant time;
//! the store is never consulted.

use std::sync::Arc;

use axum::http::{HeaderMap, Uri, header, request::Parts};
use sentinel_core::{ClientKey, ErrorCode, RequestRecord, UnixMillis};

use crate::{
    error::GatewayError,
    snapshot::{EnvRuntime, Snapshot},
};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: String,
    pub app_id: String,
    pub app_name: String,
    pub env: Arc<EnvRuntime>,
}

/// Finds the caller, filling in what is learned on `record` even when the
/// request is refused, so every refusal is traceable. A request carrying
/// the in-process [`Verification`](crate::Verification) extension is not
/// held back by a staged rollout.
pub fn identify(
    snapshot: &Snapshot,
    parts: &Parts,
    now: UnixMillis,
    record: &mut RequestRecord,
) -> Result<Principal, GatewayError> {
    let (headers, uri) = (&parts.headers, &parts.uri);
    let host_env = request_host(headers, uri).and_then(|h| snapshot.env_for_host(&h).cloned());
    if let Some(env) = &host_env {
        record.org_id.clone_from(&env.org_id);
        record.env_id = Some(env.id.clone());
        record.env_name = Some(env.name.clone());
    }
    let presented = presented_key(headers).ok_or_else(|| {
        GatewayError::new(
            ErrorCode::MissingApiKey,
            "no API key: send your Sentinel key as `Authorization: Bearer snt_…`",
        )
    })?;
    let invalid = || {
        GatewayError::new(
            ErrorCode::InvalidApiKey,
            "the API key is not valid for this gateway",
        )
    };
    let key = ClientKey::parse(presented)
        .map_err(|e| invalid().with_detail(format!("malformed key: {e}")))?;
    let entry = snapshot
        .key(key.id())
        .filter(|entry| entry.digest.matches(&key.digest()))
        .ok_or_else(|| invalid().with_detail(format!("unknown key id {}", key.id())))?;
    record.key_id = Some(entry.id.clone());
    record.app_id = Some(entry.app_id.clone());
    record.app_name = Some(entry.app_name.clone());
    let env = snapshot
        .env(&entry.env_id)
        .cloned()
        .ok_or_else(|| invalid().with_detail("the key's environment no longer exists"))?;
    if let Some(host_env) = &host_env
        && host_env.id != env.id
    {
        return Err(GatewayError::new(
            ErrorCode::WrongEnvironment,
            format!(
                "this key belongs to environment {}, but this host serves environment {}; use the {} data-plane host",
                env.name, host_env.name, env.name
            ),
        ));
    }
    record.org_id.clone_from(&env.org_id);
    record.env_id = Some(env.id.clone());
    record.env_name = Some(env.name.clone());
    if entry.revoked_at.is_some_and(|t| t <= now) {
        return Err(GatewayError::new(
            ErrorCode::RevokedApiKey,
            "this API key has been revoked; ask your Sentinel operator for a new one",
        ));
    }
    if entry.expires_at.is_some_and(|t| t <= now) {
        return Err(GatewayError::new(
            ErrorCode::ExpiredApiKey,
            "this API key has expired; ask your Sentinel operator for a new one",
        ));
    }
    let verification = parts.extensions.get::<crate::Verification>().is_some();
    if !verification && !env.is_open_to(&entry.app_name) {
        return Err(GatewayError::new(
            ErrorCode::EnvironmentNotOpen,
            format!(
                "environment {} is not yet open to application {}: it is in a staged rollout; ask your Sentinel operator to add the application to rollout.open_to",
                env.name, entry.app_name
            ),
        ));
    }
    Ok(Principal {
        key_id: entry.id.clone(),
        app_id: entry.app_id.clone(),
        app_name: entry.app_name.clone(),
        env,
    })
}

/// The key from `Authorization: Bearer …` or, for Anthropic-style clients,
/// `x-api-key`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?.trim();
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    headers.get("x-api-key")?.to_str().ok().map(str::trim)
}

/// The request's host name, lowercased, without port.
fn request_host(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let raw = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))?;
    let host = match raw.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => raw.rsplit_once(':').map_or(raw, |(h, _)| h),
    };
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn key_comes_from_bearer_or_x_api_key() {
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer abc")])),
            Some("abc")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "bearer  abc ")])),
            Some("abc")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Basic abc")])),
            None
        );
        assert_eq!(
            presented_key(&headers(&[("x-api-key", "abc")])),
            Some("abc")
        );
        assert_eq!(presented_key(&headers(&[])), None);
    }

    #[test]
    fn host_is_normalised() {
        let uri = Uri::from_static("/v1/models");
        let host = |h: &str| request_host(&headers(&[("host", h)]), &uri);
        assert_eq!(
            host("API.Prod.Example.com:443").as_deref(),
            Some("api.prod.example.com")
        );
        assert_eq!(host("gw.example.com.").as_deref(), Some("gw.example.com"));
        assert_eq!(host("[::1]:8080").as_deref(), Some("::1"));
        assert_eq!(host("localhost").as_deref(), Some("localhost"));
    }
}
