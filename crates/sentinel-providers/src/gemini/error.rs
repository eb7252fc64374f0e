//! Google error bodies → OpenAI-shaped error bodies, status kept.
//!
//! Google answers `{"error": {"code": 429, "message": "…", "status":
//! "RESOURCE_EXHAUSTED", "details": […]}}` (Vertex streaming endpoints may wrap
//! it in a one-element array). The client gets `{"error": {"message", "type",
//! "param": null, "code": "<status>"}}` with `type` chosen by HTTP status.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use super::wire::ErrorBody;

/// OpenAI's error `type` for an HTTP status.
fn error_type(status: u16) -> &'static str {
    match status {
        400 | 404 | 409 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        _ => "server_error",
    }
}

/// Translates an upstream error body for `status`.
pub(crate) fn openai_error(status: u16, body: &[u8]) -> Bytes {
    // Serde would also read a struct from an array, so look at the shape first.
    let parsed = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Array(items)) => items
            .into_iter()
            .next()
            .and_then(|v| serde_json::from_value::<ErrorBody>(v).ok()),
        Ok(value @ serde_json::Value::Object(_)) => serde_json::from_value::<ErrorBody>(value).ok(),
        _ => None,
    };
    let (message, code) = match parsed {
        Some(ErrorBody { error }) if !error.message.is_empty() => (error.message, error.status),
        Some(ErrorBody { error }) => (format!("upstream answered HTTP {status}"), error.status),
        None => (format!("upstream answered HTTP {status}"), None),
    };
    let body = json!({"error": {
        "message": message,
        "type": error_type(status),
        "param": null,
        "code": code,
    }});
    Bytes::from(body.to_string())
}

/// The wait Google asks for in a `google.rpc.RetryInfo` detail
/// (`"retryDelay": "37s"`, fractions allowed), if any.
pub(crate) fn retry_delay(body: &[u8]) -> Option<Duration> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = match &value {
        serde_json::Value::Array(items) => items.first()?.get("error")?,
        other => other.get("error")?,
    };
    error
        .get("details")?
        .as_array()?
        .iter()
        .filter(|d| {
            d.get("@type")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"))
        })
        .find_map(|d| {
            d.get("retryDelay")?
                .as_str()?
                .strip_suffix('s')?
                .parse::<f64>()
                .ok()
        })
        .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn check(status: u16, body: &str, expected: Value) {
        let out: Value = serde_json::from_slice(&openai_error(status, body.as_bytes())).unwrap();
        assert_eq!(out, expected);
    }

    #[test]
    fn retry_info_gives_the_wait() {
        let body = br#"{"error":{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED","details":[
            {"@type":"type.googleapis.com/google.rpc.QuotaFailure"},
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37.5s"}]}}"#;
        assert_eq!(retry_delay(body), Some(Duration::from_millis(37_500)));
        assert_eq!(
            retry_delay(br#"{"error":{"code":429,"message":"m"}}"#),
            None
        );
        assert_eq!(retry_delay(b"junk"), None);
    }

    #[test]
    fn google_errors_become_openai_errors() {
        check(
            429,
            r#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#,
            json!({"error": {"message": "Resource has been exhausted (e.g. check quota).",
                "type": "rate_limit_error", "param": null, "code": "RESOURCE_EXHAUSTED"}}),
        );
        check(
            400,
            r#"[{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}]"#,
            json!({"error": {"message": "bad", "type": "invalid_request_error", "param": null,
                "code": "INVALID_ARGUMENT"}}),
        );
        check(
            503,
            "<html>oops</html>",
            json!({"error": {"message": "upstream answered HTTP 503", "type": "server_error",
                "param": null, "code": null}}),
        );
    }
}
