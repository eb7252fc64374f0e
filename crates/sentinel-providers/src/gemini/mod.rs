//! `gemini`: the Google AI Gemini API (`generativelanguage.googleapis.com`).
//!
//! Chat completions go to `POST {base}/v1beta/models/{model}:generateContent`
//! (`:streamGenerateContent?alt=sse` for streams), embeddings to
//! `:batchEmbedContents`. The credential is an API key sent in the
//! `x-goog-api-key` header, never in the URL (URLs end up in logs).
//! Translation lives in [`convert`] and [`stream`] and is shared with the
//! `vertex` kind, which differs only in URLs and authentication.
//!
//! `base_url` is optional (default `https://generativelanguage.googleapis.com`);
//! a trailing `/v1beta` is tolerated. The kind takes no options.

pub(crate) mod convert;
pub(crate) mod error;
pub(crate) mod stream;
pub(crate) mod wire;

#[cfg(test)]
mod tests;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{HeaderName, HeaderValue, header};
use sentinel_config::{ConfigError, ProviderConfig, RawProvider};
use serde::Serialize;
use url::Url;

use self::convert::ChatContext;
use crate::{
    BuildError, Credential, HttpSettings, Operation, Provider, ProviderError, ProviderErrorKind,
    ProviderKind, UpstreamBody, UpstreamRequest, UpstreamResponse,
    http_client::{MAX_RESPONSE_BYTES, read_capped},
};

/// The Gemini API's public endpoint.
pub(crate) const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

const KIND: &str = "gemini";

/// The `gemini` provider kind.
#[derive(Debug)]
pub(crate) struct GeminiKind;

impl ProviderKind for GeminiKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn check(&self, raw: &RawProvider) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if raw.credential.is_none() {
            errors.push(ConfigError::new(
                "credential",
                "gemini providers need a credential: secret:NAME holding a Gemini API key",
            ));
        }
        for key in raw.options.iter().flat_map(|o| o.keys()) {
            errors.push(ConfigError::new(
                format!("options.{key}"),
                "gemini providers take no options",
            ));
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
        let credential = credential.ok_or_else(|| invalid("credential is missing".into()))?;
        let mut api_key = HeaderValue::try_from(credential.expose().trim())
            .map_err(|_| invalid("credential is not a valid header value".into()))?;
        api_key.set_sensitive(true);
        let mut base = match &config.base_url {
            Some(url) => url.clone(),
            None => Url::parse(DEFAULT_BASE_URL)
                .map_err(|e| invalid(format!("default base URL: {e}")))?,
        };
        // `/v1beta` is added per request; accept a base that already has it.
        let prefix = base.path().trim_end_matches('/');
        let prefix = prefix.strip_suffix("/v1beta").unwrap_or(prefix).to_owned();
        base.set_path(&prefix);
        let client = http
            .build()
            .map_err(|e| invalid(format!("cannot build HTTP client: {e}")))?;
        Ok(Arc::new(Gemini {
            base,
            api_key,
            headers: extra_headers(config)?,
            client,
        }))
    }
}

/// The provider's configured extra headers, checked.
pub(crate) fn extra_headers(
    config: &ProviderConfig,
) -> Result<Vec<(HeaderName, HeaderValue)>, BuildError> {
    let invalid = |message: String| BuildError::Invalid {
        provider: config.name.to_string(),
        message,
    };
    config
        .headers
        .iter()
        .map(|(name, value)| {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| invalid(format!("header name {name:?} is invalid")))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| invalid(format!("header {name} has an invalid value")))?;
            Ok((name, value))
        })
        .collect()
}

/// `base` + `/path`, keeping any path prefix of the base URL.
pub(crate) fn join(base: &Url, path: &str, query: Option<&str>) -> Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}{path}"));
    url.set_query(query);
    url
}

/// A configured Gemini API upstream.
struct Gemini {
    base: Url,
    api_key: HeaderValue,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: crate::http_client::HttpClient,
}

impl std::fmt::Debug for Gemini {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gemini")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Gemini {
    /// `{base}/v1beta/models/{model}:{method}`.
    fn url(&self, model: &str, method: &str, query: Option<&str>) -> Url {
        join(
            &self.base,
            &format!("/v1beta/models/{model}:{method}"),
            query,
        )
    }

    fn post(&self, url: Url) -> crate::http_client::RequestBuilder<'_> {
        let mut builder = self
            .client
            .post(url)
            .header("x-goog-api-key", self.api_key.clone());
        for (name, value) in &self.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        builder
    }
}

#[async_trait::async_trait]
impl Provider for Gemini {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        match request.operation {
            Operation::AnthropicMessages => Err(ProviderError::unsupported(
                KIND,
                "native Anthropic Messages",
            )),
            Operation::ChatCompletions => {
                let (body, context) = convert::chat_request(KIND, &request.body)?;
                let model = convert::model_segment(&context.model)?;
                let url = if request.stream {
                    self.url(model, "streamGenerateContent", Some("alt=sse"))
                } else {
                    self.url(model, "generateContent", None)
                };
                let response = post_json(self.post(url), &body, request.stream).await?;
                chat_answer(response, context, request.stream).await
            }
            Operation::Embeddings => {
                let embed = convert::embeddings_request(KIND, &request.body)?;
                let model = convert::model_segment(&embed.model)?;
                let body = convert::batch_embed_body(&embed, model);
                let url = self.url(model, "batchEmbedContents", None);
                let response = post_json(self.post(url), &body, false).await?;
                let answer = read_answer(response).await?;
                if !answer.is_success() {
                    return Ok(error_answer(&answer));
                }
                let vectors = convert::batch_embed_vectors(&answer.body)?;
                // batchEmbedContents reports no token counts.
                let body = convert::embeddings_response(&embed, vectors, 0)?;
                Ok(json_answer(answer.status, body))
            }
        }
    }
}

/// Sends `body` as JSON.
pub(crate) async fn post_json(
    builder: crate::http_client::RequestBuilder<'_>,
    body: &impl Serialize,
    stream: bool,
) -> Result<crate::http_client::Response, ProviderError> {
    let body = serde_json::to_vec(body).map_err(|e| {
        ProviderError::new(
            ProviderErrorKind::InvalidRequest,
            format!("cannot encode the upstream request: {e}"),
        )
    })?;
    builder
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::ACCEPT,
            if stream {
                "text/event-stream"
            } else {
                "application/json"
            },
        )
        .body(body)
        .send()
        .await
        .map_err(ProviderError::from_http)
}

/// A whole upstream answer.
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// The `Retry-After` header in seconds, if sent.
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Reads a whole (bounded) answer.
pub(crate) async fn read_answer(
    response: crate::http_client::Response,
) -> Result<Answer, ProviderError> {
    let status = response.status().as_u16();
    let retry_after = crate::http_client::retry_after(response.headers());
    Ok(Answer {
        status,
        retry_after,
        body: read_capped(response, MAX_RESPONSE_BYTES).await?,
    })
}

/// A complete JSON answer.
pub(crate) fn json_answer(status: u16, body: Bytes) -> UpstreamResponse {
    UpstreamResponse {
        status,
        content_type: Some("application/json".into()),
        upstream_request_id: None,
        retry_after: None,
        body: UpstreamBody::Full(body),
    }
}

/// An upstream error, its body translated to OpenAI's shape. The wait comes
/// from `Retry-After` or else from Google's `RetryInfo.retryDelay` detail.
pub(crate) fn error_answer(answer: &Answer) -> UpstreamResponse {
    UpstreamResponse {
        retry_after: answer
            .retry_after
            .or_else(|| error::retry_delay(&answer.body)),
        ..json_answer(
            answer.status,
            error::openai_error(answer.status, &answer.body),
        )
    }
}

/// Translates a `generateContent` / `streamGenerateContent` answer.
pub(crate) async fn chat_answer(
    response: crate::http_client::Response,
    context: ChatContext,
    stream: bool,
) -> Result<UpstreamResponse, ProviderError> {
    let status = response.status().as_u16();
    if stream && (200..300).contains(&status) {
        let upstream: crate::ByteStream =
            Box::pin(response.bytes_stream().map_err(ProviderError::from_http));
        return Ok(UpstreamResponse {
            status,
            content_type: Some("text/event-stream".into()),
            upstream_request_id: None,
            retry_after: None,
            body: UpstreamBody::Stream(crate::stream::translate(
                upstream,
                stream::GeminiStream::new(context),
            )),
        });
    }
    let answer = read_answer(response).await?;
    if !answer.is_success() {
        return Ok(error_answer(&answer));
    }
    Ok(json_answer(
        answer.status,
        convert::chat_response(&context, &answer.body)?,
    ))
}
