//! `/v1/messages`, target by target: providers that support
//! [`Operation::AnthropicMessages`] get the client's Anthropic body natively
//! (only `model` rewritten, every other field's bytes kept) and answer in
//! Anthropic's format, which goes back untouched; every other provider gets
//! the request translated to a chat completion
//! (`anthropic_ingress::to_chat_request`), and the respond stage translates
//! its answer back. The choice is made per target, so a fallback from an
//! Anthropic target to another kind still answers.
//!
//! Client headers: only `anthropic-beta` is forwarded, and only natively
//! (betas unlock the Anthropic-only features native passthrough exists for;
//! the provider merges them with its configured ones and refuses anything
//! that is not a beta name). `anthropic-version` is the provider's own and
//! the client's key never leaves the gateway.

use axum::http::{HeaderMap, HeaderName};
use bytes::Bytes;
use sentinel_providers::{
    Operation, ProviderError, ProviderErrorKind, UpstreamRequest, anthropic_ingress,
};

use super::decode::ModelRequest;
use crate::snapshot::{Route, TargetRuntime};

/// The one client header forwarded on native Anthropic requests.
const ANTHROPIC_BETA: HeaderName = HeaderName::from_static("anthropic-beta");

/// Prepares a `/v1/messages` request for each target of its route.
pub(crate) struct Messages<'a> {
    /// The client's Anthropic request, decoded.
    original: &'a ModelRequest,
    /// The request as a chat completion, when some target needs it (or why
    /// it cannot be translated).
    translated: Option<Result<ModelRequest, ProviderError>>,
    /// The client's `anthropic-beta` values.
    beta: HeaderMap,
}

impl<'a> Messages<'a> {
    /// Translates once, up front, only if some target of `route` is not
    /// native.
    pub(crate) fn new(original: &'a ModelRequest, route: &Route, headers: &HeaderMap) -> Self {
        let translated = route
            .targets
            .iter()
            .any(|t| !native(t))
            .then(|| translate(&original.body_for(&original.model)));
        let mut beta = HeaderMap::new();
        for value in headers.get_all(&ANTHROPIC_BETA) {
            beta.append(ANTHROPIC_BETA, value.clone());
        }
        Self {
            original,
            translated,
            beta,
        }
    }

    /// The upstream request for `target`, or why it cannot take this one.
    pub(crate) fn request_for(
        &self,
        target: &TargetRuntime,
    ) -> Result<UpstreamRequest, ProviderError> {
        if native(target) {
            return Ok(UpstreamRequest {
                operation: Operation::AnthropicMessages,
                body: self.original.body_for(&target.upstream_model),
                stream: self.original.stream,
                client_headers: self.beta.clone(),
            });
        }
        match &self.translated {
            Some(Ok(chat)) => Ok(UpstreamRequest {
                operation: Operation::ChatCompletions,
                body: chat.body_for(&target.upstream_model),
                stream: chat.stream,
                client_headers: HeaderMap::new(),
            }),
            Some(Err(error)) => Err(error.clone()),
            None => Err(ProviderError::new(
                ProviderErrorKind::InvalidRequest,
                "the request was not translated for this provider",
            )),
        }
    }
}

/// Whether `target` takes Anthropic Messages natively.
fn native(target: &TargetRuntime) -> bool {
    target.provider.supports(Operation::AnthropicMessages)
}

/// An Anthropic Messages request as a decoded OpenAI chat request. Streams
/// ask for usage so the final `message_delta` carries real token counts.
fn translate(body: &[u8]) -> Result<ModelRequest, ProviderError> {
    let invalid = |message: String| ProviderError::new(ProviderErrorKind::InvalidRequest, message);
    let mut chat = anthropic_ingress::to_chat_request(body).map_err(|e| invalid(e.to_string()))?;
    if chat.stream == Some(true) {
        chat.stream_options = Some(sentinel_providers::chat::StreamOptions {
            include_usage: true,
        });
    }
    let bytes = serde_json::to_vec(&chat)
        .map(Bytes::from)
        .map_err(|e| invalid(format!("could not translate the request: {e}")))?;
    ModelRequest::decode(bytes)
        .map_err(|e| invalid(format!("could not translate the request: {e}")))
}
