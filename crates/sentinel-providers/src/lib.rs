//! All vendor knowledge lives here. Every provider kind implements one
//! [`Provider`] trait; a [`ProviderRegistry`] maps a kind name to its
//! factory, so adding a vendor is one folder and one registry line. No other
//! crate knows that a vendor exists.
//!
//! Invariants: the client's own credentials never reach a provider (the
//! request handed in carries the body and only the client headers the
//! gateway forwards by name, never a key); each provider owns one HTTP
//! client built once, with redirects off and proxy variables ignored;
//! response bodies are bounded.

mod anthropic;
mod azure;
mod bedrock;
/// Per-request translation entry points for the benchmarks only.
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench_api;
pub mod chat;
mod error;
mod gemini;
mod http_client;
mod mock;
mod openai;
mod prices;
mod registry;
pub mod sse;
pub mod stream;
mod vertex;

use std::{fmt, pin::Pin};

use bytes::Bytes;
use futures_util::Stream;

/// Translation for the gateway's Anthropic-style `POST /v1/messages` route,
/// for targets that do not take [`Operation::AnthropicMessages`] natively:
/// Anthropic Messages requests to OpenAI chat requests, and OpenAI answers
/// (complete, streamed or failed) back to Anthropic's format.
pub mod anthropic_ingress {
    pub use crate::anthropic::ingress::{
        IngressError, error_body, error_type, stream::MessagesStreamTranslator,
        stream::error_event, to_chat_request, to_messages_response,
    };
}

pub use error::{BuildError, ProviderError, ProviderErrorKind};
pub use http_client::{HttpSettings, MAX_RESPONSE_BYTES};
pub use registry::{ProviderKind, ProviderRegistry};

/// Which model API a request is for, and so the wire format of its body
/// and answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// OpenAI chat completions (every kind, translated where needed).
    ChatCompletions,
    /// OpenAI embeddings.
    Embeddings,
    /// Anthropic's Messages API, native: the body is an Anthropic Messages
    /// request and the answer (JSON, SSE events, error bodies) is Anthropic's,
    /// untouched. Only kinds whose [`Provider::supports`] says so serve it.
    AnthropicMessages,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat_completions",
            Self::Embeddings => "embeddings",
            Self::AnthropicMessages => "anthropic_messages",
        }
    }
}

/// One call to send upstream.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub operation: Operation,
    /// The JSON body in the operation's format (OpenAI's, or Anthropic's
    /// for [`Operation::AnthropicMessages`]), with `model` already set to
    /// the upstream model. Fields Sentinel does not know are kept as sent.
    pub body: Bytes,
    /// The client asked for a server-sent event stream.
    pub stream: bool,
    /// Client headers the gateway deliberately forwards, chosen by name;
    /// empty unless documented otherwise. Today only `anthropic-beta`, on
    /// [`Operation::AnthropicMessages`]. Never a credential.
    pub client_headers: http::HeaderMap,
}

/// A chunked response body.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, ProviderError>> + Send>>;

/// The body of an upstream answer.
pub enum UpstreamBody {
    /// A complete body (non-streaming answers and every error answer).
    Full(Bytes),
    /// An SSE stream in the operation's format, passed on chunk by chunk.
    Stream(ByteStream),
}

impl fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(b) => write!(f, "Full({} bytes)", b.len()),
            Self::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// An upstream HTTP answer, in the wire format of the request's operation
/// (OpenAI's, except for native operations).
#[derive(Debug)]
pub struct UpstreamResponse {
    pub status: u16,
    pub content_type: Option<String>,
    /// The upstream's own request id, for triage.
    pub upstream_request_id: Option<String>,
    /// How long the upstream asked callers to wait (`Retry-After`), if it did.
    pub retry_after: Option<std::time::Duration>,
    pub body: UpstreamBody,
}

/// A configured upstream of some provider kind.
#[async_trait::async_trait]
pub trait Provider: Send + Sync + fmt::Debug {
    /// The kind name, e.g. `openai`.
    fn kind(&self) -> &'static str;

    /// Whether this provider serves `operation`. Every kind takes the
    /// OpenAI-format operations (and may still refuse one in [`send`] as
    /// unsupported); native operations such as
    /// [`Operation::AnthropicMessages`] are opt-in.
    ///
    /// [`send`]: Provider::send
    fn supports(&self, operation: Operation) -> bool {
        matches!(
            operation,
            Operation::ChatCompletions | Operation::Embeddings
        )
    }

    /// Sends one request. `Ok` means an HTTP answer arrived (any status);
    /// `Err` means none did.
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError>;
}

/// A provider credential, resolved from a managed secret. Redacted in
/// `Debug`; the value is read only where it is put on the wire.
#[derive(Clone)]
pub struct Credential(String);

impl Credential {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(redacted)")
    }
}
