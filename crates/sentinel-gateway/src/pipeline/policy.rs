//! policy: the rules of the scopes that apply to the request (environment,
//! application, key), then rate limits and a budget reservation.
//!
//! Order: rules that need only the headers and the body's size, then the
//! decoded body (model, token cap), then content rules (which may rewrite
//! the prompt), then counters. An enforced finding refuses the request; a
//! shadow finding is recorded on the request record and counted, never
//! refused. Counters are taken all or nothing and handed back through a
//! [`Settlement`] once the answer is known, so tokens-per-minute and spend
//! are corrected from the estimate to what was really used.
//!
//! Invariant: with no policy in force, this stage costs one hash lookup
//! per scope and allocates nothing.

use std::{net::IpAddr, sync::Arc};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use sentinel_core::{
    ErrorCode, PolicyFinding, PolicyOutcome, RedactionCount, RequestRecord, price::cost_micros,
};
use sentinel_limits::{
    Actual, Admission, Charge, CounterError, Counters, Demand, Lease, Limit, RateWindow, Refusal,
};
use sentinel_policy::{
    Api, Applicable, CounterFailure, Finding, Level, LimitKind, Mode, RequestFacts, usd,
};

use super::decode::ModelRequest;
use crate::{
    Gateway, error::GatewayError, pipeline::identify::Principal, snapshot::Route, unix_millis,
};

/// Output tokens assumed for estimates when neither the request nor a
/// policy caps them.
pub const DEFAULT_OUTPUT_TOKENS: u64 = 4096;

/// Metadata header names kept on the record (never their values).
const MAX_METADATA_NAMES: usize = 16;

/// Hands the counters back once the answer is known. Dropped without
/// [`Settlement::finish`] (a failure path), it settles with the estimate,
/// so concurrency is always released.
#[derive(Debug)]
pub(crate) struct Settlement {
    counters: Arc<dyn Counters>,
    lease: Option<Lease>,
}

impl Drop for Settlement {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            self.counters
                .settle(lease, Actual::default(), unix_millis());
        }
    }
}

impl Settlement {
    /// Settles with what the record says was used: its tokens and cost
    /// when known, nothing when no upstream answered, and the reservation
    /// itself when an answer came without usage (the safe side).
    pub(crate) fn finish(mut self, record: &RequestRecord) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        let tokens = record.total_tokens.and_then(|t| u64::try_from(t).ok());
        let cost_micros = record.cost_micros.and_then(|c| u64::try_from(c).ok());
        let answered = record.upstream_status.is_some_and(|s| s < 400);
        // A provider may bill a call that timed out on Sentinel's side.
        let maybe_billed = record.attempts.iter().any(|a| a.outcome == "timeout");
        let actual = if tokens.is_some() {
            Actual {
                tokens,
                cost_micros,
            }
        } else if !answered && !maybe_billed {
            Actual {
                tokens: Some(0),
                cost_micros: Some(0),
            }
        } else {
            Actual::default()
        };
        self.counters.settle(lease, actual, unix_millis());
    }
}

/// What the policy stage grants an admitted request.
#[derive(Debug, Default)]
pub(crate) struct Grant {
    pub(crate) settlement: Option<Settlement>,
    /// `x-ratelimit-*` headers for the answer.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

/// The record's policy outcome, started when a policy applies.
fn outcome(record: &mut RequestRecord) -> &mut PolicyOutcome {
    record.policy.get_or_insert_with(|| PolicyOutcome {
        decision: "allowed".to_owned(),
        ..PolicyOutcome::default()
    })
}

/// Notes findings; the first enforced one refuses the request.
fn judge(
    gw: &Gateway,
    findings: Vec<Finding>,
    record: &mut RequestRecord,
) -> Result<(), GatewayError> {
    let mut refusal = None;
    for finding in findings {
        if finding.mode == Mode::Shadow {
            gw.policy_stats().count_shadow();
        }
        if refusal.is_none() && finding.mode.enforced() {
            let code = match finding.refusal {
                sentinel_policy::Refusal::Denied => ErrorCode::PolicyDenied,
                sentinel_policy::Refusal::TooLarge => ErrorCode::PayloadTooLarge,
            };
            refusal = Some(
                GatewayError::new(code, finding.message.clone()).with_rule(finding.rule.clone()),
            );
        }
        outcome(record).findings.push(PolicyFinding {
            rule: finding.rule,
            mode: finding.mode.as_str().to_owned(),
            message: finding.message,
        });
    }
    match refusal {
        Some(error) => {
            gw.policy_stats().count_denial();
            let outcome = outcome(record);
            outcome.decision = "denied".to_owned();
            outcome.rule.clone_from(&error.rule);
            Err(error)
        }
        None => Ok(()),
    }
}

/// The body-size limit for this request: the gateway's, or a tighter
/// enforced policy cap (so an oversized body is never read in full).
pub(crate) fn body_limit(applicable: &Applicable<'_>, gateway_limit: usize) -> usize {
    applicable
        .enforced_max_body_bytes()
        .and_then(|cap| usize::try_from(cap).ok())
        .map_or(gateway_limit, |cap| cap.min(gateway_limit))
}

/// A body over a policy's cap: the refusal names the rule.
pub(crate) fn body_refused(
    gw: &Gateway,
    applicable: &Applicable<'_>,
    limit: usize,
    error: GatewayError,
    record: &mut RequestRecord,
) -> GatewayError {
    let rule = applicable
        .scopes()
        .find(|s| {
            s.mode.enforced()
                && s.max_body_bytes.and_then(|c| usize::try_from(c).ok()) == Some(limit)
        })
        .map(|s| s.rule_id(sentinel_policy::Rule::MaxBodyBytes));
    let Some(rule) = rule else {
        return error;
    };
    judge(
        gw,
        vec![Finding {
            rule: rule.clone(),
            mode: Mode::Enforce,
            refusal: sentinel_policy::Refusal::TooLarge,
            message: format!(
                "the request body is larger than {limit} bytes, the most policy rule {rule} allows"
            ),
        }],
        record,
    )
    .err()
    .unwrap_or(error)
}

/// Notes on the record what `policy simulate` needs to replay the request.
pub(crate) fn note_request(record: &mut RequestRecord, headers: &HeaderMap, body_bytes: usize) {
    record.body_bytes = i64::try_from(body_bytes).ok();
    record.metadata = headers
        .keys()
        .map(HeaderName::as_str)
        .filter(|name| {
            name.starts_with("x-")
                && *name != "x-api-key"
                && !name.starts_with("x-stainless-")
                && !name.starts_with("x-sentinel-")
        })
        .take(MAX_METADATA_NAMES)
        .map(str::to_owned)
        .collect();
}

/// The output-token cap a request asks for.
pub(crate) fn requested_max_tokens(request: &ModelRequest) -> Option<u64> {
    ["max_completion_tokens", "max_tokens", "max_output_tokens"]
        .into_iter()
        .find_map(|field| request.u64_field(field))
}

/// The rules: APIs, networks, metadata, models, token cap and body size.
pub(crate) fn check_rules(
    gw: &Gateway,
    applicable: &Applicable<'_>,
    api: Api,
    request: &ModelRequest,
    headers: &HeaderMap,
    source_ip: Option<IpAddr>,
    record: &mut RequestRecord,
) -> Result<(), GatewayError> {
    let has_header = |name: &str| {
        headers
            .get(name)
            .is_some_and(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
    };
    let facts = RequestFacts {
        api,
        model: &request.model,
        // Read from the body once, when the record was filled in.
        max_tokens: record.max_tokens.and_then(|n| u64::try_from(n).ok()),
        body_bytes: request.original().len() as u64,
        source_ip,
        has_header: &has_header,
    };
    let findings = applicable.check(&facts);
    outcome(record);
    judge(gw, findings, record)
}

/// The content rules: deny patterns, then redaction. Returns the request
/// to forward (re-encoded when a redaction changed it).
pub(crate) fn apply_content(
    gw: &Gateway,
    applicable: &Applicable<'_>,
    request: ModelRequest,
    record: &mut RequestRecord,
) -> Result<ModelRequest, GatewayError> {
    if !applicable.has_content_rules() {
        return Ok(request);
    }
    let Ok(mut body) = serde_json::from_slice::<serde_json::Value>(request.original()) else {
        // It decoded a moment ago; a failure here is a bug, not the client's.
        return Err(GatewayError::new(
            ErrorCode::Internal,
            "the request could not be inspected",
        ));
    };
    let content = applicable.apply_content(&mut body);
    outcome(record)
        .redactions
        .extend(content.redactions.iter().map(|r| RedactionCount {
            kind: r.kind.as_str().to_owned(),
            mode: r.mode.as_str().to_owned(),
            count: r.count as u64,
        }));
    judge(gw, content.findings, record)?;
    if !content.modified {
        return Ok(request);
    }
    let bytes = serde_json::to_vec(&body).map_err(|e| {
        GatewayError::new(ErrorCode::Internal, "the request could not be re-encoded")
            .with_detail(e.to_string())
    })?;
    ModelRequest::decode(bytes.into()).map_err(|e| {
        GatewayError::new(
            ErrorCode::Internal,
            "the redacted request could not be decoded",
        )
        .with_detail(e.to_string())
    })
}

/// What a request may use at most: the prompt estimated from its size
/// (about four bytes per token), the output from its cap (else the
/// policy's, else [`DEFAULT_OUTPUT_TOKENS`]) times `n`, and the cost of
/// that at the dearest target of the route.
pub(crate) fn demand(
    applicable: &Applicable<'_>,
    api: Api,
    request: &ModelRequest,
    max_tokens: Option<u64>,
    route: &Route,
) -> Demand {
    estimate(
        applicable,
        api,
        request.original().len() as u64,
        max_tokens,
        request.u64_field("n").unwrap_or(1),
        Some(route),
    )
}

/// [`demand`] from the request's size, output cap and choice count.
pub(crate) fn estimate(
    applicable: &Applicable<'_>,
    api: Api,
    body_bytes: u64,
    requested_max_tokens: Option<u64>,
    choices: u64,
    route: Option<&Route>,
) -> Demand {
    let (prompt, output) = estimate_tokens(
        api,
        body_bytes,
        requested_max_tokens.or_else(|| applicable.max_tokens()),
        choices,
    );
    let cost = route
        .into_iter()
        .flat_map(|r| r.targets.iter())
        .filter_map(|t| t.price.as_ref())
        .map(|(price, _)| cost_micros(price, prompt, output))
        .max()
        .unwrap_or(0);
    Demand {
        tokens: prompt.saturating_add(output),
        cost_micros: cost,
    }
}

/// Estimated (prompt, output) tokens of a request: about four bytes of
/// body per prompt token, and the output cap (else
/// [`DEFAULT_OUTPUT_TOKENS`]) times the number of choices.
pub fn estimate_tokens(
    api: Api,
    body_bytes: u64,
    output_cap: Option<u64>,
    choices: u64,
) -> (u64, u64) {
    let prompt = body_bytes.div_ceil(4);
    let output = if api == Api::Embeddings {
        0
    } else {
        output_cap
            .unwrap_or(DEFAULT_OUTPUT_TOKENS)
            .saturating_mul(choices.clamp(1, 128))
    };
    (prompt, output)
}

/// Takes the counters of every applicable limit, all or nothing.
pub(crate) async fn admit(
    gw: &Gateway,
    applicable: &Applicable<'_>,
    principal: &Principal,
    failure_mode: CounterFailure,
    demand: Demand,
    record: &mut RequestRecord,
) -> Result<Grant, GatewayError> {
    let env = &principal.env;
    let charges = charges(
        applicable,
        &CounterIds {
            org_id: &env.org_id,
            env_id: &env.id,
            app_id: &principal.app_id,
            key_id: &principal.key_id,
        },
    );
    if charges.is_empty() {
        return Ok(Grant::default());
    }
    let counters = gw.counters().clone();
    match counters.admit(&charges, demand, record.time).await {
        Ok(Ok(admission)) => Ok(granted(gw, counters, admission, record)),
        Ok(Err(refusal)) => Err(refused(gw, &refusal, record)),
        Err(error) => counters_failed(gw, failure_mode, &error, record),
    }
}

fn granted(
    gw: &Gateway,
    counters: Arc<dyn Counters>,
    admission: Admission,
    record: &mut RequestRecord,
) -> Grant {
    for breach in &admission.shadow_breaches {
        gw.policy_stats().count_shadow();
        outcome(record).findings.push(PolicyFinding {
            rule: breach.rule.clone(),
            mode: Mode::Shadow.as_str().to_owned(),
            message: refusal_message(breach),
        });
    }
    let mut headers = Vec::new();
    rate_headers(&mut headers, "requests", admission.requests);
    rate_headers(&mut headers, "tokens", admission.tokens);
    Grant {
        settlement: Some(Settlement {
            counters,
            lease: Some(admission.lease),
        }),
        headers,
    }
}

fn refused(gw: &Gateway, refusal: &Refusal, record: &mut RequestRecord) -> GatewayError {
    gw.policy_stats().count_denial();
    let budget = matches!(
        refusal.limit,
        Limit::SpendPerDay(_) | Limit::SpendPerMonth(_)
    );
    let code = if budget {
        ErrorCode::BudgetExceeded
    } else {
        ErrorCode::RateLimited
    };
    let message = refusal_message(refusal);
    let outcome = outcome(record);
    outcome.decision = code.as_str().to_owned();
    outcome.rule = Some(refusal.rule.clone());
    outcome.findings.push(PolicyFinding {
        rule: refusal.rule.clone(),
        mode: Mode::Enforce.as_str().to_owned(),
        message: message.clone(),
    });
    let mut error = GatewayError::new(code, message).with_rule(refusal.rule.clone());
    if let Some(seconds) = refusal.retry_after_s {
        error = error.with_retry_after(seconds.max(1));
    }
    let dimension = match refusal.limit {
        Limit::RequestsPerMinute(_) => Some("requests"),
        Limit::TokensPerMinute(_) => Some("tokens"),
        _ => None,
    };
    if let (Some(dimension), Limit::RequestsPerMinute(limit) | Limit::TokensPerMinute(limit)) =
        (dimension, refusal.limit)
    {
        let mut headers = Vec::new();
        rate_headers(
            &mut headers,
            dimension,
            Some(RateWindow {
                limit,
                remaining: limit.saturating_sub(refusal.used),
                reset_ms: refusal.retry_after_s.unwrap_or(1).saturating_mul(1000),
            }),
        );
        error = error.with_headers(headers);
    }
    error
}

fn counters_failed(
    gw: &Gateway,
    failure_mode: CounterFailure,
    error: &CounterError,
    record: &mut RequestRecord,
) -> Result<Grant, GatewayError> {
    gw.policy_stats().count_counter_failure(failure_mode);
    tracing::warn!(request_id = %record.id, %error, mode = failure_mode.as_str(), "rate-limit and budget counters unavailable");
    let outcome = outcome(record);
    outcome.counters = Some(failure_mode.as_str().to_owned());
    match failure_mode {
        CounterFailure::Open => Ok(Grant::default()),
        CounterFailure::Closed => {
            outcome.decision = "counters_unavailable".to_owned();
            Err(GatewayError::new(
                ErrorCode::Unavailable,
                "rate limits and budgets cannot be checked right now, and this environment refuses requests it cannot count; retry shortly",
            )
            .with_detail(error.to_string())
            .with_retry_after(1))
        }
    }
}

/// A refusal as a person reads it.
pub(crate) fn refusal_message(refusal: &Refusal) -> String {
    let rule = &refusal.rule;
    let retry = refusal
        .retry_after_s
        .map(|s| format!("; retry in {}", seconds_text(s)))
        .unwrap_or_default();
    match refusal.limit {
        Limit::RequestsPerMinute(limit) => format!(
            "rate limit reached: policy rule {rule} allows {limit} requests per minute{retry}"
        ),
        Limit::TokensPerMinute(limit) => format!(
            "token rate limit reached: policy rule {rule} allows {limit} tokens per minute and this request needs more than remain{retry}"
        ),
        Limit::Concurrency(limit) => format!(
            "too many requests in flight: policy rule {rule} allows {limit} at a time{retry}"
        ),
        Limit::SpendPerDay(limit) => format!(
            "budget exhausted: policy rule {rule} allows {} per UTC day and {} is spent or reserved{retry}",
            usd(limit),
            usd(refusal.used)
        ),
        Limit::SpendPerMonth(limit) => format!(
            "budget exhausted: policy rule {rule} allows {} per UTC month and {} is spent or reserved{retry}",
            usd(limit),
            usd(refusal.used)
        ),
    }
}

fn seconds_text(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds}s"),
        120..=7199 => format!("{}m", seconds.div_ceil(60)),
        _ => format!("{}h", seconds.div_ceil(3600)),
    }
}

/// OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`.
fn rate_headers(
    out: &mut Vec<(HeaderName, HeaderValue)>,
    dimension: &str,
    window: Option<RateWindow>,
) {
    let Some(window) = window else { return };
    let reset = if window.reset_ms < 1000 {
        format!("{}ms", window.reset_ms)
    } else {
        let seconds = window.reset_ms.div_ceil(1000);
        if seconds >= 60 {
            format!("{}m{}s", seconds / 60, seconds % 60)
        } else {
            format!("{seconds}s")
        }
    };
    for (name, value) in [
        ("limit", window.limit.to_string()),
        ("remaining", window.remaining.to_string()),
        ("reset", reset),
    ] {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(format!("x-ratelimit-{name}-{dimension}")),
            HeaderValue::try_from(value),
        ) {
            out.push((name, value));
        }
    }
}

/// Who a request's counters belong to.
#[derive(Debug, Clone, Copy)]
pub struct CounterIds<'a> {
    pub org_id: &'a str,
    pub env_id: &'a str,
    pub app_id: &'a str,
    pub key_id: &'a str,
}

/// The counters a request of this caller takes: one per limit of each
/// applicable scope, the scope's counter shared by every request of that
/// scope (the environment's by all of its requests, an application's by
/// all of its keys).
pub fn charges(applicable: &Applicable<'_>, ids: &CounterIds<'_>) -> Vec<Charge> {
    applicable
        .limits()
        .map(|limit| Charge {
            scope: counter_scope(ids, limit.level),
            rule: limit.rule.clone(),
            limit: counter_limit(limit.kind),
            enforce: limit.mode.enforced(),
            alert_at_permille: limit.alert_at_permille.clone(),
        })
        .collect()
}

/// The counter identity of a scope level for this caller.
fn counter_scope(ids: &CounterIds<'_>, level: Level) -> String {
    let CounterIds {
        org_id,
        env_id,
        app_id,
        key_id,
    } = ids;
    match level {
        Level::Environment => format!("o/{org_id}/e/{env_id}"),
        Level::Application => format!("o/{org_id}/e/{env_id}/a/{app_id}"),
        Level::Key => format!("o/{org_id}/e/{env_id}/k/{key_id}"),
    }
}

fn counter_limit(kind: LimitKind) -> Limit {
    match kind {
        LimitKind::RequestsPerMinute(n) => Limit::RequestsPerMinute(n),
        LimitKind::TokensPerMinute(n) => Limit::TokensPerMinute(n),
        LimitKind::Concurrency(n) => Limit::Concurrency(n),
        LimitKind::UsdMicrosPerDay(n) => Limit::SpendPerDay(n),
        LimitKind::UsdMicrosPerMonth(n) => Limit::SpendPerMonth(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_and_retry_texts() {
        let mut headers = Vec::new();
        rate_headers(
            &mut headers,
            "requests",
            Some(RateWindow {
                limit: 600,
                remaining: 0,
                reset_ms: 61_000,
            }),
        );
        let shown: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        assert_eq!(
            shown,
            [
                ("x-ratelimit-limit-requests".to_owned(), "600".to_owned()),
                ("x-ratelimit-remaining-requests".to_owned(), "0".to_owned()),
                ("x-ratelimit-reset-requests".to_owned(), "1m1s".to_owned()),
            ]
        );
        assert_eq!(seconds_text(5), "5s");
        assert_eq!(seconds_text(3600), "60m");
        assert_eq!(seconds_text(36_000), "10h");
    }
}
