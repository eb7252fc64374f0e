//! `mock`: a built-in deterministic provider for demos, tests and benchmarks.
//! It answers in OpenAI's wire format without any network: chat replies echo
//! the last user message, embeddings are derived from a hash of the input.
//!
//! Options: `latency_ms` (before the answer or first chunk), `chunk_delay_ms`
//! (between stream chunks), `stream_chunks` (content chunks per stream,
//! default 4), `fail_status` (answer every request with this HTTP status and
//! an OpenAI-shaped error), `embedding_dims` (default 8).

mod reply;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use sentinel_config::{ConfigError, ProviderConfig, RawProvider};
use serde_json::Value;

use crate::{
    BuildError, Credential, HttpSettings, Operation, Provider, ProviderError, ProviderKind,
    UpstreamBody, UpstreamRequest, UpstreamResponse,
};

#[derive(Debug)]
pub(crate) struct MockKind;

/// Parsed mock options.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MockOptions {
    pub(crate) latency: Duration,
    pub(crate) chunk_delay: Duration,
    pub(crate) stream_chunks: usize,
    pub(crate) fail_status: Option<u16>,
    pub(crate) embedding_dims: usize,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            stream_chunks: 4,
            fail_status: None,
            embedding_dims: 8,
        }
    }
}

impl MockOptions {
    /// Reads options, returning one error per bad field.
    fn parse<'a>(
        options: impl IntoIterator<Item = (&'a String, &'a Value)>,
    ) -> Result<Self, Vec<ConfigError>> {
        let mut parsed = Self::default();
        let mut errors = Vec::new();
        for (key, value) in options {
            let path = format!("options.{key}");
            let int = |min: u64, max: u64| value.as_u64().filter(|n| (min..=max).contains(n));
            let bad = |range: &str| {
                ConfigError::new(path.clone(), format!("must be an integer in {range}"))
            };
            match key.as_str() {
                "latency_ms" => match int(0, 600_000) {
                    Some(n) => parsed.latency = Duration::from_millis(n),
                    None => errors.push(bad("0..=600000")),
                },
                "chunk_delay_ms" => match int(0, 60_000) {
                    Some(n) => parsed.chunk_delay = Duration::from_millis(n),
                    None => errors.push(bad("0..=60000")),
                },
                "stream_chunks" => match int(1, 10_000) {
                    Some(n) => parsed.stream_chunks = n as usize,
                    None => errors.push(bad("1..=10000")),
                },
                "fail_status" => match int(400, 599) {
                    Some(n) => parsed.fail_status = Some(n as u16),
                    None => errors.push(bad("400..=599")),
                },
                "embedding_dims" => match int(1, 4096) {
                    Some(n) => parsed.embedding_dims = n as usize,
                    None => errors.push(bad("1..=4096")),
                },
                _ => errors.push(ConfigError::new(
                    path,
                    "unknown mock option; known: latency_ms, chunk_delay_ms, stream_chunks, fail_status, embedding_dims",
                )),
            }
        }
        if errors.is_empty() {
            Ok(parsed)
        } else {
            Err(errors)
        }
    }
}

impl ProviderKind for MockKind {
    fn name(&self) -> &'static str {
        "mock"
    }

    fn check(&self, raw: &RawProvider) -> Vec<ConfigError> {
        let mut errors = match &raw.options {
            Some(options) => MockOptions::parse(options.iter()).err().unwrap_or_default(),
            None => Vec::new(),
        };
        if raw.base_url.is_some() {
            errors.push(ConfigError::new(
                "base_url",
                "the mock provider makes no network calls; remove base_url",
            ));
        }
        errors
    }

    fn build(
        &self,
        config: &ProviderConfig,
        _credential: Option<Credential>,
        _http: &HttpSettings,
    ) -> Result<Arc<dyn Provider>, BuildError> {
        let options =
            MockOptions::parse(config.options.iter()).map_err(|errors| BuildError::Invalid {
                provider: config.name.to_string(),
                message: errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            })?;
        Ok(Arc::new(Mock { options }))
    }
}

/// A mock provider with fixed options.
#[derive(Debug)]
pub(crate) struct Mock {
    pub(crate) options: MockOptions,
}

#[async_trait::async_trait]
impl Provider for Mock {
    fn kind(&self) -> &'static str {
        "mock"
    }

    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        if !self.options.latency.is_zero() {
            tokio::time::sleep(self.options.latency).await;
        }
        if let Some(status) = self.options.fail_status {
            return Ok(json_response(status, reply::error_body(status)));
        }
        let body: Value = match serde_json::from_slice(&request.body) {
            Ok(v) => v,
            Err(e) => {
                return Ok(json_response(
                    400,
                    reply::invalid_request(&format!("invalid JSON: {e}")),
                ));
            }
        };
        match request.operation {
            Operation::Embeddings => Ok(json_response(
                200,
                reply::embeddings(&body, self.options.embedding_dims),
            )),
            Operation::ChatCompletions if request.stream => Ok(UpstreamResponse {
                status: 200,
                content_type: Some("text/event-stream".into()),
                upstream_request_id: None,
                retry_after: None,
                body: UpstreamBody::Stream(reply::chat_stream(&body, &self.options)),
            }),
            Operation::ChatCompletions => Ok(json_response(200, reply::chat(&body))),
            Operation::AnthropicMessages => Err(ProviderError::unsupported(
                "mock",
                "native Anthropic Messages",
            )),
        }
    }
}

fn json_response(status: u16, body: Value) -> UpstreamResponse {
    UpstreamResponse {
        status,
        content_type: Some("application/json".into()),
        upstream_request_id: None,
        retry_after: None,
        body: UpstreamBody::Full(Bytes::from(body.to_string())),
    }
}

#[cfg(test)]
mod tests;
