use sentinel_core::{AttemptRecord, PolicyFinding, PolicyOutcome};

use super::*;
use crate::record::WriterStats;

/// The value of the sample of `name` whose labels include every one of
/// `labels` (`key="value"` pairs), if exactly one matches.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let mut found = text.lines().filter(|line| {
        !line.starts_with('#')
            && line.split_once(['{', ' ']).is_some_and(|(n, _)| n == name)
            && labels.iter().all(|l| line.contains(l))
    });
    let line = found.next()?;
    assert!(
        found.next().is_none(),
        "{name} {labels:?} matches more than one sample"
    );
    line.rsplit_once(' ')?.1.parse().ok()
}

fn writer() -> WriterStats {
    WriterStats {
        capacity: 10,
        written: 3.into(),
        dropped: 1.into(),
        spooled: 2.into(),
        failing: false.into(),
    }
}

fn answered() -> RequestRecord {
    RequestRecord {
        id: "r1".into(),
        env_name: Some("prod".into()),
        app_name: Some("web".into()),
        key_id: Some("k0123456789abcdef".into()),
        ingress: "chat_completions".into(),
        requested_model: Some("client-chosen-model".into()),
        route_plan: Some("chat".into()),
        provider: Some("backup".into()),
        status: 200,
        latency_ms: 120,
        prompt_tokens: Some(11),
        completion_tokens: Some(3),
        cost_micros: Some(58),
        attempts: vec![
            AttemptRecord {
                provider: "primary".into(),
                upstream_model: "m1".into(),
                outcome: "server_error".into(),
                next: Some("retry: server_error".into()),
                ..AttemptRecord::default()
            },
            AttemptRecord {
                provider: "primary".into(),
                upstream_model: "m1".into(),
                outcome: "timeout".into(),
                next: Some("fallback: timeout".into()),
                ..AttemptRecord::default()
            },
            AttemptRecord {
                provider: "backup".into(),
                upstream_model: "m2".into(),
                outcome: "ok".into(),
                ..AttemptRecord::default()
            },
        ],
        ..RequestRecord::default()
    }
}

#[test]
fn a_record_becomes_bounded_samples() {
    let metrics = Metrics::new();
    metrics.observe(&answered());
    metrics.observe(&answered());
    let refused = RequestRecord {
        id: "r2".into(),
        env_name: Some("prod".into()),
        app_name: Some("web".into()),
        key_id: Some("k0123456789abcdef".into()),
        ingress: "chat_completions".into(),
        status: 403,
        error_code: Some("policy_denied".into()),
        latency_ms: 1,
        policy: Some(PolicyOutcome {
            decision: "denied".into(),
            rule: Some("key/k0123456789abcdef.max_tokens".into()),
            findings: vec![PolicyFinding {
                rule: "app/web.allowed_models".into(),
                mode: "shadow".into(),
                message: "m".into(),
            }],
            counters: Some("open".into()),
            ..PolicyOutcome::default()
        }),
        ..RequestRecord::default()
    };
    metrics.observe(&refused);
    let text = metrics.render(&[], &writer(), 4);

    let ok = [
        "environment=\"prod\"",
        "application=\"web\"",
        "route=\"chat\"",
        "provider=\"backup\"",
        "status_class=\"2xx\"",
    ];
    assert_eq!(sample(&text, "sentinel_requests_total", &ok), Some(2.0));
    assert_eq!(
        sample(&text, "sentinel_request_duration_seconds_count", &ok),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "sentinel_request_duration_seconds_bucket",
            &[&ok[..], &["le=\"0.25\""]].concat()
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "sentinel_request_duration_seconds_bucket",
            &[&ok[..], &["le=\"0.1\""]].concat()
        ),
        Some(0.0)
    );
    let refused_labels = [
        "route=\"none\"",
        "provider=\"none\"",
        "status_class=\"4xx\"",
    ];
    assert_eq!(
        sample(&text, "sentinel_requests_total", &refused_labels),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "sentinel_request_errors_total",
            &["code=\"policy_denied\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "sentinel_upstream_attempts_total",
            &["provider=\"primary\"", "outcome=\"server_error\""]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "sentinel_upstream_attempts_total",
            &["provider=\"backup\"", "outcome=\"ok\""]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "sentinel_retries_total", &["route=\"chat\""]),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "sentinel_fallbacks_total", &["provider=\"primary\""]),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "sentinel_tokens_total", &["kind=\"prompt\""]),
        Some(22.0)
    );
    assert_eq!(
        sample(&text, "sentinel_tokens_total", &["kind=\"completion\""]),
        Some(6.0)
    );
    assert_eq!(
        sample(&text, "sentinel_cost_usd_micros_total", &ok[..4]),
        Some(116.0)
    );
    assert_eq!(
        sample(
            &text,
            "sentinel_policy_refusals_total",
            &["rule=\"key/{id}.max_tokens\"", "kind=\"denied\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "sentinel_policy_shadow_findings_total",
            &["rule=\"app/web.allowed_models\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "sentinel_counter_failures_total", &["mode=\"open\""]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "sentinel_record_writer_backlog", &[]),
        Some(4.0)
    );
    assert_eq!(
        sample(&text, "sentinel_records_dropped_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "sentinel_records_spooled_total", &[]),
        Some(2.0)
    );
    // No runtime of this test spins; the counters are there, at zero.
    assert_eq!(sample(&text, "sentinel_idle_spins_total", &[]), Some(0.0));
    assert_eq!(
        sample(&text, "sentinel_idle_spins_caught_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            "sentinel_build_info",
            &[&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    // Nothing client-controlled or identifying becomes a label.
    for forbidden in ["client-chosen-model", "k0123456789abcdef"] {
        assert!(
            !text.contains(forbidden),
            "{forbidden} leaked into the metrics:\n{text}"
        );
    }
}

#[test]
fn each_gateway_counts_only_its_own_requests() {
    let a = Metrics::new();
    let b = Metrics::new();
    a.observe(&answered());
    let text = b.render(&[], &writer(), 0);
    assert_eq!(
        sample(&text, "sentinel_requests_total", &[]),
        None,
        "{text}"
    );
    assert!(sample(&a.render(&[], &writer(), 0), "sentinel_requests_total", &[]).is_some());
}

#[test]
fn breaker_state_is_read_at_scrape_time() {
    let endpoint = |model: &str, breaker: &'static str| EndpointHealth {
        org_id: "o".into(),
        environment: "prod".into(),
        provider: "p\"q".into(),
        model: model.into(),
        breaker,
        open_until: None,
        successes: 0,
        failures: 0,
        transitions: 0,
        last_transition_at: None,
        recent_errors: Vec::new(),
        window: crate::endpoint::Window::default(),
    };
    let text = Metrics::new().render(
        &[
            endpoint("a", "open"),
            endpoint("b", "half_open"),
            endpoint("c", "closed"),
        ],
        &writer(),
        0,
    );
    assert_eq!(
        sample(
            &text,
            "sentinel_breaker_open",
            &["model=\"a\"", "provider=\"p\\\"q\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "sentinel_breaker_open", &["model=\"b\""]),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "sentinel_breaker_open", &["model=\"c\""]),
        Some(0.0)
    );
}

#[test]
fn key_scoped_rules_hide_the_key_id() {
    assert_eq!(rule_label("key/abc.max_tokens"), "key/{id}.max_tokens");
    assert_eq!(rule_label("key/abc"), "key/{id}");
    assert_eq!(rule_label("key/*.rate_limit.rpm"), "key/*.rate_limit.rpm");
    assert_eq!(
        rule_label("app/web.allowed_models"),
        "app/web.allowed_models"
    );
    assert_eq!(
        rule_label("environment.content.deny.x"),
        "environment.content.deny.x"
    );
}
