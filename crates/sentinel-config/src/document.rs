//! The environment document as written (SPEC §8): plain serde types that
//! mirror the YAML one to one, and the hardened YAML reader that fills them.
//!
//! Nothing here judges meaning (names, URLs, references); that is
//! [`crate::compile`]'s job, which reports every problem at once. The reader
//! only refuses what cannot be represented: bad YAML, wrong types, unknown
//! fields and duplicate keys. A document that says the same key twice could
//! be read two ways by two tools, so it is refused rather than resolved.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use serde_saphyr::MessageFormatter;

use crate::error::{ConfigError, ConfigErrors};

/// The largest environment document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// A per-environment config document as written, before validation.
///
/// Stored revisions keep the document text; this is what it parses into, and
/// what [`crate::compile_raw`] validates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvDocument {
    /// Upstreams by provider name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub providers: BTreeMap<String, RawProvider>,
    /// Route plans by route plan name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub route_plans: BTreeMap<String, RawRoutePlan>,
    /// Prices by upstream model name; they override the built-in table.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub prices: BTreeMap<String, RawPrice>,
    /// Policies by scope: `environment`, `app/<name>`, `app/*`,
    /// `key/<key id>`, `key/*`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub policies: BTreeMap<String, sentinel_policy::RawPolicy>,
    /// How long this environment's data is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RawRetention>,
    /// Alert rules, evaluated in the background (see `docs/alerts.md`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub alerts: Vec<RawAlertRule>,
    /// Where alerts are sent, by destination name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub alert_destinations: BTreeMap<String, RawAlertDestination>,
    /// A staged rollout of the environment to its applications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RawRollout>,
}

/// `rollout:` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRollout {
    /// The applications the environment serves; others are refused with
    /// `environment_not_open`. Absent: open to every application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_to: Option<Vec<String>>,
}

/// `canary:` of a route plan as written: a changed version of the plan
/// that serves some applications, or a share of the traffic, first. Fields
/// left out are the plan's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCanary {
    /// Share of requests (0 to 1) from applications not listed below that
    /// the canary serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// Applications whose requests the canary always serves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    pub targets: Vec<RawTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RawRetry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<RawTimeouts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<RawCircuitBreaker>,
}

/// `retention:` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    /// Days request records are kept; forever when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_days: Option<u32>,
    /// What is kept of request and response bodies: `off` (the default),
    /// `redacted` or `full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bodies: Option<String>,
    /// Days bodies are kept; `requests_days` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bodies_days: Option<u32>,
    /// Days audit events of this environment are kept once exported;
    /// forever when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_days: Option<u32>,
    /// Prune audit events past `audit_days` even when no export has covered
    /// them. Off by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_prune_unexported: Option<bool>,
}

/// One alert rule as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertRule {
    /// The rule's name, unique in the document.
    pub name: String,
    /// The condition.
    pub when: RawAlertCondition,
    /// Destinations: `NAME` or `KIND:NAME` (e.g. `webhook:ops`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub notify: Vec<String>,
}

/// `when:` of an alert rule as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertCondition {
    /// What is measured, e.g. `error_rate`.
    pub signal: String,
    /// The threshold the signal must pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    /// The window, in seconds, the signal is measured over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_s: Option<u64>,
    /// Requests the window must hold before a rate or percentile counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<u64>,
    /// Only this provider (`provider_error_rate`, `breaker_open`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// One alert destination as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertDestination {
    /// `webhook` or `slack`.
    pub kind: String,
    /// The URL, or `secret:NAME` naming a stored secret holding it.
    pub url: String,
    /// `secret:NAME`: the HMAC key signing webhook bodies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Allow loopback, private, link-local and metadata addresses.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_private_network: bool,
    /// Allow plain `http` in a protected environment.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_http: bool,
}

/// The price of one upstream model as written, in USD per million tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrice {
    /// USD per million prompt (input) tokens.
    pub input_per_mtok: RawDecimal,
    /// USD per million completion (output) tokens.
    pub output_per_mtok: RawDecimal,
}

pub use sentinel_core::price::DecimalText as RawDecimal;

/// One provider as written. Provider kinds inspect this in
/// [`crate::ProviderCatalog::check`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    /// The provider kind, e.g. `openai`; must be known to the catalog.
    pub kind: String,
    /// The upstream's base URL, e.g. `https://api.openai.com/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// `secret:NAME`, naming a stored secret of this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// Allow loopback, private, link-local and metadata addresses.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_private_network: bool,
    /// Allow plain `http` in a protected environment.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_http: bool,
    /// Extra headers sent upstream with every request.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub headers: BTreeMap<String, String>,
    /// Kind-specific options, checked by the catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Map<String, Value>>,
}

/// One route plan as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoutePlan {
    /// The requested model names this plan serves.
    pub models: Vec<String>,
    /// How targets are tried: `fallback` (in order, the default) or
    /// `weighted` (first pick by weight, the others as fallbacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Where requests go.
    pub targets: Vec<RawTarget>,
    /// When and how failed attempts are retried or fall back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RawRetry>,
    /// Time limits for each attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<RawTimeouts>,
    /// When an endpoint (provider + upstream model) is taken out of rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<RawCircuitBreaker>,
    /// A changed version of this plan, staged to some applications or a
    /// share of traffic before it replaces the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<RawCanary>,
}

impl RawRoutePlan {
    /// The plan's targets and its canary's.
    pub fn all_targets(&self) -> impl Iterator<Item = &RawTarget> {
        self.targets
            .iter()
            .chain(self.canary.iter().flat_map(|c| c.targets.iter()))
    }
}

/// `retry:` of a route plan as written; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Attempts per request across all targets, the first included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Base of the exponential backoff between attempts on the same target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_ms: Option<u64>,
    /// Largest backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff_ms: Option<u64>,
    /// Longest upstream `Retry-After` honoured; longer ones end the retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_cap_ms: Option<u64>,
    /// Outcome classes that are retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<Vec<String>>,
    /// Extra attempts allowed by retries, as a share of requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_ratio: Option<f64>,
}

/// `timeouts:` of a route plan as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_byte_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_idle_ms: Option<u64>,
}

/// `circuit_breaker:` of a route plan as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCircuitBreaker {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_open_probes: Option<u32>,
}

/// One target of a route plan as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// A provider name from `providers`.
    pub provider: String,
    /// The model name sent upstream.
    pub model: String,
    /// Relative weight (≥ 1) for weighted strategies; 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `providers:` with nothing after it is YAML null; read it as empty.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reader settings: strict where YAML is surprising, bounded everywhere.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        // `yes`/`no`/`on`/`off` are strings, not booleans (the Norway problem).
        strict_booleans: true,
        // A `!secret` or `!include` tag would otherwise be silently dropped.
        reject_unsupported_tags: true,
        reject_tagged_field_names: true,
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: Some(MAX_DOCUMENT_BYTES),
            max_documents: 1,
            max_depth: 32,
            max_nodes: 100_000,
            max_events: 300_000,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_merge_keys: 1_000,
            max_total_scalar_bytes: 2 * MAX_DOCUMENT_BYTES,
            max_recorded_anchor_events: 100_000,
            max_recorded_anchor_bytes: 2 * MAX_DOCUMENT_BYTES,
        },
        // Alias bombs: a handful of aliases can otherwise expand exponentially.
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 100_000,
            max_replay_stack_depth: 16,
            max_alias_expansions_per_anchor: 1_000,
        },
    }
}

/// Reads an environment document. An empty document (or one with only
/// comments) is an empty config. On failure the error names the field path
/// and, when known, the line and column.
pub fn parse_document(text: &str) -> Result<RawEnvDocument, ConfigErrors> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(ConfigErrors::single(ConfigError::new(
            "",
            format!(
                "the document is {} bytes; the limit is {MAX_DOCUMENT_BYTES} bytes",
                text.len()
            ),
        )));
    }
    let mut path = String::new();
    let parsed =
        serde_saphyr::with_deserializer_from_str_with_options(text, yaml_options(), |de| {
            serde_path_to_error::deserialize::<_, Option<RawEnvDocument>>(de).map_err(|e| {
                path = e.path().to_string();
                e.into_inner()
            })
        });
    match parsed {
        Ok(doc) => Ok(doc.unwrap_or_default()),
        Err(err) => Err(ConfigErrors::single(yaml_error(&path, &err))),
    }
}

/// Turns a YAML error into a [`ConfigError`] with a clean path and message.
fn yaml_error(path: &str, err: &serde_saphyr::Error) -> ConfigError {
    let mut inner = err;
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = inner
    {
        inner = error;
    }
    // serde_path_to_error writes `.` for the root and `?` for a segment it
    // could not name (the key of a duplicate entry).
    let mut path = path.trim_end_matches('?').trim_end_matches('.').to_owned();
    if path == "." {
        path.clear();
    }
    let message = match inner {
        serde_saphyr::Error::DuplicateMappingKey { key: Some(key), .. } => {
            path = crate::error::join_path(&path, key);
            "this key appears more than once in the same mapping; keep one".to_owned()
        }
        serde_saphyr::Error::DuplicateMappingKey { key: None, .. } => {
            "a key appears more than once in this mapping; keep one".to_owned()
        }
        serde_saphyr::Error::MultipleDocuments { .. }
        | serde_saphyr::Error::Budget {
            breach: serde_saphyr::budget::BudgetBreach::Documents { .. },
            ..
        } => "an environment document is a single YAML document; remove the `---` separator"
            .to_owned(),
        serde_saphyr::Error::Unexpected {
            expected: "mapping start",
            ..
        } => "expected a mapping (`key: value` lines or `{ key: value }`)".to_owned(),
        serde_saphyr::Error::Unexpected {
            expected: "sequence start",
            ..
        } => "expected a list (`- item` lines or `[item, item]`)".to_owned(),
        other => {
            let text = serde_saphyr::UserMessageFormatter.format_message(other);
            text.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect()
        }
    };
    let error = ConfigError::new(path, message);
    match err.location() {
        Some(loc) => error.at(loc.line(), loc.column()),
        None => error,
    }
}
