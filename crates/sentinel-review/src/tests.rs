//! Each question and checklist item judged on a fixture that passes it and
//! one that fails it, and the JSON form checked against the schema kept in
//! the repo (`docs/schemas/review.schema.json`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use sentinel_config::parse_document;
use sentinel_core::{
    ApiKey, Delivery, Environment, ProviderProbe, SecretMeta, VerifyRun, VerifyStep, VerifyStepKind,
};

use crate::{Facts, MasterKeyOrigin, RevisionFacts, ServerFacts, Status, Traffic, judge, render};

const NOW: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

const DOCUMENT: &str = r#"
providers:
  openai-main:
    kind: openai
    base_url: https://api.openai.com/v1
    credential: secret:openai-prod
  backup:
    kind: openai_compatible
    base_url: https://backup.example.com/v1
    credential: secret:backup-prod
route_plans:
  chat:
    models: [chat-default]
    targets:
      - { provider: openai-main, model: gpt-4o-mini }
      - { provider: backup, model: llama-3.1-8b }
    retry: { max_attempts: 3 }
    timeouts: { connect_ms: 2000, total_ms: 60000 }
    circuit_breaker: { failure_ratio: 0.5, min_requests: 20, window_s: 30, open_s: 30 }
policies:
  environment:
    mode: enforce
    allowed_models: [chat-default]
retention:
  requests_days: 30
  audit_days: 365
alerts:
  - { name: provider-errors, when: { signal: provider_error_rate, above: 0.05 }, notify: [oncall] }
  - { name: timeouts, when: { signal: timeout_rate, above: 0.02 }, notify: [oncall] }
  - { name: denials, when: { signal: policy_denial_rate, above: 0.2 }, notify: [oncall] }
alert_destinations:
  oncall: { kind: webhook, url: "https://hooks.example.com/sentinel" }
rollout:
  open_to: [checkout]
"#;

fn env(id: &str, name: &str, protected: bool, hosts: &[&str]) -> Environment {
    Environment {
        id: id.to_owned(),
        org_id: "org".to_owned(),
        name: name.to_owned(),
        protected,
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        created_at: NOW - 90 * DAY,
    }
}

fn secret(env_id: &str, name: &str, fingerprint: &str) -> SecretMeta {
    SecretMeta {
        id: format!("{env_id}-{name}"),
        org_id: "org".to_owned(),
        env_id: env_id.to_owned(),
        name: name.to_owned(),
        version: 2,
        fingerprint: fingerprint.to_owned(),
        created_at: NOW - 10 * DAY,
        updated_at: NOW - 2 * DAY,
    }
}

fn probe(provider: &str, model: &str, ok: bool, time: i64) -> ProviderProbe {
    ProviderProbe {
        provider: provider.to_owned(),
        model: model.to_owned(),
        ok,
        status: Some(if ok { 200 } else { 401 }),
        latency_ms: 120,
        error: (!ok).then(|| "the provider answered HTTP 401".to_owned()),
        time,
    }
}

fn step(kind: VerifyStepKind, ok: bool) -> VerifyStep {
    VerifyStep {
        kind,
        name: format!("{kind:?}"),
        ok,
        duration_ms: 12,
        detail: if ok {
            "ok".to_owned()
        } else {
            "HTTP 502".to_owned()
        },
        request_id: Some("0193-req".to_owned()),
    }
}

fn verify_run(ok: bool, started_at: i64) -> VerifyRun {
    use VerifyStepKind::*;
    let steps = vec![
        step(Setup, true),
        step(Request, ok),
        step(Fallback, true),
        step(KeyCreate, true),
        step(KeyRotate, true),
        step(KeyRevoke, true),
        step(ProviderTest, true),
        step(RequestLookup, true),
        step(Cleanup, true),
    ];
    VerifyRun {
        id: "run-1".to_owned(),
        env_id: "env-staging".to_owned(),
        actor: "op-1".to_owned(),
        started_at,
        duration_ms: 900,
        ok,
        steps,
    }
}

/// A production environment that passes every item.
fn passing() -> Facts {
    let document = parse_document(DOCUMENT).unwrap();
    let current = RevisionFacts {
        revision: 3,
        author: "alice".to_owned(),
        message: "open prod to checkout".to_owned(),
        created_at: NOW - 5 * DAY,
        route_plans: document
            .route_plans
            .iter()
            .map(|(n, p)| (n.clone(), serde_json::to_value(p).unwrap()))
            .collect(),
        staged: true,
    };
    let mut traffic = BTreeMap::new();
    traffic.insert(
        "prod".to_owned(),
        Traffic {
            records: 40,
            shadow_findings: 0,
            refusals: BTreeMap::from([("denied".to_owned(), 2)]),
            applications: vec!["checkout".to_owned()],
        },
    );
    traffic.insert(
        "staging".to_owned(),
        Traffic {
            records: 300,
            shadow_findings: 12,
            ..Traffic::default()
        },
    );
    Facts {
        now: NOW,
        organization: "default".to_owned(),
        server: ServerFacts {
            store_backend: "postgres".to_owned(),
            master_key: MasterKeyOrigin::Environment,
            otlp_traces: true,
            redis_counters: true,
            gateway_tls: true,
            console_tls: true,
        },
        env: env("env-prod", "prod", true, &["llm.example.com"]),
        others: vec![env(
            "env-staging",
            "staging",
            false,
            &["llm.staging.example.com"],
        )],
        staging: Some("staging".to_owned()),
        history: vec![current],
        document: Some(document),
        secrets: vec![
            secret("env-prod", "openai-prod", "fp-a"),
            secret("env-prod", "backup-prod", "fp-b"),
        ],
        other_secrets: vec![(
            "staging".to_owned(),
            secret("env-staging", "openai-staging", "fp-c"),
        )],
        keys: vec![ApiKey {
            id: "0123456789abcdef".to_owned(),
            org_id: "org".to_owned(),
            env_id: "env-prod".to_owned(),
            app_id: "app".to_owned(),
            name: "checkout".to_owned(),
            prefix: "snt_prod_0123456789abcdef".to_owned(),
            digest_hex: "never shown".to_owned(),
            revoked_at: None,
            expires_at: None,
            created_at: NOW - DAY,
            last_used_at: None,
        }],
        provider_tests: vec![
            (
                "staging".to_owned(),
                probe("openai-main", "gpt-4o-mini", true, NOW - HOUR),
            ),
            (
                "prod".to_owned(),
                probe("backup", "llama-3.1-8b", true, NOW - 2 * HOUR),
            ),
        ],
        deliveries: vec![Delivery {
            destination: "oncall".to_owned(),
            kind: "webhook".to_owned(),
            ok: true,
            attempts: 1,
            status: Some(200),
            error: None,
            at: NOW - 3 * DAY,
        }],
        traffic,
        workflow_actions: BTreeMap::from([
            ("key.create".to_owned(), ("staging".to_owned(), NOW - DAY)),
            ("key.rotate".to_owned(), ("prod".to_owned(), NOW - DAY)),
            (
                "providers.test".to_owned(),
                ("staging".to_owned(), NOW - HOUR),
            ),
        ]),
        audit_exported_seq: 42,
        verify_runs: vec![("staging".to_owned(), verify_run(true, NOW - HOUR))],
    }
}

fn status(facts: &Facts, id: &str) -> Status {
    let review = judge(facts);
    let item = review
        .items()
        .find(|i| i.id == id)
        .unwrap_or_else(|| panic!("no item {id}"));
    assert_eq!(
        item.fix.is_none(),
        item.status == Status::Pass,
        "{id}: a fix exactly when not passing"
    );
    item.status
}

fn with_document(yaml_edit: impl Fn(&mut sentinel_config::RawEnvDocument)) -> Facts {
    let mut facts = passing();
    yaml_edit(facts.document.as_mut().unwrap());
    facts
}

#[test]
fn the_passing_fixture_passes_every_item_and_is_ready() {
    let review = judge(&passing());
    for item in review.items() {
        assert_eq!(
            item.status,
            Status::Pass,
            "{}: {:?}",
            item.id,
            item.evidence
        );
        assert!(!item.evidence.is_empty(), "{} has evidence", item.id);
    }
    assert!(review.ready);
    assert!(review.passes_gate(true));
    assert_eq!(review.summary.fail, 0);
    assert_eq!(review.config_revision, Some(3));
    assert!(review.questions.iter().all(|q| q.status == Status::Pass));
}

/// Every item id, so a new item cannot be added without fixtures.
const ITEMS: &[&str] = &[
    "ownership.keys",
    "ownership.master_key",
    "ownership.provider_secrets",
    "ownership.route_definitions",
    "separation.hosts",
    "separation.credentials",
    "separation.keys",
    "separation.protected",
    "detection.provider_errors",
    "detection.timeouts",
    "detection.policy_denials",
    "detection.delivery",
    "detection.endpoints",
    "triage.request_id",
    "triage.records",
    "triage.path",
    "checklist.provider_connectivity",
    "checklist.route_plans",
    "checklist.policy_traffic",
    "checklist.retention_export",
    "checklist.operator_workflows",
    "checklist.staged_rollout",
    "checklist.verify",
];

#[test]
fn the_item_list_is_complete() {
    let review = judge(&passing());
    let ids: Vec<&str> = review.items().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ITEMS);
}

#[test]
fn ownership_fails_on_a_demo_master_key_a_missing_secret_or_no_config() {
    let mut facts = passing();
    facts.server.master_key = MasterKeyOrigin::Generated {
        path: "/data/master.key".into(),
    };
    assert_eq!(status(&facts, "ownership.master_key"), Status::Fail);
    facts.server.master_key = MasterKeyOrigin::Unknown;
    assert_eq!(status(&facts, "ownership.master_key"), Status::Unknown);

    let mut facts = passing();
    facts.secrets.retain(|s| s.name != "backup-prod");
    assert_eq!(status(&facts, "ownership.provider_secrets"), Status::Fail);

    let mut facts = passing();
    facts.document = None;
    facts.history.clear();
    assert_eq!(status(&facts, "ownership.route_definitions"), Status::Fail);
    let review = judge(&facts);
    assert_eq!(review.questions[0].status, Status::Fail);
    assert!(!review.ready);
}

#[test]
fn route_definitions_name_the_revision_and_author_that_defined_each_plan() {
    let mut facts = passing();
    let mut older = facts.history[0].clone();
    older.revision = 2;
    older.author = "bob".to_owned();
    older.message = "add chat".to_owned();
    let mut oldest = older.clone();
    oldest.revision = 1;
    oldest.route_plans.clear();
    facts.history.push(older);
    facts.history.push(oldest);
    let review = judge(&facts);
    let item = review
        .items()
        .find(|i| i.id == "ownership.route_definitions")
        .unwrap();
    assert!(
        item.evidence
            .iter()
            .any(|e| e.contains("route plan chat: as defined by revision 2 by bob")),
        "{:?}",
        item.evidence
    );
}

#[test]
fn separation_fails_on_shared_hosts_shared_credentials_foreign_keys_or_unprotected_prod() {
    let mut facts = passing();
    facts.env.hosts.clear();
    assert_eq!(status(&facts, "separation.hosts"), Status::Fail);
    let mut facts = passing();
    facts.others[0].hosts.push("LLM.example.com".to_owned());
    assert_eq!(status(&facts, "separation.hosts"), Status::Fail);

    let mut facts = passing();
    facts.other_secrets[0].1.fingerprint = "fp-a".to_owned();
    assert_eq!(status(&facts, "separation.credentials"), Status::Fail);
    let evidence = judge(&facts)
        .items()
        .find(|i| i.id == "separation.credentials")
        .unwrap()
        .evidence
        .join("\n");
    assert!(
        evidence.contains("openai-prod") && evidence.contains("staging"),
        "{evidence}"
    );

    let mut facts = passing();
    facts.keys[0].prefix = "snt_staging_0123456789abcdef".to_owned();
    assert_eq!(status(&facts, "separation.keys"), Status::Fail);

    let mut facts = passing();
    facts.env.protected = false;
    assert_eq!(status(&facts, "separation.protected"), Status::Fail);
    assert!(
        !judge(&facts).ready,
        "unprotected prod is a required failure"
    );
    // A staging environment need not be protected: informational only.
    facts.env.name = "staging".to_owned();
    facts.keys[0].prefix = "snt_staging_0123456789abcdef".to_owned();
    let review = judge(&facts);
    let item = review
        .items()
        .find(|i| i.id == "separation.protected")
        .unwrap();
    assert_eq!((item.status, item.required), (Status::Fail, false));
}

#[test]
fn detection_fails_without_alert_rules_or_when_destinations_fail() {
    for (signal, id) in [
        ("provider_error_rate", "detection.provider_errors"),
        ("timeout_rate", "detection.timeouts"),
        ("policy_denial_rate", "detection.policy_denials"),
    ] {
        let facts = with_document(|d| d.alerts.retain(|r| r.when.signal != signal));
        assert_eq!(status(&facts, id), Status::Fail, "{id}");
        // A rule that notifies nobody does not count.
        let facts = with_document(|d| {
            for rule in d.alerts.iter_mut().filter(|r| r.when.signal == signal) {
                rule.notify.clear();
            }
        });
        assert_eq!(status(&facts, id), Status::Fail, "{id} without notify");
    }
    // error_rate also covers provider errors.
    let facts = with_document(|d| {
        for rule in &mut d.alerts {
            if rule.when.signal == "provider_error_rate" {
                rule.when.signal = "error_rate".to_owned();
            }
        }
    });
    assert_eq!(status(&facts, "detection.provider_errors"), Status::Pass);

    let mut facts = passing();
    facts.deliveries[0].ok = false;
    facts.deliveries[0].error = Some("connect error".to_owned());
    assert_eq!(status(&facts, "detection.delivery"), Status::Fail);
    facts.deliveries.clear();
    assert_eq!(status(&facts, "detection.delivery"), Status::Unknown);
    let facts = with_document(|d| d.alerts.clear());
    assert_eq!(status(&facts, "detection.delivery"), Status::Fail);
    assert_eq!(judge(&facts).questions[2].status, Status::Fail);
}

#[test]
fn triage_fails_on_short_retention_or_a_failed_lookup() {
    let facts = with_document(|d| d.retention.as_mut().unwrap().requests_days = Some(2));
    assert_eq!(status(&facts, "triage.records"), Status::Fail);

    let mut facts = passing();
    for step in &mut facts.verify_runs[0].1.steps {
        if step.kind == VerifyStepKind::RequestLookup {
            step.ok = false;
        }
    }
    facts.verify_runs[0].1.ok = false;
    assert_eq!(status(&facts, "triage.path"), Status::Fail);
    assert_eq!(judge(&facts).questions[3].status, Status::Fail);
    facts.verify_runs.clear();
    assert_eq!(status(&facts, "triage.path"), Status::Unknown);
}

#[test]
fn connectivity_fails_when_a_pair_is_untested_failed_or_stale() {
    let mut facts = passing();
    facts.provider_tests.pop();
    assert_eq!(
        status(&facts, "checklist.provider_connectivity"),
        Status::Fail
    );

    let mut facts = passing();
    facts.provider_tests[0].1 = probe("openai-main", "gpt-4o-mini", false, NOW - HOUR);
    assert_eq!(
        status(&facts, "checklist.provider_connectivity"),
        Status::Fail
    );
    // A newer success in the environment itself outweighs the failure.
    facts.provider_tests.push((
        "prod".to_owned(),
        probe("openai-main", "gpt-4o-mini", true, NOW - 60_000),
    ));
    assert_eq!(
        status(&facts, "checklist.provider_connectivity"),
        Status::Pass
    );

    let mut facts = passing();
    facts.provider_tests[0].1.time = NOW - 8 * DAY;
    assert_eq!(
        status(&facts, "checklist.provider_connectivity"),
        Status::Fail
    );
}

#[test]
fn route_plans_fail_without_retries_timeouts_or_breakers() {
    let facts = with_document(|d| d.route_plans.get_mut("chat").unwrap().circuit_breaker = None);
    assert_eq!(status(&facts, "checklist.route_plans"), Status::Fail);
    let facts = with_document(|d| d.route_plans.get_mut("chat").unwrap().timeouts = None);
    assert_eq!(status(&facts, "checklist.route_plans"), Status::Fail);
    let facts = with_document(|d| {
        let plan = d.route_plans.get_mut("chat").unwrap();
        plan.retry = None;
        plan.targets.truncate(1);
    });
    assert_eq!(status(&facts, "checklist.route_plans"), Status::Fail);
    // One target with retries is enough.
    let facts = with_document(|d| d.route_plans.get_mut("chat").unwrap().targets.truncate(1));
    assert_eq!(status(&facts, "checklist.route_plans"), Status::Pass);
}

#[test]
fn policy_traffic_fails_without_policies_or_without_traffic_that_shows_them_acting() {
    let facts = with_document(|d| d.policies.clear());
    assert_eq!(status(&facts, "checklist.policy_traffic"), Status::Fail);
    let mut facts = passing();
    for traffic in facts.traffic.values_mut() {
        traffic.refusals.clear();
        traffic.shadow_findings = 0;
    }
    assert_eq!(status(&facts, "checklist.policy_traffic"), Status::Fail);
    facts.traffic.get_mut("staging").unwrap().shadow_findings = 1;
    assert_eq!(status(&facts, "checklist.policy_traffic"), Status::Pass);
}

#[test]
fn retention_export_fails_without_retention_or_an_audit_export() {
    let facts = with_document(|d| d.retention.as_mut().unwrap().audit_days = None);
    assert_eq!(status(&facts, "checklist.retention_export"), Status::Fail);
    let facts = with_document(|d| d.retention = None);
    assert_eq!(status(&facts, "checklist.retention_export"), Status::Fail);
    let mut facts = passing();
    facts.audit_exported_seq = 0;
    assert_eq!(status(&facts, "checklist.retention_export"), Status::Fail);
}

#[test]
fn operator_workflows_fail_until_keys_providers_and_triage_were_exercised() {
    let mut facts = passing();
    facts.workflow_actions.remove("key.rotate");
    // The verify run rotated a key: that counts.
    assert_eq!(status(&facts, "checklist.operator_workflows"), Status::Pass);
    facts.verify_runs.clear();
    assert_eq!(status(&facts, "checklist.operator_workflows"), Status::Fail);
    let review = judge(&facts);
    let item = review
        .items()
        .find(|i| i.id == "checklist.operator_workflows")
        .unwrap();
    assert!(
        item.fix.as_deref().unwrap().contains("rotate"),
        "{:?}",
        item.fix
    );
}

#[test]
fn staged_rollout_passes_on_open_to_a_canary_or_history() {
    let mut facts = with_document(|d| d.rollout = None);
    facts.history[0].staged = false;
    assert_eq!(status(&facts, "checklist.staged_rollout"), Status::Fail);
    // An earlier revision staged the rollout.
    let mut earlier = facts.history[0].clone();
    earlier.revision = 2;
    earlier.staged = true;
    facts.history.push(earlier);
    assert_eq!(status(&facts, "checklist.staged_rollout"), Status::Pass);

    let mut facts = with_document(|d| {
        d.rollout = None;
        let plan = d.route_plans.get_mut("chat").unwrap();
        plan.canary = Some(sentinel_config::RawCanary {
            share: Some(0.1),
            targets: plan.targets.clone(),
            ..Default::default()
        });
    });
    facts.history[0].staged = false;
    assert_eq!(status(&facts, "checklist.staged_rollout"), Status::Pass);
}

#[test]
fn verify_fails_when_never_run_failed_or_stale() {
    let mut facts = passing();
    facts.verify_runs[0].1 = verify_run(false, NOW - HOUR);
    assert_eq!(status(&facts, "checklist.verify"), Status::Fail);
    facts.verify_runs[0].1 = verify_run(true, NOW - 9 * DAY);
    assert_eq!(status(&facts, "checklist.verify"), Status::Fail);
    facts.verify_runs.clear();
    assert_eq!(status(&facts, "checklist.verify"), Status::Fail);
}

#[test]
fn unknown_only_blocks_a_strict_gate() {
    let mut facts = passing();
    facts.deliveries.clear();
    let review = judge(&facts);
    assert!(review.ready);
    assert!(review.passes_gate(false));
    assert!(!review.passes_gate(true));
    assert_eq!(review.summary.required_unknown, 1);
}

fn schema() -> jsonschema::Validator {
    let text = include_str!("../../../docs/schemas/review.schema.json");
    jsonschema::validator_for(&serde_json::from_str(text).unwrap()).unwrap()
}

#[test]
fn the_json_form_validates_against_the_schema_in_the_repo() {
    let validator = schema();
    let mut failing = passing();
    failing.document = None;
    failing.history.clear();
    failing.verify_runs.clear();
    failing.deliveries.clear();
    for facts in [passing(), failing] {
        let value = serde_json::to_value(judge(&facts)).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
    // The schema is not a formality: a wrong status is refused.
    let mut value = serde_json::to_value(judge(&passing())).unwrap();
    value["checklist"][0]["status"] = "maybe".into();
    assert!(!validator.is_valid(&value));
    value = serde_json::to_value(judge(&passing())).unwrap();
    value.as_object_mut().unwrap().remove("ready");
    assert!(!validator.is_valid(&value));
}

#[test]
fn renderings_show_every_item_and_escape_operator_text() {
    let mut facts = passing();
    facts.history[0].message = "<script>alert(1)</script> | *bold*".to_owned();
    let review = judge(&facts);
    let text = render::text(&review);
    let markdown = render::markdown(&review);
    for item in review.items() {
        assert!(text.contains(&item.id), "text lacks {}", item.id);
        assert!(
            markdown.contains(&item.id) || markdown.contains(&item.title),
            "markdown lacks {}",
            item.id
        );
    }
    assert!(text.starts_with("Readiness review of prod"));
    assert!(text.contains("READY"));
    assert!(!markdown.contains("<script>"));
    assert!(markdown.contains("&lt;script&gt;"));
}

#[test]
fn no_digest_reaches_the_review() {
    let json = serde_json::to_string(&judge(&passing())).unwrap();
    assert!(!json.contains("never shown"));
}
