//! The snapshot: everything the data plane needs, in memory, immutable.
//! A new one is built from the store after every change and swapped in
//! atomically; each request loads the current one once and keeps it.
//!
//! Invariant: the request path reads only the snapshot, never the store.

use std::{
    collections::{HashMap, HashSet},
    fmt::Write as _,
    sync::Arc,
};

use sentinel_config::{CompileContext, EnvConfig, RetryPolicy, Strategy, Timeouts};
use sentinel_core::{ApiKey, KeyDigest, Price, PriceSource, UnixMillis, retry::RetryBudget};
use sentinel_policy::PolicySet;
use sentinel_providers::{Credential, HttpSettings, Provider, ProviderRegistry};
use sentinel_store::{Store, StoreError};

use crate::endpoint::{EndpointKey, EndpointRegistry, SharedEndpoint};

/// A client key as the request path checks it.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub id: String,
    pub digest: KeyDigest,
    pub org_id: String,
    pub env_id: String,
    pub app_id: String,
    pub app_name: String,
    pub revoked_at: Option<UnixMillis>,
    pub expires_at: Option<UnixMillis>,
}

/// One target of a route plan, with its live provider and endpoint state.
#[derive(Debug)]
pub struct TargetRuntime {
    pub provider_name: String,
    pub provider: Arc<dyn Provider>,
    pub upstream_model: String,
    pub weight: u32,
    pub key: EndpointKey,
    pub endpoint: SharedEndpoint,
    /// The upstream model's price: the environment's `prices:` entry, else
    /// the provider kind's built-in list price; `None` when neither knows it.
    pub price: Option<(Price, PriceSource)>,
    /// How long this target's recent answers took.
    pub answer_time: AnswerTime,
}

/// How long a target takes to answer (from sending the request to the
/// response's head): a moving average over recent answers, which tells the
/// runtime whether to spin for the next one rather than halt
/// ([`sentinel_runtime::spin`]).
#[derive(Debug, Default)]
pub struct AnswerTime {
    /// Nanoseconds; 0 before the first answer.
    nanos: std::sync::atomic::AtomicU64,
}

impl AnswerTime {
    /// Adds one answer, weighted 1/8 against the ones before.
    pub fn observe(&self, took: std::time::Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        let before = self.nanos.load(Relaxed);
        let average = if before == 0 {
            took
        } else {
            before - before / 8 + took / 8
        };
        self.nanos.store(average, Relaxed);
    }

    /// The recent average, once the target has answered.
    pub fn recent(&self) -> Option<std::time::Duration> {
        match self.nanos.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            nanos => Some(std::time::Duration::from_nanos(nanos)),
        }
    }
}

/// A compiled route plan: where a requested model goes and how failures
/// are handled.
#[derive(Debug)]
pub struct Route {
    pub plan: String,
    pub strategy: Strategy,
    pub targets: Vec<TargetRuntime>,
    pub retry: RetryPolicy,
    pub timeouts: Timeouts,
    pub budget: Arc<std::sync::Mutex<RetryBudget>>,
    /// A changed version of the plan in staged rollout.
    pub canary: Option<CanaryRoute>,
}

/// The canary of a route plan: which requests it serves.
#[derive(Debug)]
pub struct CanaryRoute {
    /// Per mille of other applications' requests.
    pub share_permille: u32,
    /// Applications (by name) it always serves.
    pub applications: HashSet<String>,
    pub route: Arc<Route>,
}

impl Route {
    /// The route that serves a request of `app_name`: the canary for its
    /// applications and for `draw % 1000 < share_permille` of the others,
    /// else this one. `true` when it is the canary.
    pub fn for_request(&self, app_name: &str, draw: u64) -> (&Route, bool) {
        match &self.canary {
            Some(canary)
                if canary.applications.contains(app_name)
                    || draw % 1000 < u64::from(canary.share_permille) =>
            {
                (&canary.route, true)
            }
            _ => (self, false),
        }
    }
}

/// One environment's compiled configuration with live providers.
#[derive(Debug)]
pub struct EnvRuntime {
    pub org_id: String,
    pub id: String,
    pub name: String,
    pub revision: Option<i64>,
    /// The environment's policies (empty when it has none).
    pub policies: Arc<PolicySet>,
    /// How long records, bodies and audit events are kept, and what is
    /// kept of bodies.
    pub retention: sentinel_config::Retention,
    /// The applications (by name) a staged rollout admits; `None`: all.
    pub open_to: Option<HashSet<String>>,
    routes: HashMap<String, Arc<Route>>,
    models: Vec<String>,
    /// Identifies the inputs this runtime was built from, so an unchanged
    /// environment keeps its providers (and their connection pools).
    inputs: String,
}

impl EnvRuntime {
    /// Whether the environment serves requests of application `app_name`.
    pub fn is_open_to(&self, app_name: &str) -> bool {
        self.open_to
            .as_ref()
            .is_none_or(|apps| apps.contains(app_name))
    }

    pub fn route(&self, model: &str) -> Option<&Arc<Route>> {
        self.routes.get(model)
    }

    /// Every route plan of the environment (one per model it serves, so a
    /// plan serving several models appears several times).
    pub fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.values()
    }

    /// Model names served in this environment, sorted.
    pub fn models(&self) -> &[String] {
        &self.models
    }
}

/// The immutable view the gateway serves from.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The store change counter this snapshot reflects.
    pub generation: u64,
    pub default_org_id: Option<String>,
    keys: HashMap<String, KeyEntry>,
    envs: HashMap<String, Arc<EnvRuntime>>,
    hosts: HashMap<String, String>,
    /// Environments whose configuration could not be built, with why.
    pub problems: Vec<String>,
}

impl Snapshot {
    pub fn key(&self, id: &str) -> Option<&KeyEntry> {
        self.keys.get(id)
    }

    pub fn env(&self, id: &str) -> Option<&Arc<EnvRuntime>> {
        self.envs.get(id)
    }

    /// The environment a data-plane host belongs to, if any.
    pub fn env_for_host(&self, host: &str) -> Option<&Arc<EnvRuntime>> {
        self.hosts.get(host).and_then(|id| self.envs.get(id))
    }

    /// The data-plane hosts bound to environment `env_id`, sorted.
    pub fn hosts_of(&self, env_id: &str) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .hosts
            .iter()
            .filter(|(_, id)| id.as_str() == env_id)
            .map(|(host, _)| host.clone())
            .collect();
        hosts.sort();
        hosts
    }

    /// Every environment.
    pub fn envs(&self) -> impl Iterator<Item = &Arc<EnvRuntime>> {
        self.envs.values()
    }

    pub fn env_count(&self) -> usize {
        self.envs.len()
    }

    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Whether an environment refuses requests its counters cannot count.
    pub fn any_env_fails_closed(&self) -> bool {
        self.envs
            .values()
            .any(|env| env.policies.on_counter_failure() == sentinel_policy::CounterFailure::Closed)
    }

    /// Every endpoint and every (environment, route plan) this snapshot
    /// routes to.
    pub fn live_state(&self) -> (HashSet<EndpointKey>, HashSet<(String, String)>) {
        let mut endpoints = HashSet::new();
        let mut plans = HashSet::new();
        for env in self.envs.values() {
            for route in env.routes.values() {
                plans.insert((env.id.clone(), route.plan.clone()));
                endpoints.extend(route.targets.iter().map(|t| t.key.clone()));
                if let Some(canary) = &route.canary {
                    plans.insert((env.id.clone(), format!("{}#canary", route.plan)));
                    endpoints.extend(canary.route.targets.iter().map(|t| t.key.clone()));
                }
            }
        }
        (endpoints, plans)
    }
}

/// What a snapshot build needs besides the store.
#[derive(Debug)]
pub struct BuildDeps {
    pub registry: ProviderRegistry,
    /// Client settings every provider starts from; connect timeout and
    /// private-network allowance are set per provider.
    pub http: HttpSettings,
    pub endpoints: Arc<EndpointRegistry>,
}

/// Builds a snapshot from the store. Environments whose inputs did not change
/// since `previous` are reused as they are; an environment that fails to
/// build keeps its previous runtime (if any) and is listed in `problems`.
pub async fn build(
    store: &Store,
    deps: &BuildDeps,
    generation: u64,
    previous: Option<&Snapshot>,
) -> Result<Snapshot, StoreError> {
    let orgs = store.list_orgs().await?;
    let default_org_id = orgs
        .iter()
        .find(|o| o.name == sentinel_core::DEFAULT_ORG)
        .or(orgs.first())
        .map(|o| o.id.clone());
    // Keys first: a key's application and environment exist before the key
    // does, so reading them afterwards never misses one (a change racing
    // this build bumps the change counter and triggers another build).
    let keys = store.list_all_keys().await?;
    let environments = store.list_all_environments().await?;
    let applications = store.list_all_applications().await?;
    let revisions = store.latest_revisions_all().await?;
    let app_names: HashMap<&str, &str> = applications
        .iter()
        .map(|a| (a.id.as_str(), a.name.as_str()))
        .collect();

    let mut snapshot = Snapshot {
        generation,
        default_org_id,
        ..Snapshot::default()
    };
    for env in &environments {
        for host in &env.hosts {
            snapshot
                .hosts
                .insert(host.to_ascii_lowercase(), env.id.clone());
        }
        let revision = revisions
            .iter()
            .find(|r| r.env_id == env.id && r.org_id == env.org_id);
        let secrets = store.list_secrets(&env.org_id, &env.id).await?;
        let mut inputs = format!("{}|{}|", env.protected, revision.map_or(0, |r| r.revision));
        for s in &secrets {
            let _ = write!(inputs, "{}:{};", s.name, s.version);
        }
        if let Some(old) = previous
            .and_then(|p| p.envs.get(&env.id))
            .filter(|old| old.inputs == inputs)
        {
            snapshot.envs.insert(env.id.clone(), old.clone());
            continue;
        }
        let document = revision.map_or("", |r| r.document.as_str());
        let secret_names: Vec<&str> = secrets.iter().map(|s| s.name.as_str()).collect();
        let built = compile_env(store, deps, env, document, &secret_names).await;
        match built {
            Ok(Compiled {
                routes,
                models,
                policies,
                retention,
                open_to,
            }) => {
                snapshot.envs.insert(
                    env.id.clone(),
                    Arc::new(EnvRuntime {
                        org_id: env.org_id.clone(),
                        id: env.id.clone(),
                        name: env.name.clone(),
                        revision: revision.map(|r| r.revision),
                        policies,
                        retention,
                        open_to,
                        routes,
                        models,
                        inputs,
                    }),
                );
            }
            Err(problem) => {
                tracing::error!(environment = %env.name, %problem, "environment configuration could not be built; keeping the previous one");
                snapshot.problems.push(format!("{}: {problem}", env.name));
                if let Some(old) = previous.and_then(|p| p.envs.get(&env.id)) {
                    snapshot.envs.insert(env.id.clone(), old.clone());
                } else {
                    snapshot.envs.insert(
                        env.id.clone(),
                        Arc::new(EnvRuntime {
                            org_id: env.org_id.clone(),
                            id: env.id.clone(),
                            name: env.name.clone(),
                            revision: None,
                            policies: Arc::default(),
                            retention: sentinel_config::Retention::default(),
                            open_to: None,
                            routes: HashMap::new(),
                            models: Vec::new(),
                            inputs: String::new(),
                        }),
                    );
                }
            }
        }
    }
    for key in keys {
        if let Some(entry) = key_entry(&key, &app_names) {
            snapshot.keys.insert(key.id.clone(), entry);
        }
    }
    Ok(snapshot)
}

fn key_entry(key: &ApiKey, app_names: &HashMap<&str, &str>) -> Option<KeyEntry> {
    let digest = KeyDigest::from_hex(&key.digest_hex)?;
    Some(KeyEntry {
        id: key.id.clone(),
        digest,
        org_id: key.org_id.clone(),
        env_id: key.env_id.clone(),
        app_id: key.app_id.clone(),
        app_name: app_names
            .get(key.app_id.as_str())
            .map(|s| (*s).to_owned())
            .unwrap_or_default(),
        revoked_at: key.revoked_at,
        expires_at: key.expires_at,
    })
}

/// What an environment's document compiles to.
struct Compiled {
    routes: HashMap<String, Arc<Route>>,
    models: Vec<String>,
    policies: Arc<PolicySet>,
    retention: sentinel_config::Retention,
    open_to: Option<HashSet<String>>,
}

async fn compile_env(
    store: &Store,
    deps: &BuildDeps,
    env: &sentinel_core::Environment,
    document: &str,
    secret_names: &[&str],
) -> Result<Compiled, String> {
    // Compile in its own scope: the context borrows non-Send trait objects
    // that must not live across the awaits below.
    let config: EnvConfig = {
        let secret_exists = |name: &str| secret_names.contains(&name);
        let ctx = CompileContext {
            catalog: &deps.registry,
            protected: env.protected,
            secret_exists: &secret_exists,
        };
        sentinel_config::compile(document, &ctx)
            .map_err(|e| e.to_string())?
            .0
    };
    let needs_secrets = config.providers().values().any(|p| p.credential.is_some());
    let secrets = if needs_secrets {
        store
            .reveal_secrets(&env.org_id, &env.id)
            .await
            .map_err(|e| e.to_string())?
    } else {
        HashMap::new()
    };
    let mut providers: HashMap<String, Arc<dyn Provider>> = HashMap::new();
    for (name, provider) in config.providers() {
        let credential = match &provider.credential {
            Some(reference) => Some(Credential::new(
                secrets
                    .get(reference.name().as_str())
                    .ok_or_else(|| {
                        format!("provider {name}: secret {} is missing", reference.name())
                    })?
                    .expose(),
            )),
            None => None,
        };
        // The tightest connect timeout of the route plans that use it.
        let connect_ms = config
            .route_plans()
            .values()
            .flat_map(|plan| {
                let canary = plan
                    .canary
                    .as_ref()
                    .map(|c| (c.targets.as_slice(), c.timeouts));
                std::iter::once((plan.targets.as_slice(), plan.timeouts)).chain(canary)
            })
            .filter(|(targets, _)| targets.iter().any(|t| t.provider == *name))
            .map(|(_, timeouts)| timeouts.connect_ms)
            .min()
            .unwrap_or(Timeouts::default().connect_ms);
        let http = HttpSettings {
            connect_timeout: std::time::Duration::from_millis(connect_ms),
            allow_private_network: provider.allow_private_network,
            ..deps.http.clone()
        };
        let built = deps
            .registry
            .build(provider, credential, &http)
            .map_err(|e| e.to_string())?;
        providers.insert(name.to_string(), built);
    }
    let mut routes = HashMap::new();
    for (plan_name, plan) in config.route_plans() {
        let stable = PlanShape {
            strategy: plan.strategy,
            targets: &plan.targets,
            retry: &plan.retry,
            timeouts: plan.timeouts,
            breaker: plan.breaker,
        };
        let mut route = build_route(plan_name.as_str(), &stable, &providers, &config, env, deps)?;
        if let Some(canary) = &plan.canary {
            let shape = PlanShape {
                strategy: canary.strategy,
                targets: &canary.targets,
                retry: &canary.retry,
                timeouts: canary.timeouts,
                breaker: canary.breaker,
            };
            let budget_name = format!("{plan_name}#canary");
            let mut canary_route =
                build_route(&budget_name, &shape, &providers, &config, env, deps)?;
            canary_route.plan = plan_name.to_string();
            route.canary = Some(CanaryRoute {
                share_permille: canary.share_permille,
                applications: canary
                    .applications
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                route: Arc::new(canary_route),
            });
        }
        let route = Arc::new(route);
        for model in &plan.models {
            routes.insert(model.clone(), route.clone());
        }
    }
    let mut models: Vec<String> = routes.keys().cloned().collect();
    models.sort();
    Ok(Compiled {
        routes,
        models,
        policies: config.policies().set().clone(),
        retention: config.retention(),
        open_to: config
            .rollout()
            .open_to
            .as_ref()
            .map(|apps| apps.iter().map(ToString::to_string).collect()),
    })
}

/// What a route is built from: a plan, or its canary.
struct PlanShape<'a> {
    strategy: Strategy,
    targets: &'a [sentinel_config::Target],
    retry: &'a RetryPolicy,
    timeouts: Timeouts,
    breaker: sentinel_core::breaker::BreakerParams,
}

/// A route with live providers and endpoint state; `budget_name` keys its
/// retry budget (a canary's is its own).
fn build_route(
    budget_name: &str,
    shape: &PlanShape<'_>,
    providers: &HashMap<String, Arc<dyn Provider>>,
    config: &EnvConfig,
    env: &sentinel_core::Environment,
    deps: &BuildDeps,
) -> Result<Route, String> {
    let mut targets = Vec::with_capacity(shape.targets.len());
    for target in shape.targets {
        let provider = providers.get(target.provider.as_str()).ok_or_else(|| {
            format!(
                "route plan {budget_name}: provider {} is missing",
                target.provider
            )
        })?;
        let key = EndpointKey {
            org_id: env.org_id.clone(),
            env_id: env.id.clone(),
            env_name: env.name.clone(),
            provider: target.provider.to_string(),
            model: target.model.clone(),
        };
        let price = config
            .price(&target.model)
            .map(|p| (p, PriceSource::Environment))
            .or_else(|| {
                let kind = &config.provider(target.provider.as_str())?.kind;
                let price = deps.registry.price(kind, &target.model)?;
                Some((price, PriceSource::Builtin))
            });
        targets.push(TargetRuntime {
            provider_name: target.provider.to_string(),
            provider: provider.clone(),
            upstream_model: target.model.clone(),
            weight: target.weight.get(),
            endpoint: deps.endpoints.endpoint(&key, shape.breaker),
            key,
            price,
            answer_time: AnswerTime::default(),
        });
    }
    Ok(Route {
        plan: budget_name.to_owned(),
        strategy: shape.strategy,
        targets,
        retry: shape.retry.clone(),
        timeouts: shape.timeouts,
        budget: deps
            .endpoints
            .budget(&env.id, budget_name, shape.retry.budget_ratio),
        canary: None,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::AnswerTime;

    #[test]
    fn answer_time_starts_unknown_then_follows_recent_answers() {
        let time = AnswerTime::default();
        assert_eq!(time.recent(), None, "no answer yet: never a reason to spin");
        time.observe(Duration::from_micros(80));
        assert_eq!(time.recent(), Some(Duration::from_micros(80)));
        // One slow answer moves the average by an eighth of the difference.
        time.observe(Duration::from_micros(880));
        assert_eq!(time.recent(), Some(Duration::from_micros(180)));
        // Then it settles back towards the usual answers.
        for _ in 0..40 {
            time.observe(Duration::from_micros(80));
        }
        let recent = time.recent().unwrap();
        assert!(recent < Duration::from_micros(81), "{recent:?}");
        // An instant answer still counts as known.
        let instant = AnswerTime::default();
        instant.observe(Duration::ZERO);
        assert!(instant.recent().is_some());
    }
}
