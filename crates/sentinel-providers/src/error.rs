//! Provider failures, classified so the dispatch loop never reads vendor
//! details.

/// What kind of failure an upstream call ended in, before any HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// TCP/TLS connection could not be established.
    Connect,
    /// The upstream took too long (connect, first byte, idle or total).
    Timeout,
    /// The upstream answered something that is not valid for its API, or
    /// the connection broke mid-response.
    Protocol,
    /// The response exceeded Sentinel's size bound.
    BodyTooLarge,
    /// The request uses a feature this provider cannot honour (e.g. tools on
    /// a provider without tool calling). The client gets a 400 naming the
    /// feature and the provider; nothing was sent upstream.
    Unsupported,
    /// The client's request is malformed for translation (e.g. not a valid
    /// chat request). The client gets a 400; nothing was sent upstream.
    InvalidRequest,
}

impl ProviderErrorKind {
    /// Low-cardinality label, also the attempt outcome in request records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect_error",
            Self::Timeout => "timeout",
            Self::Protocol => "protocol_error",
            Self::BodyTooLarge => "body_too_large",
            Self::Unsupported => "unsupported_feature",
            Self::InvalidRequest => "invalid_request",
        }
    }
}

/// An upstream call that produced no usable HTTP response.
///
/// The message never contains the upstream URL (query strings may carry
/// credentials for some vendors) nor any credential.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind_label}: {message}", kind_label = kind.as_str())]
pub struct ProviderError {
    pub kind: ProviderErrorKind,
    pub message: String,
}

impl ProviderError {
    pub fn new(kind: ProviderErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// A feature `provider` cannot honour, named for the client.
    pub fn unsupported(provider_kind: &str, feature: &str) -> Self {
        Self::new(
            ProviderErrorKind::Unsupported,
            format!("{feature} is not supported by {provider_kind} providers"),
        )
    }

    /// Classifies an HTTP client error (whose text never has the URL).
    pub(crate) fn from_http(error: crate::http_client::HttpError) -> Self {
        Self::new(error.kind(), error.to_string())
    }
}

/// Why a provider could not be built from its configuration.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BuildError {
    #[error("provider kind {0:?} is not known")]
    UnknownKind(String),
    #[error("provider {provider}: {message}")]
    Invalid { provider: String, message: String },
}
