//! OAuth2 access tokens for a Google service account (RFC 7523 JWT bearer
//! grant): Sentinel signs a short-lived JWT with the account's RSA key
//! (RS256), exchanges it at the token endpoint for an access token, and
//! caches that token until shortly before it expires.
//!
//! Concurrency: requests read the cached token under a short synchronous
//! lock that is never held across an `await`. When the token is missing or
//! due, one caller refreshes it while the others wait on a separate async
//! gate (single flight), then everyone uses the new token.
//!
//! Invariant: neither the private key nor an access token ever appears in a
//! `Debug` output, a log line or an error message.

use std::{sync::Mutex, time::Duration};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use http::{HeaderValue, header};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;
use url::Url;

use crate::{ProviderError, ProviderErrorKind, http_client::read_capped};

/// The OAuth2 scope that covers Vertex AI.
pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Google's token endpoint.
pub(crate) const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// Lifetime requested for a signed assertion (Google's maximum).
const ASSERTION_LIFETIME_S: u64 = 3600;

/// Largest token-endpoint answer read.
const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;

/// The fields of a service-account key file Sentinel uses.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
}

/// A parsed service account: its email, key id and signing key.
pub(crate) struct ServiceAccount {
    email: String,
    key_id: String,
    key: aws_lc_rs::signature::RsaKeyPair,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Parses a service-account key file (JSON). The error names the
    /// missing or bad field and never echoes the key.
    pub(crate) fn parse(json: &str) -> Result<Self, String> {
        let file: KeyFile = serde_json::from_str(json)
            .map_err(|_| "credential is not a service-account key file (JSON)".to_owned())?;
        if let Some(kind) = file.kind.as_deref().filter(|k| *k != "service_account") {
            return Err(format!(
                "credential is a {kind:?} key file; a service_account key file is required"
            ));
        }
        let field = |value: Option<String>, name: &str| {
            value
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("service-account key file has no {name}"))
        };
        let email = field(file.client_email, "client_email")?;
        let key_id = field(file.private_key_id, "private_key_id")?;
        let pem = field(file.private_key, "private_key")?;
        let der = pem_body(&pem, "PRIVATE KEY")
            .ok_or_else(|| "private_key is not a PEM \"PRIVATE KEY\" (PKCS#8) block".to_owned())?;
        let key = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| format!("private_key is not a usable RSA PKCS#8 key ({e})"))?;
        Ok(Self { email, key_id, key })
    }

    /// A signed RS256 JWT asserting this account for `audience` at `now`
    /// (seconds since the Unix epoch).
    pub(crate) fn assertion(&self, audience: &str, now: u64) -> Result<String, ProviderError> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.key_id});
        let claims = json!({
            "iss": self.email,
            "scope": SCOPE,
            "aud": audience,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_S,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| {
                ProviderError::new(
                    ProviderErrorKind::Protocol,
                    "cannot sign the service-account assertion",
                )
            })?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// The DER bytes of the first PEM block labelled `label`.
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let text: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// A cached access token.
#[derive(Clone)]
struct Token {
    /// `Bearer <token>`, marked sensitive.
    bearer: HeaderValue,
    refresh_at: Instant,
}

/// Mints and caches access tokens for one service account.
pub(crate) struct TokenSource {
    account: ServiceAccount,
    token_url: Url,
    client: crate::http_client::HttpClient,
    cached: Mutex<Option<Token>>,
    refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("account", &self.account)
            .field("token_url", &self.token_url.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize, Default)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl TokenSource {
    pub(crate) fn new(
        account: ServiceAccount,
        token_url: Url,
        client: crate::http_client::HttpClient,
    ) -> Self {
        Self {
            account,
            token_url,
            client,
            cached: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> Option<HeaderValue> {
        let cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        cached
            .as_ref()
            .filter(|t| Instant::now() < t.refresh_at)
            .map(|t| t.bearer.clone())
    }

    /// Forgets the cached token (e.g. after the upstream rejected it).
    pub(crate) fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// An `Authorization` header value with a valid access token.
    pub(crate) async fn bearer(&self) -> Result<HeaderValue, ProviderError> {
        if let Some(bearer) = self.current() {
            return Ok(bearer);
        }
        let _gate = self.refresh.lock().await;
        // Another caller may have refreshed while this one waited.
        if let Some(bearer) = self.current() {
            return Ok(bearer);
        }
        let token = self.fetch().await?;
        let bearer = token.bearer.clone();
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some(token);
        Ok(bearer)
    }

    async fn fetch(&self) -> Result<Token, ProviderError> {
        let fail = |message: String| {
            ProviderError::new(
                ProviderErrorKind::Protocol,
                format!("vertex token endpoint: {message}"),
            )
        };
        let assertion = self
            .account
            .assertion(self.token_url.as_str(), crate::gemini::convert::unix_now())?;
        // The assertion is base64url and dots: nothing to percent-encode.
        let form = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
        );
        let started = Instant::now();
        let response = self
            .client
            .post(self.token_url.clone())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| {
                let e = ProviderError::from_http(e);
                ProviderError::new(e.kind, format!("vertex token endpoint: {}", e.message))
            })?;
        let status = response.status().as_u16();
        let body = read_capped(response, MAX_TOKEN_RESPONSE_BYTES).await?;
        if !(200..300).contains(&status) {
            let error: TokenError = serde_json::from_slice(&body).unwrap_or_default();
            let mut detail = format!("{} {}", error.error, error.error_description);
            detail.truncate(300);
            return Err(fail(format!(
                "answered HTTP {status} for service account {}: {}",
                self.account.email,
                detail.trim()
            )));
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|_| fail("answer has no access_token".into()))?;
        let mut bearer = HeaderValue::try_from(format!("Bearer {}", answer.access_token))
            .map_err(|_| fail("access_token is not a valid header value".into()))?;
        bearer.set_sensitive(true);
        let lifetime = answer.expires_in.unwrap_or(ASSERTION_LIFETIME_S);
        // Refresh a minute early (half the lifetime for very short tokens).
        let margin = 60.min(lifetime / 2);
        Ok(Token {
            bearer,
            refresh_at: started + Duration::from_secs(lifetime - margin),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_checked_field_by_field() {
        let cases = [
            ("not json", "not a service-account key file"),
            (
                r#"{"type":"authorized_user"}"#,
                "service_account key file is required",
            ),
            (r#"{"type":"service_account"}"#, "no client_email"),
            (r#"{"client_email":"a@b"}"#, "no private_key_id"),
            (
                r#"{"client_email":"a@b","private_key_id":"k"}"#,
                "no private_key",
            ),
            (
                r#"{"client_email":"a@b","private_key_id":"k","private_key":"junk"}"#,
                "not a PEM",
            ),
        ];
        for (json, expected) in cases {
            let error = ServiceAccount::parse(json).unwrap_err();
            assert!(error.contains(expected), "{json}: {error}");
        }
    }

    #[test]
    fn pem_bodies_are_decoded() {
        let pem = "-----BEGIN PRIVATE KEY-----\nAAEC\nAw==\n-----END PRIVATE KEY-----\n";
        assert_eq!(pem_body(pem, "PRIVATE KEY"), Some(vec![0, 1, 2, 3]));
        assert_eq!(pem_body(pem, "PUBLIC KEY"), None);
    }
}
