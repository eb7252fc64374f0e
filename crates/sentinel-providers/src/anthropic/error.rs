//! Anthropic error bodies (`{"type":"error","error":{"type","message"}}`)
//! → OpenAI-shaped error bodies, with the upstream status kept as it is
//! (529 included, so the dispatch loop classifies it as a server error).

use bytes::Bytes;
use serde_json::json;

use super::wire::ErrorBody;

/// OpenAI's error `type` for an Anthropic error type (or, when the body is
/// not Anthropic's, for the status).
fn openai_type(anthropic_type: Option<&str>, status: u16) -> &'static str {
    match anthropic_type {
        Some("invalid_request_error" | "request_too_large") => "invalid_request_error",
        Some("authentication_error") => "authentication_error",
        Some("permission_error") => "permission_error",
        Some("not_found_error") => "not_found_error",
        Some("rate_limit_error") => "rate_limit_error",
        Some("billing_error") => "insufficient_quota",
        Some(_) => "server_error",
        None => match status {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "server_error",
        },
    }
}

/// The OpenAI-shaped error body for an Anthropic error answer. The
/// Anthropic error type becomes `code`, so nothing is lost.
pub(crate) fn openai_error_body(status: u16, body: &[u8]) -> Bytes {
    let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
    let (message, code) = match &parsed {
        Some(body) => (body.error.message.clone(), Some(body.error.kind.as_str())),
        None => (format!("anthropic answered status {status}"), None),
    };
    let error = json!({
        "error": {
            "message": message,
            "type": openai_type(code, status),
            "param": null,
            "code": code,
        }
    });
    Bytes::from(error.to_string())
}

/// `(type, message)` of an `error` stream event, for the stream's error.
pub(crate) fn stream_error_message(kind: &str, message: &str) -> String {
    format!("anthropic stream failed with {kind}: {message}")
}
