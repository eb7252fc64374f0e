//! `bedrock`: models on Amazon Bedrock through the Converse API.
//!
//! - Chat: `POST {endpoint}/model/{modelId}/converse`, or
//!   `/converse-stream` when the client streams; `endpoint` is
//!   `https://bedrock-runtime.{options.region}.amazonaws.com` unless
//!   `base_url` overrides it (tests, VPC endpoints). The model id (the
//!   target's upstream model: a model id, inference-profile id or ARN) is one
//!   URI-encoded path segment.
//! - Auth: AWS Signature Version 4 (service `bedrock`), from a credential
//!   secret holding `{"access_key_id", "secret_access_key", "session_token"?}`
//!   checked when the provider is built.
//! - Translation: [`convert`] (request and response), [`stream`] (the binary
//!   event stream, decoded by [`eventstream`]), [`error`] (error answers).
//! - Embeddings are refused: Bedrock's embedding models (Titan, Cohere) each
//!   take their own InvokeModel body with different batching and input
//!   rules, so OpenAI's `/v1/embeddings` cannot be mapped faithfully.

pub(crate) mod convert;
mod error;
mod eventstream;
pub(crate) mod sigv4;
pub(crate) mod stream;
pub(crate) mod wire;

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, header};
use sentinel_config::{ConfigError, ProviderConfig, RawProvider};
use serde_json::{Map, Value};
use url::Url;

use self::{
    sigv4::{AwsCredentials, RequestToSign},
    stream::ConverseStreamTranslator,
    wire::ConverseResponse,
};
use crate::{
    BuildError, Credential, HttpSettings, Operation, Provider, ProviderError, ProviderErrorKind,
    ProviderKind, UpstreamBody, UpstreamRequest, UpstreamResponse,
    chat::ChatRequest,
    http_client::{MAX_RESPONSE_BYTES, read_capped},
    openai::{endpoint, extra_headers},
};

const KIND: &str = "bedrock";
const SERVICE: &str = "bedrock";

/// The `bedrock` kind.
#[derive(Debug)]
pub(crate) struct BedrockKind;

/// Reads options: `region` (required). Returns one error per bad field.
fn parse_options(options: Option<&Map<String, Value>>) -> Result<String, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut region = None;
    for (key, value) in options.into_iter().flatten() {
        match key.as_str() {
            "region" => match value.as_str() {
                Some(r) if is_region(r) => region = Some(r.to_owned()),
                _ => errors.push(ConfigError::new(
                    "options.region",
                    "must be an AWS region name, e.g. us-east-1",
                )),
            },
            _ => errors.push(ConfigError::new(
                format!("options.{key}"),
                "unknown bedrock option; known: region",
            )),
        }
    }
    match region {
        Some(region) if errors.is_empty() => Ok(region),
        Some(_) => Err(errors),
        None => {
            if !errors.iter().any(|e| e.path == "options.region") {
                errors.push(ConfigError::new(
                    "options.region",
                    "bedrock providers need a region, e.g. us-east-1",
                ));
            }
            Err(errors)
        }
    }
}

fn is_region(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl ProviderKind for BedrockKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn check(&self, raw: &RawProvider) -> Vec<ConfigError> {
        let mut errors = parse_options(raw.options.as_ref())
            .err()
            .unwrap_or_default();
        if raw.credential.is_none() {
            errors.push(ConfigError::new(
                "credential",
                "bedrock providers need a credential: secret:NAME holding {\"access_key_id\", \"secret_access_key\", \"session_token\" (optional)}",
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
        let region = parse_options(Some(&config.options)).map_err(|errors| {
            invalid(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let credential = credential.ok_or_else(|| invalid("credential is missing".into()))?;
        let credentials = AwsCredentials::from_secret(credential.expose()).map_err(invalid)?;
        let base_url = match &config.base_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("https://bedrock-runtime.{region}.amazonaws.com"))
                .map_err(|e| invalid(format!("cannot form the regional endpoint: {e}")))?,
        };
        let host = match (base_url.host_str(), base_url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(invalid("base_url has no host".into())),
        };
        let client = http
            .build()
            .map_err(|e| invalid(format!("cannot build HTTP client: {e}")))?;
        Ok(Arc::new(Bedrock {
            base_url,
            host,
            region,
            credentials,
            headers: extra_headers(config)?,
            client,
        }))
    }
}

struct Bedrock {
    base_url: Url,
    /// The `host` header value, as signed.
    host: String,
    region: String,
    credentials: AwsCredentials,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: crate::http_client::HttpClient,
}

impl std::fmt::Debug for Bedrock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bedrock")
            .field("base_url", &self.base_url.as_str())
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Bedrock {
    /// `{base}/model/{modelId}/{action}`, the model id encoded per SigV4
    /// (so `:` and `/` in ids and ARNs stay inside one segment).
    fn url(&self, model: &str, action: &str) -> Url {
        endpoint(
            &self.base_url,
            &format!("model/{}/{action}", sigv4::uri_encode(model.as_bytes())),
        )
    }

    /// Headers for a signed `POST` of `body` to `url` at `now`.
    fn signed_headers(
        &self,
        url: &Url,
        body: &[u8],
        now: time::OffsetDateTime,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, ProviderError> {
        let amz_date = sigv4::amz_date(now);
        let payload_hash = sigv4::sha256_hex(body);
        let mut signed = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("host".to_owned(), self.host.clone()),
            ("x-amz-content-sha256".to_owned(), payload_hash.clone()),
            ("x-amz-date".to_owned(), amz_date.clone()),
        ];
        if let Some(token) = &self.credentials.session_token {
            signed.push(("x-amz-security-token".to_owned(), token.clone()));
        }
        let signature = sigv4::sign(
            &self.credentials,
            &self.region,
            SERVICE,
            &amz_date,
            &RequestToSign {
                method: "POST",
                path: url.path(),
                query: url.query().unwrap_or(""),
                headers: &signed,
                payload_hash: &payload_hash,
            },
        );
        let header_error = || {
            ProviderError::new(
                ProviderErrorKind::InvalidRequest,
                "cannot form signed headers",
            )
        };
        let mut headers = Vec::with_capacity(signed.len() + 1);
        // hyper sets `host` itself from the URL, to the same value.
        for (name, value) in signed.into_iter().filter(|(n, _)| n != "host") {
            let mut value = HeaderValue::try_from(value).map_err(|_| header_error())?;
            if name == "x-amz-security-token" {
                value.set_sensitive(true);
            }
            headers.push((
                HeaderName::try_from(name).map_err(|_| header_error())?,
                value,
            ));
        }
        let mut authorization =
            HeaderValue::try_from(signature.authorization).map_err(|_| header_error())?;
        authorization.set_sensitive(true);
        headers.push((header::AUTHORIZATION, authorization));
        Ok(headers)
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[async_trait::async_trait]
impl Provider for Bedrock {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        match request.operation {
            Operation::ChatCompletions => {}
            Operation::Embeddings => return Err(ProviderError::unsupported(KIND, "embeddings")),
            Operation::AnthropicMessages => {
                return Err(ProviderError::unsupported(
                    KIND,
                    "native Anthropic Messages",
                ));
            }
        }
        let chat: ChatRequest = serde_json::from_slice(&request.body).map_err(|e| {
            ProviderError::new(
                ProviderErrorKind::InvalidRequest,
                format!("not a valid chat completions request: {e}"),
            )
        })?;
        let converse = convert::to_converse(&chat)?;
        let body = serde_json::to_vec(&converse).map_err(|e| {
            ProviderError::new(
                ProviderErrorKind::InvalidRequest,
                format!("cannot encode the Converse request: {e}"),
            )
        })?;
        let stream = request.stream;
        let url = self.url(
            &chat.model,
            if stream {
                "converse-stream"
            } else {
                "converse"
            },
        );
        let mut builder = self.client.post(url.clone()).header(
            header::ACCEPT,
            if stream {
                "application/vnd.amazon.eventstream"
            } else {
                "application/json"
            },
        );
        for (name, value) in &self.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        for (name, value) in self.signed_headers(&url, &body, time::OffsetDateTime::now_utc())? {
            builder = builder.header(name, value);
        }
        let response = builder
            .body(body)
            .send()
            .await
            .map_err(ProviderError::from_http)?;

        let status = response.status().as_u16();
        let header_text = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let upstream_request_id = header_text("x-amzn-requestid");
        let retry_after = crate::http_client::retry_after(response.headers());
        let id = format!(
            "chatcmpl-{}",
            upstream_request_id
                .clone()
                .unwrap_or_else(|| format!("bedrock-{}", now_unix()))
        );
        let created = now_unix();
        if !(200..300).contains(&status) {
            let error_type = header_text("x-amzn-errortype");
            let body = read_capped(response, MAX_RESPONSE_BYTES).await?;
            return Ok(UpstreamResponse {
                status,
                content_type: Some("application/json".into()),
                upstream_request_id,
                retry_after,
                body: UpstreamBody::Full(error::to_openai(status, error_type.as_deref(), &body)),
            });
        }
        if stream {
            use futures_util::TryStreamExt;
            let translator = ConverseStreamTranslator::new(
                id,
                created,
                chat.model.clone(),
                chat.include_usage(),
            );
            let upstream = Box::pin(response.bytes_stream().map_err(ProviderError::from_http));
            return Ok(UpstreamResponse {
                status,
                content_type: Some("text/event-stream".into()),
                upstream_request_id,
                retry_after,
                body: UpstreamBody::Stream(crate::stream::translate(upstream, translator)),
            });
        }
        let body = read_capped(response, MAX_RESPONSE_BYTES).await?;
        let converse: ConverseResponse = serde_json::from_slice(&body).map_err(|e| {
            ProviderError::new(
                ProviderErrorKind::Protocol,
                format!("bedrock answered an invalid Converse response: {e}"),
            )
        })?;
        let answer = convert::from_converse(converse, id, created, chat.model);
        let json = serde_json::to_vec(&answer).map_err(|e| {
            ProviderError::new(
                ProviderErrorKind::Protocol,
                format!("cannot encode the chat completion: {e}"),
            )
        })?;
        Ok(UpstreamResponse {
            status,
            content_type: Some("application/json".into()),
            upstream_request_id,
            retry_after,
            body: UpstreamBody::Full(Bytes::from(json)),
        })
    }
}

#[cfg(test)]
mod tests;
