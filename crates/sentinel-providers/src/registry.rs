//! Provider kinds by name. The only place that lists the vendors.

use std::{fmt, sync::Arc};

use sentinel_config::{ConfigError, ProviderCatalog, ProviderConfig, RawProvider};
use sentinel_core::Price;

use crate::{
    BuildError, Credential, HttpSettings, Provider, anthropic::AnthropicKind,
    azure::AzureOpenAiKind, bedrock::BedrockKind, gemini::GeminiKind, mock::MockKind,
    openai::OpenAiKind, vertex::VertexKind,
};

/// A provider kind: validates its configuration and builds providers.
pub trait ProviderKind: Send + Sync + fmt::Debug {
    /// The `kind:` value in the environment document.
    fn name(&self) -> &'static str;

    /// Kind-specific checks of a provider's raw configuration; paths are
    /// relative to the provider (e.g. `options.latency_ms`).
    fn check(&self, raw: &RawProvider) -> Vec<ConfigError>;

    /// Builds a ready provider (with its own HTTP client) from validated
    /// configuration and its resolved credential.
    fn build(
        &self,
        config: &ProviderConfig,
        credential: Option<Credential>,
        http: &HttpSettings,
    ) -> Result<Arc<dyn Provider>, BuildError>;

    /// The built-in list price of an upstream model on this kind, if known
    /// (the table in `prices.rs`); `None` means no cost is recorded for it
    /// unless the environment sets a price.
    fn price(&self, upstream_model: &str) -> Option<Price> {
        crate::prices::builtin(self.name(), upstream_model)
    }
}

/// Maps kind names to their factories.
#[derive(Debug)]
pub struct ProviderRegistry {
    kinds: Vec<Box<dyn ProviderKind>>,
}

impl ProviderRegistry {
    /// Every kind Sentinel ships with.
    pub fn standard() -> Self {
        Self {
            kinds: vec![
                Box::new(OpenAiKind {
                    name: "openai",
                    credential_required: true,
                }),
                Box::new(OpenAiKind {
                    name: "openai_compatible",
                    credential_required: false,
                }),
                Box::new(AnthropicKind),
                Box::new(AzureOpenAiKind),
                Box::new(BedrockKind),
                Box::new(GeminiKind),
                Box::new(VertexKind),
                Box::new(MockKind),
            ],
        }
    }

    fn get(&self, kind: &str) -> Option<&dyn ProviderKind> {
        self.kinds
            .iter()
            .find(|k| k.name() == kind)
            .map(|k| k.as_ref())
    }

    /// Builds the provider described by `config`.
    pub fn build(
        &self,
        config: &ProviderConfig,
        credential: Option<Credential>,
        http: &HttpSettings,
    ) -> Result<Arc<dyn Provider>, BuildError> {
        self.get(&config.kind)
            .ok_or_else(|| BuildError::UnknownKind(config.kind.clone()))?
            .build(config, credential, http)
    }
}

impl ProviderRegistry {
    /// The built-in price of `upstream_model` on a provider of kind `kind`;
    /// `None` for unknown kinds and models.
    pub fn price(&self, kind: &str, upstream_model: &str) -> Option<Price> {
        self.get(kind)?.price(upstream_model)
    }
}

impl ProviderCatalog for ProviderRegistry {
    fn kinds(&self) -> Vec<&'static str> {
        self.kinds.iter().map(|k| k.name()).collect()
    }

    fn check(&self, kind: &str, provider: &RawProvider) -> Vec<ConfigError> {
        self.get(kind)
            .map(|k| k.check(provider))
            .unwrap_or_default()
    }
}
