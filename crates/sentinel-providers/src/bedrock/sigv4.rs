//! AWS Signature Version 4 (header signing, `AWS4-HMAC-SHA256`), with
//! aws-lc-rs for SHA-256 and HMAC-SHA256. Checked against AWS's published
//! SigV4 test suite (`tests/fixtures/sigv4/`).
//!
//! Canonical URI rules are those of every service but S3: the path is
//! normalized (empty and `.` segments dropped, `..` applied) and each segment
//! is URI-encoded *as it appears on the wire*. A Bedrock model id such as
//! `anthropic.claude-3-haiku-20240307-v1:0` is sent as `…-v1%3A0` and signed
//! as `…-v1%253A0`.

use std::fmt;

use aws_lc_rs::{digest, hmac};
use time::{OffsetDateTime, macros::format_description};

/// `SHA-256("")`, the payload hash of an empty body.
#[cfg(test)]
pub(crate) const EMPTY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// AWS access keys, parsed from the provider's secret. Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AwsCredentials {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) session_token: Option<String>,
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AwsCredentials(redacted)")
    }
}

impl AwsCredentials {
    /// Parses `{"access_key_id": "…", "secret_access_key": "…",
    /// "session_token": "…"?}`. The error names the field at fault and never
    /// contains any part of the secret.
    pub(crate) fn from_secret(secret: &str) -> Result<Self, String> {
        const SHAPE: &str = "the credential secret must be JSON: {\"access_key_id\": \"…\", \"secret_access_key\": \"…\", \"session_token\": \"…\" (optional)}";
        let value: serde_json::Value =
            serde_json::from_str(secret).map_err(|_| format!("{SHAPE}; it is not JSON"))?;
        let Some(object) = value.as_object() else {
            return Err(format!("{SHAPE}; it is not a JSON object"));
        };
        let field = |name: &str, required: bool| -> Result<Option<String>, String> {
            match object.get(name) {
                None | Some(serde_json::Value::Null) if required => {
                    Err(format!("{SHAPE}; {name} is missing"))
                }
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {
                    if s.bytes().all(|b| b.is_ascii_graphic()) {
                        Ok(Some(s.clone()))
                    } else {
                        Err(format!(
                            "{SHAPE}; {name} contains whitespace or non-ASCII characters"
                        ))
                    }
                }
                Some(_) => Err(format!("{SHAPE}; {name} must be a non-empty string")),
            }
        };
        for key in object.keys() {
            if !matches!(
                key.as_str(),
                "access_key_id" | "secret_access_key" | "session_token"
            ) {
                return Err(format!("{SHAPE}; unknown field {key:?}"));
            }
        }
        Ok(Self {
            access_key_id: field("access_key_id", true)?.unwrap_or_default(),
            secret_access_key: field("secret_access_key", true)?.unwrap_or_default(),
            session_token: field("session_token", false)?,
        })
    }
}

/// What signing produced, intermediate steps included (for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signed {
    pub(crate) canonical_request: String,
    pub(crate) string_to_sign: String,
    /// The `Authorization` header value.
    pub(crate) authorization: String,
}

/// One request to sign.
#[derive(Debug, Clone)]
pub(crate) struct RequestToSign<'a> {
    pub(crate) method: &'a str,
    /// The path as sent on the wire (already percent-encoded where needed).
    pub(crate) path: &'a str,
    /// The raw query string, without `?`.
    pub(crate) query: &'a str,
    /// Every header to sign, `host` and `x-amz-date` included; names in any
    /// case, repeated names allowed.
    pub(crate) headers: &'a [(String, String)],
    /// Hex SHA-256 of the body.
    pub(crate) payload_hash: &'a str,
}

/// Signs `request` for `region`/`service` at `amz_date` (`YYYYMMDDTHHMMSSZ`).
pub(crate) fn sign(
    credentials: &AwsCredentials,
    region: &str,
    service: &str,
    amz_date: &str,
    request: &RequestToSign<'_>,
) -> Signed {
    let (canonical_headers, signed_headers) = canonical_headers(request.headers);
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        canonical_uri(request.path),
        canonical_query(request.query),
        canonical_headers,
        signed_headers,
        request.payload_hash
    );
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let key = signing_key(&credentials.secret_access_key, date, region, service);
    let signature = hex(hmac::sign(&key, string_to_sign.as_bytes()).as_ref());
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    );
    Signed {
        canonical_request,
        string_to_sign,
        authorization,
    }
}

/// `x-amz-date` for `time`: `YYYYMMDDTHHMMSSZ` in UTC.
pub(crate) fn amz_date(time: OffsetDateTime) -> String {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    time.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// Hex SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let k_date = step(format!("AWS4{secret}").as_bytes(), date);
    let k_region = step(k_date.as_ref(), region);
    let k_service = step(k_region.as_ref(), service);
    let k_signing = step(k_service.as_ref(), "aws4_request");
    hmac::Key::new(hmac::HMAC_SHA256, k_signing.as_ref())
}

/// SigV4 URI encoding: everything but `A-Z a-z 0-9 - . _ ~` becomes `%XX`
/// (upper-case hex), `/` included.
pub(crate) fn uri_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len());
    for &byte in input {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut uri = String::from("/");
    uri.push_str(
        &segments
            .iter()
            .map(|s| uri_encode(s.as_bytes()))
            .collect::<Vec<_>>()
            .join("/"),
    );
    if path.ends_with('/') && !segments.is_empty() {
        uri.push('/');
    }
    uri
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                uri_encode(&percent_decode(key)),
                uri_encode(&percent_decode(value)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `(canonical headers block, signed header list)`.
fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut merged: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            None => merged.push((name, value)),
        }
    }
    merged.sort_by(|a, b| a.0.cmp(&b.0));
    let block = merged
        .iter()
        .map(|(n, v)| format!("{n}:{v}\n"))
        .collect::<String>();
    let signed = merged
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    (block, signed)
}

fn percent_decode(input: &str) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(text) = std::str::from_utf8(hex)
            && let Ok(byte) = u8::from_str_radix(text, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
