//! The errors clients see. One table maps every code to its HTTP status and
//! error type, so a change to what clients receive is one reviewed line here.

use serde::Serialize;

/// The class of a client-visible error (SPEC §4), used as the OpenAI `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    InvalidRequestError,
    NotFoundError,
    AuthenticationError,
    PermissionError,
    RequestTooLarge,
    RateLimitError,
    UpstreamError,
    ServiceUnavailable,
    TimeoutError,
    ApiError,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequestError => "invalid_request_error",
            Self::NotFoundError => "not_found_error",
            Self::AuthenticationError => "authentication_error",
            Self::PermissionError => "permission_error",
            Self::RequestTooLarge => "request_too_large",
            Self::RateLimitError => "rate_limit_error",
            Self::UpstreamError => "upstream_error",
            Self::ServiceUnavailable => "service_unavailable",
            Self::TimeoutError => "timeout_error",
            Self::ApiError => "api_error",
        }
    }
}

/// A stable, machine-readable error code. Clients may match on it; operators
/// search request records by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidJson,
    InvalidRequest,
    ModelNotFound,
    NotFound,
    MethodNotAllowed,
    MissingApiKey,
    InvalidApiKey,
    RevokedApiKey,
    ExpiredApiKey,
    WrongEnvironment,
    EnvironmentNotOpen,
    PolicyDenied,
    PayloadTooLarge,
    RateLimited,
    BudgetExceeded,
    UpstreamError,
    NoHealthyRoute,
    UpstreamTimeout,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 20] = [
        Self::InvalidJson,
        Self::InvalidRequest,
        Self::ModelNotFound,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::MissingApiKey,
        Self::InvalidApiKey,
        Self::RevokedApiKey,
        Self::ExpiredApiKey,
        Self::WrongEnvironment,
        Self::EnvironmentNotOpen,
        Self::PolicyDenied,
        Self::PayloadTooLarge,
        Self::RateLimited,
        Self::BudgetExceeded,
        Self::UpstreamError,
        Self::NoHealthyRoute,
        Self::UpstreamTimeout,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The table: code → (HTTP status, kind, stable code string).
    pub fn spec(self) -> (u16, ErrorKind, &'static str) {
        use ErrorKind::*;
        match self {
            Self::InvalidJson => (400, InvalidRequestError, "invalid_json"),
            Self::InvalidRequest => (400, InvalidRequestError, "invalid_request"),
            Self::ModelNotFound => (404, NotFoundError, "model_not_found"),
            Self::NotFound => (404, NotFoundError, "not_found"),
            Self::MethodNotAllowed => (405, InvalidRequestError, "method_not_allowed"),
            Self::MissingApiKey => (401, AuthenticationError, "missing_api_key"),
            Self::InvalidApiKey => (401, AuthenticationError, "invalid_api_key"),
            Self::RevokedApiKey => (401, AuthenticationError, "revoked_api_key"),
            Self::ExpiredApiKey => (401, AuthenticationError, "expired_api_key"),
            Self::WrongEnvironment => (403, PermissionError, "wrong_environment"),
            Self::EnvironmentNotOpen => (403, PermissionError, "environment_not_open"),
            Self::PolicyDenied => (403, PermissionError, "policy_denied"),
            Self::PayloadTooLarge => (413, RequestTooLarge, "payload_too_large"),
            Self::RateLimited => (429, RateLimitError, "rate_limited"),
            Self::BudgetExceeded => (429, RateLimitError, "budget_exceeded"),
            Self::UpstreamError => (502, UpstreamError, "upstream_error"),
            Self::NoHealthyRoute => (503, ServiceUnavailable, "no_healthy_route"),
            Self::UpstreamTimeout => (504, TimeoutError, "upstream_timeout"),
            Self::Unavailable => (503, ServiceUnavailable, "unavailable"),
            Self::Internal => (500, ApiError, "internal_error"),
        }
    }

    pub fn status(self) -> u16 {
        self.spec().0
    }

    pub fn kind(self) -> ErrorKind {
        self.spec().1
    }

    /// The stable code string, also the metric label.
    pub fn as_str(self) -> &'static str {
        self.spec().2
    }

    pub fn from_str_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert_eq!(ErrorCode::from_str_code(code.as_str()), Some(code));
        }
    }

    /// The client-visible table. A change here changes what clients see: it
    /// must be deliberate.
    #[test]
    fn error_table_is_stable() {
        let table: Vec<String> = ErrorCode::ALL
            .iter()
            .map(|c| format!("{} {} {}", c.status(), c.kind().as_str(), c.as_str()))
            .collect();
        assert_eq!(
            table,
            [
                "400 invalid_request_error invalid_json",
                "400 invalid_request_error invalid_request",
                "404 not_found_error model_not_found",
                "404 not_found_error not_found",
                "405 invalid_request_error method_not_allowed",
                "401 authentication_error missing_api_key",
                "401 authentication_error invalid_api_key",
                "401 authentication_error revoked_api_key",
                "401 authentication_error expired_api_key",
                "403 permission_error wrong_environment",
                "403 permission_error environment_not_open",
                "403 permission_error policy_denied",
                "413 request_too_large payload_too_large",
                "429 rate_limit_error rate_limited",
                "429 rate_limit_error budget_exceeded",
                "502 upstream_error upstream_error",
                "503 service_unavailable no_healthy_route",
                "504 timeout_error upstream_timeout",
                "503 service_unavailable unavailable",
                "500 api_error internal_error",
            ]
        );
    }
}
