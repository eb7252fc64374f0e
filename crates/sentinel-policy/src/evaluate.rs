//! Checking a request against the scopes that apply to it.
//!
//! Precedence (docs/policy.md): the environment's policy, then the
//! application's (its own entry, else `app/*`), then the key's (its own,
//! else `key/*`). For each rule every scope that sets it is checked and all
//! must pass, so a narrower scope can only tighten — unless every wider
//! scope that sets the rule lists it in `overridable`: then the narrower
//! value replaces theirs (and may loosen). Each finding carries the mode of
//! the scope whose rule made it: a shadow scope's findings are recorded,
//! never enforced. Rate limits and budgets are counted per scope and all
//! apply (they never override each other).

use std::net::IpAddr;

use serde_json::Value;

use crate::content::{PiiKind, edit_texts, for_each_text};
use crate::model::{Api, LimitRule, Mode, Rule, ScopePolicy};

/// What the policy stage knows about a request before it is forwarded.
pub struct RequestFacts<'a> {
    pub api: Api,
    pub model: &'a str,
    /// The output-token cap the request asks for (`max_tokens`,
    /// `max_completion_tokens`, `max_output_tokens`), if any.
    pub max_tokens: Option<u64>,
    pub body_bytes: u64,
    /// The client's address; `None` when unknown (it never matches a
    /// `source_networks` rule).
    pub source_ip: Option<IpAddr>,
    /// Whether a request header is present and non-empty.
    pub has_header: &'a dyn Fn(&str) -> bool,
}

/// Why a rule refused, which decides the client's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 403 `policy_denied`.
    Denied,
    /// 413 `payload_too_large`.
    TooLarge,
}

/// One rule's verdict on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// E.g. `app/checkout.allowed_models`.
    pub rule: String,
    pub mode: Mode,
    pub refusal: Refusal,
    /// A message a person can act on.
    pub message: String,
}

/// A rule that was checked, for `policy explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub rule: String,
    pub mode: Mode,
    pub passed: bool,
    pub message: String,
}

/// The scopes that apply to one request, widest first.
#[derive(Debug, Clone, Copy)]
pub struct Applicable<'a> {
    scopes: [Option<&'a ScopePolicy>; 3],
}

impl<'a> Applicable<'a> {
    pub(crate) fn new(scopes: [Option<&'a ScopePolicy>; 3]) -> Self {
        Self { scopes }
    }

    /// Whether no policy applies at all (the common fast path).
    pub fn is_empty(&self) -> bool {
        self.scopes.iter().all(Option::is_none)
    }

    /// The applicable scopes, widest first.
    pub fn scopes(&self) -> impl Iterator<Item = &'a ScopePolicy> + '_ {
        self.scopes.iter().flatten().copied()
    }

    /// The scopes whose value of `rule` is in force, widest first.
    fn effective(&self, rule: Rule) -> impl Iterator<Item = &'a ScopePolicy> {
        let mut chosen: [Option<&'a ScopePolicy>; 3] = [None; 3];
        for scope in self.scopes.iter().flatten().filter(|s| s.sets(rule)) {
            let replaces = chosen
                .iter()
                .flatten()
                .all(|wider| wider.overridable.contains(&rule));
            if replaces {
                chosen = [None; 3];
            }
            let slot = scope.level as usize;
            chosen[slot] = Some(*scope);
        }
        chosen.into_iter().flatten()
    }

    /// Whether every enforced `allowed_models` rule in force allows `model`
    /// (shadow rules never hide a model).
    pub fn model_allowed(&self, model: &str) -> bool {
        self.effective(Rule::AllowedModels)
            .filter(|s| s.mode.enforced())
            .all(|s| {
                s.allowed_models
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .any(|p| p.matches(model))
            })
    }

    /// The tightest output-token cap in force, if any.
    pub fn max_tokens(&self) -> Option<u64> {
        self.effective(Rule::MaxTokens)
            .filter_map(|s| s.max_tokens)
            .min()
    }

    /// The tightest body-size cap in force, if any (enforced scopes only:
    /// a shadow cap must not stop the body from being read).
    pub fn enforced_max_body_bytes(&self) -> Option<u64> {
        self.effective(Rule::MaxBodyBytes)
            .filter(|s| s.mode.enforced())
            .filter_map(|s| s.max_body_bytes)
            .min()
    }

    /// Every counted limit of the applicable scopes.
    pub fn limits(&self) -> impl Iterator<Item = &'a LimitRule> + '_ {
        self.scopes().flat_map(|s| s.limits.iter())
    }

    /// Whether any content rule (deny or redact) is in force.
    pub fn has_content_rules(&self) -> bool {
        self.effective(Rule::Content).next().is_some()
    }

    /// Checks the request rules; returns the rules that refused, in the
    /// order checked. Allocates only for findings.
    pub fn check(&self, facts: &RequestFacts<'_>) -> Vec<Finding> {
        let mut findings = Vec::new();
        self.visit(
            facts,
            &mut |check: Check, refusal| {
                if !check.passed {
                    findings.push(Finding {
                        rule: check.rule,
                        mode: check.mode,
                        refusal,
                        message: check.message,
                    });
                }
            },
            false,
        );
        findings
    }

    /// Every rule checked, passed or not, for `policy explain`.
    pub fn explain(&self, facts: &RequestFacts<'_>) -> Vec<Check> {
        let mut checks = Vec::new();
        self.visit(facts, &mut |check, _| checks.push(check), true);
        checks
    }

    fn visit(&self, facts: &RequestFacts<'_>, out: &mut dyn FnMut(Check, Refusal), explain: bool) {
        let mut report = |scope: &ScopePolicy,
                          rule: Rule,
                          passed: bool,
                          refusal: Refusal,
                          message: &dyn Fn() -> String| {
            if passed && !explain {
                return;
            }
            out(
                Check {
                    rule: scope.rule_id(rule),
                    mode: scope.mode,
                    passed,
                    message: message(),
                },
                refusal,
            );
        };
        for scope in self.effective(Rule::AllowedApis) {
            let allowed = scope.allowed_apis.as_deref().unwrap_or_default();
            let passed = allowed.contains(&facts.api);
            report(scope, Rule::AllowedApis, passed, Refusal::Denied, &|| {
                let names: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
                if passed {
                    format!("{} is allowed", facts.api.as_str())
                } else {
                    format!(
                        "the {} API is not allowed for this key by policy rule {}; allowed: {}",
                        facts.api.as_str(),
                        scope.rule_id(Rule::AllowedApis),
                        list(&names)
                    )
                }
            });
        }
        for scope in self.effective(Rule::SourceNetworks) {
            let nets = scope.source_networks.as_deref().unwrap_or_default();
            let passed = facts
                .source_ip
                .is_some_and(|ip| nets.iter().any(|n| n.contains(&canonical(ip))));
            report(
                scope,
                Rule::SourceNetworks,
                passed,
                Refusal::Denied,
                &|| {
                    let shown = facts
                        .source_ip
                        .map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
                    if passed {
                        format!("{shown} is in an allowed network")
                    } else {
                        format!(
                            "requests from {shown} are not allowed by policy rule {}; call from an allowed network",
                            scope.rule_id(Rule::SourceNetworks)
                        )
                    }
                },
            );
        }
        for scope in self.effective(Rule::RequiredMetadata) {
            let required = scope.required_metadata.as_deref().unwrap_or_default();
            let missing: Vec<&str> = required
                .iter()
                .filter(|h| !(facts.has_header)(h))
                .map(String::as_str)
                .collect();
            report(
                scope,
                Rule::RequiredMetadata,
                missing.is_empty(),
                Refusal::Denied,
                &|| {
                    if missing.is_empty() {
                        format!("required headers present: {}", list_owned(required))
                    } else {
                        format!(
                            "missing request metadata required by policy rule {}: send the header(s) {}",
                            scope.rule_id(Rule::RequiredMetadata),
                            list(&missing)
                        )
                    }
                },
            );
        }
        for scope in self.effective(Rule::AllowedModels) {
            let allowed = scope.allowed_models.as_deref().unwrap_or_default();
            let passed = allowed.iter().any(|p| p.matches(facts.model));
            report(scope, Rule::AllowedModels, passed, Refusal::Denied, &|| {
                let names: Vec<String> = allowed.iter().map(ToString::to_string).collect();
                if passed {
                    format!("{} is allowed", facts.model)
                } else {
                    format!(
                        "model {:?} is not allowed by policy rule {}; allowed models: {}",
                        facts.model,
                        scope.rule_id(Rule::AllowedModels),
                        list_owned(&names)
                    )
                }
            });
        }
        for scope in self.effective(Rule::MaxTokens) {
            let cap = scope.max_tokens.unwrap_or(u64::MAX);
            let passed = facts.max_tokens.is_none_or(|asked| asked <= cap);
            report(
                scope,
                Rule::MaxTokens,
                passed,
                Refusal::Denied,
                &|| match facts.max_tokens {
                    Some(asked) if !passed => format!(
                        "the request asks for up to {asked} output tokens; policy rule {} allows at most {cap}",
                        scope.rule_id(Rule::MaxTokens)
                    ),
                    Some(asked) => format!("{asked} output tokens is within {cap}"),
                    None => format!("no output cap requested; estimates use {cap}"),
                },
            );
        }
        for scope in self.effective(Rule::MaxBodyBytes) {
            let cap = scope.max_body_bytes.unwrap_or(u64::MAX);
            let passed = facts.body_bytes <= cap;
            report(
                scope,
                Rule::MaxBodyBytes,
                passed,
                Refusal::TooLarge,
                &|| {
                    if passed {
                        format!("{} bytes is within {cap}", facts.body_bytes)
                    } else {
                        format!(
                            "the request body is {} bytes; policy rule {} allows at most {cap}",
                            facts.body_bytes,
                            scope.rule_id(Rule::MaxBodyBytes)
                        )
                    }
                },
            );
        }
    }

    /// Applies the content rules to a JSON body: deny patterns are checked
    /// (on the text before redaction), then enforced redactions replace
    /// matches in place. Shadow redactions only count.
    pub fn apply_content(&self, body: &mut Value) -> ContentOutcome {
        let mut outcome = ContentOutcome::default();
        let scopes: Vec<&ScopePolicy> = self.effective(Rule::Content).collect();
        for scope in &scopes {
            for pattern in &scope.deny {
                let mut hit = false;
                for_each_text(body, &mut |text| hit = hit || pattern.regex.is_match(text));
                if hit {
                    let rule = format!("{}.content.deny.{}", scope.id, pattern.id);
                    let message = match &pattern.message {
                        Some(m) => format!("{m} (policy rule {rule})"),
                        None => format!(
                            "the prompt contains text that policy rule {rule} does not allow"
                        ),
                    };
                    outcome.findings.push(Finding {
                        rule,
                        mode: scope.mode,
                        refusal: Refusal::Denied,
                        message,
                    });
                }
            }
        }
        for kind in PiiKind::ALL {
            let mut mode = None;
            for scope in scopes.iter().filter(|s| s.redact.contains(&kind)) {
                // Enforced wins over shadow when both ask for the kind.
                if mode != Some(Mode::Enforce) {
                    mode = Some(scope.mode);
                }
            }
            let Some(mode) = mode else { continue };
            let mut count = 0;
            if mode.enforced() {
                edit_texts(body, &mut |text| {
                    kind.redact(text).map(|(new, n)| {
                        count += n;
                        new
                    })
                });
            } else {
                for_each_text(body, &mut |text| {
                    count += kind.redact(text).map_or(0, |(_, n)| n);
                });
            }
            if count > 0 {
                outcome.redactions.push(Redaction { kind, mode, count });
                outcome.modified |= mode.enforced();
            }
        }
        outcome
    }
}

/// What the content rules found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentOutcome {
    pub findings: Vec<Finding>,
    pub redactions: Vec<Redaction>,
    /// Whether the body was changed (it must be re-encoded).
    pub modified: bool,
}

/// Matches of one kind replaced (enforce) or found (shadow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redaction {
    pub kind: PiiKind,
    pub mode: Mode,
    pub count: usize,
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) as IPv4, so networks
/// written as IPv4 match clients on dual-stack listeners.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn list_owned(items: &[String]) -> String {
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    list(&refs)
}
