//! Azure OpenAI error answers → OpenAI's error body, status unchanged.
//!
//! Azure answers errors in three shapes:
//!
//! - OpenAI's own `{"error": {"message", "code", "param", "type"?, …}}`, often
//!   with Azure additions: `status`, and for content-filter refusals
//!   (`code: content_filter`) an `innererror` with `code:
//!   ResponsibleAIPolicyViolation` and the `content_filter_result` per
//!   category. These are kept as sent (clients that know Azure read them),
//!   with `type` filled in from the status when Azure left it out or null.
//! - The API-management shape `{"statusCode": 401, "message": "…"}` (bad
//!   key, expired token): turned into an OpenAI error with `code` set to
//!   the status code.
//! - Anything else (an HTML page from a proxy, an empty body): a generic
//!   OpenAI error naming the status; the body itself is not relayed.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::openai::error::{error_body, error_type};

/// The OpenAI-shaped body for an Azure error answer.
pub(crate) fn to_openai(status: u16, body: &[u8]) -> Bytes {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    match parsed {
        Some(Value::Object(mut top)) => {
            if let Some(Value::Object(error)) = top.get_mut("error")
                && error.get("message").is_some_and(Value::is_string)
            {
                if error.get("type").is_none_or(Value::is_null) {
                    error.insert("type".into(), json!(error_type(status)));
                }
                error.entry("param").or_insert(Value::Null);
                error.entry("code").or_insert(Value::Null);
                return Bytes::from(json!({"error": error}).to_string());
            }
            if let Some(message) = top.get("message").and_then(Value::as_str) {
                let code = top
                    .get("statusCode")
                    .and_then(Value::as_u64)
                    .map_or_else(|| status.to_string(), |c| c.to_string());
                return error_body(message, error_type(status), Some(&code));
            }
            generic(status)
        }
        _ => generic(status),
    }
}

fn generic(status: u16) -> Bytes {
    error_body(
        &format!("azure_openai answered status {status} without an error message"),
        error_type(status),
        None,
    )
}
