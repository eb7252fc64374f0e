#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

/// Compiles a `policies:` section written as JSON.
fn set(policies: serde_json::Value) -> PolicySet {
    let raw: BTreeMap<String, RawPolicy> = serde_json::from_value(policies).unwrap();
    compile(&raw).map(|(set, _)| set).unwrap()
}

fn errors(policies: serde_json::Value) -> Vec<Issue> {
    let raw: BTreeMap<String, RawPolicy> = serde_json::from_value(policies).unwrap();
    compile(&raw)
        .map(|_| ())
        .expect_err("the policies should be refused")
}

fn warnings(policies: serde_json::Value) -> Vec<Issue> {
    let raw: BTreeMap<String, RawPolicy> = serde_json::from_value(policies).unwrap();
    compile(&raw).unwrap().1
}

const KEY: &str = "0123456789abcdef";

struct Req {
    api: Api,
    model: &'static str,
    max_tokens: Option<u64>,
    body_bytes: u64,
    ip: Option<&'static str>,
    headers: Vec<&'static str>,
}

impl Default for Req {
    fn default() -> Self {
        Self {
            api: Api::ChatCompletions,
            model: "gpt-4o-mini",
            max_tokens: None,
            body_bytes: 100,
            ip: Some("10.1.2.3"),
            headers: Vec::new(),
        }
    }
}

fn findings(set: &PolicySet, app: &str, req: &Req) -> Vec<(String, Mode)> {
    let has = |h: &str| req.headers.contains(&h);
    let facts = RequestFacts {
        api: req.api,
        model: req.model,
        max_tokens: req.max_tokens,
        body_bytes: req.body_bytes,
        source_ip: req.ip.map(|ip| ip.parse().unwrap()),
        has_header: &has,
    };
    set.applicable(app, KEY)
        .check(&facts)
        .into_iter()
        .map(|f| (f.rule, f.mode))
        .collect()
}

fn rules(found: &[(String, Mode)]) -> Vec<&str> {
    found.iter().map(|(r, _)| r.as_str()).collect()
}

#[test]
fn no_policy_allows_everything() {
    let set = set(json!({}));
    assert!(set.is_empty());
    assert!(set.applicable("checkout", KEY).is_empty());
    assert!(findings(&set, "checkout", &Req::default()).is_empty());
}

#[test]
fn allowed_models_with_prefixes() {
    let set = set(json!({"environment": {"allowed_models": ["gpt-4o-mini", "claude-*"]}}));
    assert!(findings(&set, "a", &Req::default()).is_empty());
    let claude = Req {
        model: "claude-3-5-haiku",
        ..Req::default()
    };
    assert!(findings(&set, "a", &claude).is_empty());
    let other = Req {
        model: "gpt-4o",
        ..Req::default()
    };
    assert_eq!(
        rules(&findings(&set, "a", &other)),
        ["environment.allowed_models"]
    );
}

#[test]
fn allowed_apis() {
    let set = set(json!({"environment": {"allowed_apis": ["chat_completions"]}}));
    assert!(findings(&set, "a", &Req::default()).is_empty());
    let embed = Req {
        api: Api::Embeddings,
        ..Req::default()
    };
    assert_eq!(
        rules(&findings(&set, "a", &embed)),
        ["environment.allowed_apis"]
    );
}

#[test]
fn max_tokens_and_body_size() {
    let set = set(json!({"environment": {"max_tokens": 1000, "max_body_bytes": 500}}));
    let ok = Req {
        max_tokens: Some(1000),
        body_bytes: 500,
        ..Req::default()
    };
    assert!(findings(&set, "a", &ok).is_empty());
    let no_cap = Req {
        max_tokens: None,
        ..Req::default()
    };
    assert!(findings(&set, "a", &no_cap).is_empty());
    let big = Req {
        max_tokens: Some(1001),
        body_bytes: 501,
        ..Req::default()
    };
    assert_eq!(
        rules(&findings(&set, "a", &big)),
        ["environment.max_tokens", "environment.max_body_bytes"]
    );
    let facts_refusal = set.applicable("a", KEY).check(&RequestFacts {
        api: Api::ChatCompletions,
        model: "m",
        max_tokens: None,
        body_bytes: 501,
        source_ip: None,
        has_header: &|_| false,
    });
    assert_eq!(facts_refusal[0].refusal, Refusal::TooLarge);
    assert_eq!(set.applicable("a", KEY).max_tokens(), Some(1000));
}

#[test]
fn source_networks_match_v4_v6_and_mapped_addresses() {
    let set = set(
        json!({"environment": {"source_networks": ["10.0.0.0/8", "2001:db8::/32", "192.168.1.7"]}}),
    );
    for ip in ["10.1.2.3", "::ffff:10.9.9.9", "2001:db8::1", "192.168.1.7"] {
        let req = Req {
            ip: Some(ip),
            ..Req::default()
        };
        assert!(findings(&set, "a", &req).is_empty(), "{ip}");
    }
    for ip in [Some("192.168.1.8"), Some("11.0.0.1"), None] {
        let req = Req {
            ip,
            ..Req::default()
        };
        assert_eq!(
            rules(&findings(&set, "a", &req)),
            ["environment.source_networks"],
            "{ip:?}"
        );
    }
}

#[test]
fn required_metadata() {
    let set = set(json!({"environment": {"required_metadata": ["X-End-User-Id"]}}));
    assert_eq!(
        rules(&findings(&set, "a", &Req::default())),
        ["environment.required_metadata"]
    );
    let with = Req {
        headers: vec!["x-end-user-id"],
        ..Req::default()
    };
    assert!(findings(&set, "a", &with).is_empty());
}

#[test]
fn narrower_scopes_tighten() {
    let set = set(json!({
        "environment": {"allowed_models": ["gpt-4o-mini", "gpt-4o"], "max_tokens": 4096},
        "app/checkout": {"allowed_models": ["gpt-4o-mini"], "max_tokens": 8000},
    }));
    // The app's list narrows the environment's.
    let big_model = Req {
        model: "gpt-4o",
        ..Req::default()
    };
    assert_eq!(
        rules(&findings(&set, "checkout", &big_model)),
        ["app/checkout.allowed_models"]
    );
    assert!(findings(&set, "search", &big_model).is_empty());
    // The app's looser cap does not loosen the environment's.
    let req = Req {
        max_tokens: Some(5000),
        ..Req::default()
    };
    assert_eq!(
        rules(&findings(&set, "checkout", &req)),
        ["environment.max_tokens"]
    );
    assert_eq!(set.applicable("checkout", KEY).max_tokens(), Some(4096));
}

#[test]
fn narrower_scopes_loosen_only_what_is_overridable() {
    let set = set(json!({
        "environment": {"allowed_models": ["gpt-4o-mini"], "max_tokens": 4096,
                        "overridable": ["allowed_models"]},
        "app/research": {"allowed_models": ["gpt-4o", "gpt-4o-mini"], "max_tokens": 16000},
    }));
    let big_model = Req {
        model: "gpt-4o",
        ..Req::default()
    };
    assert!(findings(&set, "research", &big_model).is_empty());
    assert_eq!(
        rules(&findings(&set, "other", &big_model)),
        ["environment.allowed_models"]
    );
    let req = Req {
        max_tokens: Some(5000),
        ..Req::default()
    };
    assert_eq!(
        rules(&findings(&set, "research", &req)),
        ["environment.max_tokens"]
    );
}

#[test]
fn specific_scopes_replace_wildcards_and_keys_apply_last() {
    let set = set(json!({
        "app/*": {"max_tokens": 100},
        "app/batch": {"max_tokens": 1000},
        "key/*": {"allowed_apis": ["chat_completions", "embeddings"]},
        format!("key/{KEY}"): {"allowed_apis": ["embeddings"]},
    }));
    let req = Req {
        max_tokens: Some(500),
        ..Req::default()
    };
    assert_eq!(
        rules(&findings(&set, "web", &req)),
        [
            format!("key/{KEY}.allowed_apis").as_str(),
            "app/*.max_tokens"
        ]
    );
    assert_eq!(
        rules(&findings(&set, "batch", &req)),
        [format!("key/{KEY}.allowed_apis")]
    );
    let other_key: Vec<String> = set
        .applicable("batch", "ffffffffffffffff")
        .scopes()
        .map(|s| s.id.clone())
        .collect();
    assert_eq!(other_key, ["app/batch", "key/*"]);
}

#[test]
fn shadow_findings_carry_their_scopes_mode() {
    let set = set(json!({
        "environment": {"allowed_models": ["gpt-4o-mini", "gpt-4o"]},
        "app/checkout": {"mode": "shadow", "allowed_models": ["gpt-4o-mini"]},
    }));
    let req = Req {
        model: "gpt-4o",
        ..Req::default()
    };
    assert_eq!(
        findings(&set, "checkout", &req),
        [("app/checkout.allowed_models".to_owned(), Mode::Shadow)]
    );
    let req = Req {
        model: "o1",
        ..Req::default()
    };
    assert_eq!(
        findings(&set, "checkout", &req),
        [
            ("environment.allowed_models".to_owned(), Mode::Enforce),
            ("app/checkout.allowed_models".to_owned(), Mode::Shadow)
        ]
    );
}

#[test]
fn explain_lists_passes_too() {
    let set = set(json!({"environment": {"allowed_models": ["gpt-4o-mini"], "max_tokens": 10}}));
    let facts = RequestFacts {
        api: Api::ChatCompletions,
        model: "gpt-4o-mini",
        max_tokens: Some(20),
        body_bytes: 1,
        source_ip: None,
        has_header: &|_| false,
    };
    let checks = set.applicable("a", KEY).explain(&facts);
    let summary: Vec<(&str, bool)> = checks.iter().map(|c| (c.rule.as_str(), c.passed)).collect();
    assert_eq!(
        summary,
        [
            ("environment.allowed_models", true),
            ("environment.max_tokens", false)
        ]
    );
    assert!(
        checks[1].message.contains("at most 10"),
        "{}",
        checks[1].message
    );
}

#[test]
fn limits_are_listed_per_scope_with_rule_ids() {
    let set = set(json!({
        "environment": {"rate_limit": {"rpm": 600, "tpm": 200000, "concurrency": 50},
                        "budget": {"usd_per_day": "50", "usd_per_month": "1000", "alert_at": ["0.8", "1.0"]}},
        "app/checkout": {"mode": "shadow", "budget": {"usd_per_day": "5"}},
    }));
    let limits: Vec<(String, LimitKind, Mode, Vec<u32>)> = set
        .applicable("checkout", KEY)
        .limits()
        .map(|l| (l.rule.clone(), l.kind, l.mode, l.alert_at_permille.clone()))
        .collect();
    assert_eq!(
        limits,
        [
            (
                "environment.rate_limit.rpm".into(),
                LimitKind::RequestsPerMinute(600),
                Mode::Enforce,
                vec![]
            ),
            (
                "environment.rate_limit.tpm".into(),
                LimitKind::TokensPerMinute(200_000),
                Mode::Enforce,
                vec![]
            ),
            (
                "environment.rate_limit.concurrency".into(),
                LimitKind::Concurrency(50),
                Mode::Enforce,
                vec![]
            ),
            (
                "environment.budget.usd_per_day".into(),
                LimitKind::UsdMicrosPerDay(50_000_000),
                Mode::Enforce,
                vec![800, 1000]
            ),
            (
                "environment.budget.usd_per_month".into(),
                LimitKind::UsdMicrosPerMonth(1_000_000_000),
                Mode::Enforce,
                vec![800, 1000]
            ),
            (
                "app/checkout.budget.usd_per_day".into(),
                LimitKind::UsdMicrosPerDay(5_000_000),
                Mode::Shadow,
                vec![]
            ),
        ]
    );
}

#[test]
fn content_deny_and_redact() {
    let set = set(json!({
        "environment": {"content": {
            "deny": [{"id": "falcon", "pattern": "(?i)project falcon", "message": "Project Falcon is confidential"}],
            "redact": ["email", "card"]}},
    }));
    let applicable = set.applicable("a", KEY);
    assert!(applicable.has_content_rules());
    let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "mail bob@example.com card 4111 1111 1111 1111"}]});
    let outcome = applicable.apply_content(&mut body);
    assert!(outcome.findings.is_empty());
    assert!(outcome.modified);
    assert_eq!(
        body["messages"][0]["content"],
        "mail [REDACTED_EMAIL] card [REDACTED_CARD]"
    );
    assert_eq!(outcome.redactions.len(), 2);

    let mut body = json!({"messages": [{"role": "user", "content": "status of PROJECT FALCON?"}]});
    let outcome = applicable.apply_content(&mut body);
    assert_eq!(outcome.findings.len(), 1);
    assert_eq!(outcome.findings[0].rule, "environment.content.deny.falcon");
    assert!(
        outcome.findings[0]
            .message
            .starts_with("Project Falcon is confidential")
    );
}

#[test]
fn shadow_redaction_counts_without_changing_the_body() {
    let set = set(json!({"environment": {"mode": "shadow", "content": {"redact": ["secret"]}}}));
    let mut body = json!({"messages": [{"role": "user", "content": "key sk-proj-abcdefghijklmnopqrstuvwxyz"}]});
    let before = body.clone();
    let outcome = set.applicable("a", KEY).apply_content(&mut body);
    assert_eq!(body, before);
    assert!(!outcome.modified);
    assert_eq!(
        outcome.redactions,
        [Redaction {
            kind: PiiKind::Secret,
            mode: Mode::Shadow,
            count: 1
        }]
    );
}

#[test]
fn errors_name_the_field() {
    let found = errors(json!({
        "environment": {"mode": "audit", "max_tokens": 0, "source_networks": ["10.0.0.0/33"],
                        "allowed_apis": ["responses"], "budget": {"usd_per_day": "-1", "alert_at": ["1.5.0"]},
                        "content": {"deny": [{"id": "x", "pattern": "("}], "redact": ["ssn"]},
                        "overridable": ["budget"], "on_counter_failure": "maybe"},
        "app/Bad Name": {},
        "team/x": {},
        "key/short": {},
        "app/ok": {"on_counter_failure": "closed"},
    }));
    let paths: Vec<&str> = found.iter().map(|i| i.path.as_str()).collect();
    for expected in [
        "policies.environment.mode",
        "policies.environment.max_tokens",
        "policies.environment.source_networks[0]",
        "policies.environment.allowed_apis[0]",
        "policies.environment.budget.usd_per_day",
        "policies.environment.budget.alert_at[0]",
        "policies.environment.content.deny[0].pattern",
        "policies.environment.content.redact[0]",
        "policies.environment.overridable[0]",
        "policies.app/Bad Name",
        "policies.team/x",
        "policies.key/short",
        "policies.app/ok.on_counter_failure",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
}

#[test]
fn on_counter_failure_defaults_to_open() {
    assert_eq!(set(json!({})).on_counter_failure(), CounterFailure::Open);
    let closed = set(json!({"environment": {"on_counter_failure": "closed"}}));
    assert_eq!(closed.on_counter_failure(), CounterFailure::Closed);
}

#[test]
fn looser_narrower_values_warn() {
    let found = warnings(json!({
        "environment": {"max_tokens": 4096, "allowed_models": ["gpt-4o-mini"]},
        "app/checkout": {"max_tokens": 8000, "allowed_models": ["gpt-4o"]},
    }));
    let paths: Vec<&str> = found.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "policies.app/checkout.max_tokens",
            "policies.app/checkout.allowed_models"
        ]
    );
}

#[test]
fn usd_formats_micros() {
    assert_eq!(usd(5_000_000), "$5.00");
    assert_eq!(usd(1_500), "$0.0015");
    assert_eq!(usd(0), "$0.00");
}

#[test]
fn model_listing_follows_enforced_allowed_models() {
    let set = set(json!({
        "environment": {"allowed_models": ["gpt-4o-mini", "claude-*"]},
        "app/checkout": {"mode": "shadow", "allowed_models": ["gpt-4o-mini"]},
    }));
    let applicable = set.applicable("checkout", KEY);
    assert!(applicable.model_allowed("gpt-4o-mini"));
    assert!(
        applicable.model_allowed("claude-3-haiku"),
        "shadow rules hide nothing"
    );
    assert!(!applicable.model_allowed("gpt-4o"));
    assert!(set.applicable("x", KEY).model_allowed("claude-3-haiku"));
    assert!(
        PolicySet::default()
            .applicable("x", KEY)
            .model_allowed("anything")
    );
}
