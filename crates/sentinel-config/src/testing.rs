//! A small [`ProviderCatalog`] for tests in this and other crates, so they can
//! compile documents without the real provider registry.

use crate::compile::{CompileContext, ProviderCatalog};
use crate::document::RawProvider;
use crate::error::ConfigError;

/// Knows `openai` (base_url and credential required), `openai_compatible`
/// (base_url required) and `mock` (no base_url; option `latency_ms`, an
/// integer).
#[derive(Debug, Clone, Copy, Default)]
pub struct TestCatalog;

impl ProviderCatalog for TestCatalog {
    fn kinds(&self) -> Vec<&'static str> {
        vec!["mock", "openai", "openai_compatible"]
    }

    fn check(&self, kind: &str, provider: &RawProvider) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        match kind {
            "mock" => {
                if provider.base_url.is_some() {
                    errors.push(ConfigError::new(
                        "base_url",
                        "mock providers take no base_url",
                    ));
                }
                for (key, value) in provider.options.iter().flatten() {
                    match key.as_str() {
                        "latency_ms" if value.is_u64() => {}
                        "latency_ms" => errors.push(ConfigError::new(
                            "options.latency_ms",
                            "must be a whole number of milliseconds",
                        )),
                        _ => errors
                            .push(ConfigError::new(format!("options.{key}"), "unknown option")),
                    }
                }
            }
            _ => {
                if provider.base_url.is_none() {
                    errors.push(ConfigError::new("base_url", "a base_url is required"));
                }
                if kind == "openai" && provider.credential.is_none() {
                    errors.push(ConfigError::new("credential", "a credential is required"));
                }
            }
        }
        errors
    }
}

/// Secrets that exist in the test environment: any name starting with
/// `openai` or equal to `key`.
pub fn test_secret_exists(name: &str) -> bool {
    name.starts_with("openai") || name == "key"
}

/// A context over [`TestCatalog`] and [`test_secret_exists`].
pub fn test_context(protected: bool) -> CompileContext<'static> {
    CompileContext {
        catalog: &TestCatalog,
        protected,
        secret_exists: &test_secret_exists,
    }
}
