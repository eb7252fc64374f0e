//! Validated alert rules and destinations (`alerts:` and
//! `alert_destinations:` of an environment document; see `docs/alerts.md`).
//!
//! Invariants: every rule names existing destinations; thresholds are in the
//! range their signal allows; destination URLs and HMAC keys that come from
//! stored secrets are held as [`SecretRef`]s, never as values.

use sentinel_core::Name;
use url::Url;

use crate::env::SecretRef;

/// What an alert rule measures, over its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Share of requests answered with a 5xx status.
    ErrorRate,
    /// Share of requests answered `504 upstream_timeout`.
    TimeoutRate,
    /// Share of upstream attempts that failed (server error, timeout,
    /// connection error, broken response).
    ProviderErrorRate,
    /// Endpoints whose circuit was seen open (an attempt skipped as
    /// `circuit_open`).
    BreakerOpen,
    /// The highest budget alert threshold crossed (a fraction of the budget).
    BudgetThreshold,
    /// Requests refused by policy, rate limits or budgets (a count).
    PolicyDenials,
    /// Share of requests refused by policy, rate limits or budgets.
    PolicyDenialRate,
    /// Request latency percentiles, in milliseconds.
    LatencyP50,
    LatencyP95,
    LatencyP99,
}

impl Signal {
    /// Every signal with its name in documents.
    pub const ALL: [(Signal, &'static str); 10] = [
        (Self::ErrorRate, "error_rate"),
        (Self::TimeoutRate, "timeout_rate"),
        (Self::ProviderErrorRate, "provider_error_rate"),
        (Self::BreakerOpen, "breaker_open"),
        (Self::BudgetThreshold, "budget_threshold"),
        (Self::PolicyDenials, "policy_denials"),
        (Self::PolicyDenialRate, "policy_denial_rate"),
        (Self::LatencyP50, "latency_p50"),
        (Self::LatencyP95, "latency_p95"),
        (Self::LatencyP99, "latency_p99"),
    ];

    /// The signal called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(s, _)| *s)
    }

    /// The signal's name in documents.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("unknown", |(_, n)| n)
    }

    /// Whether the value is a share of requests or attempts, in `[0, 1]`.
    pub fn is_rate(self) -> bool {
        matches!(
            self,
            Self::ErrorRate | Self::TimeoutRate | Self::ProviderErrorRate | Self::PolicyDenialRate
        )
    }

    /// Whether `min_requests` applies (rates and percentiles).
    pub fn needs_min_requests(self) -> bool {
        self.is_rate() || matches!(self, Self::LatencyP50 | Self::LatencyP95 | Self::LatencyP99)
    }

    /// Whether `provider:` may narrow the signal.
    pub fn takes_provider(self) -> bool {
        matches!(self, Self::ProviderErrorRate | Self::BreakerOpen)
    }
}

/// A validated alert rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// The rule's name, unique in the environment.
    pub name: Name,
    pub signal: Signal,
    /// The rule fires when the signal's value is above this (for
    /// `budget_threshold`: at or above).
    pub above: f64,
    /// The window the signal is measured over, in seconds.
    pub for_s: u64,
    /// Requests (attempts, for `provider_error_rate`) the window must hold
    /// before a rate or percentile counts; fewer means "not firing".
    pub min_requests: u64,
    /// Only this provider, when set.
    pub provider: Option<Name>,
    /// Destination names, each defined under `alert_destinations`.
    pub notify: Vec<Name>,
}

/// How an alert is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationKind {
    /// POST of a JSON body, HMAC-signed when the destination has a secret.
    Webhook,
    /// POST of a Slack incoming-webhook message (`{"text": …}`).
    Slack,
}

impl DestinationKind {
    /// The kind's name in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Slack => "slack",
        }
    }
}

/// Where a destination's URL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationUrl {
    /// Written in the document (checked: http or https, safe host).
    Literal(Url),
    /// A stored secret holds it (Slack URLs embed a token); checked when
    /// the alert is sent.
    Secret(SecretRef),
}

/// A validated alert destination.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertDestination {
    pub name: Name,
    pub kind: DestinationKind,
    pub url: DestinationUrl,
    /// The HMAC-SHA256 key of webhook signatures.
    pub secret: Option<SecretRef>,
    /// Loopback, private, link-local and metadata addresses are allowed.
    pub allow_private_network: bool,
    /// Plain http is allowed in a protected environment.
    pub allow_http: bool,
}

/// An environment's alerting: rules in document order, destinations by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alerts {
    pub rules: Vec<AlertRule>,
    pub destinations: std::collections::BTreeMap<Name, AlertDestination>,
}
