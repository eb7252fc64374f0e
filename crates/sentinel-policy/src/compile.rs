//! `policies:` as written → [`PolicySet`]. Every problem is reported, each
//! with its field path under `policies.`; looser values in narrower scopes
//! that cannot take effect are warnings, so an operator learns that an
//! application's `max_tokens: 8000` is capped by the environment's 4096.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use regex::RegexBuilder;
use sentinel_core::price::{DecimalText, parse_usd_micros};

use crate::content::{DenyPattern, PiiKind};
use crate::document::{RawBudget, RawContent, RawPolicy};
use crate::model::{
    Api, CounterFailure, Level, LimitKind, LimitRule, Mode, ModelPattern, PolicySet, Rule,
    ScopePolicy,
};

/// A problem at a field path (relative to the document root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub path: String,
    pub message: String,
}

impl Issue {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The largest budget accepted, in USD.
pub const MAX_BUDGET_USD: u64 = 100_000_000;
/// The most deny patterns per scope.
pub const MAX_DENY_PATTERNS: usize = 64;
/// The largest compiled deny pattern, in bytes of automaton.
const MAX_PATTERN_SIZE: usize = 1 << 20;

/// Compiles the `policies:` section. Returns the set and its warnings, or
/// every error.
pub fn compile(raw: &BTreeMap<String, RawPolicy>) -> Result<(PolicySet, Vec<Issue>), Vec<Issue>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut set = PolicySet::default();
    for (scope, policy) in raw {
        let at = format!("policies.{scope}");
        let Some((level, name)) = parse_scope(scope) else {
            errors.push(Issue::new(
                &at,
                "unknown scope; use `environment`, `app/<application name>`, `app/*`, `key/<key id>` or `key/*`",
            ));
            continue;
        };
        if level != Level::Environment && policy.on_counter_failure.is_some() {
            errors.push(Issue::new(
                format!("{at}.on_counter_failure"),
                "only the `environment` policy decides what happens when counters fail",
            ));
        }
        let Some(compiled) = compile_scope(scope, level, policy, &at, &mut errors) else {
            continue;
        };
        match (level, name) {
            (Level::Environment, _) => {
                set.on_counter_failure = match policy.on_counter_failure.as_deref() {
                    None | Some("open") => CounterFailure::Open,
                    Some("closed") => CounterFailure::Closed,
                    Some(other) => {
                        errors.push(Issue::new(
                            format!("{at}.on_counter_failure"),
                            format!("{other:?} is not a choice; use `open` or `closed`"),
                        ));
                        CounterFailure::Open
                    }
                };
                set.environment = Some(compiled);
            }
            (Level::Application, None) => set.every_app = Some(compiled),
            (Level::Application, Some(app)) => {
                set.apps.insert(app.to_owned(), compiled);
            }
            (Level::Key, None) => set.every_key = Some(compiled),
            (Level::Key, Some(key)) => {
                set.keys.insert(key.to_owned(), compiled);
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    looser_than_allowed(&set, &mut warnings);
    Ok((set, warnings))
}

/// `environment` | `app/NAME` | `app/*` | `key/ID` | `key/*` → level and
/// name (`None` for `*`).
fn parse_scope(scope: &str) -> Option<(Level, Option<&str>)> {
    if scope == "environment" {
        return Some((Level::Environment, None));
    }
    let (level, rest) = if let Some(rest) = scope.strip_prefix("app/") {
        (Level::Application, rest)
    } else if let Some(rest) = scope.strip_prefix("key/") {
        (Level::Key, rest)
    } else {
        return None;
    };
    if rest == "*" {
        return Some((level, None));
    }
    let valid = match level {
        Level::Key => rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_hexdigit()),
        _ => sentinel_core::Name::parse(rest).is_ok(),
    };
    valid.then_some((level, Some(rest)))
}

fn compile_scope(
    scope: &str,
    level: Level,
    raw: &RawPolicy,
    at: &str,
    errors: &mut Vec<Issue>,
) -> Option<ScopePolicy> {
    let before = errors.len();
    let mode = match raw.mode.as_deref() {
        None | Some("enforce") => Mode::Enforce,
        Some("shadow") => Mode::Shadow,
        Some(other) => {
            errors.push(Issue::new(
                format!("{at}.mode"),
                format!("{other:?} is not a mode; use `enforce` or `shadow`"),
            ));
            Mode::Enforce
        }
    };
    let allowed_models = raw.allowed_models.as_ref().map(|models| {
        models
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                if m.is_empty() || m == "*" || m.chars().any(char::is_control) {
                    errors.push(Issue::new(
                        format!("{at}.allowed_models[{i}]"),
                        "a model name, or a prefix ending in `*`; omit the rule to allow every model",
                    ));
                    return None;
                }
                Some(ModelPattern::parse(m))
            })
            .collect()
    });
    let allowed_apis = raw.allowed_apis.as_ref().map(|apis| {
        apis.iter()
            .enumerate()
            .filter_map(|(i, a)| {
                Api::parse(a).or_else(|| {
                    errors.push(Issue::new(
                        format!("{at}.allowed_apis[{i}]"),
                        format!(
                            "unknown API {a:?}; use chat_completions, embeddings or anthropic_messages"
                        ),
                    ));
                    None
                })
            })
            .collect()
    });
    let mut positive = |field: &str, value: Option<u64>| {
        if value == Some(0) {
            errors.push(Issue::new(
                format!("{at}.{field}"),
                "must be at least 1; omit it for no limit",
            ));
        }
        value
    };
    let max_tokens = positive("max_tokens", raw.max_tokens);
    let max_body_bytes = positive("max_body_bytes", raw.max_body_bytes);
    let source_networks = raw.source_networks.as_ref().map(|nets| {
        nets.iter()
            .enumerate()
            .filter_map(|(i, n)| {
                parse_network(n).or_else(|| {
                    errors.push(Issue::new(
                        format!("{at}.source_networks[{i}]"),
                        format!(
                            "{n:?} is not a network; write a CIDR like 10.0.0.0/8 or an address"
                        ),
                    ));
                    None
                })
            })
            .collect()
    });
    let required_metadata = raw.required_metadata.as_ref().map(|headers| {
        headers
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let lower = h.to_ascii_lowercase();
                let valid = !lower.is_empty()
                    && lower
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !valid {
                    errors.push(Issue::new(
                        format!("{at}.required_metadata[{i}]"),
                        format!("{h:?} is not a header name (letters, digits, `-` and `_`)"),
                    ));
                    return None;
                }
                if matches!(lower.as_str(), "authorization" | "x-api-key" | "cookie") {
                    errors.push(Issue::new(
                        format!("{at}.required_metadata[{i}]"),
                        "credentials are not request metadata",
                    ));
                    return None;
                }
                Some(lower)
            })
            .collect()
    });
    let (deny, redact) = raw
        .content
        .as_ref()
        .map(|c| compile_content(c, &format!("{at}.content"), errors))
        .unwrap_or_default();
    let overridable = raw
        .overridable
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, r)| {
            Rule::parse(r).or_else(|| {
                let known: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
                errors.push(Issue::new(
                    format!("{at}.overridable[{i}]"),
                    format!("unknown rule {r:?}; rules: {}", known.join(", ")),
                ));
                None
            })
        })
        .collect::<BTreeSet<_>>();
    if level == Level::Key && !overridable.is_empty() {
        errors.push(Issue::new(
            format!("{at}.overridable"),
            "a key is the narrowest scope; nothing below it could override",
        ));
    }
    let mut limits = Vec::new();
    if let Some(rate) = &raw.rate_limit {
        for (field, value, kind) in [
            (
                "rpm",
                rate.rpm,
                LimitKind::RequestsPerMinute as fn(u64) -> LimitKind,
            ),
            ("tpm", rate.tpm, LimitKind::TokensPerMinute),
            ("concurrency", rate.concurrency, LimitKind::Concurrency),
        ] {
            match value {
                Some(0) => errors.push(Issue::new(
                    format!("{at}.rate_limit.{field}"),
                    "must be at least 1; omit it for no limit",
                )),
                Some(n) => limits.push(limit_rule(scope, level, mode, kind(n), Vec::new())),
                None => {}
            }
        }
    }
    if let Some(budget) = &raw.budget {
        compile_budget(scope, level, mode, budget, at, errors, &mut limits);
    }
    if errors.len() > before {
        return None;
    }
    Some(ScopePolicy {
        id: scope.to_owned(),
        level,
        mode,
        allowed_models,
        allowed_apis,
        max_tokens,
        max_body_bytes,
        source_networks,
        required_metadata,
        deny,
        redact,
        limits,
        overridable,
    })
}

fn limit_rule(
    scope: &str,
    level: Level,
    mode: Mode,
    kind: LimitKind,
    alert_at_permille: Vec<u32>,
) -> LimitRule {
    LimitRule {
        level,
        rule: format!("{scope}.{}", kind.rule_suffix()),
        kind,
        mode,
        alert_at_permille,
    }
}

fn compile_budget(
    scope: &str,
    level: Level,
    mode: Mode,
    budget: &RawBudget,
    at: &str,
    errors: &mut Vec<Issue>,
    limits: &mut Vec<LimitRule>,
) {
    let alert_at: Vec<u32> = budget
        .alert_at
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, fraction)| {
            // A fraction of at most 2.0, to three decimals (permille).
            match parse_usd_micros(&fraction.0, 2) {
                Ok(micros) if micros > 0 && micros % 1000 == 0 => {
                    u32::try_from(micros / 1000).ok()
                }
                _ => {
                    errors.push(Issue::new(
                        format!("{at}.budget.alert_at[{i}]"),
                        format!(
                            "{:?} is not a fraction of the budget; write e.g. 0.8 (above 0, at most 2, three decimals)",
                            fraction.0
                        ),
                    ));
                    None
                }
            }
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut amount = |field: &str, text: Option<&DecimalText>| {
        let text = text?;
        match parse_usd_micros(&text.0, MAX_BUDGET_USD) {
            Ok(0) => {
                errors.push(Issue::new(
                    format!("{at}.budget.{field}"),
                    "must be more than 0; to stop all spending, use allowed_models: [] instead",
                ));
                None
            }
            Ok(micros) => Some(micros),
            Err(e) => {
                errors.push(Issue::new(
                    format!("{at}.budget.{field}"),
                    format!("{e} (USD; got {:?})", text.0),
                ));
                None
            }
        }
    };
    let day = amount("usd_per_day", budget.usd_per_day.as_ref());
    let month = amount("usd_per_month", budget.usd_per_month.as_ref());
    if day.is_none() && month.is_none() && budget.alert_at.is_some() {
        errors.push(Issue::new(
            format!("{at}.budget"),
            "alert_at needs usd_per_day or usd_per_month",
        ));
    }
    if let Some(micros) = day {
        limits.push(limit_rule(
            scope,
            level,
            mode,
            LimitKind::UsdMicrosPerDay(micros),
            alert_at.clone(),
        ));
    }
    if let Some(micros) = month {
        limits.push(limit_rule(
            scope,
            level,
            mode,
            LimitKind::UsdMicrosPerMonth(micros),
            alert_at,
        ));
    }
}

fn compile_content(
    raw: &RawContent,
    at: &str,
    errors: &mut Vec<Issue>,
) -> (Vec<DenyPattern>, Vec<PiiKind>) {
    let patterns = raw.deny.as_deref().unwrap_or_default();
    if patterns.len() > MAX_DENY_PATTERNS {
        errors.push(Issue::new(
            format!("{at}.deny"),
            format!("at most {MAX_DENY_PATTERNS} patterns per scope"),
        ));
    }
    let mut ids = BTreeSet::new();
    let mut deny = Vec::new();
    for (i, pattern) in patterns.iter().enumerate() {
        let path = format!("{at}.deny[{i}]");
        if sentinel_core::Name::parse(&pattern.id).is_err() {
            errors.push(Issue::new(
                format!("{path}.id"),
                "a short name: lowercase letters, digits and `-`",
            ));
        } else if !ids.insert(pattern.id.as_str()) {
            errors.push(Issue::new(
                format!("{path}.id"),
                format!("{:?} is used twice in this scope", pattern.id),
            ));
        }
        match RegexBuilder::new(&pattern.pattern)
            .size_limit(MAX_PATTERN_SIZE)
            .build()
        {
            Ok(regex) => deny.push(DenyPattern {
                id: pattern.id.clone(),
                regex,
                message: pattern.message.clone(),
            }),
            Err(e) => errors.push(Issue::new(
                format!("{path}.pattern"),
                format!("not a valid regular expression: {e}"),
            )),
        }
    }
    let mut redact = BTreeSet::new();
    for (i, kind) in raw.redact.iter().flatten().enumerate() {
        match PiiKind::parse(kind) {
            Some(k) => {
                redact.insert(k);
            }
            None => errors.push(Issue::new(
                format!("{at}.redact[{i}]"),
                format!("unknown kind {kind:?}; use email, phone, card or secret"),
            )),
        }
    }
    (deny, redact.into_iter().collect())
}

fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .map(|net| net.trunc())
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

/// Warns about narrower values that the wider scope caps.
fn looser_than_allowed(set: &PolicySet, warnings: &mut Vec<Issue>) {
    let Some(env) = &set.environment else {
        return;
    };
    let narrower = set
        .apps
        .values()
        .chain(set.every_app.iter())
        .chain(set.keys.values())
        .chain(set.every_key.iter());
    for scope in narrower {
        let at = format!("policies.{}", scope.id);
        let capped = |rule: Rule| !env.overridable.contains(&rule);
        if let (Some(mine), Some(cap)) = (scope.max_tokens, env.max_tokens)
            && mine > cap
            && capped(Rule::MaxTokens)
        {
            warnings.push(Issue::new(
                format!("{at}.max_tokens"),
                format!(
                    "{mine} has no effect above the environment's {cap}; list max_tokens in environment.overridable to allow it"
                ),
            ));
        }
        if let (Some(mine), Some(cap)) = (scope.max_body_bytes, env.max_body_bytes)
            && mine > cap
            && capped(Rule::MaxBodyBytes)
        {
            warnings.push(Issue::new(
                format!("{at}.max_body_bytes"),
                format!(
                    "{mine} has no effect above the environment's {cap}; list max_body_bytes in environment.overridable to allow it"
                ),
            ));
        }
        if let (Some(mine), Some(allowed)) = (&scope.allowed_models, &env.allowed_models)
            && capped(Rule::AllowedModels)
        {
            for model in mine {
                let covered = match model {
                    ModelPattern::Exact(m) => allowed.iter().any(|a| a.matches(m)),
                    ModelPattern::Prefix(p) => allowed
                        .iter()
                        .any(|a| matches!(a, ModelPattern::Prefix(q) if p.starts_with(q.as_str()))),
                };
                if !covered {
                    warnings.push(Issue::new(
                        format!("{at}.allowed_models"),
                        format!(
                            "{model} is not allowed by the environment, so allowing it here has no effect; list allowed_models in environment.overridable to allow it"
                        ),
                    ));
                }
            }
        }
    }
}

/// Micro-USD as a readable amount, e.g. `$5.00` or `$0.0015`.
pub fn usd(micros: u64) -> String {
    format!("${}", sentinel_core::price::format_usd(micros))
}
