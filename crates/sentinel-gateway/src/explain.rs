//! `policy explain`: what the policy stage would decide for a hypothetical
//! request, rule by rule, from the live snapshot and the live counters —
//! without taking any counter and without calling a provider.

use sentinel_limits::{Limit, Refusal, Usage};
use sentinel_policy::{Api, ExplainQuery, Mode, usd};
use serde::Serialize;

use crate::{
    Gateway,
    pipeline::policy::{CounterIds, charges, estimate, refusal_message},
    unix_millis,
};

/// The decision and how it was reached.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// `allowed`, `denied`, `rate_limited` or `budget_exceeded`.
    pub decision: String,
    /// The enforced rule that decides a refusal.
    pub rule: Option<String>,
    /// The config revision whose policies were used.
    pub revision: Option<i64>,
    /// Whether a route plan serves the model.
    pub served: bool,
    /// Every request rule that applies, in the order checked.
    pub checks: Vec<CheckView>,
    /// Every counted limit that applies, with its current use.
    pub limits: Vec<LimitView>,
    /// What the request would reserve.
    pub demand: DemandView,
    /// Why the counters could not be read, when they could not.
    pub counters_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckView {
    pub rule: String,
    pub mode: String,
    pub passed: bool,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LimitView {
    pub rule: String,
    pub mode: String,
    /// E.g. `600 requests/min`, `$5.00/day`.
    pub limit: String,
    /// In the limit's unit (micro-USD for budgets).
    pub used: u64,
    pub passed: bool,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DemandView {
    pub tokens: u64,
    pub cost_micros: u64,
    pub cost: String,
}

/// Explains the decision for `query` in environment `env_id`, for a key of
/// application `app_id` named `app_name`. `Err` says why it cannot.
pub async fn explain(
    gw: &Gateway,
    env_id: &str,
    app_id: &str,
    app_name: &str,
    query: &ExplainQuery,
) -> Result<Explanation, String> {
    let snapshot = gw
        .snapshot()
        .ok_or_else(|| "the gateway has not loaded its configuration yet".to_owned())?;
    let env = snapshot
        .env(env_id)
        .ok_or_else(|| "the environment is not loaded in the gateway".to_owned())?;
    let api = match query.api.as_deref() {
        None => Api::ChatCompletions,
        Some(name) => Api::parse(name).ok_or_else(|| {
            format!("unknown API {name:?}; use chat_completions, embeddings or anthropic_messages")
        })?,
    };
    let applicable = env.policies.applicable(app_name, &query.key);
    // The facts borrow a non-`Sync` closure: keep them out of the awaits.
    let checks: Vec<CheckView> = {
        let headers: Vec<String> = query
            .headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let has_header = |name: &str| headers.iter().any(|h| h == name);
        let facts = sentinel_policy::RequestFacts {
            api,
            model: &query.model,
            max_tokens: query.tokens,
            body_bytes: query.body_bytes.unwrap_or(0),
            source_ip: query.source_ip,
            has_header: &has_header,
        };
        applicable
            .explain(&facts)
            .into_iter()
            .map(|c| CheckView {
                rule: c.rule,
                mode: c.mode.as_str().to_owned(),
                passed: c.passed,
                message: c.message,
            })
            .collect()
    };
    let route = env.route(&query.model);
    let demand = estimate(
        &applicable,
        api,
        query.body_bytes.unwrap_or(0),
        query.tokens,
        1,
        route.map(AsRef::as_ref),
    );
    let charges = charges(
        &applicable,
        &CounterIds {
            org_id: &env.org_id,
            env_id: &env.id,
            app_id,
            key_id: &query.key,
        },
    );
    let (usage, counters_error) = if charges.is_empty() {
        (Vec::new(), None)
    } else {
        match gw.counters().usage(&charges, unix_millis()).await {
            Ok(usage) => (usage, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        }
    };
    let limits: Vec<LimitView> = charges
        .iter()
        .zip(usage.iter().map(Some).chain(std::iter::repeat(None)))
        .map(|(charge, usage)| limit_view(charge, usage, demand))
        .collect();

    let mut decision = ("allowed", None);
    let refusing_check = checks.iter().find(|c| !c.passed && c.mode == "enforce");
    if let Some(check) = refusing_check {
        decision = ("denied", Some(check.rule.clone()));
    } else if let Some(limit) = limits.iter().find(|l| !l.passed && l.mode == "enforce") {
        let budget = limit.rule.contains(".budget.");
        decision = (
            if budget {
                "budget_exceeded"
            } else {
                "rate_limited"
            },
            Some(limit.rule.clone()),
        );
    }
    Ok(Explanation {
        decision: decision.0.to_owned(),
        rule: decision.1,
        revision: env.revision,
        served: route.is_some(),
        checks,
        limits,
        demand: DemandView {
            tokens: demand.tokens,
            cost_micros: demand.cost_micros,
            cost: usd(demand.cost_micros),
        },
        counters_error,
    })
}

fn limit_view(
    charge: &sentinel_limits::Charge,
    usage: Option<&Usage>,
    demand: sentinel_limits::Demand,
) -> LimitView {
    let used = usage.map_or(0, |u| u.used);
    let passed = charge.limit.admits(used, demand);
    let limit_text = match charge.limit {
        Limit::RequestsPerMinute(n) => format!("{n} requests/min"),
        Limit::TokensPerMinute(n) => format!("{n} tokens/min"),
        Limit::Concurrency(n) => format!("{n} in flight"),
        Limit::SpendPerDay(n) => format!("{}/day (UTC)", usd(n)),
        Limit::SpendPerMonth(n) => format!("{}/month (UTC)", usd(n)),
    };
    let used_text = match charge.limit {
        Limit::SpendPerDay(_) | Limit::SpendPerMonth(_) => format!("{} used", usd(used)),
        _ => format!("{used} used"),
    };
    let message = if passed {
        format!("{used_text} of {limit_text}")
    } else {
        refusal_message(&Refusal {
            rule: charge.rule.clone(),
            scope: charge.scope.clone(),
            limit: charge.limit,
            used,
            retry_after_s: None,
        })
    };
    LimitView {
        rule: charge.rule.clone(),
        mode: if charge.enforce {
            Mode::Enforce
        } else {
            Mode::Shadow
        }
        .as_str()
        .to_owned(),
        limit: limit_text,
        used,
        passed,
        message,
    }
}
