//! Bedrock errors → OpenAI's error body (status preserved), and stream
//! exception events → [`ProviderError`].
//!
//! Bedrock answers an error with its status, an `x-amzn-errortype` header
//! (`ThrottlingException`, sometimes followed by `:http://internal…`) and a
//! body `{"message": "…"}` (`Message` in some services). The OpenAI error's
//! `code` is the AWS error type, its `type` follows the error type where it
//! is telling (signature and key errors are authentication errors) and the
//! status otherwise.

use bytes::Bytes;
use serde_json::Value;

use crate::{
    ProviderError, ProviderErrorKind,
    openai::error::{error_body, error_type},
};

/// The AWS error type without the `:namespace` suffix some services add.
pub(crate) fn aws_error_type(header: &str) -> &str {
    header.split(':').next().unwrap_or(header).trim()
}

/// The OpenAI-shaped body for a Bedrock error answer.
pub(crate) fn to_openai(status: u16, error_type_header: Option<&str>, body: &[u8]) -> Bytes {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("Message")))
        .and_then(Value::as_str);
    let aws_type = error_type_header
        .map(aws_error_type)
        .filter(|t| !t.is_empty())
        .or_else(|| {
            // Some answers carry the type in the body instead.
            parsed
                .as_ref()
                .and_then(|v| v.get("__type"))
                .and_then(Value::as_str)
                .map(|t| t.rsplit('#').next().unwrap_or(t))
        });
    let kind = match aws_type {
        Some(
            "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "IncompleteSignatureException"
            | "MissingAuthenticationTokenException"
            | "ExpiredTokenException"
            | "InvalidClientTokenId",
        ) => "authentication_error",
        Some("AccessDeniedException") => "permission_error",
        Some("ThrottlingException" | "ServiceQuotaExceededException") => "rate_limit_error",
        Some("ResourceNotFoundException") => "not_found_error",
        Some("ValidationException") => "invalid_request_error",
        _ => error_type(status),
    };
    let fallback;
    let message = match message {
        Some(m) => m,
        None => {
            fallback = format!("bedrock answered status {status} without an error message");
            &fallback
        }
    };
    error_body(message, kind, aws_type)
}

/// A ConverseStream message of type `exception` (`:exception-type` header,
/// JSON payload with `message`) or `error` (`:error-code` and
/// `:error-message` headers): the stream ends with this error.
pub(crate) fn stream_exception(kind: &str, payload: &[u8]) -> ProviderError {
    let message = serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("Message"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "no message".to_owned());
    stream_error(kind, &message)
}

/// The stream error for an exception or error of type `kind`.
pub(crate) fn stream_error(kind: &str, message: &str) -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::Protocol,
        format!("bedrock stream failed with {kind}: {message}"),
    )
}
