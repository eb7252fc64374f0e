//! `openai` and `openai_compatible`: the OpenAI HTTP API itself and the many
//! servers that speak it (vLLM, Ollama, Groq, Together, Mistral, DeepSeek,
//! OpenRouter, …). The request body is already in the right format, so it is
//! forwarded byte for byte; only the credential and extra headers are added.

pub(crate) mod error;

use http::{HeaderName, HeaderValue, header};
use sentinel_config::{ConfigError, ProviderConfig, RawProvider};
use url::Url;

use crate::{
    BuildError, Credential, Operation, Provider, ProviderError, ProviderKind, UpstreamBody,
    UpstreamRequest, UpstreamResponse,
    http_client::{Endpoint, HttpSettings, MAX_RESPONSE_BYTES, read_capped},
};

/// The kinds served by this module. `openai` requires a credential;
/// `openai_compatible` servers (e.g. a local vLLM) may not need one.
#[derive(Debug)]
pub(crate) struct OpenAiKind {
    pub(crate) name: &'static str,
    pub(crate) credential_required: bool,
}

impl ProviderKind for OpenAiKind {
    fn name(&self) -> &'static str {
        self.name
    }

    fn check(&self, raw: &RawProvider) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if raw.base_url.is_none() {
            errors.push(ConfigError::new(
                "base_url",
                format!(
                    "{} providers need a base_url, e.g. https://api.openai.com/v1",
                    self.name
                ),
            ));
        }
        if self.credential_required && raw.credential.is_none() {
            errors.push(ConfigError::new(
                "credential",
                format!("{} providers need a credential: secret:NAME", self.name),
            ));
        }
        if let Some(options) = &raw.options {
            for key in options.keys() {
                errors.push(ConfigError::new(
                    format!("options.{key}"),
                    format!("{} providers take no options", self.name),
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
    ) -> Result<std::sync::Arc<dyn Provider>, BuildError> {
        let invalid = |message: String| BuildError::Invalid {
            provider: config.name.to_string(),
            message,
        };
        let base_url = config
            .base_url
            .clone()
            .ok_or_else(|| invalid("base_url is missing".into()))?;
        if self.credential_required && credential.is_none() {
            return Err(invalid("credential is missing".into()));
        }
        let headers = extra_headers(config)?;
        let auth = credential
            .map(|c| sensitive_header(config, &format!("Bearer {}", c.expose())))
            .transpose()?;
        let client = http
            .build()
            .map_err(|e| invalid(format!("cannot build HTTP client: {e}")))?;
        let prepared = |url: &Url| {
            Endpoint::new(url).ok_or_else(|| invalid(format!("base_url {url} is not a valid URI")))
        };
        Ok(std::sync::Arc::new(OpenAi {
            kind: self.name,
            chat: prepared(&endpoint(&base_url, "chat/completions"))?,
            embeddings: prepared(&endpoint(&base_url, "embeddings"))?,
            auth,
            headers,
            client,
        }))
    }
}

/// `base_url` + `/path`, whether or not the base ends in a slash.
pub(crate) fn endpoint(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    url
}

struct OpenAi {
    kind: &'static str,
    chat: Endpoint,
    embeddings: Endpoint,
    auth: Option<HeaderValue>,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: crate::http_client::HttpClient,
}

impl std::fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAi")
            .field("kind", &self.kind)
            .field("chat", &self.chat.uri())
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Provider for OpenAi {
    fn kind(&self) -> &'static str {
        self.kind
    }

    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        let endpoint = match request.operation {
            Operation::ChatCompletions => &self.chat,
            Operation::Embeddings => &self.embeddings,
            Operation::AnthropicMessages => {
                return Err(ProviderError::unsupported(
                    self.kind,
                    "native Anthropic Messages",
                ));
            }
        };
        let mut builder = json_post(self.client.post_to(endpoint), &request, &self.headers);
        if let Some(auth) = &self.auth {
            builder = builder.header(header::AUTHORIZATION, auth.clone());
        }
        forward(builder, request.stream, &["x-request-id"]).await
    }
}

/// A `POST` of an OpenAI-format JSON body with the right `Accept` for a
/// stream or a complete answer, plus the provider's extra headers. The caller
/// adds its credential.
pub(crate) fn json_post<'c>(
    post: crate::http_client::RequestBuilder<'c>,
    request: &UpstreamRequest,
    extra_headers: &[(HeaderName, HeaderValue)],
) -> crate::http_client::RequestBuilder<'c> {
    let mut builder = post
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::ACCEPT,
            if request.stream {
                "text/event-stream"
            } else {
                "application/json"
            },
        )
        .body(request.body.clone());
    for (name, value) in extra_headers {
        builder = builder.header(name.clone(), value.clone());
    }
    builder
}

/// The extra headers configured for a provider, parsed once at build time.
pub(crate) fn extra_headers(
    config: &ProviderConfig,
) -> Result<Vec<(HeaderName, HeaderValue)>, BuildError> {
    let mut headers = Vec::with_capacity(config.headers.len());
    for (name, value) in &config.headers {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| invalid(config, format!("header name {name:?} is invalid")))?;
        let value = HeaderValue::try_from(value.as_str())
            .map_err(|_| invalid(config, format!("header {name} has an invalid value")))?;
        headers.push((name, value));
    }
    Ok(headers)
}

/// A header value carrying a credential: marked sensitive so it is never
/// printed, and refused (without echoing it) when it is not a valid value.
pub(crate) fn sensitive_header(
    config: &ProviderConfig,
    value: &str,
) -> Result<HeaderValue, BuildError> {
    let mut value = HeaderValue::try_from(value)
        .map_err(|_| invalid(config, "credential is not a valid header value".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

fn invalid(config: &ProviderConfig, message: String) -> BuildError {
    BuildError::Invalid {
        provider: config.name.to_string(),
        message,
    }
}

/// Sends a request whose body is already in OpenAI's format and returns the
/// answer as it came: SSE streams passed on chunk by chunk (when the client
/// asked for one and the upstream sent one), everything else read whole and
/// bounded. The upstream request id is the first of `request_id_headers`
/// present.
pub(crate) async fn forward(
    builder: crate::http_client::RequestBuilder<'_>,
    stream: bool,
    request_id_headers: &[&str],
) -> Result<UpstreamResponse, ProviderError> {
    let response = builder.send().await.map_err(ProviderError::from_http)?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let upstream_request_id = request_id_headers.iter().find_map(|name| {
        response
            .headers()
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let retry_after = crate::http_client::retry_after(response.headers());
    let is_event_stream = content_type
        .as_deref()
        .is_some_and(|t| t.starts_with("text/event-stream"));
    let body = if stream && (200..300).contains(&status) && is_event_stream {
        use futures_util::TryStreamExt;
        UpstreamBody::Stream(Box::pin(
            response.bytes_stream().map_err(ProviderError::from_http),
        ))
    } else {
        UpstreamBody::Full(read_capped(response, MAX_RESPONSE_BYTES).await?)
    };
    Ok(UpstreamResponse {
        status,
        content_type,
        upstream_request_id,
        retry_after,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_join_with_and_without_slash() {
        for base in ["https://api.openai.com/v1", "https://api.openai.com/v1/"] {
            let base = Url::parse(base).unwrap();
            assert_eq!(
                endpoint(&base, "chat/completions").as_str(),
                "https://api.openai.com/v1/chat/completions"
            );
        }
        let root = Url::parse("http://10.0.0.5:8000").unwrap();
        assert_eq!(
            endpoint(&root, "embeddings").as_str(),
            "http://10.0.0.5:8000/embeddings"
        );
    }
}
