//! Facts in, review out: every question's items and every checklist item,
//! each with its evidence and fix. Pure: the clock is `facts.now`.

use std::collections::BTreeSet;

use sentinel_config::{RawEnvDocument, RawRoutePlan, Signal};
use sentinel_core::{KeyState, UnixMillis, VerifyRun, VerifyStepKind};

use crate::{
    facts::{Facts, MasterKeyOrigin},
    model::{Item, Question, Review, Status},
};

/// Evidence this recent counts for connectivity tests and verify runs.
pub const RECENT_WINDOW_MS: i64 = 7 * DAY_MS;
/// Evidence this recent counts for operator workflows and test traffic.
pub const ACTIVITY_WINDOW_MS: i64 = 30 * DAY_MS;
/// Records kept for fewer days than this are too short-lived to triage from.
const MIN_RECORD_DAYS: u32 = 7;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Judges the facts.
pub fn judge(facts: &Facts) -> Review {
    let questions = vec![
        Question::new(
            "ownership",
            "Which systems own keys, provider secrets and route definitions?",
            vec![
                keys_owner(facts),
                master_key(facts),
                provider_secrets(facts),
                route_definitions(facts),
            ],
        ),
        Question::new(
            "separation",
            "How are environments separated?",
            vec![
                distinct_hosts(facts),
                distinct_credentials(facts),
                keys_bound(facts),
                protected(facts),
            ],
        ),
        Question::new(
            "detection",
            "How does the team detect provider failure or policy misconfiguration?",
            vec![
                alert_rule(facts, AlertNeed::ProviderErrors),
                alert_rule(facts, AlertNeed::Timeouts),
                alert_rule(facts, AlertNeed::PolicyDenials),
                deliveries(facts),
                endpoints(facts),
            ],
        ),
        Question::new(
            "triage",
            "How does a request move from a client-visible error to its Sentinel record?",
            vec![request_id(), records_retained(facts), triage_path(facts)],
        ),
    ];
    let checklist = vec![
        provider_connectivity(facts),
        route_plans(facts),
        policy_traffic(facts),
        retention_export(facts),
        operator_workflows(facts),
        staged_rollout(facts),
        verified(facts),
    ];
    Review::new(
        facts.organization.clone(),
        facts.env.name.clone(),
        facts.now,
        facts.history.first().map(|r| r.revision),
        questions,
        checklist,
    )
}

fn item(id: &str, title: &str, required: bool) -> Item {
    Item {
        id: id.to_owned(),
        title: title.to_owned(),
        status: Status::Pass,
        required,
        evidence: Vec::new(),
        fix: None,
    }
}

impl Item {
    fn pass(mut self, evidence: Vec<String>) -> Self {
        self.status = Status::Pass;
        self.evidence = evidence;
        self
    }

    fn fail(mut self, evidence: Vec<String>, fix: impl Into<String>) -> Self {
        self.status = Status::Fail;
        self.evidence = evidence;
        self.fix = Some(fix.into());
        self
    }

    fn unknown(mut self, evidence: Vec<String>, fix: impl Into<String>) -> Self {
        self.status = Status::Unknown;
        self.evidence = evidence;
        self.fix = Some(fix.into());
        self
    }
}

/// "3 h ago", "2 d ago": how long before `now` `then` was.
fn ago(now: UnixMillis, then: UnixMillis) -> String {
    let s = (now - then).max(0) / 1000;
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

fn date(t: UnixMillis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t) * 1_000_000)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

fn doc(facts: &Facts) -> Option<&RawEnvDocument> {
    facts.document.as_ref()
}

/// Where evidence may come from: this environment, then staging.
fn evidence_envs(facts: &Facts) -> String {
    match &facts.staging {
        Some(staging) => format!("{} or {staging}", facts.env.name),
        None => facts.env.name.clone(),
    }
}

// ---- ownership -------------------------------------------------------------

fn keys_owner(facts: &Facts) -> Item {
    let active = facts
        .keys
        .iter()
        .filter(|k| k.state(facts.now) == KeyState::Active)
        .count();
    item("ownership.keys", "Client keys", false).pass(vec![
        format!(
            "Sentinel's {} store owns client keys: {active} active of {} issued in {}, each kept only as a SHA-256 digest and shown once at creation",
            facts.server.store_backend,
            facts.keys.len(),
            facts.env.name
        ),
        "keys are issued, rotated and revoked through the admin API (audited), never by editing the store".to_owned(),
    ])
}

fn master_key(facts: &Facts) -> Item {
    let it = item(
        "ownership.master_key",
        "Master key for provider secrets",
        true,
    );
    let stored = format!(
        "provider secrets are encrypted (AES-256-GCM) in the {} store under the master key; the key is never stored there",
        facts.server.store_backend
    );
    match &facts.server.master_key {
        MasterKeyOrigin::Environment => it.pass(vec![
            stored,
            "the master key comes from SENTINEL_MASTER_KEY".to_owned(),
        ]),
        MasterKeyOrigin::File { path } => {
            it.pass(vec![stored, format!("the master key comes from the key file {path}")])
        }
        MasterKeyOrigin::Generated { path } => it.fail(
            vec![
                stored,
                format!("the master key was generated by --demo into {path}, beside the data it protects"),
            ],
            "Provide the master key from your secret manager (SENTINEL_MASTER_KEY or a key file outside the data directory) and re-encrypt with `sentinel rotate-master-key`",
        ),
        MasterKeyOrigin::Unknown => it.unknown(
            vec![stored, "this process does not know where its master key came from".to_owned()],
            "Run the review against a console served by `sentinel serve`",
        ),
    }
}

fn provider_secrets(facts: &Facts) -> Item {
    let it = item("ownership.provider_secrets", "Provider credentials", true);
    let Some(doc) = doc(facts) else {
        return it.fail(
            vec!["no configuration was applied to this environment".to_owned()],
            "Apply an environment document (`sentinel config apply`)",
        );
    };
    let mut evidence = Vec::new();
    let mut missing = Vec::new();
    for (name, provider) in &doc.providers {
        match provider
            .credential
            .as_deref()
            .and_then(|c| c.strip_prefix("secret:"))
        {
            Some(secret) => match facts.secrets.iter().find(|s| s.name == secret) {
                Some(meta) => evidence.push(format!(
                    "provider {name}: secret {secret} version {} (fingerprint {}), set {}",
                    meta.version,
                    meta.fingerprint,
                    ago(facts.now, meta.updated_at)
                )),
                None => {
                    evidence.push(format!(
                        "provider {name}: secret {secret} is not stored in {}",
                        facts.env.name
                    ));
                    missing.push(secret.to_owned());
                }
            },
            None => evidence.push(format!(
                "provider {name} ({}): no credential",
                provider.kind
            )),
        }
    }
    if doc.providers.is_empty() {
        evidence.push("no providers are configured".to_owned());
    }
    if missing.is_empty() {
        it.pass(evidence)
    } else {
        it.fail(
            evidence,
            format!(
                "Store the missing secrets ({}): `printf '%s' \"$VALUE\" | sentinel secrets set --env {} NAME`",
                missing.join(", "),
                facts.env.name
            ),
        )
    }
}

fn route_definitions(facts: &Facts) -> Item {
    let it = item("ownership.route_definitions", "Route definitions", true);
    let (Some(doc), Some(current)) = (doc(facts), facts.history.first()) else {
        return it.fail(
            vec!["no configuration revision defines route plans here".to_owned()],
            "Apply an environment document with route plans (`sentinel config apply`)",
        );
    };
    let mut evidence = vec![format!(
        "route plans are defined by configuration revision {} of {}, versioned in the store (`sentinel config history`)",
        current.revision, facts.env.name
    )];
    for name in doc.route_plans.keys() {
        // The oldest revision from which the plan has been as it is now.
        let value = current.route_plans.get(name);
        let defined = facts
            .history
            .iter()
            .take_while(|r| r.route_plans.get(name) == value)
            .last()
            .unwrap_or(current);
        evidence.push(format!(
            "route plan {name}: as defined by revision {} by {} on {} ({:?})",
            defined.revision,
            defined.author,
            date(defined.created_at),
            defined.message
        ));
    }
    if doc.route_plans.is_empty() {
        return it.fail(evidence, "Define route plans in the environment document");
    }
    it.pass(evidence)
}

// ---- separation ------------------------------------------------------------

fn distinct_hosts(facts: &Facts) -> Item {
    let it = item("separation.hosts", "Distinct data-plane hosts", true);
    if facts.env.hosts.is_empty() {
        return it.fail(
            vec![format!("{} has no data-plane host", facts.env.name)],
            format!(
                "Bind a stable domain: `sentinel env update {} --host llm.example.com`",
                facts.env.name
            ),
        );
    }
    let mut evidence = vec![format!(
        "{} serves on {}",
        facts.env.name,
        facts.env.hosts.join(", ")
    )];
    let mut shared = Vec::new();
    for other in &facts.others {
        for host in &other.hosts {
            if facts.env.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
                shared.push(format!("{host} is also bound to {}", other.name));
            }
        }
    }
    if shared.is_empty() {
        evidence.push("no other environment uses these hosts".to_owned());
        it.pass(evidence)
    } else {
        evidence.extend(shared);
        it.fail(evidence, "Give each environment hosts of its own")
    }
}

fn distinct_credentials(facts: &Facts) -> Item {
    let it = item(
        "separation.credentials",
        "No credential shared with another environment",
        true,
    );
    let mut shared = Vec::new();
    for secret in &facts.secrets {
        for (env, other) in &facts.other_secrets {
            if other.fingerprint == secret.fingerprint {
                shared.push(format!(
                    "secret {} has the same value as secret {} of {env} (fingerprint {})",
                    secret.name, other.name, secret.fingerprint
                ));
            }
        }
    }
    let checked = format!(
        "{} secrets compared by fingerprint with {} secrets of other environments",
        facts.secrets.len(),
        facts.other_secrets.len()
    );
    if shared.is_empty() {
        it.pass(vec![checked])
    } else {
        let mut evidence = vec![checked];
        evidence.extend(shared);
        it.fail(
            evidence,
            "Use a separate provider credential per environment and rotate the shared ones (`sentinel secrets rotate`)",
        )
    }
}

fn keys_bound(facts: &Facts) -> Item {
    let it = item(
        "separation.keys",
        "No key valid outside its environment",
        true,
    );
    let prefix = format!("snt_{}_", facts.env.name);
    let foreign: Vec<String> = facts
        .keys
        .iter()
        .filter(|k| !k.prefix.starts_with(&prefix))
        .map(|k| {
            format!(
                "key {} ({}) does not name {} in its prefix",
                k.id, k.prefix, facts.env.name
            )
        })
        .collect();
    if foreign.is_empty() {
        it.pass(vec![
            format!(
                "all {} keys name {} in their prefix ({prefix}…)",
                facts.keys.len(),
                facts.env.name
            ),
            "the gateway refuses a key on another environment's host with 403 wrong_environment"
                .to_owned(),
        ])
    } else {
        it.fail(
            foreign,
            "Revoke these keys and issue new ones in their environment",
        )
    }
}

/// Whether an environment's name says it is production.
fn is_production(name: &str) -> bool {
    name.starts_with("prod") || name == "prd" || name == "live" || name.ends_with("-prod")
}

fn protected(facts: &Facts) -> Item {
    let production = is_production(&facts.env.name);
    let it = item(
        "separation.protected",
        "Production is protected",
        production,
    );
    if facts.env.protected {
        it.pass(vec![format!(
            "{} is protected: changes need a second operator's approval and plain http upstreams are refused",
            facts.env.name
        )])
    } else {
        it.fail(
            vec![format!(
                "{} is not protected: one operator can change it alone{}",
                facts.env.name,
                if production {
                    ""
                } else {
                    " (not required: the name does not say production)"
                }
            )],
            format!("`sentinel env update {} --protected true`", facts.env.name),
        )
    }
}

// ---- detection -------------------------------------------------------------

#[derive(Clone, Copy)]
enum AlertNeed {
    ProviderErrors,
    Timeouts,
    PolicyDenials,
}

fn alert_rule(facts: &Facts, need: AlertNeed) -> Item {
    let (id, title, signals, example): (&str, &str, &[Signal], &str) = match need {
        AlertNeed::ProviderErrors => (
            "detection.provider_errors",
            "An alert covers provider errors",
            &[
                Signal::ProviderErrorRate,
                Signal::ErrorRate,
                Signal::BreakerOpen,
            ],
            "{ name: provider-errors, when: { signal: provider_error_rate, above: 0.05, for_s: 300 }, notify: [oncall] }",
        ),
        AlertNeed::Timeouts => (
            "detection.timeouts",
            "An alert covers timeouts",
            &[Signal::TimeoutRate, Signal::LatencyP95, Signal::LatencyP99],
            "{ name: timeouts, when: { signal: timeout_rate, above: 0.02, for_s: 300 }, notify: [oncall] }",
        ),
        AlertNeed::PolicyDenials => (
            "detection.policy_denials",
            "An alert covers policy-denial spikes",
            &[Signal::PolicyDenialRate, Signal::PolicyDenials],
            "{ name: denials, when: { signal: policy_denial_rate, above: 0.2, for_s: 300 }, notify: [oncall] }",
        ),
    };
    let it = item(id, title, true);
    let names: Vec<&str> = signals.iter().map(|s| s.as_str()).collect();
    let rules: Vec<String> = doc(facts)
        .map(|d| {
            d.alerts
                .iter()
                .filter(|r| names.contains(&r.when.signal.as_str()) && !r.notify.is_empty())
                .map(|r| {
                    format!(
                        "alert {} ({}) notifies {}",
                        r.name,
                        r.when.signal,
                        r.notify.join(", ")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if rules.is_empty() {
        it.fail(
            vec![format!(
                "no alert rule on {} notifies anyone",
                names.join(", ")
            )],
            format!("Add to `alerts:` of the document: {example}"),
        )
    } else {
        it.pass(rules)
    }
}

/// The destination names the document's rules notify.
fn notified(doc: &RawEnvDocument) -> BTreeSet<String> {
    doc.alerts
        .iter()
        .flat_map(|r| &r.notify)
        .map(|n| {
            n.split_once(':')
                .map_or(n.as_str(), |(_, name)| name)
                .to_owned()
        })
        .collect()
}

fn deliveries(facts: &Facts) -> Item {
    let it = item(
        "detection.delivery",
        "Alert destinations have delivered",
        true,
    );
    let destinations = doc(facts).map(notified).unwrap_or_default();
    if destinations.is_empty() {
        return it.fail(
            vec!["no alert rule notifies a destination".to_owned()],
            "Add `alert_destinations:` and name them in the rules' `notify:`",
        );
    }
    let mut evidence = Vec::new();
    let (mut failing, mut never) = (false, false);
    for name in &destinations {
        let sent: Vec<_> = facts
            .deliveries
            .iter()
            .filter(|d| &d.destination == name)
            .collect();
        match sent.iter().filter(|d| d.ok).map(|d| d.at).max() {
            Some(at) => evidence.push(format!(
                "destination {name} delivered {}",
                ago(facts.now, at)
            )),
            None if sent.is_empty() => {
                never = true;
                evidence.push(format!("destination {name} has never been sent an alert"));
            }
            None => {
                failing = true;
                let last = sent.iter().max_by_key(|d| d.at).map_or(String::new(), |d| {
                    d.error.clone().unwrap_or_else(|| {
                        d.status.map_or_else(String::new, |s| format!("HTTP {s}"))
                    })
                });
                evidence.push(format!(
                    "destination {name}: {} deliveries, none succeeded (last: {last})",
                    sent.len()
                ));
            }
        }
    }
    if failing {
        it.fail(evidence, "Fix the destination (URL, credentials, network) until an alert is delivered; `sentinel alerts history` shows each attempt")
    } else if never {
        it.unknown(evidence, "Trigger a rule once (for example with a low threshold in staging) to prove the destination receives alerts")
    } else {
        it.pass(evidence)
    }
}

fn endpoints(facts: &Facts) -> Item {
    item("detection.endpoints", "Health endpoints and metrics", false).pass(vec![
        "/healthz and /readyz on both listeners; /readyz names each component's state".to_owned(),
        "/metrics (Prometheus) on the console listener, with provider errors, breaker states and policy refusals".to_owned(),
        format!(
            "OpenTelemetry traces: {}",
            if facts.server.otlp_traces { "exported over OTLP" } else { "off (set otlp_endpoint to export them)" }
        ),
    ])
}

// ---- triage ----------------------------------------------------------------

fn request_id() -> Item {
    item("triage.request_id", "Every answer carries its request id", false).pass(vec![
        "every gateway and console response, errors included, carries x-sentinel-request-id".to_owned(),
        "the id is the request record's id: `sentinel requests show <id>` or the console's triage box".to_owned(),
    ])
}

fn records_retained(facts: &Facts) -> Item {
    let it = item(
        "triage.records",
        "Request records are kept long enough",
        true,
    );
    let retention = doc(facts).and_then(|d| d.retention.as_ref());
    let days = retention.and_then(|r| r.requests_days);
    let bodies = retention
        .and_then(|r| r.bodies.clone())
        .unwrap_or_else(|| "off".to_owned());
    let traffic = facts.traffic.get(&facts.env.name).map_or(0, |t| t.records);
    let mut evidence = vec![
        match days {
            Some(d) => format!("request records are kept {d} days"),
            None => {
                "request records are kept until deleted (no retention.requests_days)".to_owned()
            }
        },
        format!("bodies: {bodies}"),
        format!("{traffic} records in the last 30 days were read for this review"),
    ];
    match days {
        Some(d) if d < MIN_RECORD_DAYS => {
            evidence.push(format!(
                "fewer than {MIN_RECORD_DAYS} days leaves no time to triage last week's report"
            ));
            it.fail(
                evidence,
                format!("Set retention.requests_days to {MIN_RECORD_DAYS} or more"),
            )
        }
        _ => it.pass(evidence),
    }
}

/// The newest verify run of this environment or staging.
fn latest_verify(facts: &Facts) -> Option<&(String, VerifyRun)> {
    facts
        .verify_runs
        .iter()
        .max_by_key(|(_, run)| run.started_at)
}

fn triage_path(facts: &Facts) -> Item {
    let it = item(
        "triage.path",
        "A request was traced from its id to its record",
        true,
    );
    let Some((env, run)) = latest_verify(facts) else {
        return it.unknown(
            vec![format!(
                "no `sentinel verify` run in {}",
                evidence_envs(facts)
            )],
            format!(
                "Run `sentinel verify --env {}`: it looks a request up by id and reads its path",
                facts.staging.as_deref().unwrap_or(&facts.env.name)
            ),
        );
    };
    let lookups: Vec<_> = run
        .steps
        .iter()
        .filter(|s| s.kind == VerifyStepKind::RequestLookup)
        .collect();
    match lookups.iter().find(|s| s.ok) {
        Some(step) => it.pass(vec![
            format!(
                "verify run {} in {env} ({}) looked request {} up by id: {}",
                run.id,
                ago(facts.now, run.started_at),
                step.request_id.as_deref().unwrap_or("?"),
                step.detail
            ),
            "path: client error → x-sentinel-request-id → `sentinel requests show <id>` (attempts, policy outcome, provider status)".to_owned(),
        ]),
        None if lookups.is_empty() => it.unknown(
            vec![format!("verify run {} in {env} looked no request up", run.id)],
            "Run `sentinel verify` again once its request steps pass",
        ),
        None => it.fail(
            lookups.iter().map(|s| format!("verify run {} in {env}: {}", run.id, s.detail)).collect(),
            "Check the record writer (`/readyz`, `sentinel_records_*` metrics) and run `sentinel verify` again",
        ),
    }
}

// ---- checklist -------------------------------------------------------------

/// Every (provider, upstream model) of the document's route plans and canaries.
fn pairs(doc: &RawEnvDocument) -> BTreeSet<(String, String)> {
    doc.route_plans
        .values()
        .flat_map(RawRoutePlan::all_targets)
        .map(|t| (t.provider.clone(), t.model.clone()))
        .collect()
}

fn provider_connectivity(facts: &Facts) -> Item {
    let it = item(
        "checklist.provider_connectivity",
        "Provider connectivity validated in staging",
        true,
    );
    let pairs = doc(facts).map(pairs).unwrap_or_default();
    if pairs.is_empty() {
        return it.fail(
            vec!["no route plan names a provider".to_owned()],
            "Apply route plans, then `sentinel providers test --env staging --all`",
        );
    }
    let mut evidence = Vec::new();
    let mut bad = false;
    for (provider, model) in &pairs {
        let latest = facts
            .provider_tests
            .iter()
            .filter(|(_, p)| &p.provider == provider && &p.model == model)
            .max_by_key(|(_, p)| p.time);
        match latest {
            None => {
                bad = true;
                evidence.push(format!(
                    "{provider}/{model}: never tested in {}",
                    evidence_envs(facts)
                ));
            }
            Some((env, p)) if !p.ok => {
                bad = true;
                evidence.push(format!(
                    "{provider}/{model}: failed in {env} {}: {}",
                    ago(facts.now, p.time),
                    p.error.as_deref().unwrap_or("error")
                ));
            }
            Some((env, p)) if facts.now - p.time > RECENT_WINDOW_MS => {
                bad = true;
                evidence.push(format!(
                    "{provider}/{model}: last tested in {env} {}, more than 7 days ago",
                    ago(facts.now, p.time)
                ));
            }
            Some((env, p)) => evidence.push(format!(
                "{provider}/{model}: ok{} in {} ms, in {env} {}",
                p.status
                    .map_or_else(String::new, |s| format!(" (HTTP {s})")),
                p.latency_ms,
                ago(facts.now, p.time)
            )),
        }
    }
    if bad {
        it.fail(
            evidence,
            format!(
                "Run `sentinel providers test --env {} --all` and fix what fails",
                facts.staging.as_deref().unwrap_or(&facts.env.name)
            ),
        )
    } else {
        it.pass(evidence)
    }
}

fn route_plans(facts: &Facts) -> Item {
    let it = item(
        "checklist.route_plans",
        "Route plans have retries, timeouts and breakers",
        true,
    );
    let Some(doc) = doc(facts).filter(|d| !d.route_plans.is_empty()) else {
        return it.fail(
            vec!["no route plans".to_owned()],
            "Define route plans in the environment document",
        );
    };
    let mut evidence = Vec::new();
    let mut missing = false;
    for (name, plan) in &doc.route_plans {
        let attempts = plan
            .retry
            .as_ref()
            .and_then(|r| r.max_attempts)
            .unwrap_or(1);
        let mut lacks = Vec::new();
        if attempts < 2 && plan.targets.len() < 2 {
            lacks.push("retries (retry.max_attempts ≥ 2) or a fallback target");
        }
        if plan.timeouts.is_none() {
            lacks.push("timeouts");
        }
        if plan.circuit_breaker.is_none() {
            lacks.push("circuit_breaker");
        }
        if lacks.is_empty() {
            evidence.push(format!(
                "route plan {name}: {} target(s), {attempts} attempt(s), timeouts and circuit breaker set",
                plan.targets.len()
            ));
        } else {
            missing = true;
            evidence.push(format!("route plan {name}: no {}", lacks.join(", no ")));
        }
    }
    for (name, provider) in &doc.providers {
        if provider.allow_private_network {
            evidence.push(format!(
                "provider {name} may reach private addresses (allow_private_network)"
            ));
        }
        if provider.allow_http {
            evidence.push(format!("provider {name} may use plain http (allow_http)"));
        }
    }
    if missing {
        it.fail(
            evidence,
            "Set retry, timeouts and circuit_breaker on every route plan (see docs/config.md)",
        )
    } else {
        it.pass(evidence)
    }
}

fn policy_traffic(facts: &Facts) -> Item {
    let it = item(
        "checklist.policy_traffic",
        "Policy, budgets and limits exercised against test traffic",
        true,
    );
    let policies = doc(facts).map(|d| &d.policies);
    let Some(policies) = policies.filter(|p| !p.is_empty()) else {
        return it.fail(
            vec!["no policies, budgets or rate limits are defined".to_owned()],
            "Define `policies:` (allowed models, rate limits, budgets) for the environment",
        );
    };
    let mut evidence: Vec<String> = policies
        .iter()
        .map(|(scope, p)| {
            let mut parts = vec![format!("mode {}", p.mode.as_deref().unwrap_or("enforce"))];
            if p.rate_limit.is_some() {
                parts.push("rate limit".to_owned());
            }
            if p.budget.is_some() {
                parts.push("budget".to_owned());
            }
            format!("policy {scope}: {}", parts.join(", "))
        })
        .collect();
    let mut acted = false;
    for (env, traffic) in &facts.traffic {
        let refusals: u64 = traffic.refusals.values().sum();
        evidence.push(format!(
            "{env}: {} recent records, {} with shadow-mode findings, {refusals} refused ({})",
            traffic.records,
            traffic.shadow_findings,
            traffic
                .refusals
                .iter()
                .map(|(d, n)| format!("{d} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        acted |= traffic.shadow_findings > 0 || refusals > 0;
    }
    if acted {
        it.pass(evidence)
    } else {
        it.fail(
            evidence,
            format!(
                "Send test traffic in {} that the rules should refuse or flag (run new rules with mode: shadow first), and check it with `sentinel policy simulate`",
                facts.staging.as_deref().unwrap_or(&facts.env.name)
            ),
        )
    }
}

fn retention_export(facts: &Facts) -> Item {
    let it = item(
        "checklist.retention_export",
        "Audit and telemetry retention and export configured",
        true,
    );
    let retention = doc(facts)
        .and_then(|d| d.retention.clone())
        .unwrap_or_default();
    let mut evidence = Vec::new();
    let mut fixes = Vec::new();
    match retention.requests_days {
        Some(d) => evidence.push(format!("request records kept {d} days")),
        None => {
            evidence
                .push("retention.requests_days is not set (records kept until deleted)".to_owned());
            fixes.push("set retention.requests_days");
        }
    }
    match retention.audit_days {
        Some(d) => evidence.push(format!(
            "audit events kept {d} days once exported{}",
            if retention.audit_prune_unexported == Some(true) {
                " (or pruned unexported)"
            } else {
                ""
            }
        )),
        None => {
            evidence.push(
                "retention.audit_days is not set (audit kept forever in the store)".to_owned(),
            );
            fixes.push("set retention.audit_days");
        }
    }
    if facts.audit_exported_seq > 0 {
        evidence.push(format!(
            "the audit trail was exported completely through event {}",
            facts.audit_exported_seq
        ));
    } else {
        evidence.push("the audit trail has never been exported completely".to_owned());
        fixes.push("schedule `sentinel export audit` (every environment) to your archive");
    }
    evidence.push(format!(
        "telemetry: Prometheus /metrics; OTLP traces {}",
        if facts.server.otlp_traces {
            "on"
        } else {
            "off"
        }
    ));
    if fixes.is_empty() {
        it.pass(evidence)
    } else {
        let mut fix = fixes.join("; ");
        if let Some(first) = fix.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        it.fail(evidence, fix)
    }
}

fn operator_workflows(facts: &Facts) -> Item {
    let it = item(
        "checklist.operator_workflows",
        "Operator workflows exercised (keys, provider setup, triage)",
        true,
    );
    let recent_run =
        latest_verify(facts).filter(|(_, r)| facts.now - r.started_at <= ACTIVITY_WINDOW_MS);
    let step_ok = |kind: VerifyStepKind| {
        recent_run.and_then(|(env, run)| {
            run.steps.iter().any(|s| s.kind == kind && s.ok).then(|| {
                format!(
                    "by verify run {} in {env} {}",
                    run.id,
                    ago(facts.now, run.started_at)
                )
            })
        })
    };
    let action = |name: &str| {
        facts
            .workflow_actions
            .get(name)
            .map(|(env, at)| format!("by an operator in {env} {}", ago(facts.now, *at)))
    };
    let checks: [(&str, Option<String>, &str); 4] = [
        (
            "a key created",
            action("key.create").or_else(|| step_ok(VerifyStepKind::KeyCreate)),
            "create a key",
        ),
        (
            "a key rotated",
            action("key.rotate").or_else(|| step_ok(VerifyStepKind::KeyRotate)),
            "rotate a key (`sentinel keys rotate`)",
        ),
        (
            "a provider set up and tested",
            action("providers.test").or_else(|| step_ok(VerifyStepKind::ProviderTest)),
            "test the providers (`sentinel providers test --all`)",
        ),
        (
            "a request triaged by id",
            step_ok(VerifyStepKind::RequestLookup),
            "run `sentinel verify`, which looks a request up by id",
        ),
    ];
    let mut evidence = Vec::new();
    let mut fixes = Vec::new();
    for (what, seen, fix) in checks {
        match seen {
            Some(how) => evidence.push(format!("{what} {how}")),
            None => {
                evidence.push(format!(
                    "{what}: not seen in {} in the last 30 days",
                    evidence_envs(facts)
                ));
                fixes.push(fix);
            }
        }
    }
    if let Some((env, at)) = facts
        .workflow_actions
        .get("secret.set")
        .or_else(|| facts.workflow_actions.get("secret.rotate"))
    {
        evidence.push(format!(
            "a provider credential set in {env} {}",
            ago(facts.now, *at)
        ));
    }
    if fixes.is_empty() {
        it.pass(evidence)
    } else {
        it.fail(
            evidence,
            format!(
                "In {}: {}",
                facts.staging.as_deref().unwrap_or(&facts.env.name),
                fixes.join("; ")
            ),
        )
    }
}

fn staged_rollout(facts: &Facts) -> Item {
    let it = item(
        "checklist.staged_rollout",
        "Rollout scoped to one application or environment first",
        true,
    );
    let mut evidence = Vec::new();
    if let Some(doc) = doc(facts) {
        if let Some(apps) = doc.rollout.as_ref().and_then(|r| r.open_to.as_ref()) {
            evidence.push(format!(
                "{} is open only to {}",
                facts.env.name,
                apps.join(", ")
            ));
        }
        for (name, plan) in &doc.route_plans {
            if let Some(canary) = &plan.canary {
                let mut to = canary.applications.clone();
                if let Some(share) = canary.share {
                    to.push(format!("{}% of other traffic", share * 100.0));
                }
                evidence.push(format!(
                    "route plan {name} has a canary serving {}",
                    to.join(", ")
                ));
            }
        }
    }
    if evidence.is_empty()
        && let Some(staged) = facts.history.iter().skip(1).find(|r| r.staged)
    {
        evidence.push(format!(
            "revision {} ({}, by {}) rolled out in stages before the environment opened to all",
            staged.revision,
            date(staged.created_at),
            staged.author
        ));
    }
    let served: BTreeSet<&str> = facts
        .traffic
        .get(&facts.env.name)
        .map(|t| t.applications.iter().map(String::as_str).collect())
        .unwrap_or_default();
    if evidence.is_empty() && served.len() <= 1 {
        evidence.push(format!(
            "{} has served {} so far",
            facts.env.name,
            served.iter().next().map_or_else(
                || "no application".to_owned(),
                |a| format!("one application, {a}")
            )
        ));
        return it.fail(
            evidence,
            format!(
                "Open {} to one application first: `rollout: {{ open_to: [first-app] }}` in its document",
                facts.env.name
            ),
        );
    }
    if evidence.is_empty() {
        evidence.push(format!(
            "{} serves {} applications and no revision ever staged the rollout",
            facts.env.name,
            served.len()
        ));
        return it.fail(
            evidence,
            "Stage the next route-plan change with `canary:` (chosen applications or a share of traffic)",
        );
    }
    it.pass(evidence)
}

fn verified(facts: &Facts) -> Item {
    let it = item(
        "checklist.verify",
        "Request and operator flows proven (`sentinel verify`)",
        true,
    );
    let target = facts
        .staging
        .as_deref()
        .unwrap_or(&facts.env.name)
        .to_owned();
    let fix = format!("Run `sentinel verify --env {target}` and fix the failing steps");
    let Some((env, run)) = latest_verify(facts) else {
        return it.fail(
            vec![format!(
                "`sentinel verify` never ran in {}",
                evidence_envs(facts)
            )],
            fix,
        );
    };
    let mut evidence = vec![format!(
        "latest run {} in {env} {}: {} steps, {} failed, {} ms",
        run.id,
        ago(facts.now, run.started_at),
        run.steps.len(),
        run.steps.iter().filter(|s| !s.ok).count(),
        run.duration_ms
    )];
    // Steps that made a request (a plan without a fallback target forces none).
    let count = |kind: VerifyStepKind| {
        run.steps
            .iter()
            .filter(|s| {
                s.kind == kind && (s.request_id.is_some() || kind == VerifyStepKind::ProviderTest)
            })
            .count()
    };
    evidence.push(format!(
        "requests {}, forced fallbacks {}, provider tests {}, request lookups {}",
        count(VerifyStepKind::Request),
        count(VerifyStepKind::Fallback),
        count(VerifyStepKind::ProviderTest),
        count(VerifyStepKind::RequestLookup)
    ));
    for step in run.steps.iter().filter(|s| !s.ok) {
        evidence.push(format!("failed: {}: {}", step.name, step.detail));
    }
    if !run.ok {
        return it.fail(evidence, fix);
    }
    if facts.now - run.started_at > RECENT_WINDOW_MS {
        evidence.push("the run is more than 7 days old".to_owned());
        return it.fail(evidence, fix);
    }
    it.pass(evidence)
}
