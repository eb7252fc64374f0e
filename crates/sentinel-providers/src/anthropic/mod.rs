//! `anthropic`: Anthropic's Messages API (`POST {base_url}/v1/messages`).
//!
//! Egress: the client's OpenAI chat request is translated into a Messages
//! request ([`convert`]), sent with `x-api-key` and `anthropic-version`, and
//! the answer is translated back into a `chat.completion` or an OpenAI chunk
//! stream ([`stream`]); error bodies become OpenAI-shaped with the status
//! kept ([`error`]). Embeddings do not exist at Anthropic and are refused.
//!
//! Native ([`Operation::AnthropicMessages`]): the gateway's `/v1/messages`
//! requests are sent as the client wrote them (only `model` rewritten, by the
//! gateway), with Sentinel's `x-api-key` and `anthropic-version`; the
//! configured `anthropic-beta` names are merged with the client's (the one
//! client header forwarded, validated name by name). The answer, streamed or
//! not, error bodies included, comes back untouched with its status.
//!
//! Ingress ([`ingress`]): pure functions for the gateway's Anthropic-style
//! `/v1/messages` route when the target is not native, from Anthropic's
//! format to OpenAI's and back.
//!
//! Configuration: `credential` is required; `base_url` defaults to
//! `https://api.anthropic.com` (a base ending in `/v1` is accepted too).
//! Options: `anthropic_version` (default `2023-06-01`), `anthropic_beta`
//! (a string or a list of strings, sent as one comma-separated
//! `anthropic-beta` header) and `default_max_tokens` (used when the client
//! sets no cap, which Anthropic requires; default 4096).

pub(crate) mod convert;
mod error;
pub(crate) mod ingress;
pub(crate) mod stream;
pub(crate) mod wire;

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{HeaderName, HeaderValue, header};
use sentinel_config::{ConfigError, ProviderConfig, RawProvider};
use serde_json::Value;
use url::Url;

use crate::{
    BuildError, Credential, Operation, Provider, ProviderError, ProviderErrorKind, ProviderKind,
    UpstreamBody, UpstreamRequest, UpstreamResponse,
    chat::ChatRequest,
    http_client::{HttpSettings, MAX_RESPONSE_BYTES, read_capped},
};

/// The API host used when a provider sets no `base_url`.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
const DEFAULT_VERSION: &str = "2023-06-01";
const DEFAULT_MAX_TOKENS: u64 = 4096;
const MAX_MAX_TOKENS: u64 = 1_000_000;

/// The `anthropic` provider kind.
#[derive(Debug)]
pub(crate) struct AnthropicKind;

/// Parsed `options`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    version: String,
    beta: Option<String>,
    default_max_tokens: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            version: DEFAULT_VERSION.to_owned(),
            beta: None,
            default_max_tokens: DEFAULT_MAX_TOKENS,
        }
    }
}

/// A header value: printable ASCII, not empty.
fn header_text(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

impl Options {
    fn parse<'a>(
        options: impl IntoIterator<Item = (&'a String, &'a Value)>,
    ) -> Result<Self, Vec<ConfigError>> {
        let mut parsed = Self::default();
        let mut errors = Vec::new();
        for (key, value) in options {
            let path = format!("options.{key}");
            match key.as_str() {
                "anthropic_version" => match value.as_str().filter(|v| header_text(v)) {
                    Some(v) => v.clone_into(&mut parsed.version),
                    None => errors.push(ConfigError::new(
                        path,
                        "must be a version string such as 2023-06-01",
                    )),
                },
                "anthropic_beta" => {
                    let list = match value {
                        Value::String(s) => Some(vec![s.as_str()]),
                        Value::Array(items) => items.iter().map(Value::as_str).collect(),
                        _ => None,
                    };
                    match list.filter(|l| !l.is_empty() && l.iter().all(|b| header_text(b) && !b.contains(','))) {
                        Some(list) => parsed.beta = Some(list.join(",")),
                        None => errors.push(ConfigError::new(
                            path,
                            "must be a beta name or a list of them, e.g. [prompt-caching-2024-07-31]",
                        )),
                    }
                }
                "default_max_tokens" => {
                    match value.as_u64().filter(|n| (1..=MAX_MAX_TOKENS).contains(n)) {
                        Some(n) => parsed.default_max_tokens = n,
                        None => errors.push(ConfigError::new(
                            path,
                            format!("must be an integer in 1..={MAX_MAX_TOKENS}"),
                        )),
                    }
                }
                _ => errors.push(ConfigError::new(
                    path,
                    "unknown anthropic option; known: anthropic_version, anthropic_beta, default_max_tokens",
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

impl ProviderKind for AnthropicKind {
    fn name(&self) -> &'static str {
        convert::KIND
    }

    fn check(&self, raw: &RawProvider) -> Vec<ConfigError> {
        let mut errors = match &raw.options {
            Some(options) => Options::parse(options.iter()).err().unwrap_or_default(),
            None => Vec::new(),
        };
        if raw.credential.is_none() {
            errors.push(ConfigError::new(
                "credential",
                "anthropic providers need a credential: secret:NAME holding the API key",
            ));
        }
        for name in raw.headers.keys() {
            let lower = name.to_ascii_lowercase();
            if lower == "anthropic-version" || lower == "anthropic-beta" {
                let option = lower.replace('-', "_");
                errors.push(ConfigError::new(
                    format!("headers.{name}"),
                    format!("set options.{option} instead of this header"),
                ));
            }
        }
        errors
    }

    fn build(
        &self,
        config: &ProviderConfig,
        credential: Option<Credential>,
        http: &HttpSettings,
    ) -> Result<Arc<dyn Provider>, BuildError> {
        let invalid = |message: String| BuildError::Invalid {
            provider: config.name.to_string(),
            message,
        };
        let options = Options::parse(config.options.iter()).map_err(|errors| {
            invalid(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let base_url = match &config.base_url {
            Some(url) => url.clone(),
            None => Url::parse(DEFAULT_BASE_URL)
                .map_err(|e| invalid(format!("default base URL: {e}")))?,
        };
        let credential = credential.ok_or_else(|| invalid("credential is missing".into()))?;
        let mut api_key = HeaderValue::try_from(credential.expose())
            .map_err(|_| invalid("credential is not a valid header value".into()))?;
        api_key.set_sensitive(true);
        let mut headers = vec![(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::try_from(options.version.as_str())
                .map_err(|_| invalid("anthropic_version is not a valid header value".into()))?,
        )];
        if let Some(beta) = &options.beta {
            HeaderValue::try_from(beta.as_str())
                .map_err(|_| invalid("anthropic_beta is not a valid header value".into()))?;
        }
        for (name, value) in &config.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| invalid(format!("header name {name:?} is invalid")))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| invalid(format!("header {name} has an invalid value")))?;
            headers.push((name, value));
        }
        let client = http
            .build()
            .map_err(|e| invalid(format!("cannot build HTTP client: {e}")))?;
        Ok(Arc::new(Anthropic {
            messages_url: messages_url(&base_url),
            api_key,
            headers,
            beta: options.beta,
            default_max_tokens: options.default_max_tokens,
            client,
        }))
    }
}

/// `{base}/v1/messages`; a base that already ends in `/v1` is not doubled.
fn messages_url(base: &Url) -> Url {
    let mut url = base.clone();
    let path = base.path().trim_end_matches('/');
    let joined = if path.ends_with("/v1") {
        format!("{path}/messages")
    } else {
        format!("{path}/v1/messages")
    };
    url.set_path(&joined);
    url
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

struct Anthropic {
    messages_url: Url,
    api_key: HeaderValue,
    /// `anthropic-version` and the configured custom headers.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The configured `anthropic-beta` names, comma-separated.
    beta: Option<String>,
    default_max_tokens: u64,
    client: crate::http_client::HttpClient,
}

impl std::fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anthropic")
            .field("messages_url", &self.messages_url.as_str())
            .field("default_max_tokens", &self.default_max_tokens)
            .finish_non_exhaustive()
    }
}

fn json_body(
    status: u16,
    upstream_request_id: Option<String>,
    retry_after: Option<std::time::Duration>,
    body: Bytes,
) -> UpstreamResponse {
    UpstreamResponse {
        status,
        content_type: Some("application/json".into()),
        upstream_request_id,
        retry_after,
        body: UpstreamBody::Full(body),
    }
}

/// Longest `anthropic-beta` value sent upstream, configured and client
/// names together.
const MAX_BETA_LEN: usize = 1024;

/// The configured beta names followed by the client's, each once. A client
/// name must look like a beta name (`[A-Za-z0-9._-]`, e.g.
/// `interleaved-thinking-2025-05-14`); anything else is refused rather than
/// dropped, so a client never silently loses a feature it asked for.
fn merged_beta(
    configured: Option<&str>,
    client: &http::HeaderMap,
) -> Result<Option<String>, ProviderError> {
    let refuse = |why: &str| {
        ProviderError::new(
            ProviderErrorKind::InvalidRequest,
            format!("the anthropic-beta header {why}"),
        )
    };
    let mut names: Vec<&str> = configured
        .map(|c| c.split(',').map(str::trim).collect())
        .unwrap_or_default();
    for value in client.get_all("anthropic-beta") {
        let value = value
            .to_str()
            .map_err(|_| refuse("is not printable ASCII"))?;
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let valid = name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !valid {
                return Err(refuse(&format!(
                    "holds {:?}, which is not a beta name",
                    name.chars().take(64).collect::<String>()
                )));
            }
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let joined = names.join(",");
    if joined.len() > MAX_BETA_LEN {
        return Err(refuse(&format!("is longer than {MAX_BETA_LEN} bytes")));
    }
    Ok((!joined.is_empty()).then_some(joined))
}

impl Anthropic {
    /// A POST to the Messages endpoint with Sentinel's credential, the
    /// version and the configured headers (no beta, no body).
    fn post(&self, stream: bool) -> crate::http_client::RequestBuilder<'_> {
        let mut builder = self
            .client
            .post(self.messages_url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::ACCEPT,
                if stream {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            )
            .header("x-api-key", self.api_key.clone());
        for (name, value) in &self.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        builder
    }

    /// Native passthrough: the body as the gateway hands it over (the
    /// client's bytes, `model` rewritten) and the answer untouched: status,
    /// JSON body, SSE events and Anthropic's own error bodies.
    async fn send_native(
        &self,
        request: UpstreamRequest,
    ) -> Result<UpstreamResponse, ProviderError> {
        let beta = merged_beta(self.beta.as_deref(), &request.client_headers)?;
        let mut builder = self.post(request.stream).body(request.body);
        if let Some(beta) = beta {
            builder = builder.header("anthropic-beta", beta);
        }
        let response = builder.send().await.map_err(ProviderError::from_http)?;
        let status = response.status().as_u16();
        let upstream_request_id = request_id(&response);
        if !(200..300).contains(&status) {
            let retry_after = crate::http_client::retry_after(response.headers());
            let body = read_capped(response, MAX_RESPONSE_BYTES).await?;
            return Ok(json_body(status, upstream_request_id, retry_after, body));
        }
        if request.stream {
            if !is_event_stream(&response) {
                return Err(ProviderError::new(
                    ProviderErrorKind::Protocol,
                    "anthropic answered a stream request without an event stream",
                ));
            }
            return Ok(UpstreamResponse {
                status,
                content_type: Some("text/event-stream".into()),
                upstream_request_id,
                retry_after: None,
                body: UpstreamBody::Stream(Box::pin(
                    response.bytes_stream().map_err(ProviderError::from_http),
                )),
            });
        }
        let body = read_capped(response, MAX_RESPONSE_BYTES).await?;
        Ok(json_body(status, upstream_request_id, None, body))
    }
}

/// Anthropic's `request-id` header.
fn request_id(response: &crate::http_client::Response) -> Option<String> {
    response
        .headers()
        .get("request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn is_event_stream(response: &crate::http_client::Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"))
}

#[async_trait::async_trait]
impl Provider for Anthropic {
    fn kind(&self) -> &'static str {
        convert::KIND
    }

    fn supports(&self, operation: Operation) -> bool {
        matches!(
            operation,
            Operation::ChatCompletions | Operation::AnthropicMessages
        )
    }

    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        match request.operation {
            Operation::ChatCompletions => {}
            Operation::AnthropicMessages => return self.send_native(request).await,
            Operation::Embeddings => {
                return Err(ProviderError::unsupported(convert::KIND, "embeddings"));
            }
        }
        let chat: ChatRequest = serde_json::from_slice(&request.body).map_err(|e| {
            ProviderError::new(
                ProviderErrorKind::InvalidRequest,
                format!("the request is not a valid chat completion request: {e}"),
            )
        })?;
        let include_usage = chat.include_usage();
        let body = convert::to_messages_request(chat, self.default_max_tokens, request.stream)?;
        let body = serde_json::to_vec(&body).map_err(|e| {
            ProviderError::new(
                ProviderErrorKind::InvalidRequest,
                format!("cannot encode: {e}"),
            )
        })?;
        let mut builder = self.post(request.stream).body(body);
        if let Some(beta) = &self.beta {
            builder = builder.header("anthropic-beta", beta.as_str());
        }
        let response = builder.send().await.map_err(ProviderError::from_http)?;
        let status = response.status().as_u16();
        let upstream_request_id = request_id(&response);
        if !(200..300).contains(&status) {
            let retry_after = crate::http_client::retry_after(response.headers());
            let body = read_capped(response, MAX_RESPONSE_BYTES).await?;
            let body = error::openai_error_body(status, &body);
            return Ok(json_body(status, upstream_request_id, retry_after, body));
        }
        if request.stream {
            if !is_event_stream(&response) {
                return Err(ProviderError::new(
                    ProviderErrorKind::Protocol,
                    "anthropic answered a stream request without an event stream",
                ));
            }
            let upstream = Box::pin(response.bytes_stream().map_err(ProviderError::from_http));
            let translator = stream::ChunkTranslator::new(include_usage, now_secs());
            return Ok(UpstreamResponse {
                status,
                content_type: Some("text/event-stream".into()),
                upstream_request_id,
                retry_after: None,
                body: UpstreamBody::Stream(crate::stream::translate(upstream, translator)),
            });
        }
        let body = read_capped(response, MAX_RESPONSE_BYTES).await?;
        let message: wire::MessagesResponse = serde_json::from_slice(&body).map_err(|e| {
            ProviderError::new(
                ProviderErrorKind::Protocol,
                format!("anthropic answered a body that is not a message: {e}"),
            )
        })?;
        let chat = convert::to_chat_response(message, now_secs());
        let body = serde_json::to_vec(&chat).map_err(|e| {
            ProviderError::new(ProviderErrorKind::Protocol, format!("cannot encode: {e}"))
        })?;
        Ok(json_body(
            status,
            upstream_request_id,
            None,
            Bytes::from(body),
        ))
    }
}

#[cfg(test)]
mod tests;
