//! Compiled policies: every value validated, patterns compiled, rule ids
//! fixed. Built only by [`crate::compile`].

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use ipnet::IpNet;

use crate::content::{DenyPattern, PiiKind};

/// Whether a scope's rules refuse requests or only report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    #[default]
    Enforce,
    /// Nothing is refused; every would-be refusal is recorded and counted.
    Shadow,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Shadow => "shadow",
        }
    }

    pub fn enforced(self) -> bool {
        self == Self::Enforce
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ingress APIs a policy can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    ChatCompletions,
    Embeddings,
    AnthropicMessages,
}

impl Api {
    pub const ALL: [Api; 3] = [
        Api::ChatCompletions,
        Api::Embeddings,
        Api::AnthropicMessages,
    ];

    /// The name used in documents and request records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat_completions",
            Self::Embeddings => "embeddings",
            Self::AnthropicMessages => "anthropic_messages",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|api| api.as_str() == text)
    }
}

/// What to do when the shared counters cannot be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CounterFailure {
    /// Admit the request without counting it (availability first).
    #[default]
    Open,
    /// Refuse the request (spend control first).
    Closed,
}

impl CounterFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

/// The level of a scope, widest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Environment,
    Application,
    Key,
}

/// The request rules a scope can set (rate limits and budgets are counted
/// per scope and never override each other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    AllowedModels,
    AllowedApis,
    MaxTokens,
    MaxBodyBytes,
    SourceNetworks,
    RequiredMetadata,
    Content,
}

impl Rule {
    pub const ALL: [Rule; 7] = [
        Rule::AllowedModels,
        Rule::AllowedApis,
        Rule::MaxTokens,
        Rule::MaxBodyBytes,
        Rule::SourceNetworks,
        Rule::RequiredMetadata,
        Rule::Content,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllowedModels => "allowed_models",
            Self::AllowedApis => "allowed_apis",
            Self::MaxTokens => "max_tokens",
            Self::MaxBodyBytes => "max_body_bytes",
            Self::SourceNetworks => "source_networks",
            Self::RequiredMetadata => "required_metadata",
            Self::Content => "content",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// A model-name pattern: exact, or a prefix when written `prefix*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelPattern {
    Exact(String),
    Prefix(String),
}

impl ModelPattern {
    pub fn parse(text: &str) -> Self {
        match text.strip_suffix('*') {
            Some(prefix) => Self::Prefix(prefix.to_owned()),
            None => Self::Exact(text.to_owned()),
        }
    }

    pub fn matches(&self, model: &str) -> bool {
        match self {
            Self::Exact(m) => m == model,
            Self::Prefix(p) => model.starts_with(p.as_str()),
        }
    }
}

impl fmt::Display for ModelPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(m) => f.write_str(m),
            Self::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

/// A counted limit of one scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    RequestsPerMinute(u64),
    TokensPerMinute(u64),
    Concurrency(u64),
    /// Micro-USD per UTC day.
    UsdMicrosPerDay(u64),
    /// Micro-USD per UTC calendar month.
    UsdMicrosPerMonth(u64),
}

impl LimitKind {
    /// The rule id suffix, e.g. `rate_limit.rpm`.
    pub fn rule_suffix(self) -> &'static str {
        match self {
            Self::RequestsPerMinute(_) => "rate_limit.rpm",
            Self::TokensPerMinute(_) => "rate_limit.tpm",
            Self::Concurrency(_) => "rate_limit.concurrency",
            Self::UsdMicrosPerDay(_) => "budget.usd_per_day",
            Self::UsdMicrosPerMonth(_) => "budget.usd_per_month",
        }
    }

    /// Whether exceeding it is a budget (not a rate) refusal.
    pub fn is_budget(self) -> bool {
        matches!(self, Self::UsdMicrosPerDay(_) | Self::UsdMicrosPerMonth(_))
    }
}

/// One limit of one scope, with its rule id and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitRule {
    pub level: Level,
    /// E.g. `app/checkout.budget.usd_per_day`.
    pub rule: String,
    pub kind: LimitKind,
    pub mode: Mode,
    /// Budget fractions (permille) whose crossing emits an event.
    pub alert_at_permille: Vec<u32>,
}

/// One scope's compiled policy.
#[derive(Debug, Clone)]
pub struct ScopePolicy {
    /// `environment`, `app/checkout`, `app/*`, `key/<id>` or `key/*`: the
    /// prefix of every rule id of this scope.
    pub id: String,
    pub level: Level,
    pub mode: Mode,
    pub allowed_models: Option<Vec<ModelPattern>>,
    pub allowed_apis: Option<Vec<Api>>,
    pub max_tokens: Option<u64>,
    pub max_body_bytes: Option<u64>,
    pub source_networks: Option<Vec<IpNet>>,
    /// Lowercase header names.
    pub required_metadata: Option<Vec<String>>,
    pub deny: Vec<DenyPattern>,
    pub redact: Vec<PiiKind>,
    pub limits: Vec<LimitRule>,
    pub overridable: BTreeSet<Rule>,
}

impl ScopePolicy {
    /// Whether this scope sets `rule`.
    pub fn sets(&self, rule: Rule) -> bool {
        match rule {
            Rule::AllowedModels => self.allowed_models.is_some(),
            Rule::AllowedApis => self.allowed_apis.is_some(),
            Rule::MaxTokens => self.max_tokens.is_some(),
            Rule::MaxBodyBytes => self.max_body_bytes.is_some(),
            Rule::SourceNetworks => self.source_networks.is_some(),
            Rule::RequiredMetadata => self.required_metadata.is_some(),
            Rule::Content => !self.deny.is_empty() || !self.redact.is_empty(),
        }
    }

    /// The id of one of this scope's rules, e.g. `environment.max_tokens`.
    pub fn rule_id(&self, rule: Rule) -> String {
        format!("{}.{}", self.id, rule.as_str())
    }
}

/// An environment's policies, by scope.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    pub(crate) environment: Option<ScopePolicy>,
    pub(crate) apps: HashMap<String, ScopePolicy>,
    pub(crate) every_app: Option<ScopePolicy>,
    pub(crate) keys: HashMap<String, ScopePolicy>,
    pub(crate) every_key: Option<ScopePolicy>,
    pub(crate) on_counter_failure: CounterFailure,
}

impl PolicySet {
    /// Whether the environment has no policy at all.
    pub fn is_empty(&self) -> bool {
        self.environment.is_none()
            && self.apps.is_empty()
            && self.every_app.is_none()
            && self.keys.is_empty()
            && self.every_key.is_none()
    }

    pub fn on_counter_failure(&self) -> CounterFailure {
        self.on_counter_failure
    }

    /// Every scope policy, widest first.
    pub fn scopes(&self) -> impl Iterator<Item = &ScopePolicy> {
        let mut apps: Vec<&ScopePolicy> = self.apps.values().collect();
        apps.sort_by(|a, b| a.id.cmp(&b.id));
        let mut keys: Vec<&ScopePolicy> = self.keys.values().collect();
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        self.environment
            .iter()
            .chain(self.every_app.iter())
            .chain(apps)
            .chain(self.every_key.iter())
            .chain(keys)
    }

    /// The scopes that apply to a request of application `app` with key
    /// `key_id`, widest first: the environment's, then the application's
    /// own (else `app/*`), then the key's own (else `key/*`).
    pub fn applicable(&self, app: &str, key_id: &str) -> crate::Applicable<'_> {
        crate::Applicable::new([
            self.environment.as_ref(),
            self.apps.get(app).or(self.every_app.as_ref()),
            self.keys.get(key_id).or(self.every_key.as_ref()),
        ])
    }
}

/// A hypothetical request for `sentinel policy explain`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    /// The key id (the 16 hex digits after `snt_<env>_`), never the key.
    pub key: String,
    /// The requested model.
    pub model: String,
    /// The ingress API; `chat_completions` when absent.
    #[serde(default)]
    pub api: Option<String>,
    /// The output-token cap the request would ask for.
    #[serde(default)]
    pub tokens: Option<u64>,
    /// The body size, in bytes; 0 when absent.
    #[serde(default)]
    pub body_bytes: Option<u64>,
    /// The client's address; rules on source networks fail without one.
    #[serde(default)]
    pub source_ip: Option<std::net::IpAddr>,
    /// Names of metadata headers the request would carry.
    #[serde(default)]
    pub headers: Vec<String>,
}
