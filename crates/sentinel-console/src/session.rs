//! Console sessions: sign-in with an operator token, a session cookie, and
//! the CSRF check that every state-changing request made with the cookie
//! must pass.
//!
//! The cookie holds `snts_<64 hex>` (256 random bits); the store keeps only
//! its SHA-256 digest, so sessions are shared by every replica and a reader
//! of the table cannot use one. The CSRF token is derived from the cookie
//! (a digest under a fixed label), so it needs no storage, is unguessable
//! without the cookie, and a page can fetch it again after a reload
//! (`GET /api/v1/session`; another origin cannot read that answer). The
//! cookie is `HttpOnly; SameSite=Strict`, plus `Secure` when the request
//! came over https (directly or, per `X-Forwarded-Proto`/`Forwarded`,
//! through a proxy).

use aws_lc_rs::{constant_time, digest};
use axum::{
    Json as JsonOut,
    extract::{ConnectInfo, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    ConsoleDeps, RequestId,
    auth::{Caller, authenticate_token, random_bytes},
    clock::now_ms,
    error::ApiError,
    extract::parse_json,
    operators::OperatorView,
};

/// The session cookie's name.
pub(crate) const COOKIE: &str = "sentinel_session";
/// The header carrying the CSRF token on state-changing requests.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts from sign-in.
pub(crate) const SESSION_TTL_MS: i64 = 8 * 60 * 60 * 1000;

const SESSION_PREFIX: &str = "snts_";
/// A sign-in body holds one token: a few hundred bytes at most.
const MAX_SIGN_IN_BYTES: usize = 4096;
const SESSION_HEX_LEN: usize = 64;

/// What a cookie-authenticated request knows about its session.
#[derive(Debug, Clone)]
pub(crate) struct SessionAuth {
    pub(crate) digest: String,
    pub(crate) csrf_token: String,
    pub(crate) expires_at: i64,
}

fn sha256_hex(text: &str) -> String {
    sentinel_core::key::hex(digest::digest(&digest::SHA256, text.as_bytes()).as_ref())
}

/// The CSRF token that goes with a session cookie.
pub(crate) fn csrf_token(session: &str) -> String {
    sha256_hex(&format!("sentinel-csrf-v1:{session}"))
}

fn well_formed(session: &str) -> bool {
    session.strip_prefix(SESSION_PREFIX).is_some_and(|hex| {
        hex.len() == SESSION_HEX_LEN && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The session cookie's value, if the request carries one.
pub(crate) fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

/// Whether the browser reached the console over https.
fn over_https(headers: &HeaderMap, parts_scheme: Option<&str>) -> bool {
    let header_says = |name: header::HeaderName, needle: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains(needle))
    };
    parts_scheme == Some("https")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
        || header_says(header::FORWARDED, "proto=https")
}

fn set_cookie(value: &str, max_age_s: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    // The value is hex (or empty): always a valid header value.
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("sentinel_session=; Max-Age=0"))
}

/// Authenticates a request by its session cookie. State-changing methods
/// must carry the session's CSRF token; a request without it is refused
/// (403) and the refusal is audited, since it is what a forged cross-site
/// request looks like.
pub(crate) async fn authenticate_cookie(
    parts: &Parts,
    deps: &ConsoleDeps,
    value: &str,
    request_id: String,
    source_addr: Option<String>,
) -> Result<Caller, ApiError> {
    let expired = || {
        ApiError::Unauthorized(
            "your console session has expired or was ended; sign in again".into(),
        )
    };
    if !well_formed(value) {
        return Err(expired());
    }
    let digest = sha256_hex(value);
    let session = deps
        .store
        .find_session(&digest)
        .await?
        .ok_or_else(expired)?;
    let csrf = csrf_token(value);
    let caller = Caller {
        operator: session.operator,
        request_id,
        source_addr,
        session: Some(SessionAuth {
            digest,
            csrf_token: csrf.clone(),
            expires_at: session.expires_at,
        }),
    };
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let presented = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if constant_time::verify_slices_are_equal(presented.as_bytes(), csrf.as_bytes()).is_err() {
            let reason = if presented.is_empty() {
                "missing"
            } else {
                "wrong"
            };
            deps.store
                .append_audit_event(
                    caller.org_id(),
                    &caller.audit(),
                    "session.csrf_rejected",
                    parts.uri.path(),
                    None,
                    json!({ "method": parts.method.as_str(), "csrf_token": reason }),
                )
                .await?;
            return Err(ApiError::Forbidden(format!(
                "{reason} {CSRF_HEADER} header: a request made with the console's session cookie must carry the session's CSRF token"
            )));
        }
    }
    Ok(caller)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignIn {
    /// An operator token, `sntop_…`.
    token: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct SessionView {
    /// `None` for a Bearer caller: it has no session and needs no CSRF token.
    csrf_token: Option<String>,
    expires_at: Option<i64>,
    operator: OperatorView,
}

/// `POST /api/v1/session`: exchanges an operator token for a session
/// cookie. Needs a JSON content type, which a cross-site form cannot send.
pub(crate) async fn create(
    State(deps): State<ConsoleDeps>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_SIGN_IN_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge("sign-in body is too large".into()))?;
    if body.is_empty() {
        return Err(ApiError::Unauthorized(
            "sign-in needs an operator token: send {\"token\": \"sntop_…\"}".into(),
        ));
    }
    let json_body = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return Err(ApiError::InvalidRequest(
            "sign-in needs Content-Type: application/json".into(),
        ));
    }
    let body: SignIn = parse_json(&body)?;
    let operator = authenticate_token(&deps, body.token.trim())
        .await
        .map_err(|_| {
            ApiError::Unauthorized(
                "sign-in failed: that operator token is unknown or revoked (tokens look like sntop_ followed by 64 hex digits; `sentinel operators create` makes one)".into(),
            )
        })?;
    let session = format!(
        "{SESSION_PREFIX}{}",
        sentinel_core::key::hex(&random_bytes::<32>())
    );
    let expires_at = now_ms().saturating_add(SESSION_TTL_MS);
    let caller = Caller {
        operator,
        request_id: parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default(),
        source_addr: parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string()),
        session: None,
    };
    deps.store
        .create_session(
            &caller.operator,
            &sha256_hex(&session),
            expires_at,
            &caller.audit(),
        )
        .await?;
    let secure = over_https(&parts.headers, parts.uri.scheme_str());
    let view = SessionView {
        csrf_token: Some(csrf_token(&session)),
        expires_at: Some(expires_at),
        operator: caller.operator.into(),
    };
    let mut response = (StatusCode::CREATED, JsonOut(view)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&session, SESSION_TTL_MS / 1000, secure),
    );
    Ok(response)
}

/// `GET /api/v1/session`: the current session and its CSRF token, for a
/// page that was reloaded. A Bearer caller gets its operator and no
/// session.
pub(crate) async fn show(caller: Caller) -> JsonOut<SessionView> {
    let session = caller.session.clone();
    JsonOut(SessionView {
        csrf_token: session.as_ref().map(|s| s.csrf_token.clone()),
        expires_at: session.map(|s| s.expires_at),
        operator: caller.operator.into(),
    })
}

/// `DELETE /api/v1/session`: signs out (with the CSRF token, like every
/// state change made with the cookie) and clears the cookie.
pub(crate) async fn delete(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let session = caller.session.as_ref().ok_or_else(|| {
        ApiError::InvalidRequest(
            "no console session: sign-out applies to the session cookie, not to a Bearer token"
                .into(),
        )
    })?;
    deps.store
        .delete_session(caller.org_id(), &session.digest, &caller.audit())
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie("", 0, over_https(&headers, uri.scheme_str())),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sentinel_session=snts_abc ; b=2"),
        );
        assert_eq!(cookie_value(&headers), Some("snts_abc"));
        assert_eq!(cookie_value(&HeaderMap::new()), None);
    }

    #[test]
    fn cookie_flags_follow_the_scheme() {
        let plain = set_cookie("snts_x", 60, false);
        let plain = plain.to_str().unwrap();
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"));
        assert!(!plain.contains("Secure"));
        assert!(
            set_cookie("snts_x", 60, true)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
        let mut headers = HeaderMap::new();
        assert!(!over_https(&headers, None));
        assert!(over_https(&headers, Some("https")));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS"));
        assert!(over_https(&headers, None));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::FORWARDED,
            HeaderValue::from_static("for=1.2.3.4;proto=https"),
        );
        assert!(over_https(&headers, None));
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session() {
        let a = format!("snts_{}", "a".repeat(64));
        let b = format!("snts_{}", "b".repeat(64));
        assert!(well_formed(&a));
        assert!(!well_formed("snts_short"));
        assert_eq!(csrf_token(&a), csrf_token(&a));
        assert_ne!(csrf_token(&a), csrf_token(&b));
        assert!(!csrf_token(&a).contains(&a[5..]));
    }
}
