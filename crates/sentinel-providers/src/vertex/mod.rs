//! `vertex`: Gemini models on Google Cloud Vertex AI.
//!
//! Chat completions go to `POST {base}/v1/projects/{project}/locations/
//! {location}/publishers/google/models/{model}:generateContent`
//! (`:streamGenerateContent?alt=sse` for streams) with the Gemini API's
//! translation (`gemini::convert`, `gemini::stream`); embeddings go to
//! `:predict` (text-embedding models). The base is
//! `https://{location}-aiplatform.googleapis.com` (`https://aiplatform.googleapis.com`
//! for location `global`) unless `base_url` overrides it.
//!
//! Options: `project` and `location` (required), `token_url` (default
//! `https://oauth2.googleapis.com/token`). The credential is a
//! service-account key file (JSON with `client_email`, `private_key` as
//! PKCS#8 PEM, `private_key_id`); Sentinel mints OAuth2 access tokens from it
//! (see [`token`]). The key file's own `token_uri` is not used, so a secret
//! cannot send signed assertions to another host.

mod convert;
mod token;

use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use sentinel_config::{
    ConfigError, ProviderConfig, RawProvider, is_forbidden_host_name, is_forbidden_ip,
};
use serde_json::{Map, Value};
use url::{Host, Url};

use self::token::{DEFAULT_TOKEN_URL, ServiceAccount, TokenSource};
use crate::{
    BuildError, Credential, HttpSettings, Operation, Provider, ProviderError, ProviderKind,
    UpstreamRequest, UpstreamResponse,
    gemini::{self, convert as gconvert},
};

const KIND: &str = "vertex";

/// The `vertex` provider kind.
#[derive(Debug)]
pub(crate) struct VertexKind;

/// Parsed `vertex` options.
#[derive(Debug, Clone, PartialEq)]
struct VertexOptions {
    project: String,
    location: String,
    token_url: Option<Url>,
}

impl VertexOptions {
    fn parse(
        options: Option<&Map<String, Value>>,
        allow_private_network: bool,
    ) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut project = None;
        let mut location = None;
        let mut token_url = None;
        for (key, value) in options.into_iter().flatten() {
            let path = format!("options.{key}");
            let text = value.as_str();
            match key.as_str() {
                "project" => match text.filter(|p| valid_project(p)) {
                    Some(p) => project = Some(p.to_owned()),
                    None => errors.push(ConfigError::new(
                        path,
                        "must be a Google Cloud project id (lowercase letters, digits, '-', e.g. my-project-123)",
                    )),
                },
                "location" => match text.filter(|l| valid_location(l)) {
                    Some(l) => location = Some(l.to_owned()),
                    None => errors.push(ConfigError::new(
                        path,
                        "must be a Vertex AI location such as us-central1, europe-west4 or global",
                    )),
                },
                "token_url" => match text.map(|t| check_token_url(t, allow_private_network)) {
                    Some(Ok(url)) => token_url = Some(url),
                    Some(Err(message)) => errors.push(ConfigError::new(path, message)),
                    None => errors.push(ConfigError::new(path, "must be a URL string")),
                },
                _ => errors.push(ConfigError::new(
                    path,
                    "unknown vertex option; known: project, location, token_url",
                )),
            }
        }
        if project.is_none() && !errors.iter().any(|e| e.path == "options.project") {
            errors.push(ConfigError::new(
                "options.project",
                "vertex providers need options.project (the Google Cloud project id)",
            ));
        }
        if location.is_none() && !errors.iter().any(|e| e.path == "options.location") {
            errors.push(ConfigError::new(
                "options.location",
                "vertex providers need options.location, e.g. us-central1",
            ));
        }
        match (project, location) {
            (Some(project), Some(location)) if errors.is_empty() => Ok(Self {
                project,
                location,
                token_url,
            }),
            _ => Err(errors),
        }
    }
}

fn valid_project(p: &str) -> bool {
    // Project ids, including legacy domain-scoped ones (`example.com:proj`).
    (1..=100).contains(&p.len())
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | ':'))
}

fn valid_location(l: &str) -> bool {
    (1..=64).contains(&l.len())
        && l.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The token endpoint receives signed assertions: the same rules as a base
/// URL (http(s), no credentials, query or fragment, no private address
/// unless the provider allows private networks).
fn check_token_url(text: &str, allow_private_network: bool) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an https (or http) URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query string or fragment".into());
    }
    if !allow_private_network {
        let refused = match url.host() {
            Some(Host::Domain(name)) => is_forbidden_host_name(name),
            Some(Host::Ipv4(ip)) => is_forbidden_ip(ip.into()),
            Some(Host::Ipv6(ip)) => is_forbidden_ip(ip.into()),
            None => Some("missing"),
        };
        if let Some(rule) = refused {
            return Err(format!(
                "host is {rule}; set allow_private_network: true to allow it"
            ));
        }
    }
    Ok(url)
}

impl ProviderKind for VertexKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn check(&self, raw: &RawProvider) -> Vec<ConfigError> {
        let mut errors = VertexOptions::parse(raw.options.as_ref(), raw.allow_private_network)
            .err()
            .unwrap_or_default();
        if raw.credential.is_none() {
            errors.push(ConfigError::new(
                "credential",
                "vertex providers need a credential: secret:NAME holding a service-account key file (JSON)",
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
        let options = VertexOptions::parse(Some(&config.options), config.allow_private_network)
            .map_err(|errors| {
                invalid(
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
        let credential = credential.ok_or_else(|| invalid("credential is missing".into()))?;
        let account = ServiceAccount::parse(credential.expose()).map_err(invalid)?;
        let token_url = match options.token_url {
            Some(url) => url,
            None => Url::parse(DEFAULT_TOKEN_URL)
                .map_err(|e| invalid(format!("default token URL: {e}")))?,
        };
        let base = match &config.base_url {
            Some(url) => url.clone(),
            None => {
                let host = if options.location == "global" {
                    "aiplatform.googleapis.com".to_owned()
                } else {
                    format!("{}-aiplatform.googleapis.com", options.location)
                };
                Url::parse(&format!("https://{host}"))
                    .map_err(|e| invalid(format!("base URL for the location: {e}")))?
            }
        };
        let client = http
            .build()
            .map_err(|e| invalid(format!("cannot build HTTP client: {e}")))?;
        Ok(Arc::new(Vertex {
            model_prefix: format!(
                "/v1/projects/{}/locations/{}/publishers/google/models",
                options.project, options.location
            ),
            base,
            tokens: TokenSource::new(account, token_url, client.clone()),
            headers: gemini::extra_headers(config)?,
            client,
        }))
    }
}

/// A configured Vertex AI upstream.
struct Vertex {
    base: Url,
    /// `/v1/projects/{project}/locations/{location}/publishers/google/models`.
    model_prefix: String,
    tokens: TokenSource,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: crate::http_client::HttpClient,
}

impl std::fmt::Debug for Vertex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vertex")
            .field("base", &self.base.as_str())
            .field("model_prefix", &self.model_prefix)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl Vertex {
    async fn post(
        &self,
        model: &str,
        method: &str,
        stream: bool,
    ) -> Result<crate::http_client::RequestBuilder<'_>, ProviderError> {
        let url = gemini::join(
            &self.base,
            &format!("{}/{model}:{method}", self.model_prefix),
            stream.then_some("alt=sse"),
        );
        let mut builder = self
            .client
            .post(url)
            .header(http::header::AUTHORIZATION, self.tokens.bearer().await?);
        for (name, value) in &self.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        Ok(builder)
    }

    /// A 401 means the cached token is no longer accepted: mint a new one
    /// next time.
    fn observe(&self, status: u16) {
        if status == 401 {
            self.tokens.invalidate();
        }
    }
}

#[async_trait::async_trait]
impl Provider for Vertex {
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
                let (body, context) = gconvert::chat_request(KIND, &request.body)?;
                let model = gconvert::model_segment(&context.model)?;
                let method = if request.stream {
                    "streamGenerateContent"
                } else {
                    "generateContent"
                };
                let builder = self.post(model, method, request.stream).await?;
                let response = gemini::post_json(builder, &body, request.stream).await?;
                self.observe(response.status().as_u16());
                gemini::chat_answer(response, context, request.stream).await
            }
            Operation::Embeddings => {
                let embed = gconvert::embeddings_request(KIND, &request.body)?;
                let model = gconvert::model_segment(&embed.model)?;
                let body = convert::predict_request(&embed);
                let builder = self.post(model, "predict", false).await?;
                let response = gemini::post_json(builder, &body, false).await?;
                let answer = gemini::read_answer(response).await?;
                self.observe(answer.status);
                if !answer.is_success() {
                    return Ok(gemini::error_answer(&answer));
                }
                let (vectors, tokens) = convert::predict_vectors(&answer.body)?;
                let body = gconvert::embeddings_response(&embed, vectors, tokens)?;
                Ok(gemini::json_answer(answer.status, body))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn options(value: Value) -> Result<VertexOptions, Vec<String>> {
        VertexOptions::parse(value.as_object(), false)
            .map_err(|errors| errors.iter().map(|e| e.path.clone()).collect())
    }

    #[test]
    fn options_are_checked_with_their_paths() {
        assert!(options(json!({"project": "my-proj", "location": "us-central1"})).is_ok());
        assert_eq!(
            options(json!({})).unwrap_err(),
            vec!["options.project", "options.location"]
        );
        assert_eq!(
            options(json!({"project": "My Proj", "location": "us-central1", "zone": 1}))
                .unwrap_err(),
            vec!["options.project", "options.zone"]
        );
        assert_eq!(
            options(json!({"project": "p", "location": "l",
                "token_url": "http://127.0.0.1:9/token"}))
            .unwrap_err(),
            vec!["options.token_url"]
        );
        assert!(
            VertexOptions::parse(
                json!({"project": "p", "location": "l", "token_url": "http://127.0.0.1:9/token"})
                    .as_object(),
                true
            )
            .is_ok()
        );
    }
}
