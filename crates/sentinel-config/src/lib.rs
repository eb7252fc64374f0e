//! Sentinel's configuration, parsed and validated: the per-environment
//! config document (YAML: providers, route plans, prices, policies and
//! alert rules, SPEC §8) and the server
//! config file (TOML, with `SENTINEL_*` environment overrides).
//!
//! Raw serde types ([`RawEnvDocument`], [`ServerConfig`]'s file form) go in;
//! validated types ([`EnvConfig`]) come out of one [`compile`] that reports
//! *every* problem, each with its field path and, for parse errors, its line.
//! The same `compile` serves `sentinel config plan`, the admin dry run and
//! applying a change, so a document that passes once passes everywhere.
//!
//! This crate does no network and no database access, and knows no vendor:
//! provider kinds come in through the [`ProviderCatalog`] trait, which the
//! provider registry implements. Endpoint safety here covers what a URL says
//! (IP literals and special host names); connect-time DNS checks live in the
//! provider HTTP client and reuse [`is_forbidden_ip`].
//!
//! Invariants: YAML duplicate keys, unknown fields and unsupported tags are
//! errors, never silently resolved; input size and alias expansion are
//! bounded; secret values never appear here, only `secret:NAME` references.

mod alert;
mod compile;
mod document;
mod env;
mod error;
mod promote;
mod safety;
mod server;
pub mod testing;

pub use alert::{AlertDestination, AlertRule, Alerts, DestinationKind, DestinationUrl, Signal};
pub use compile::{
    CompileContext, MAX_MODEL_NAME_CHARS, MAX_RETENTION_DAYS, ProviderCatalog, compile, compile_raw,
};
pub use document::{
    MAX_DOCUMENT_BYTES, RawAlertCondition, RawAlertDestination, RawAlertRule, RawCanary,
    RawCircuitBreaker, RawDecimal, RawEnvDocument, RawPrice, RawProvider, RawRetention, RawRetry,
    RawRollout, RawRoutePlan, RawTarget, RawTimeouts, parse_document,
};
pub use env::{
    Canary, EnvConfig, Policies, ProviderConfig, Retention, RetryOn, RetryPolicy, Rollout,
    RoutePlan, SecretRef, Strategy, Target, Timeouts,
};
pub use error::{ConfigError, ConfigErrors, ConfigWarning, SourceLocation};
pub use promote::{
    DEFAULT_PROMOTED_SECTIONS, MissingReference, PROMOTABLE_SECTIONS, Promoted, parse_sections,
    promote,
};
pub use safety::{is_forbidden_host_name, is_forbidden_ip};
pub use server::{
    DEFAULT_DOCS_BASE_URL, ENV_VARS, LogFormat, ServerConfig, TlsCertConfig, redact_url,
};
