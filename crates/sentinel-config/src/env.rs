//! The validated environment config: what [`crate::compile`] produces and
//! the gateway builds its snapshot from. Every value here has passed every
//! rule; names are [`Name`]s, URLs are parsed, references resolve.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;

use sentinel_core::{Name, Price};
use serde_json::{Map, Value};
use url::Url;

use crate::alert::Alerts;

/// A validated environment config: providers and route plans by name, an
/// index from requested model name to route plan, and the environment's
/// prices by upstream model name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvConfig {
    providers: BTreeMap<Name, ProviderConfig>,
    route_plans: BTreeMap<Name, RoutePlan>,
    by_model: HashMap<String, Name>,
    prices: BTreeMap<String, Price>,
    policies: Policies,
    retention: Retention,
    alerts: Alerts,
    rollout: Rollout,
}

/// A staged rollout of an environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollout {
    /// The applications served; `None`: every application.
    pub open_to: Option<Vec<Name>>,
}

/// A changed version of a route plan, served first to some applications
/// and a share of the others' requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Canary {
    /// Per mille of requests from other applications the canary serves.
    pub share_permille: u32,
    /// Applications the canary always serves.
    pub applications: Vec<Name>,
    pub strategy: Strategy,
    pub targets: Vec<Target>,
    pub retry: RetryPolicy,
    pub timeouts: Timeouts,
    pub breaker: sentinel_core::breaker::BreakerParams,
}

/// How long an environment's data is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Days request records are kept; `None`: forever.
    pub requests_days: Option<u32>,
    /// What is kept of request and response bodies.
    pub bodies: sentinel_core::BodyMode,
    /// Days bodies are kept (never more than `requests_days`); `None`:
    /// forever.
    pub bodies_days: Option<u32>,
    /// Days the environment's audit events are kept once exported; `None`:
    /// forever.
    pub audit_days: Option<u32>,
    /// Audit events past `audit_days` are pruned even if never exported.
    pub audit_prune_unexported: bool,
}

/// An environment's compiled policies. Two are equal when they were
/// compiled from equal documents.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    raw: BTreeMap<String, sentinel_policy::RawPolicy>,
    compiled: Arc<sentinel_policy::PolicySet>,
}

impl Policies {
    pub(crate) fn new(
        raw: BTreeMap<String, sentinel_policy::RawPolicy>,
        compiled: sentinel_policy::PolicySet,
    ) -> Self {
        Self {
            raw,
            compiled: Arc::new(compiled),
        }
    }

    /// The compiled set, shared.
    pub fn set(&self) -> &Arc<sentinel_policy::PolicySet> {
        &self.compiled
    }

    /// The section as written.
    pub fn raw(&self) -> &BTreeMap<String, sentinel_policy::RawPolicy> {
        &self.raw
    }
}

impl PartialEq for Policies {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl EnvConfig {
    /// Builds the config and its model index. Only [`crate::compile`] calls
    /// this, after checking that no model is served twice and every target
    /// names a provider.
    pub(crate) fn new(
        providers: BTreeMap<Name, ProviderConfig>,
        route_plans: BTreeMap<Name, RoutePlan>,
        prices: BTreeMap<String, Price>,
        policies: Policies,
        retention: Retention,
    ) -> Self {
        let by_model = route_plans
            .values()
            .flat_map(|plan| plan.models.iter().map(|m| (m.clone(), plan.name.clone())))
            .collect();
        Self {
            providers,
            route_plans,
            by_model,
            prices,
            policies,
            retention,
            alerts: Alerts::default(),
            rollout: Rollout::default(),
        }
    }

    /// The same config with its alert rules and destinations.
    pub(crate) fn with_alerts(mut self, alerts: Alerts) -> Self {
        self.alerts = alerts;
        self
    }

    /// The environment's alert rules and destinations.
    pub fn alerts(&self) -> &Alerts {
        &self.alerts
    }

    /// How long the environment's data is kept.
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// The environment's staged rollout (open to every application when
    /// the document has none).
    pub fn rollout(&self) -> &Rollout {
        &self.rollout
    }

    pub(crate) fn with_rollout(mut self, rollout: Rollout) -> Self {
        self.rollout = rollout;
        self
    }

    /// The environment's policies.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// The environment's own prices, by upstream model name.
    pub fn prices(&self) -> &BTreeMap<String, Price> {
        &self.prices
    }

    /// The environment's price for an upstream model (exact name match);
    /// it overrides Sentinel's built-in price.
    pub fn price(&self, upstream_model: &str) -> Option<Price> {
        self.prices.get(upstream_model).copied()
    }

    /// Providers by name.
    pub fn providers(&self) -> &BTreeMap<Name, ProviderConfig> {
        &self.providers
    }

    /// Route plans by name.
    pub fn route_plans(&self) -> &BTreeMap<Name, RoutePlan> {
        &self.route_plans
    }

    /// The provider called `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        Name::parse(name).ok().and_then(|n| self.providers.get(&n))
    }

    /// The route plan called `name`.
    pub fn route_plan(&self, name: &str) -> Option<&RoutePlan> {
        Name::parse(name)
            .ok()
            .and_then(|n| self.route_plans.get(&n))
    }

    /// The route plan that serves the requested model name (exact match).
    pub fn route_for_model(&self, model: &str) -> Option<&RoutePlan> {
        self.by_model
            .get(model)
            .and_then(|plan| self.route_plans.get(plan))
    }

    /// Every requested model name some route plan serves, sorted.
    pub fn models(&self) -> Vec<&str> {
        let mut models: Vec<&str> = self.by_model.keys().map(String::as_str).collect();
        models.sort_unstable();
        models
    }
}

/// A reference to a stored secret of the environment, written `secret:NAME`.
/// Holds the name only, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretRef(pub Name);

impl SecretRef {
    /// The secret's name.
    pub fn name(&self) -> &Name {
        &self.0
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "secret:{}", self.0)
    }
}

/// A validated provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderConfig {
    /// The provider's name.
    pub name: Name,
    /// Its kind, known to the catalog, e.g. `openai`.
    pub kind: String,
    /// The base URL: http or https, no userinfo, query or fragment, and
    /// passing the endpoint-safety rules for this provider's allowances.
    pub base_url: Option<Url>,
    /// The credential, if any.
    pub credential: Option<SecretRef>,
    /// Loopback, private, link-local and metadata addresses are allowed.
    pub allow_private_network: bool,
    /// Plain http is allowed in a protected environment.
    pub allow_http: bool,
    /// Extra headers sent upstream: valid, lowercase names that are neither
    /// credentials nor hop-by-hop, and valid values.
    pub headers: Vec<(String, String)>,
    /// Kind-specific options, already checked by the catalog.
    pub options: Map<String, Value>,
}

/// How a route plan uses its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// Try targets in order; the next one when an attempt fails.
    #[default]
    Fallback,
    /// Pick the first target by weight; the others follow as fallbacks.
    Weighted,
}

/// An outcome class of an upstream attempt that may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryOn {
    /// HTTP 429.
    RateLimited,
    /// HTTP 5xx (and 529), or a stream that broke before its first byte.
    ServerError,
    /// No answer in time.
    Timeout,
    /// No connection.
    ConnectError,
}

impl RetryOn {
    /// Every class with its name in documents.
    pub const ALL: [(RetryOn, &'static str); 4] = [
        (Self::RateLimited, "rate_limited"),
        (Self::ServerError, "server_error"),
        (Self::Timeout, "timeout"),
        (Self::ConnectError, "connect_error"),
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(c, _)| *c)
    }
}

/// How a route plan retries.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per request across all targets (≥ 1).
    pub max_attempts: u32,
    pub backoff: sentinel_core::retry::Backoff,
    pub retry_after_cap_ms: u64,
    pub on: Vec<RetryOn>,
    pub budget_ratio: f64,
}

impl RetryPolicy {
    pub fn retries(&self, class: RetryOn) -> bool {
        self.on.contains(&class)
    }
}

/// Time limits of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect_ms: u64,
    /// Until the response headers (and, for streams, the first chunk).
    pub first_byte_ms: u64,
    /// The whole request, streams included, from the first attempt.
    pub total_ms: u64,
    /// Longest silence between two stream chunks.
    pub stream_idle_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect_ms: 5_000,
            first_byte_ms: 60_000,
            total_ms: 600_000,
            stream_idle_ms: 60_000,
        }
    }
}

/// A validated route plan.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutePlan {
    /// The plan's name.
    pub name: Name,
    /// The requested model names it serves (no other plan serves them).
    pub models: Vec<String>,
    /// How targets are used.
    pub strategy: Strategy,
    /// Where requests go, in order (1 to 16, no duplicates).
    pub targets: Vec<Target>,
    pub retry: RetryPolicy,
    pub timeouts: Timeouts,
    pub breaker: sentinel_core::breaker::BreakerParams,
    /// A changed version of the plan in staged rollout, if any.
    pub canary: Option<Canary>,
}

/// One target of a route plan: a provider and the model sent upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// A provider defined in the same environment.
    pub provider: Name,
    /// The upstream model name.
    pub model: String,
    /// Relative weight for weighted strategies.
    pub weight: NonZeroU32,
}
