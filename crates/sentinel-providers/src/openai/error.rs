//! OpenAI's error body, `{"error": {"message", "type", "param", "code"}}`:
//! what translating providers answer when their upstream answered an error
//! status, so clients and the gateway read one shape whatever the vendor.

use bytes::Bytes;
use serde_json::{Value, json};

/// OpenAI's error `type` for an HTTP status.
pub(crate) fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

/// An OpenAI error body. `code` is the vendor's machine code when it has
/// one (e.g. `ThrottlingException`).
pub(crate) fn error_body(message: &str, kind: &str, code: Option<&str>) -> Bytes {
    Bytes::from(
        json!({"error": {"message": message, "type": kind, "param": Value::Null, "code": code}})
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_openai_types() {
        for (status, kind) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (422, "invalid_request_error"),
            (429, "rate_limit_error"),
            (500, "server_error"),
            (503, "server_error"),
        ] {
            assert_eq!(error_type(status), kind, "{status}");
        }
    }
}
