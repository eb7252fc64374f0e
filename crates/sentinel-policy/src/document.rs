//! The `policies:` section of an environment document as written: plain
//! serde types that mirror the YAML one to one. Meaning is judged by
//! [`crate::compile`].

use sentinel_core::price::DecimalText;
use serde::{Deserialize, Serialize};

/// One scope's policy as written, under `policies.<scope>` where scope is
/// `environment`, `app/<name>`, `app/*`, `key/<key id>` or `key/*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// `enforce` (the default) or `shadow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Requested model names this scope may use; `prefix*` matches a prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_models: Option<Vec<String>>,
    /// Ingress APIs this scope may call: `chat_completions`, `embeddings`,
    /// `anthropic_messages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_apis: Option<Vec<String>>,
    /// The largest output-token cap a request may ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// The largest request body, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<u64>,
    /// Client networks allowed to call, as CIDRs (`10.0.0.0/8`) or addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_networks: Option<Vec<String>>,
    /// Request headers that must be present and non-empty, e.g.
    /// `x-end-user-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_metadata: Option<Vec<String>>,
    /// Deny patterns and redaction of the prompt's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<RawContent>,
    /// Requests per minute, tokens per minute and requests in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RawRateLimit>,
    /// Money per UTC day and calendar month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<RawBudget>,
    /// `open` (the default) or `closed`: what happens when shared counters
    /// (Redis) cannot be reached. Environment scope only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_counter_failure: Option<String>,
    /// Rules that narrower scopes may replace (and so loosen) instead of
    /// only tightening.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overridable: Option<Vec<String>>,
}

/// `content:` of a policy as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawContent {
    /// Requests whose text matches one of these are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<Vec<RawDenyPattern>>,
    /// Kinds of personal data and secrets replaced before forwarding:
    /// `email`, `phone`, `card`, `secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redact: Option<Vec<String>>,
}

/// One deny pattern as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDenyPattern {
    /// Names the rule in denials, e.g. `no-project-names`.
    pub id: String,
    /// A regular expression (Rust `regex` syntax, linear time).
    pub pattern: String,
    /// What the client is told; a generic message when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `rate_limit:` of a policy as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u64>,
}

/// `budget:` of a policy as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBudget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_day: Option<DecimalText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_month: Option<DecimalText>,
    /// Fractions of each budget whose crossing emits an event, e.g.
    /// `[0.8, 1.0]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_at: Option<Vec<DecimalText>>,
}
