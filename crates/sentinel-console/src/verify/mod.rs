//! `POST /api/v1/environments/{env}/verify` (`sentinel verify`): proves an
//! environment's request flow and operator control flow end to end, in
//! this process, and keeps the run as evidence for the readiness review.
//! `GET .../verify`: the latest run.
//!
//! A run, step by step: a short-lived key of application `sentinel-verify`
//! (created on the first run and kept); one request through each route
//! plan; for each plan with several targets, one request whose first target
//! the gateway fails on purpose, answered by a fallback; a key created,
//! rotated and revoked through the store's audited paths, each change
//! checked against the gateway; each provider tested; one request of the
//! run looked up in the store with its attempts; then every key the run
//! made revoked. Requests go through the gateway's own router in-process
//! ([`crate::VerifyGateway`]), so policies, limits and budgets apply; only
//! the staged rollout gate does not.
//!
//! Invariants: the cleanup step runs whatever failed before it (the run
//! runs in its own task, so a caller that hangs up does not stop it, and
//! the keys expire by themselves after [`KEY_LIFETIME_MS`] in any case);
//! no step, log line or stored run holds a key, only key ids and prefixes.

use std::time::Duration;

use axum::{
    Json as JsonOut,
    extract::{Path, State},
};
use sentinel_core::{
    ApiKey, ClientKey, Environment, Permission, VerifyRun, VerifyStep, VerifyStepKind,
};
use sentinel_store::{AuditContext, NewKey, StoreError};
use serde_json::{Value, json};
use tokio::time::Instant;

use self::detail::{answered, fell_back, path, refusal};
use crate::{
    ConsoleDeps, GatewayAnswer, GatewayCall, KeyInSnapshot, ServedPlans, auth::Caller,
    clock::now_ms, environments, error::ApiError,
};

mod detail;

/// The application the run's keys belong to.
pub(crate) const VERIFY_APP: &str = "sentinel-verify";
/// The longest a run's key lives: one the cleanup could not revoke expires.
const KEY_LIFETIME_MS: i64 = 10 * 60 * 1000;
/// How long the run waits for the gateway to load a key change, or for the
/// record writer to store a record.
const WAIT: Duration = Duration::from_secs(10);
/// How often it looks while waiting.
const POLL: Duration = Duration::from_millis(20);
/// How long the rotated key stays valid.
const OVERLAP_MS: i64 = 60_000;

/// Runs a verification of the environment and answers the run (200 even
/// when steps failed: `ok` says).
pub(crate) async fn run(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
) -> Result<JsonOut<VerifyRun>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Write).await?;
    // In its own task, so the cleanup runs even if the caller hangs up.
    let run = tokio::spawn(Verifier::new(deps, &caller, env).run())
        .await
        .map_err(ApiError::internal)??;
    Ok(JsonOut(run))
}

/// The latest run of the environment.
pub(crate) async fn latest(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
) -> Result<JsonOut<VerifyRun>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    deps.store
        .latest_verify_run(caller.org_id(), &env.id)
        .await?
        .map(JsonOut)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "environment {:?} has no verification run yet: run `sentinel verify --env {}`",
                env.name, env.name
            ))
        })
}

/// A key the run made.
struct MadeKey {
    id: String,
    prefix: String,
    revoked: bool,
}

/// One run in progress.
struct Verifier {
    deps: ConsoleDeps,
    org_id: String,
    actor: String,
    audit: AuditContext,
    env: Environment,
    /// The `Host` the run's requests carry.
    host: Option<String>,
    steps: Vec<VerifyStep>,
    made: Vec<MadeKey>,
}

/// A step's outcome: what happened, in Sentinel's words.
type Outcome = Result<String, String>;

impl Verifier {
    fn new(deps: ConsoleDeps, caller: &Caller, env: Environment) -> Self {
        Self {
            deps,
            org_id: caller.org_id().to_owned(),
            actor: caller.operator.name.clone(),
            audit: caller.audit(),
            env,
            host: None,
            steps: Vec::new(),
            made: Vec::new(),
        }
    }

    async fn run(mut self) -> Result<VerifyRun, ApiError> {
        let started_at = now_ms();
        let started = Instant::now();
        let id = uuid::Uuid::now_v7().to_string();

        let step = Instant::now();
        let setup = self.setup().await;
        match setup {
            Ok((served, key, detail)) => {
                self.push(VerifyStepKind::Setup, "setup", step, Ok(detail), None);
                self.flows(&served, &key).await;
            }
            Err(why) => self.push(VerifyStepKind::Setup, "setup", step, Err(why), None),
        }
        let step = Instant::now();
        let cleanup = self.cleanup().await;
        self.push(VerifyStepKind::Cleanup, "cleanup", step, cleanup, None);

        let run = VerifyRun {
            id,
            env_id: self.env.id.clone(),
            actor: self.actor.clone(),
            started_at,
            duration_ms: millis(started),
            ok: self.steps.iter().all(|s| s.ok),
            steps: std::mem::take(&mut self.steps),
        };
        self.deps
            .store
            .insert_verify_run(&self.org_id, &run, &self.audit)
            .await?;
        Ok(run)
    }

    fn push(
        &mut self,
        kind: VerifyStepKind,
        name: impl Into<String>,
        started: Instant,
        outcome: Outcome,
        request_id: Option<String>,
    ) {
        let (ok, detail) = match outcome {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        self.steps.push(VerifyStep {
            kind,
            name: name.into(),
            ok,
            duration_ms: millis(started),
            detail,
            request_id,
        });
    }

    /// Logs a store failure with the request id; the step says only that.
    fn store_failed(&self, error: &StoreError) -> String {
        tracing::error!(
            request_id = self.audit.request_id.as_deref().unwrap_or(""),
            %error,
            "verify: store error"
        );
        format!(
            "the store failed (logged with request id {})",
            self.audit.request_id.as_deref().unwrap_or("")
        )
    }

    /// The gateway's plans, the run's application and a key the gateway
    /// accepts.
    async fn setup(&mut self) -> Result<(ServedPlans, ClientKey, String), String> {
        let served = (self.deps.verify.plans)(&self.env.id)
            .map_err(|why| format!("the gateway cannot serve the environment: {why}"))?;
        if served.plans.is_empty() {
            return Err(
                "the environment has no route plan: apply a config with route_plans first".into(),
            );
        }
        self.host = served.hosts.first().cloned();
        let existing = self
            .deps
            .store
            .get_application_by_name(&self.org_id, &self.env.id, VERIFY_APP)
            .await
            .map_err(|e| self.store_failed(&e))?;
        let (app, created) = match existing {
            Some(app) => (app, false),
            None => match self
                .deps
                .store
                .create_application(&self.org_id, &self.env.id, VERIFY_APP, &self.audit)
                .await
            {
                Ok(app) => (app, true),
                // Another run created it a moment ago.
                Err(StoreError::Conflict { .. }) => self
                    .deps
                    .store
                    .get_application_by_name(&self.org_id, &self.env.id, VERIFY_APP)
                    .await
                    .map_err(|e| self.store_failed(&e))?
                    .map(|app| (app, false))
                    .ok_or_else(|| format!("application {VERIFY_APP} could not be created"))?,
                Err(e) => return Err(self.store_failed(&e)),
            },
        };
        let (stored, key) = self.issue(&app.id, "sentinel-verify run").await?;
        let waited = self.wait_key(&stored, KeyInSnapshot::Accepted).await?;
        Ok((
            served,
            key,
            format!(
                "application {VERIFY_APP} {}; key {} (expires in {} min) loaded by the gateway after {waited} ms",
                if created { "created" } else { "exists" },
                stored.prefix,
                KEY_LIFETIME_MS / 60_000
            ),
        ))
    }

    /// The request flow, then the operator flow.
    async fn flows(&mut self, served: &ServedPlans, key: &ClientKey) {
        let mut lookup: Option<String> = None;
        for plan in &served.plans {
            let step = Instant::now();
            let answer = self.send(key, Some(chat(&plan.model)), false).await;
            let request_id = answer.as_ref().ok().and_then(|a| a.request_id.clone());
            let outcome = answer.and_then(|a| answered(&a));
            if lookup.is_none() {
                lookup.clone_from(&request_id);
            }
            self.push(
                VerifyStepKind::Request,
                format!("request through route plan {}", plan.plan),
                step,
                outcome,
                request_id,
            );
        }
        let mut fallbacks = 0;
        for plan in served.plans.iter().filter(|p| p.targets.len() > 1) {
            fallbacks += 1;
            let step = Instant::now();
            let answer = self.send(key, Some(chat(&plan.model)), true).await;
            let request_id = answer.as_ref().ok().and_then(|a| a.request_id.clone());
            let outcome = answer.and_then(|a| fell_back(&a));
            if outcome.is_ok() && fallbacks == 1 {
                // The lookup shows the fallback's attempts.
                lookup.clone_from(&request_id);
            }
            self.push(
                VerifyStepKind::Fallback,
                format!("fallback through route plan {}", plan.plan),
                step,
                outcome,
                request_id,
            );
        }
        if fallbacks == 0 {
            // Nothing to force: the plans' resilience is the readiness
            // review's business (checklist.route_plans), not a failed run.
            self.push(
                VerifyStepKind::Fallback,
                "fallback (none to force)",
                Instant::now(),
                Ok("no route plan has a second target, so no fallback was forced".into()),
                None,
            );
        }
        self.key_flow().await;
        self.provider_tests().await;
        let step = Instant::now();
        let outcome = match &lookup {
            Some(id) => self.lookup(id).await,
            None => Err("no request of this run has a request id to look up".into()),
        };
        self.push(
            VerifyStepKind::RequestLookup,
            "request lookup",
            step,
            outcome,
            lookup,
        );
    }

    /// Create, rotate and revoke a key; the gateway must follow each change.
    async fn key_flow(&mut self) {
        let step = Instant::now();
        let app = self
            .deps
            .store
            .get_application_by_name(&self.org_id, &self.env.id, VERIFY_APP)
            .await;
        let created = match app {
            Ok(Some(app)) => self.issue(&app.id, "sentinel-verify key flow").await,
            Ok(None) => Err(format!("application {VERIFY_APP} is gone")),
            Err(e) => Err(self.store_failed(&e)),
        };
        let created = match created {
            Ok((stored, key)) => {
                let outcome = self.accepted(&stored, &key).await;
                let ok = outcome.is_ok();
                self.push(
                    VerifyStepKind::KeyCreate,
                    "key create",
                    step,
                    outcome.map(|ms| {
                        format!(
                            "key {} created; the gateway accepted it after {ms} ms",
                            stored.prefix
                        )
                    }),
                    None,
                );
                ok.then_some((stored, key))
            }
            Err(why) => {
                self.push(
                    VerifyStepKind::KeyCreate,
                    "key create",
                    step,
                    Err(why),
                    None,
                );
                None
            }
        };

        let step = Instant::now();
        let rotated = match &created {
            None => {
                self.push(
                    VerifyStepKind::KeyRotate,
                    "key rotate",
                    step,
                    Err("skipped: no key was created".into()),
                    None,
                );
                None
            }
            Some((old, old_key)) => {
                let (outcome, rotated) = self.rotate(old, old_key).await;
                self.push(VerifyStepKind::KeyRotate, "key rotate", step, outcome, None);
                rotated
            }
        };

        let step = Instant::now();
        // The rotated key when there is one, else the created one.
        let target = rotated.or(created);
        let outcome = match target {
            Some((stored, key)) => self.revoke(&stored, &key).await,
            None => Err("skipped: no key to revoke".into()),
        };
        self.push(VerifyStepKind::KeyRevoke, "key revoke", step, outcome, None);
    }

    /// Rotates `old` with an overlap: the new key and, during the overlap,
    /// the old one must both be accepted.
    async fn rotate(
        &mut self,
        old: &ApiKey,
        old_key: &ClientKey,
    ) -> (Outcome, Option<(ApiKey, ClientKey)>) {
        let rotated = self
            .deps
            .store
            .rotate_key(&self.env, &old.id, OVERLAP_MS, now_ms(), &self.audit)
            .await;
        let (stored, key) = match rotated {
            Ok(Some(rotated)) => rotated,
            Ok(None) => {
                return (
                    Err(format!("key {} could not be rotated", old.prefix)),
                    None,
                );
            }
            Err(e) => return (Err(self.store_failed(&e)), None),
        };
        self.made.push(MadeKey {
            id: stored.id.clone(),
            prefix: stored.prefix.clone(),
            revoked: false,
        });
        let outcome = match self.accepted(&stored, &key).await {
            Err(why) => Err(why),
            Ok(ms) => match self.send(old_key, None, false).await {
                Ok(answer) if answer.status == 200 => Ok(format!(
                    "key {} rotated to {}; the gateway accepted the new key after {ms} ms and still accepts the old one during the {} s overlap",
                    old.prefix,
                    stored.prefix,
                    OVERLAP_MS / 1000
                )),
                Ok(answer) => Err(format!(
                    "key {} rotated to {}, but the gateway refused the old key during the overlap: {}",
                    old.prefix,
                    stored.prefix,
                    refusal(&answer)
                )),
                Err(why) => Err(why),
            },
        };
        (outcome, Some((stored, key)))
    }

    /// Revokes a key; the gateway must refuse it (401) within [`WAIT`].
    async fn revoke(&mut self, stored: &ApiKey, key: &ClientKey) -> Outcome {
        self.revoke_in_store(&stored.id).await?;
        let waited = self.wait_key(stored, KeyInSnapshot::Refused).await?;
        let answer = self.send(key, None, false).await?;
        if answer.status == 401 {
            Ok(format!(
                "key {} revoked; the gateway refused it ({}) after {waited} ms",
                stored.prefix,
                refusal(&answer)
            ))
        } else {
            Err(format!(
                "key {} revoked, but the gateway answered {} instead of 401",
                stored.prefix, answer.status
            ))
        }
    }

    async fn revoke_in_store(&mut self, id: &str) -> Result<(), String> {
        self.deps
            .store
            .revoke_key(&self.org_id, id, now_ms(), &self.audit)
            .await
            .map_err(|e| self.store_failed(&e))?;
        for made in self.made.iter_mut().filter(|m| m.id == id) {
            made.revoked = true;
        }
        Ok(())
    }

    /// One step per (provider, model), stored like `providers test`.
    async fn provider_tests(&mut self) {
        let step = Instant::now();
        let probes = match (self.deps.provider_tests.run)(self.env.id.clone(), None).await {
            Ok(probes) => probes,
            Err(why) => {
                self.push(
                    VerifyStepKind::ProviderTest,
                    "provider tests",
                    step,
                    Err(format!("the providers could not be tested: {why}")),
                    None,
                );
                return;
            }
        };
        if let Err(e) = self
            .deps
            .store
            .insert_provider_tests(&self.org_id, &self.env.id, &probes, &self.audit)
            .await
        {
            let why = self.store_failed(&e);
            self.push(
                VerifyStepKind::ProviderTest,
                "provider tests",
                step,
                Err(why),
                None,
            );
        }
        for probe in probes {
            // A failure's error names its status (or that there was no answer).
            let detail = match (&probe.error, probe.status) {
                (Some(error), _) => error.clone(),
                (None, Some(status)) => format!("HTTP {status} in {} ms", probe.latency_ms),
                (None, None) => format!("answered in {} ms", probe.latency_ms),
            };
            self.steps.push(VerifyStep {
                kind: VerifyStepKind::ProviderTest,
                name: format!("provider test {}/{}", probe.provider, probe.model),
                ok: probe.ok,
                duration_ms: probe.latency_ms,
                detail,
                request_id: None,
            });
        }
    }

    /// Waits for the record writer to store request `id`, then reads its
    /// attempts.
    async fn lookup(&self, id: &str) -> Outcome {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.deps.store.get_record(&self.org_id, id).await {
                Ok(Some(record)) => {
                    return Ok(format!(
                        "record {id} found: HTTP {}; {}",
                        record.status,
                        path(&record.attempts)
                    ));
                }
                Ok(None) if Instant::now() < deadline => tokio::time::sleep(POLL).await,
                Ok(None) => {
                    return Err(format!(
                        "record {id} was not stored within {} s",
                        WAIT.as_secs()
                    ));
                }
                Err(e) => return Err(self.store_failed(&e)),
            }
        }
    }

    /// Revokes every key the run made and still holds, and waits until the
    /// gateway refuses them.
    async fn cleanup(&mut self) -> Outcome {
        let pending: Vec<String> = self
            .made
            .iter()
            .filter(|m| !m.revoked)
            .map(|m| m.id.clone())
            .collect();
        let mut failures = Vec::new();
        for id in &pending {
            if let Err(why) = self.revoke_in_store(id).await {
                failures.push(why);
            }
        }
        let prefixes: Vec<String> = self.made.iter().map(|m| m.prefix.clone()).collect();
        if prefixes.is_empty() {
            return Ok("the run made no key".into());
        }
        if !failures.is_empty() {
            return Err(format!(
                "not every key could be revoked (they expire by themselves within {} min): {}",
                KEY_LIFETIME_MS / 60_000,
                failures.join("; ")
            ));
        }
        let deadline = Instant::now() + WAIT;
        for made in &self.made {
            while (self.deps.verify.key)(&made.id) == KeyInSnapshot::Accepted {
                if Instant::now() >= deadline {
                    return Err(format!(
                        "keys {} are revoked, but the gateway still accepted {} after {} s",
                        prefixes.join(", "),
                        made.prefix,
                        WAIT.as_secs()
                    ));
                }
                tokio::time::sleep(POLL).await;
            }
        }
        Ok(format!(
            "every key of the run is revoked ({}) and refused by the gateway; application {VERIFY_APP} stays",
            prefixes.join(", ")
        ))
    }

    /// Issues a key of the run (it expires after [`KEY_LIFETIME_MS`]).
    async fn issue(&mut self, app_id: &str, name: &str) -> Result<(ApiKey, ClientKey), String> {
        let now = now_ms();
        let issued = self
            .deps
            .store
            .issue_key(
                NewKey {
                    env: &self.env,
                    app_id,
                    name,
                    expires_at: Some(now + KEY_LIFETIME_MS),
                    now,
                },
                &self.audit,
            )
            .await
            .map_err(|e| self.store_failed(&e))?;
        self.made.push(MadeKey {
            id: issued.0.id.clone(),
            prefix: issued.0.prefix.clone(),
            revoked: false,
        });
        Ok(issued)
    }

    /// Waits until the gateway loaded the key and accepts it, then checks
    /// with a request; the milliseconds waited.
    async fn accepted(&self, stored: &ApiKey, key: &ClientKey) -> Result<i64, String> {
        let waited = self.wait_key(stored, KeyInSnapshot::Accepted).await?;
        let answer = self.send(key, None, false).await?;
        if answer.status == 200 {
            Ok(waited)
        } else {
            Err(format!(
                "the gateway loaded key {} but refused it: {}",
                stored.prefix,
                refusal(&answer)
            ))
        }
    }

    /// Polls the gateway's snapshot until it sees the key as `want`; the
    /// milliseconds waited.
    async fn wait_key(&self, key: &ApiKey, want: KeyInSnapshot) -> Result<i64, String> {
        let started = Instant::now();
        let deadline = started + WAIT;
        while (self.deps.verify.key)(&key.id) != want {
            if Instant::now() >= deadline {
                return Err(format!(
                    "the gateway did not {} key {} within {} s",
                    if want == KeyInSnapshot::Refused {
                        "refuse"
                    } else {
                        "load"
                    },
                    key.prefix,
                    WAIT.as_secs()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(millis(started))
    }

    async fn send(
        &self,
        key: &ClientKey,
        body: Option<Value>,
        force_fallback: bool,
    ) -> Result<GatewayAnswer, String> {
        (self.deps.verify.send)(GatewayCall {
            host: self.host.clone(),
            key: key.clone(),
            body,
            force_fallback,
        })
        .await
        .map_err(|why| format!("the request could not be sent through the gateway: {why}"))
    }
}

/// The smallest chat request: one short prompt, one token.
fn chat(model: &str) -> Value {
    json!({
        "model": model,
        "messages": [{ "role": "user", "content": "Sentinel verify" }],
        "max_tokens": 1,
    })
}

fn millis(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}
