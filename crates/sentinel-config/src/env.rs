//! The validated environment config: what [`crate::compile`] produces and
//! the gateway builds its snapshot from. Every value here has passed every
//! rule; names are [`Name`]s, URLs are parsed, references resolve.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::num::NonZeroU32;

use sentinel_core::Name;
use serde_json::{Map, Value};
use url::Url;

/// A validated environment config: providers and route plans by name, plus an
/// index from requested model name to route plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvConfig {
    providers: BTreeMap<Name, ProviderConfig>,
    route_plans: BTreeMap<Name, RoutePlan>,
    by_model: HashMap<String, Name>,
}

impl EnvConfig {
    /// Builds the config and its model index. Only [`crate::compile`] calls
    /// this, after checking that no model is served twice and every target
    /// names a provider.
    pub(crate) fn new(
        providers: BTreeMap<Name, ProviderConfig>,
        route_plans: BTreeMap<Name, RoutePlan>,
    ) -> Self {
        let by_model = route_plans
            .values()
            .flat_map(|plan| plan.models.iter().map(|m| (m.clone(), plan.name.clone())))
            .collect();
        Self {
            providers,
            route_plans,
            by_model,
        }
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
    /// Where requests go, in order. Exactly one for now.
    pub targets: Vec<Target>,
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
