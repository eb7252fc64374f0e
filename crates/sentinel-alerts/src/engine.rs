//! The evaluation loop: every interval, for each environment with alert
//! rules, one read of the request records that arrived since the previous
//! evaluation (the window is kept in memory as slim samples), one value per
//! rule, one state-machine step per rule written to the store as
//! a compare-and-set, and — for the replica that wins a transition — the
//! notifications, sent in the background so a slow destination never
//! delays the next evaluation.
//!
//! Invariants: nothing here runs on the request path; a document that does
//! not compile is skipped (the gateway reports it); an environment's
//! compiled rules are reused until its revision or secrets change.

use std::{
    collections::{HashMap, HashSet},
    fmt::Write as _,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use sentinel_config::{
    AlertDestination, AlertRule, Alerts, CompileContext, DestinationUrl, ProviderCatalog, Signal,
};
use sentinel_core::{AlertEvent, AlertState, Environment};
use sentinel_limits::ThresholdCrossed;
use sentinel_providers::HttpSettings;
use sentinel_store::{Store, StoreError, Transition, TransitionOutcome};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    deliver::{self, Notice, Resolved, RetryPolicy},
    signal::{self, Sample},
    state,
};

/// How long budget threshold crossings are remembered.
const CROSSINGS_KEPT_MS: i64 = 86_400_000;

/// What the engine needs from the process.
pub struct EngineDeps {
    pub store: Store,
    /// Provider kinds, to compile documents exactly as the gateway does.
    pub catalog: Arc<dyn ProviderCatalog + Send + Sync>,
    /// Client settings deliveries start from (private networks are allowed
    /// per destination).
    pub http: HttpSettings,
    pub retry: RetryPolicy,
    /// Where deliveries run; the process waits for it at shutdown.
    pub tasks: TaskTracker,
    /// Cancelled at shutdown: the loop ends and retries stop.
    pub stop: CancellationToken,
}

/// The alert engine of one process. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// An environment's compiled alerting (`None`: the document does not
/// compile) and the inputs (revision, secrets) it was compiled from.
type Compiled = (String, Option<Arc<Alerts>>);

struct Inner {
    deps: EngineDeps,
    /// Compiled alerting per environment id, with the inputs it came from.
    cache: Mutex<HashMap<String, Compiled>>,
    /// Budget threshold crossings seen by this replica: (time, scope, permille).
    crossings: Mutex<Vec<(i64, String, u32)>>,
    /// Each environment's recent samples, refreshed incrementally. Locked
    /// by the one evaluating task only.
    windows: tokio::sync::Mutex<HashMap<String, Window>>,
}

/// How late a record may reach the store and still be counted: each
/// refresh reads again from this far back before the previous one.
const LATE_RECORDS_MS: i64 = 10_000;

/// An environment's samples over its longest window. Each evaluation reads
/// only the records that arrived since the previous one (plus
/// [`LATE_RECORDS_MS`] of overlap, de-duplicated by id), not the whole
/// window again.
#[derive(Debug, Default)]
struct Window {
    samples: Vec<Sample>,
    ids: HashSet<String>,
    /// Every record since this time was read (`None`: nothing yet).
    covered_from: Option<i64>,
    /// When the last read happened.
    read_at: i64,
}

impl Window {
    async fn refresh(
        &mut self,
        store: &Store,
        env: &Environment,
        since: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let from = match self.covered_from {
            // Incremental: the window did not grow backwards.
            Some(covered) if covered <= since => since.max(self.read_at - LATE_RECORDS_MS),
            _ => {
                self.samples.clear();
                self.ids.clear();
                since
            }
        };
        let records = store.records_in_window(&env.org_id, &env.id, from).await?;
        for record in &records {
            if !self.ids.contains(&record.id) {
                self.ids.insert(record.id.clone());
                self.samples.push(Sample::from(record));
            }
        }
        let ids = &mut self.ids;
        self.samples.retain(|sample| {
            let keep = sample.time >= since;
            if !keep {
                ids.remove(&sample.id);
            }
            keep
        });
        self.covered_from = Some(since);
        self.read_at = now;
        Ok(())
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(deps: EngineDeps) -> Self {
        Self {
            inner: Arc::new(Inner {
                deps,
                cache: Mutex::new(HashMap::new()),
                crossings: Mutex::new(Vec::new()),
                windows: tokio::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Evaluates every `every` until stopped, and collects budget threshold
    /// crossings from `budget_events` meanwhile.
    pub async fn run(
        self,
        every: Duration,
        mut budget_events: tokio::sync::broadcast::Receiver<ThresholdCrossed>,
    ) {
        let stop = self.inner.deps.stop.clone();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                event = budget_events.recv() => match event {
                    Ok(event) => self.note_crossing(&event, now_ms()),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "alerting missed budget threshold events");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        // No more events; keep evaluating the other signals.
                        budget_events = tokio::sync::broadcast::channel(1).1;
                    }
                },
                _ = tick.tick() => {
                    if let Err(error) = self.evaluate(now_ms()).await {
                        tracing::error!(%error, "alert evaluation failed; trying again at the next interval");
                    }
                }
            }
        }
    }

    /// Remembers a budget threshold crossing.
    pub fn note_crossing(&self, event: &ThresholdCrossed, now: i64) {
        let mut crossings = self
            .inner
            .crossings
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        crossings.retain(|(t, _, _)| now - t < CROSSINGS_KEPT_MS);
        crossings.push((now, event.scope.clone(), event.threshold_permille));
    }

    /// One evaluation of every rule of every environment.
    pub async fn evaluate(&self, now: i64) -> Result<(), StoreError> {
        let store = &self.inner.deps.store;
        let environments = store.list_all_environments().await?;
        let revisions = store.latest_revisions_all().await?;
        let mut evaluated = HashSet::new();
        for env in &environments {
            let Some(revision) = revisions
                .iter()
                .find(|r| r.env_id == env.id && r.org_id == env.org_id)
            else {
                continue;
            };
            let Some(alerts) = self
                .alerts(env, revision.revision, &revision.document)
                .await?
            else {
                continue;
            };
            if alerts.rules.is_empty() {
                continue;
            }
            evaluated.insert(env.id.clone());
            if let Err(error) = self.evaluate_env(env, &alerts, now).await {
                tracing::error!(environment = %env.name, %error, "alert evaluation of an environment failed");
            }
        }
        // Environments without rules (any more) keep no samples.
        self.inner
            .windows
            .lock()
            .await
            .retain(|id, _| evaluated.contains(id));
        Ok(())
    }

    /// The environment's compiled alerting, from the cache when its
    /// revision and secrets did not change.
    async fn alerts(
        &self,
        env: &Environment,
        revision: i64,
        document: &str,
    ) -> Result<Option<Arc<Alerts>>, StoreError> {
        let secrets = self
            .inner
            .deps
            .store
            .list_secrets(&env.org_id, &env.id)
            .await?;
        let mut inputs = format!("{}|{revision}|", env.protected);
        for s in &secrets {
            let _ = write!(inputs, "{}:{};", s.name, s.version);
        }
        let mut cache = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((cached, alerts)) = cache.get(&env.id)
            && *cached == inputs
        {
            return Ok(alerts.clone());
        }
        let names: Vec<&str> = secrets.iter().map(|s| s.name.as_str()).collect();
        let secret_exists = |name: &str| names.contains(&name);
        let ctx = CompileContext {
            catalog: &*self.inner.deps.catalog,
            protected: env.protected,
            secret_exists: &secret_exists,
        };
        let alerts = match sentinel_config::compile(document, &ctx) {
            Ok((config, _)) => Some(Arc::new(config.alerts().clone())),
            Err(errors) => {
                tracing::warn!(environment = %env.name, problems = errors.len(), "the environment's document does not compile; its alert rules are not evaluated");
                None
            }
        };
        cache.insert(env.id.clone(), (inputs, alerts.clone()));
        Ok(alerts)
    }

    async fn evaluate_env(
        &self,
        env: &Environment,
        alerts: &Arc<Alerts>,
        now: i64,
    ) -> Result<(), StoreError> {
        let store = &self.inner.deps.store;
        let longest = alerts
            .rules
            .iter()
            .filter(|r| r.signal != Signal::BudgetThreshold)
            .map(|r| r.for_s)
            .max();
        let mut windows = self.inner.windows.lock().await;
        let window = windows.entry(env.id.clone()).or_default();
        if let Some(for_s) = longest {
            let since = now.saturating_sub(i64::try_from(for_s * 1_000).unwrap_or(i64::MAX));
            window.refresh(store, env, since, now).await?;
        }
        let records = &window.samples;
        let states = store.alert_states(&env.org_id, &env.id).await?;
        for rule in &alerts.rules {
            let stored = states.iter().find(|s| s.rule == rule.name.as_str());
            let value = if rule.signal == Signal::BudgetThreshold {
                self.budget_value(env, rule, stored, now)
            } else {
                signal::value(rule, records, now)
            };
            let breached = signal::breached(rule, value);
            let window_ms = i64::try_from(rule.for_s * 1_000).unwrap_or(i64::MAX);
            let step = state::step(stored, breached, now, window_ms);
            let transition = |state: &'static str, started_at: i64| Transition {
                org_id: &env.org_id,
                env_id: &env.id,
                rule: rule.name.as_str(),
                signal: rule.signal.as_str(),
                state,
                value,
                threshold: rule.above,
                started_at,
                now,
            };
            let outcome = match step {
                state::Step::Stay { version } => {
                    store
                        .touch_alert_state(
                            &env.org_id,
                            &env.id,
                            rule.name.as_str(),
                            version,
                            value,
                            now,
                        )
                        .await?;
                    continue;
                }
                state::Step::Start { firing } => {
                    let (name, event) = if firing {
                        (state::FIRING, Some(state::FIRING))
                    } else {
                        (state::OK, None)
                    };
                    store
                        .transition_alert(&transition(name, now), None, event)
                        .await?
                }
                state::Step::Fire { version } => {
                    store
                        .transition_alert(
                            &transition(state::FIRING, now),
                            Some(version),
                            Some(state::FIRING),
                        )
                        .await?
                }
                state::Step::Resolve {
                    version,
                    started_at,
                } => {
                    store
                        .transition_alert(
                            &transition(state::OK, started_at),
                            Some(version),
                            Some(state::RESOLVED),
                        )
                        .await?
                }
            };
            if let TransitionOutcome::Won(Some(event)) = outcome {
                tracing::warn!(
                    event = "alert",
                    environment = %env.name,
                    alert = %rule.name,
                    state = %event.state,
                    signal = rule.signal.as_str(),
                    value = ?event.value,
                    threshold = rule.above,
                    "alert {}",
                    event.state
                );
                self.notify(env, rule, alerts, event);
            }
        }
        Ok(())
    }

    /// The highest budget threshold (a fraction) this replica saw crossed
    /// in the environment within the rule's window; while the rule is
    /// firing and its window since the firing began has not passed, the
    /// stored value, so replicas that did not see the crossing agree.
    fn budget_value(
        &self,
        env: &Environment,
        rule: &AlertRule,
        stored: Option<&AlertState>,
        now: i64,
    ) -> Option<f64> {
        let window = i64::try_from(rule.for_s * 1_000).unwrap_or(i64::MAX);
        let prefix = format!("o/{}/e/{}", env.org_id, env.id);
        let seen = self
            .inner
            .crossings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(t, scope, _)| {
                now - t < window && (scope == &prefix || scope.starts_with(&format!("{prefix}/")))
            })
            .map(|(_, _, permille)| f64::from(*permille) / 1_000.0)
            .fold(None, |max: Option<f64>, v| {
                Some(max.map_or(v, |m| m.max(v)))
            });
        seen.or_else(|| {
            stored
                .filter(|s| s.state == state::FIRING && now - s.since < window)
                .and_then(|s| s.value)
        })
    }

    /// Sends `event` to the rule's destinations in the background and
    /// stores what each delivery did.
    fn notify(&self, env: &Environment, rule: &AlertRule, alerts: &Arc<Alerts>, event: AlertEvent) {
        let engine = self.clone();
        let env = env.clone();
        let rule = rule.clone();
        let alerts = alerts.clone();
        self.inner.deps.tasks.spawn(async move {
            let deliveries = engine.deliver_all(&env, &rule, &alerts, &event).await;
            for d in &deliveries {
                if d.ok {
                    tracing::info!(environment = %env.name, alert = %rule.name, destination = %d.destination, attempts = d.attempts, "alert delivered");
                } else {
                    tracing::error!(environment = %env.name, alert = %rule.name, destination = %d.destination, attempts = d.attempts, error = d.error.as_deref().unwrap_or(""), "alert delivery failed");
                }
            }
            if let Err(error) = engine
                .inner
                .deps
                .store
                .set_alert_deliveries(&env.org_id, &event.id, &deliveries)
                .await
            {
                tracing::error!(%error, "could not store alert delivery outcomes");
            }
        });
    }

    async fn deliver_all(
        &self,
        env: &Environment,
        rule: &AlertRule,
        alerts: &Alerts,
        event: &AlertEvent,
    ) -> Vec<sentinel_core::Delivery> {
        let destinations: Vec<&AlertDestination> = rule
            .notify
            .iter()
            .filter_map(|name| alerts.destinations.get(name))
            .collect();
        let needs_secrets = destinations
            .iter()
            .any(|d| d.secret.is_some() || matches!(d.url, DestinationUrl::Secret(_)));
        let secrets = if needs_secrets {
            match self
                .inner
                .deps
                .store
                .reveal_secrets(&env.org_id, &env.id)
                .await
            {
                Ok(secrets) => secrets,
                Err(error) => {
                    tracing::error!(%error, "could not read the secrets alert destinations need");
                    HashMap::new()
                }
            }
        } else {
            HashMap::new()
        };
        let notice = Notice {
            event,
            environment: &env.name,
            window_s: rule.for_s,
            provider: rule.provider.as_ref().map(|p| p.as_str()),
        };
        let mut out = Vec::with_capacity(destinations.len());
        let mut sends = Vec::new();
        for destination in destinations {
            let failed = |why: &str| sentinel_core::Delivery {
                destination: destination.name.to_string(),
                kind: destination.kind.as_str().to_owned(),
                ok: false,
                attempts: 0,
                status: None,
                error: Some(why.to_owned()),
                at: now_ms(),
            };
            let url = match &destination.url {
                DestinationUrl::Literal(url) => Ok(url.clone()),
                DestinationUrl::Secret(reference) => secrets
                    .get(reference.name().as_str())
                    .ok_or("the secret holding the URL is missing")
                    .and_then(|value| {
                        reqwest::Url::parse(value.expose().trim())
                            .map_err(|_| "the secret holding the URL is not a valid URL")
                    }),
            }
            .and_then(|url| check_url(&url, destination.allow_private_network).map(|()| url));
            let url = match url {
                Ok(url) => url,
                Err(why) => {
                    out.push(failed(why));
                    continue;
                }
            };
            let secret = match &destination.secret {
                None => None,
                Some(reference) => match secrets.get(reference.name().as_str()) {
                    Some(value) => Some(value.expose().to_owned()),
                    None => {
                        out.push(failed("the signing secret is missing"));
                        continue;
                    }
                },
            };
            let http = HttpSettings {
                allow_private_network: destination.allow_private_network,
                ..self.inner.deps.http.clone()
            };
            let Ok(client) = http.build_reqwest() else {
                out.push(failed("could not build an HTTP client"));
                continue;
            };
            sends.push((
                client,
                Resolved {
                    destination,
                    url,
                    secret,
                },
            ));
        }
        let policy = self.inner.deps.retry;
        let stop = &self.inner.deps.stop;
        let results = futures_util::future::join_all(sends.iter().map(|(client, target)| {
            deliver::deliver(client, target, &notice, policy, stop, now_ms)
        }))
        .await;
        out.extend(results);
        out
    }
}

/// The send-time check of a destination URL (a URL from a secret was never
/// seen by the compiler, and IP literals bypass the resolver's checks).
fn check_url(url: &reqwest::Url, allow_private_network: bool) -> Result<(), &'static str> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the URL is not http or https");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL carries a user name or password");
    }
    if allow_private_network {
        return Ok(());
    }
    let refused = match url.host() {
        None => return Err("the URL has no host"),
        Some(url::Host::Ipv4(ip)) => sentinel_config::is_forbidden_ip(ip.into()),
        Some(url::Host::Ipv6(ip)) => sentinel_config::is_forbidden_ip(ip.into()),
        Some(url::Host::Domain(name)) => sentinel_config::is_forbidden_host_name(name),
    };
    match refused {
        Some(_) => Err(
            "the URL points at a private, loopback or metadata address; set allow_private_network: true to allow it",
        ),
        None => Ok(()),
    }
}

/// Milliseconds since the unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn record(id: &str, time: i64) -> sentinel_core::RequestRecord {
        sentinel_core::RequestRecord {
            id: id.into(),
            org_id: "o".into(),
            env_id: Some("e".into()),
            time,
            status: 200,
            ..sentinel_core::RequestRecord::default()
        }
    }

    #[tokio::test]
    async fn windows_read_only_new_records_and_forget_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url, sentinel_store::MasterKey::generate())
            .await
            .unwrap();
        let env = Environment {
            id: "e".into(),
            org_id: "o".into(),
            name: "prod".into(),
            protected: false,
            hosts: vec![],
            created_at: 0,
        };
        let ids = |w: &Window| {
            let mut ids: Vec<String> = w.samples.iter().map(|s| s.id.clone()).collect();
            ids.sort();
            ids
        };
        store
            .insert_records(&[record("a", 10_000), record("b", 50_000)])
            .await
            .unwrap();
        let mut window = Window::default();
        window.refresh(&store, &env, 20_000, 60_000).await.unwrap();
        assert_eq!(ids(&window), ["b"], "a is older than the window");

        // A late record (within the overlap) and a new one; b is not doubled.
        store
            .insert_records(&[record("c", 55_000), record("d", 65_000)])
            .await
            .unwrap();
        window.refresh(&store, &env, 30_000, 70_000).await.unwrap();
        assert_eq!(ids(&window), ["b", "c", "d"]);

        // Time passes: b and c leave the window.
        window.refresh(&store, &env, 60_000, 80_000).await.unwrap();
        assert_eq!(ids(&window), ["d"]);

        // A longer window (a rule changed) reads everything again.
        window.refresh(&store, &env, 0, 80_000).await.unwrap();
        assert_eq!(ids(&window), ["a", "b", "c", "d"]);
        store.close().await;
    }

    #[test]
    fn send_time_url_checks() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(check_url(&url("https://hooks.example.com/x"), false).is_ok());
        assert!(check_url(&url("http://127.0.0.1:9/x"), false).is_err());
        assert!(check_url(&url("http://127.0.0.1:9/x"), true).is_ok());
        assert!(check_url(&url("http://[::1]/x"), false).is_err());
        assert!(check_url(&url("http://metadata.google.internal/"), false).is_err());
        assert!(check_url(&url("ftp://hooks.example.com/"), true).is_err());
        assert!(check_url(&url("https://u:p@hooks.example.com/"), true).is_err());
    }
}
