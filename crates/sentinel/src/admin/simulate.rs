//! `sentinel policy simulate`: replays recorded request metadata through a
//! candidate document's policies, with fresh in-memory counters on the
//! records' own clock, and reports per rule what would change. No request
//! reaches a provider; nothing is written.
//!
//! What is replayed: the ingress API, model, output cap, body size, client
//! address and metadata header names of each record (the rules), and its
//! time, latency, tokens and cost (rate limits, concurrency and budgets:
//! a request holds its concurrency slot from its start to its end, and is
//! charged what it really used). Content rules cannot be replayed without
//! bodies and are reported as such.

use std::{cmp::Reverse, collections::BTreeMap, collections::BinaryHeap, net::IpAddr};

use sentinel_core::{ErrorCode, RequestRecord};
use sentinel_gateway::{CounterIds, charges, estimate_tokens};
use sentinel_limits::{Actual, Counters, Demand, Lease, Limit, MemoryCounters};
use sentinel_policy::{Api, Mode, PolicySet, RequestFacts};
use serde::Serialize;

/// What the candidate would change.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Records read.
    pub records: usize,
    /// Records that reached the policy stage and were replayed.
    pub replayed: usize,
    /// Allowed when recorded, refused by the candidate.
    pub newly_refused: usize,
    /// Refused by policy when recorded, allowed by the candidate.
    pub newly_allowed: usize,
    /// Per rule, in order of first refusal.
    pub rules: Vec<RuleReport>,
    /// What the replay could not judge.
    pub notes: Vec<String>,
}

/// One rule's effect over the replay.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct RuleReport {
    pub rule: String,
    /// `enforce` (requests refused) or `shadow` (would be refused).
    pub mode: String,
    /// `denied`, `rate_limited` or `budget_exceeded`.
    pub outcome: String,
    /// Requests this rule refused (or would have, in shadow mode).
    pub requests: usize,
    /// Of those, how many were allowed when recorded.
    pub newly_refused: usize,
    /// The first and last refused request's time (unix ms): for a budget,
    /// when it ran out.
    pub first_ms: i64,
    pub last_ms: i64,
}

/// Replays `records` (any order) through `policies`. `progress` is called
/// with the number of records replayed so far.
pub async fn simulate(
    policies: &PolicySet,
    mut records: Vec<RequestRecord>,
    progress: &mut dyn FnMut(usize),
) -> Report {
    // Only model calls meet policies (not `/v1/models` or unknown paths).
    records.retain(|r| Api::parse(&r.ingress).is_some());
    records.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
    let counters = MemoryCounters::new();
    let mut report = Report {
        records: records.len(),
        ..Report::default()
    };
    let mut rules: BTreeMap<(String, &'static str), RuleReport> = BTreeMap::new();
    let mut in_flight: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
    let mut leases: Vec<Option<(Lease, Actual)>> = Vec::new();
    let mut unpriced_refused = 0;
    let content_rules = policies
        .scopes()
        .any(|s| !s.deny.is_empty() || !s.redact.is_empty());

    for (done, record) in records.iter().enumerate() {
        if done % 256 == 0 {
            progress(done);
        }
        // Requests that ended before this one started give back their slot.
        while let Some(Reverse((end, index))) = in_flight.peek().copied() {
            if end > record.time {
                break;
            }
            in_flight.pop();
            if let Some((lease, actual)) = leases.get_mut(index).and_then(Option::take) {
                counters.settle(lease, actual, end);
            }
        }
        let Some(replayable) = Replayable::of(record) else {
            continue;
        };
        report.replayed += 1;
        let was_refused = record
            .policy
            .as_ref()
            .is_some_and(|p| p.decision != "allowed");
        if was_refused && record.cost_micros.is_none() {
            unpriced_refused += 1;
        }
        let applicable = policies.applicable(replayable.app_name, replayable.key_id);
        let has = |name: &str| record.metadata.iter().any(|m| m == name);
        let facts = RequestFacts {
            api: replayable.api,
            model: replayable.model,
            max_tokens: record.max_tokens.and_then(|n| u64::try_from(n).ok()),
            body_bytes: record
                .body_bytes
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            source_ip: record
                .client_addr
                .as_deref()
                .and_then(|a| a.parse::<IpAddr>().ok()),
            has_header: &has,
        };
        let mut refused_by: Option<(String, &'static str)> = None;
        for finding in applicable.check(&facts) {
            let key = (finding.rule, "denied");
            if finding.mode.enforced() && refused_by.is_none() {
                refused_by = Some(key.clone());
            }
            note(
                &mut rules,
                key,
                finding.mode,
                record.time,
                !was_refused && finding.mode.enforced(),
            );
        }
        if refused_by.is_none() {
            let ids = CounterIds {
                org_id: &record.org_id,
                env_id: record.env_id.as_deref().unwrap_or_default(),
                app_id: record.app_id.as_deref().unwrap_or_default(),
                key_id: replayable.key_id,
            };
            let charges = charges(&applicable, &ids);
            if !charges.is_empty() {
                let actual = Actual {
                    tokens: record.total_tokens.and_then(|n| u64::try_from(n).ok()),
                    cost_micros: Some(
                        record
                            .cost_micros
                            .and_then(|n| u64::try_from(n).ok())
                            .unwrap_or(0),
                    ),
                };
                let demand = Demand {
                    tokens: {
                        let (prompt, output) = estimate_tokens(
                            facts.api,
                            facts.body_bytes,
                            facts.max_tokens.or_else(|| applicable.max_tokens()),
                            1,
                        );
                        prompt.saturating_add(output)
                    },
                    cost_micros: actual.cost_micros.unwrap_or(0),
                };
                match counters.admit(&charges, demand, record.time).await {
                    Ok(Ok(admission)) => {
                        for breach in &admission.shadow_breaches {
                            note(
                                &mut rules,
                                (breach.rule.clone(), outcome_of(breach.limit)),
                                Mode::Shadow,
                                record.time,
                                false,
                            );
                        }
                        let end = record.time.saturating_add(record.latency_ms.max(0));
                        in_flight.push(Reverse((end, leases.len())));
                        leases.push(Some((admission.lease, actual)));
                    }
                    Ok(Err(refusal)) => {
                        let key = (refusal.rule.clone(), outcome_of(refusal.limit));
                        refused_by = Some(key.clone());
                        note(&mut rules, key, Mode::Enforce, record.time, !was_refused);
                    }
                    // The in-memory counters never fail.
                    Err(_) => {}
                }
            }
        }
        match (was_refused, refused_by.is_some()) {
            (false, true) => report.newly_refused += 1,
            (true, false) => report.newly_allowed += 1,
            _ => {}
        }
    }
    progress(records.len());

    let mut rules: Vec<RuleReport> = rules.into_values().collect();
    rules.sort_by(|a, b| {
        a.first_ms
            .cmp(&b.first_ms)
            .then_with(|| a.rule.cmp(&b.rule))
    });
    report.rules = rules;
    if content_rules {
        report.notes.push(
            "content rules (deny patterns, redaction) were not replayed: request bodies are not recorded".to_owned(),
        );
    }
    if unpriced_refused > 0 {
        report.notes.push(format!(
            "{unpriced_refused} requests were refused when recorded and never reached a provider; the replay charges them no tokens and no cost"
        ));
    }
    if report.records > report.replayed {
        report.notes.push(format!(
            "{} records were refused before the policy stage (bad key, wrong environment, malformed body) and were not replayed",
            report.records - report.replayed
        ));
    }
    report
}

/// The fields a replay needs; `None` for requests that never reached the
/// policy stage.
struct Replayable<'a> {
    key_id: &'a str,
    app_name: &'a str,
    model: &'a str,
    api: Api,
}

impl<'a> Replayable<'a> {
    fn of(record: &'a RequestRecord) -> Option<Self> {
        let before_policy = record.error_code.as_deref().is_some_and(|code| {
            [
                ErrorCode::MissingApiKey,
                ErrorCode::InvalidApiKey,
                ErrorCode::RevokedApiKey,
                ErrorCode::ExpiredApiKey,
                ErrorCode::WrongEnvironment,
                ErrorCode::EnvironmentNotOpen,
                ErrorCode::InvalidJson,
                ErrorCode::Unavailable,
            ]
            .iter()
            .any(|c| c.as_str() == code)
        });
        if before_policy {
            return None;
        }
        Some(Self {
            key_id: record.key_id.as_deref()?,
            app_name: record.app_name.as_deref()?,
            model: record.requested_model.as_deref()?,
            api: Api::parse(&record.ingress)?,
        })
    }
}

fn note(
    rules: &mut BTreeMap<(String, &'static str), RuleReport>,
    key: (String, &'static str),
    mode: Mode,
    time: i64,
    newly: bool,
) {
    let entry = rules.entry(key.clone()).or_insert_with(|| RuleReport {
        rule: key.0,
        mode: mode.as_str().to_owned(),
        outcome: key.1.to_owned(),
        requests: 0,
        newly_refused: 0,
        first_ms: time,
        last_ms: time,
    });
    entry.requests += 1;
    entry.newly_refused += usize::from(newly);
    entry.first_ms = entry.first_ms.min(time);
    entry.last_ms = entry.last_ms.max(time);
}

fn outcome_of(limit: Limit) -> &'static str {
    match limit {
        Limit::SpendPerDay(_) | Limit::SpendPerMonth(_) => "budget_exceeded",
        _ => "rate_limited",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    const T0: i64 = 1_700_000_000_000; // 2023-11-14 22:13:20 UTC
    const CHECKOUT_KEY: &str = "c0c0c0c0c0c0c0c0";
    const SEARCH_KEY: &str = "5e5e5e5e5e5e5e5e";

    fn record(n: usize, time: i64, app: &str, model: &str) -> serde_json::Value {
        let (app_id, key) = if app == "checkout" {
            ("a-checkout", CHECKOUT_KEY)
        } else {
            ("a-search", SEARCH_KEY)
        };
        json!({
            "id": format!("r{n:03}"), "org_id": "o", "time": time, "env_id": "e", "env_name": "prod",
            "app_id": app_id, "app_name": app, "key_id": key, "ingress": "chat_completions",
            "requested_model": model, "provider": "p", "upstream_model": model, "upstream_status": 200,
            "status": 200, "error_code": null, "error_detail": null, "stream": false,
            "stream_completed": null, "prompt_tokens": 80, "completion_tokens": 20,
            "total_tokens": 100, "cost_micros": 1000, "latency_ms": 500, "ttfb_ms": 500,
            "client_addr": "10.0.0.7", "route_plan": "chat", "config_revision": 3, "attempts": [],
            "body_bytes": 400, "max_tokens": 100
        })
    }

    /// Ten checkout requests a second apart costing $0.001 each, a checkout
    /// request that was refused when recorded, three search requests, and
    /// one request with a bad key.
    fn fixture() -> Vec<RequestRecord> {
        let mut records: Vec<serde_json::Value> = (0..10)
            .map(|i| record(i, T0 + i as i64 * 1000, "checkout", "gpt-4o-mini"))
            .collect();
        let mut refused = record(10, T0 + 50_000, "checkout", "o1");
        refused["status"] = json!(403);
        refused["error_code"] = json!("policy_denied");
        refused["cost_micros"] = json!(null);
        refused["total_tokens"] = json!(null);
        refused["upstream_status"] = json!(null);
        refused["policy"] = json!({"decision": "denied", "rule": "environment.allowed_models"});
        records.push(refused);
        for i in 0..3 {
            records.push(record(
                11 + i,
                T0 + 100_000 + i as i64 * 1000,
                "search",
                "gpt-4o-mini",
            ));
        }
        let mut bad_key = record(14, T0 + 1, "checkout", "gpt-4o-mini");
        bad_key["error_code"] = json!("invalid_api_key");
        bad_key["status"] = json!(401);
        records.push(bad_key);
        // Replay order comes from the records' times, not the input order.
        records.reverse();
        records
            .into_iter()
            .map(|r| serde_json::from_value(r).unwrap())
            .collect()
    }

    fn candidate() -> PolicySet {
        let yaml = r#"
environment:
  allowed_models: [gpt-4o-mini, o1]
app/checkout:
  budget: { usd_per_day: "0.005" }
app/search:
  mode: shadow
  max_tokens: 10
  rate_limit: { rpm: 2 }
"#;
        sentinel_policy::compile(&policies_of(yaml)).unwrap().0
    }

    /// The candidate's `policies:` section, read by the real document reader.
    fn policies_of(policies: &str) -> BTreeMap<String, sentinel_policy::RawPolicy> {
        let text = format!(
            "policies:\n{}",
            policies
                .lines()
                .map(|l| format!("  {l}\n"))
                .collect::<String>()
        );
        sentinel_config::parse_document(&text).unwrap().policies
    }

    #[tokio::test]
    async fn a_recorded_fixture_gives_the_expected_report() {
        let mut seen = Vec::new();
        let report = simulate(&candidate(), fixture(), &mut |n| seen.push(n)).await;
        let rule =
            |rule: &str, mode: &str, outcome: &str, requests, newly, first, last| RuleReport {
                rule: rule.to_owned(),
                mode: mode.to_owned(),
                outcome: outcome.to_owned(),
                requests,
                newly_refused: newly,
                first_ms: T0 + first,
                last_ms: T0 + last,
            };
        assert_eq!(
            report,
            Report {
                records: 15,
                replayed: 14,
                // Checkout's 6th to 10th requests: the $0.005 ran out at the 6th.
                newly_refused: 5,
                newly_allowed: 0,
                rules: vec![
                    rule("app/checkout.budget.usd_per_day", "enforce", "budget_exceeded", 6, 5, 5_000, 50_000),
                    rule("app/search.max_tokens", "shadow", "denied", 3, 0, 100_000, 102_000),
                    rule("app/search.rate_limit.rpm", "shadow", "rate_limited", 1, 0, 102_000, 102_000),
                ],
                notes: vec![
                    "1 requests were refused when recorded and never reached a provider; the replay charges them no tokens and no cost".to_owned(),
                    "1 records were refused before the policy stage (bad key, wrong environment, malformed body) and were not replayed".to_owned(),
                ],
            }
        );
        assert_eq!(seen.first(), Some(&0));
        assert_eq!(seen.last(), Some(&15));
    }

    #[tokio::test]
    async fn no_policy_changes_nothing() {
        let report = simulate(&PolicySet::default(), fixture(), &mut |_| {}).await;
        assert_eq!(report.newly_refused, 0);
        // The request refused when recorded is allowed without a policy.
        assert_eq!(report.newly_allowed, 1);
        assert!(report.rules.is_empty());
    }
}
