//! Policies: the rules an environment, an application or a key puts on
//! requests (allowed models and APIs, token caps, body size, source
//! networks, required metadata, content rules) and the limits it counts
//! (rate limits and budgets), as written in the `policies:` section of an
//! environment document, compiled, and checked against requests.
//!
//! - [`document`]: the section as written (serde types).
//! - [`compile()`]: validation with field paths → [`PolicySet`].
//! - [`PolicySet::applicable`] → [`Applicable`]: the scopes for one request,
//!   with the precedence rules (see [`evaluate`]) and the checks.
//! - [`content`]: deny patterns and PII / secret redaction.
//!
//! This crate does no I/O and keeps no counters: the limits it lists are
//! counted by `sentinel-limits`, and the gateway wires the two together.

mod compile;
pub mod content;
pub mod document;
pub mod evaluate;
mod model;

pub use compile::{Issue, MAX_BUDGET_USD, MAX_DENY_PATTERNS, compile, usd};
pub use content::PiiKind;
pub use document::{RawBudget, RawContent, RawDenyPattern, RawPolicy, RawRateLimit};
pub use evaluate::{Applicable, Check, ContentOutcome, Finding, Redaction, Refusal, RequestFacts};
pub use model::{
    Api, CounterFailure, ExplainQuery, Level, LimitKind, LimitRule, Mode, ModelPattern, PolicySet,
    Rule, ScopePolicy,
};

#[cfg(test)]
mod tests;
