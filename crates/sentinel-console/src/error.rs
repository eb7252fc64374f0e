//! The console's one place that turns failures into HTTP answers.
//!
//! Handlers return [`ApiError`]; its `IntoResponse` only attaches the error
//! to the response. The request-id middleware ([`finish`]) then renders every
//! error body in one shape, `{"error":{"code","message","request_id"}}`,
//! logs internal causes once with the request id, and converts the plain
//! answers axum gives on its own (unknown route, wrong method, body too
//! large) into the same shape. Store errors never reach a client: their text
//! can hold SQL.

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sentinel_store::StoreError;
use serde::Serialize;

/// The stable error codes of the admin API. Clients match on these strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    InvalidRequest,
    InvalidConfig,
    PayloadTooLarge,
    TooManyRequests,
    Internal,
}

impl Code {
    #[cfg(test)]
    pub(crate) const ALL: [Code; 10] = [
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Conflict,
        Self::InvalidRequest,
        Self::InvalidConfig,
        Self::PayloadTooLarge,
        Self::TooManyRequests,
        Self::Internal,
    ];

    /// The table: code → (status, stable string).
    pub(crate) fn spec(self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Conflict => (StatusCode::CONFLICT, "conflict"),
            Self::InvalidRequest => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::InvalidConfig => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_config"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    pub(crate) fn status(self) -> StatusCode {
        self.spec().0
    }

    pub(crate) fn as_str(self) -> &'static str {
        self.spec().1
    }

    /// The code for an error status that carries no [`ApiError`] (axum's own
    /// rejections and fallbacks).
    fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::UNAUTHORIZED => Self::Unauthorized,
            StatusCode::FORBIDDEN => Self::Forbidden,
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::CONFLICT => Self::Conflict,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::TOO_MANY_REQUESTS => Self::TooManyRequests,
            s if s.is_client_error() => Self::InvalidRequest,
            _ => Self::Internal,
        }
    }
}

/// One problem in a config document, by field path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FieldError {
    pub(crate) path: String,
    pub(crate) message: String,
    /// Source line and column, for problems found while parsing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) column: Option<u64>,
}

/// A failed admin request.
#[derive(Debug)]
pub(crate) enum ApiError {
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    InvalidRequest(String),
    InvalidConfig(Vec<FieldError>),
    PayloadTooLarge(String),
    /// Refused for now; the client may retry after this many seconds.
    TooManyRequests {
        message: String,
        retry_after_s: u64,
    },
    /// The cause is logged with the request id and never sent.
    Internal(String),
}

impl ApiError {
    pub(crate) fn code(&self) -> Code {
        match self {
            Self::Unauthorized(_) => Code::Unauthorized,
            Self::Forbidden(_) => Code::Forbidden,
            Self::NotFound(_) => Code::NotFound,
            Self::Conflict(_) => Code::Conflict,
            Self::InvalidRequest(_) => Code::InvalidRequest,
            Self::InvalidConfig(_) => Code::InvalidConfig,
            Self::PayloadTooLarge(_) => Code::PayloadTooLarge,
            Self::TooManyRequests { .. } => Code::TooManyRequests,
            Self::Internal(_) => Code::Internal,
        }
    }

    pub(crate) fn not_found(what: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub(crate) fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            // The store words conflicts for clients (never SQL).
            StoreError::Conflict { what } => Self::Conflict(what),
            // The store checks organization scope too; its "absent" is ours.
            StoreError::NotFound { what } => Self::NotFound(format!("{what} not found")),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// The error waiting in a response's extensions for [`finish`] to render.
#[derive(Debug, Clone)]
struct Pending {
    code: Code,
    message: String,
    errors: Option<Vec<FieldError>>,
    /// Internal detail for the log only.
    log: Option<String>,
    /// Seconds for `Retry-After`.
    retry_after_s: Option<u64>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        let pending = match self {
            Self::Internal(cause) => Pending {
                code,
                message: "internal error; the request id leads to the server log".into(),
                errors: None,
                log: Some(cause),
                retry_after_s: None,
            },
            Self::InvalidConfig(errors) => Pending {
                code,
                message: format!("the config document has {} error(s)", errors.len()),
                errors: Some(errors),
                log: None,
                retry_after_s: None,
            },
            Self::TooManyRequests {
                message,
                retry_after_s,
            } => Pending {
                code,
                message,
                errors: None,
                log: None,
                retry_after_s: Some(retry_after_s),
            },
            Self::Unauthorized(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::Conflict(m)
            | Self::InvalidRequest(m)
            | Self::PayloadTooLarge(m) => Pending {
                code,
                message: m,
                errors: None,
                log: None,
                retry_after_s: None,
            },
        };
        let mut response = code.status().into_response();
        response.extensions_mut().insert(pending);
        response
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'static str,
    message: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

/// Renders the error body of `response`, if it is an error, with the
/// request id. Called by the request-id middleware for every response.
pub(crate) async fn finish(
    response: Response,
    request_id: &str,
    method: &str,
    path: &str,
) -> Response {
    let status = response.status();
    let pending = response.extensions().get::<Pending>().cloned();
    let pending = match pending {
        Some(p) => p,
        None if status.is_client_error() || status.is_server_error() => {
            if is_json(&response) {
                return response;
            }
            // axum's own answer: keep its text as the message when it has one.
            let (parts, body) = response.into_parts();
            let text = axum::body::to_bytes(body, 4096)
                .await
                .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
                .unwrap_or_default();
            let code = Code::for_status(parts.status);
            let message = match code {
                Code::NotFound => format!("no admin route {method} {path}"),
                Code::MethodNotAllowed => format!("method {method} is not allowed on {path}"),
                Code::PayloadTooLarge => "request body is too large".to_owned(),
                _ if text.is_empty() => parts
                    .status
                    .canonical_reason()
                    .unwrap_or("request failed")
                    .to_lowercase(),
                _ => text,
            };
            Pending {
                code,
                message,
                errors: None,
                log: None,
                retry_after_s: None,
            }
        }
        None => return response,
    };
    if let Some(cause) = &pending.log {
        tracing::error!(request_id, method, path, error = %cause, "admin request failed");
    } else {
        tracing::debug!(
            request_id,
            method,
            path,
            code = pending.code.as_str(),
            "admin request refused"
        );
    }
    let body = Envelope {
        error: Inner {
            code: pending.code.as_str(),
            message: &pending.message,
            request_id,
            errors: pending.errors.as_deref(),
        },
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = pending.code.status();
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(seconds) = pending.retry_after_s {
        out.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if pending.code == Code::Unauthorized {
        out.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"sentinel\""),
        );
    }
    out
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The admin API's error table. A change here changes what clients see.
    #[test]
    fn error_table_is_stable() {
        let table: Vec<String> = Code::ALL
            .iter()
            .map(|c| format!("{} {}", c.status().as_u16(), c.as_str()))
            .collect();
        assert_eq!(
            table,
            [
                "401 unauthorized",
                "403 forbidden",
                "404 not_found",
                "405 method_not_allowed",
                "409 conflict",
                "400 invalid_request",
                "422 invalid_config",
                "413 payload_too_large",
                "429 too_many_requests",
                "500 internal",
            ]
        );
    }

    async fn render(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = finish(error.into_response(), "rid-1", "GET", "/x").await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let (status, body) = render(ApiError::internal("select * from secrets failed")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "internal");
        assert_eq!(body["error"]["request_id"], "rid-1");
        assert!(!body.to_string().contains("select"));
    }

    #[tokio::test]
    async fn config_errors_carry_paths() {
        let (status, body) = render(ApiError::InvalidConfig(vec![FieldError {
            path: "providers.a.kind".into(),
            message: "unknown kind".into(),
            line: None,
            column: None,
        }]))
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["code"], "invalid_config");
        assert_eq!(body["error"]["errors"][0]["path"], "providers.a.kind");
    }

    #[tokio::test]
    async fn plain_axum_answers_get_the_shape() {
        let plain = (StatusCode::METHOD_NOT_ALLOWED, "").into_response();
        let response = finish(plain, "rid-2", "DELETE", "/api/v1/whoami").await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
        assert_eq!(body["error"]["request_id"], "rid-2");
    }
}
