//! Signal values computed from an environment's request records over a
//! rule's window. Pure: samples and `now` in, a value (or "not enough
//! data") out. A [`Sample`] is the part of a request record the signals
//! read, so an evaluator can keep a window of them in memory cheaply.
//!
//! Invariant: a rate or percentile over fewer than `min_requests` requests
//! (attempts, for `provider_error_rate`) is `None`, which never fires, so a
//! single failed request in a quiet environment does not page anyone.

use sentinel_config::{AlertRule, Signal};
use sentinel_core::RequestRecord;

/// Attempt outcomes that count as a provider failure.
const FAILED_ATTEMPTS: &[&str] = &["server_error", "timeout", "connect_error", "protocol_error"];
/// Policy decisions that count as a denial.
const DENIALS: &[&str] = &["denied", "rate_limited", "budget_exceeded"];
/// Client error codes of the same refusals (records without a policy block).
const DENIAL_CODES: &[&str] = &["policy_denied", "rate_limited", "budget_exceeded"];

/// What one upstream attempt did, as the signals see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptClass {
    Ok,
    /// Server error, timeout, connection error or broken response.
    Failed,
    /// Skipped: the endpoint's circuit was open.
    CircuitOpen,
    /// Sent, neither ok nor a provider failure (429, other 4xx).
    Other,
}

/// The part of a request record the signals read.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub id: String,
    pub time: i64,
    pub status: u16,
    /// Answered `504 upstream_timeout`.
    pub timed_out: bool,
    /// Refused by a policy rule, a rate limit or a budget.
    pub denied: bool,
    pub latency_ms: i64,
    /// (provider, upstream model, class) of each attempt.
    pub attempts: Vec<(String, String, AttemptClass)>,
}

impl From<&RequestRecord> for Sample {
    fn from(r: &RequestRecord) -> Self {
        let denied = match &r.policy {
            Some(policy) => DENIALS.contains(&policy.decision.as_str()),
            None => r
                .error_code
                .as_deref()
                .is_some_and(|c| DENIAL_CODES.contains(&c)),
        };
        Self {
            id: r.id.clone(),
            time: r.time,
            status: r.status,
            timed_out: r.error_code.as_deref() == Some("upstream_timeout"),
            denied,
            latency_ms: r.latency_ms,
            attempts: r
                .attempts
                .iter()
                .map(|a| {
                    let class = match a.outcome.as_str() {
                        "ok" => AttemptClass::Ok,
                        "circuit_open" => AttemptClass::CircuitOpen,
                        o if FAILED_ATTEMPTS.contains(&o) => AttemptClass::Failed,
                        _ => AttemptClass::Other,
                    };
                    (a.provider.clone(), a.upstream_model.clone(), class)
                })
                .collect(),
        }
    }
}

impl Sample {
    /// Whether the request was sent upstream at least once.
    fn dispatched(&self) -> bool {
        self.attempts
            .iter()
            .any(|(_, _, c)| *c != AttemptClass::CircuitOpen)
    }
}

/// The value of `rule`'s signal over the samples of its window (samples
/// older than `now - for_s` are ignored). `None`: not enough data.
/// `budget_threshold` is not computed from records; see `crate::engine`.
pub fn value(rule: &AlertRule, samples: &[Sample], now: i64) -> Option<f64> {
    let since =
        now.saturating_sub(i64::try_from(rule.for_s.saturating_mul(1_000)).unwrap_or(i64::MAX));
    let window: Vec<&Sample> = samples.iter().filter(|r| r.time >= since).collect();
    let total = window.len() as u64;
    let share =
        |n: usize, of: u64| (of >= rule.min_requests && of > 0).then(|| n as f64 / of as f64);
    let provider_matches = |p: &str| rule.provider.as_ref().is_none_or(|want| want.as_str() == p);
    match rule.signal {
        Signal::ErrorRate => share(window.iter().filter(|r| r.status >= 500).count(), total),
        Signal::TimeoutRate => share(window.iter().filter(|r| r.timed_out).count(), total),
        Signal::ProviderErrorRate => {
            let sent: Vec<AttemptClass> = window
                .iter()
                .flat_map(|r| r.attempts.iter())
                .filter(|(p, _, c)| *c != AttemptClass::CircuitOpen && provider_matches(p))
                .map(|(_, _, c)| *c)
                .collect();
            let failed = sent.iter().filter(|c| **c == AttemptClass::Failed).count();
            share(failed, sent.len() as u64)
        }
        Signal::BreakerOpen => {
            let mut endpoints: Vec<(&str, &str)> = window
                .iter()
                .flat_map(|r| r.attempts.iter())
                .filter(|(p, _, c)| *c == AttemptClass::CircuitOpen && provider_matches(p))
                .map(|(p, m, _)| (p.as_str(), m.as_str()))
                .collect();
            endpoints.sort_unstable();
            endpoints.dedup();
            Some(endpoints.len() as f64)
        }
        Signal::PolicyDenials => Some(window.iter().filter(|r| r.denied).count() as f64),
        Signal::PolicyDenialRate => share(window.iter().filter(|r| r.denied).count(), total),
        Signal::LatencyP50 => percentile(&window, 50, rule.min_requests),
        Signal::LatencyP95 => percentile(&window, 95, rule.min_requests),
        Signal::LatencyP99 => percentile(&window, 99, rule.min_requests),
        Signal::BudgetThreshold => None,
    }
}

/// The nearest-rank percentile of the latency of requests that were sent
/// upstream (refusals answered in microseconds would hide a slow provider).
fn percentile(window: &[&Sample], pct: u64, min_requests: u64) -> Option<f64> {
    let mut latencies: Vec<i64> = window
        .iter()
        .filter(|r| r.dispatched())
        .map(|r| r.latency_ms)
        .collect();
    let n = latencies.len() as u64;
    if n == 0 || n < min_requests {
        return None;
    }
    latencies.sort_unstable();
    // Nearest rank: the smallest value with at least pct % of values at or below it.
    let rank = (pct * n).div_ceil(100).max(1);
    let index = usize::try_from(rank - 1).ok()?;
    latencies.get(index).map(|&ms| ms as f64)
}

/// Whether `value` meets the rule's condition: above the threshold (for
/// `budget_threshold`, at or above it: a rule with `above: 0.8` fires on
/// the 80 % threshold).
pub fn breached(rule: &AlertRule, value: Option<f64>) -> bool {
    match value {
        None => false,
        Some(v) if rule.signal == Signal::BudgetThreshold => v >= rule.above && v > 0.0,
        Some(v) => v > rule.above,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use sentinel_core::{AttemptRecord, Name, PolicyOutcome};

    use super::*;

    const NOW: i64 = 1_000_000;

    fn value(rule: &AlertRule, records: &[RequestRecord], now: i64) -> Option<f64> {
        let samples: Vec<Sample> = records.iter().map(Sample::from).collect();
        super::value(rule, &samples, now)
    }

    fn rule(signal: Signal, above: f64) -> AlertRule {
        AlertRule {
            name: Name::parse("r").unwrap(),
            signal,
            above,
            for_s: 60,
            min_requests: 1,
            provider: None,
            notify: vec![],
        }
    }

    fn record(status: u16, latency_ms: i64, attempts: &[(&str, &str)]) -> RequestRecord {
        RequestRecord {
            time: NOW - 1_000,
            status,
            latency_ms,
            attempts: attempts
                .iter()
                .map(|(provider, outcome)| AttemptRecord {
                    provider: (*provider).to_owned(),
                    upstream_model: "m".to_owned(),
                    outcome: (*outcome).to_owned(),
                    ..AttemptRecord::default()
                })
                .collect(),
            ..RequestRecord::default()
        }
    }

    #[test]
    fn error_rate_is_the_share_of_5xx_in_the_window() {
        let mut records = vec![
            record(200, 10, &[("a", "ok")]),
            record(502, 10, &[("a", "server_error")]),
            record(503, 10, &[]),
            record(200, 10, &[("a", "ok")]),
        ];
        let mut old = record(500, 10, &[]);
        old.time = NOW - 61_000;
        records.push(old);
        assert_eq!(
            value(&rule(Signal::ErrorRate, 0.1), &records, NOW),
            Some(0.5)
        );
        let mut strict = rule(Signal::ErrorRate, 0.1);
        strict.min_requests = 5;
        assert_eq!(value(&strict, &records, NOW), None, "4 requests < 5");
        assert!(!breached(&strict, None));
    }

    #[test]
    fn timeout_rate_counts_upstream_timeouts() {
        let mut timed_out = record(504, 10, &[("a", "timeout")]);
        timed_out.error_code = Some("upstream_timeout".into());
        let records = vec![timed_out, record(200, 1, &[("a", "ok")])];
        assert_eq!(
            value(&rule(Signal::TimeoutRate, 0.1), &records, NOW),
            Some(0.5)
        );
    }

    #[test]
    fn provider_error_rate_counts_attempts_and_filters_by_provider() {
        let records = vec![
            record(200, 10, &[("a", "server_error"), ("b", "ok")]),
            record(200, 10, &[("a", "circuit_open"), ("b", "ok")]),
            record(
                200,
                10,
                &[("a", "timeout"), ("b", "connect_error"), ("b", "ok")],
            ),
        ];
        let all = rule(Signal::ProviderErrorRate, 0.1);
        // 6 attempts sent (circuit_open skipped), 3 failed.
        assert_eq!(value(&all, &records, NOW), Some(0.5));
        let mut only_a = all.clone();
        only_a.provider = Some(Name::parse("a").unwrap());
        assert_eq!(value(&only_a, &records, NOW), Some(1.0));
        let mut only_b = all;
        only_b.provider = Some(Name::parse("b").unwrap());
        assert_eq!(value(&only_b, &records, NOW), Some(0.25));
    }

    #[test]
    fn breaker_open_counts_endpoints_seen_open() {
        let r = rule(Signal::BreakerOpen, 0.0);
        assert_eq!(value(&r, &[record(200, 1, &[("a", "ok")])], NOW), Some(0.0));
        assert!(!breached(&r, Some(0.0)));
        let records = vec![
            record(503, 1, &[("a", "circuit_open")]),
            record(503, 1, &[("a", "circuit_open")]),
        ];
        assert_eq!(value(&r, &records, NOW), Some(1.0));
        assert!(breached(&r, Some(1.0)));
    }

    #[test]
    fn policy_denials_count_refusals() {
        let mut denied = record(403, 1, &[]);
        denied.policy = Some(PolicyOutcome {
            decision: "denied".into(),
            ..PolicyOutcome::default()
        });
        let mut limited = record(429, 1, &[]);
        limited.error_code = Some("rate_limited".into());
        let mut shadow = record(200, 1, &[("a", "ok")]);
        shadow.policy = Some(PolicyOutcome {
            decision: "allowed".into(),
            ..PolicyOutcome::default()
        });
        let records = vec![denied, limited, shadow, record(200, 1, &[("a", "ok")])];
        assert_eq!(
            value(&rule(Signal::PolicyDenials, 1.0), &records, NOW),
            Some(2.0)
        );
        assert_eq!(
            value(&rule(Signal::PolicyDenialRate, 0.1), &records, NOW),
            Some(0.5)
        );
    }

    #[test]
    fn latency_percentiles_use_nearest_rank_over_dispatched_requests() {
        let mut records: Vec<RequestRecord> = (1..=100)
            .map(|ms| record(200, ms, &[("a", "ok")]))
            .collect();
        records.push(record(403, 100_000, &[]));
        assert_eq!(
            value(&rule(Signal::LatencyP50, 1.0), &records, NOW),
            Some(50.0)
        );
        assert_eq!(
            value(&rule(Signal::LatencyP95, 1.0), &records, NOW),
            Some(95.0)
        );
        assert_eq!(
            value(&rule(Signal::LatencyP99, 1.0), &records, NOW),
            Some(99.0)
        );
        let one = [record(200, 7, &[("a", "ok")])];
        assert_eq!(value(&rule(Signal::LatencyP99, 1.0), &one, NOW), Some(7.0));
    }

    #[test]
    fn budget_thresholds_compare_inclusively() {
        let r = rule(Signal::BudgetThreshold, 0.8);
        assert!(breached(&r, Some(0.8)));
        assert!(breached(&r, Some(1.0)));
        assert!(!breached(&r, Some(0.5)));
        assert!(!breached(&r, None));
    }
}
