//! `azure_openai`: OpenAI models deployed in an Azure OpenAI (or Azure AI
//! Foundry) resource. The request body is already in OpenAI's format, so it
//! is forwarded byte for byte, like `openai`; what differs is the address and
//! the credential:
//!
//! - `POST {base_url}/openai/deployments/{deployment}/chat/completions?api-version={api_version}`
//!   (and `/embeddings`), where `base_url` is the resource endpoint
//!   (`https://NAME.openai.azure.com`) and `deployment` is
//!   `options.deployments[upstream model]`, else the upstream model itself;
//! - `api-key: <credential>` by default, or `Authorization: Bearer
//!   <credential>` with `options.auth: entra` (the secret is then a Microsoft
//!   Entra access token).
//!
//! Successful answers pass through untouched, Azure's additions included
//! (`prompt_filter_results`, per-choice `content_filter_results`, and
//! `finish_reason: content_filter`). Error answers keep their status and are
//! reshaped into OpenAI's error body (see [`error`]).

mod error;

use std::{collections::BTreeMap, sync::Arc};

use http::{HeaderName, HeaderValue};
use sentinel_config::{ConfigError, ProviderConfig, RawProvider};
use serde_json::{Map, Value};
use url::Url;

use crate::{
    BuildError, Credential, HttpSettings, Operation, Provider, ProviderError, ProviderErrorKind,
    ProviderKind, UpstreamBody, UpstreamRequest, UpstreamResponse,
    openai::{extra_headers, forward, json_post, sensitive_header},
};

/// The `azure_openai` kind.
#[derive(Debug)]
pub(crate) struct AzureOpenAiKind;

const KIND: &str = "azure_openai";

/// How the credential is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// `api-key: <key>` (the resource's key).
    ApiKey,
    /// `Authorization: Bearer <token>` (a Microsoft Entra access token).
    Entra,
}

/// Parsed `azure_openai` options.
#[derive(Debug, Clone, PartialEq)]
struct AzureOptions {
    api_version: String,
    deployments: BTreeMap<String, String>,
    auth: Auth,
}

impl AzureOptions {
    /// Reads options, returning one error per bad field.
    fn parse(options: Option<&Map<String, Value>>) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut api_version = None;
        let mut deployments = BTreeMap::new();
        let mut auth = Auth::ApiKey;
        for (key, value) in options.into_iter().flatten() {
            let path = format!("options.{key}");
            match key.as_str() {
                "api_version" => match value.as_str() {
                    Some(v) if is_api_version(v) => api_version = Some(v.to_owned()),
                    _ => errors.push(ConfigError::new(
                        path,
                        "must be an Azure OpenAI API version string, e.g. 2024-10-21",
                    )),
                },
                "deployments" => match value.as_object() {
                    Some(map) => {
                        for (model, deployment) in map {
                            match deployment.as_str() {
                                Some(d) if is_deployment_name(d) => {
                                    deployments.insert(model.clone(), d.to_owned());
                                }
                                _ => errors.push(ConfigError::new(
                                    format!("{path}.{model}"),
                                    "must be a deployment name (letters, digits, '-', '_', '.')",
                                )),
                            }
                        }
                    }
                    None => errors.push(ConfigError::new(
                        path,
                        "must be a map of upstream model name to deployment name",
                    )),
                },
                "auth" => match value.as_str() {
                    Some("api_key") => auth = Auth::ApiKey,
                    Some("entra") => auth = Auth::Entra,
                    _ => errors.push(ConfigError::new(path, "must be api_key or entra")),
                },
                _ => errors.push(ConfigError::new(
                    path,
                    "unknown azure_openai option; known: api_version, deployments, auth",
                )),
            }
        }
        let Some(api_version) = api_version else {
            if !errors.iter().any(|e| e.path == "options.api_version") {
                errors.push(ConfigError::new(
                    "options.api_version",
                    "azure_openai providers need an api_version, e.g. 2024-10-21",
                ));
            }
            return Err(errors);
        };
        if errors.is_empty() {
            Ok(Self {
                api_version,
                deployments,
                auth,
            })
        } else {
            Err(errors)
        }
    }
}

/// `2024-10-21`, `2025-04-01-preview`, or `v1`/`latest`-style values: short,
/// and only characters that need no escaping in a query string.
fn is_api_version(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn is_deployment_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl ProviderKind for AzureOpenAiKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn check(&self, raw: &RawProvider) -> Vec<ConfigError> {
        let mut errors = AzureOptions::parse(raw.options.as_ref())
            .err()
            .unwrap_or_default();
        if raw.base_url.is_none() {
            errors.push(ConfigError::new(
                "base_url",
                "azure_openai providers need a base_url: the resource endpoint, e.g. https://NAME.openai.azure.com",
            ));
        }
        if raw.credential.is_none() {
            errors.push(ConfigError::new(
                "credential",
                "azure_openai providers need a credential: secret:NAME (an API key, or an Entra token with auth: entra)",
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
        let options = AzureOptions::parse(Some(&config.options)).map_err(|errors| {
            invalid(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let base_url = config
            .base_url
            .clone()
            .ok_or_else(|| invalid("base_url is missing".into()))?;
        if base_url.cannot_be_a_base() {
            return Err(invalid("base_url cannot be a base URL".into()));
        }
        let credential = credential.ok_or_else(|| invalid("credential is missing".into()))?;
        let auth = match options.auth {
            Auth::ApiKey => (
                HeaderName::from_static("api-key"),
                sensitive_header(config, credential.expose())?,
            ),
            Auth::Entra => (
                http::header::AUTHORIZATION,
                sensitive_header(config, &format!("Bearer {}", credential.expose()))?,
            ),
        };
        let client = http
            .build()
            .map_err(|e| invalid(format!("cannot build HTTP client: {e}")))?;
        Ok(Arc::new(AzureOpenAi {
            base_url,
            options,
            auth,
            headers: extra_headers(config)?,
            client,
        }))
    }
}

struct AzureOpenAi {
    base_url: Url,
    options: AzureOptions,
    auth: (HeaderName, HeaderValue),
    headers: Vec<(HeaderName, HeaderValue)>,
    client: crate::http_client::HttpClient,
}

impl std::fmt::Debug for AzureOpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureOpenAi")
            .field("base_url", &self.base_url.as_str())
            .field("api_version", &self.options.api_version)
            .finish_non_exhaustive()
    }
}

impl AzureOpenAi {
    /// The deployment serving `model`: the configured mapping, else the
    /// model name itself.
    fn deployment<'a>(&'a self, model: &'a str) -> &'a str {
        self.options
            .deployments
            .get(model)
            .map_or(model, String::as_str)
    }

    /// `{base}/openai/deployments/{deployment}/{operation}?api-version=…`,
    /// the deployment escaped as one path segment.
    fn url(&self, deployment: &str, operation: Operation) -> Url {
        let mut url = self.base_url.clone();
        let tail: &[&str] = match operation {
            Operation::ChatCompletions => &["chat", "completions"],
            Operation::Embeddings => &["embeddings"],
            // Refused in `send` before a URL is built.
            Operation::AnthropicMessages => &[],
        };
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(["openai", "deployments", deployment])
                .extend(tail);
        }
        url.query_pairs_mut()
            .clear()
            .append_pair("api-version", &self.options.api_version);
        url
    }
}

/// The `model` of an OpenAI request body, the only field Azure routing reads.
fn model_of(body: &[u8]) -> Result<String, ProviderError> {
    #[derive(serde::Deserialize)]
    struct Model {
        model: String,
    }
    serde_json::from_slice::<Model>(body)
        .map(|m| m.model)
        .map_err(|_| {
            ProviderError::new(
                ProviderErrorKind::InvalidRequest,
                "the request body has no model string",
            )
        })
}

#[async_trait::async_trait]
impl Provider for AzureOpenAi {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        if request.operation == Operation::AnthropicMessages {
            return Err(ProviderError::unsupported(
                KIND,
                "native Anthropic Messages",
            ));
        }
        let model = model_of(&request.body)?;
        let url = self.url(self.deployment(&model), request.operation);
        let builder = json_post(self.client.post(url), &request, &self.headers)
            .header(self.auth.0.clone(), self.auth.1.clone());
        let mut response = forward(
            builder,
            request.stream,
            &["apim-request-id", "x-request-id", "x-ms-request-id"],
        )
        .await?;
        if !(200..300).contains(&response.status)
            && let UpstreamBody::Full(body) = &response.body
        {
            response.body = UpstreamBody::Full(error::to_openai(response.status, body));
            response.content_type = Some("application/json".into());
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests;
