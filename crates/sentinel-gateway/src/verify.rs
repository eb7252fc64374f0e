//! What `sentinel verify` needs from the data plane: the environment's route
//! plans as the snapshot serves them, and two request extensions the
//! binary inserts when it sends a verification request through the
//! gateway's router in-process.
//!
//! Invariant: the extensions exist only inside the process. No header or
//! body field sets them, so no outside client can skip the rollout gate or
//! make a target fail on purpose.

use std::collections::BTreeMap;

use sentinel_core::AttemptRecord;

use crate::Gateway;

/// A verification request: the environment's staged rollout
/// (`rollout.open_to`) does not apply to it. Policies, limits and budgets
/// do.
#[derive(Debug, Clone, Copy, Default)]
pub struct Verification;

/// Dispatch treats the first target of the route plan as failed (an
/// attempt with outcome `forced_failure`, never sent, not counted by the
/// breaker) and falls back to the next one, proving the fallback path.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForceFallback;

/// On the response to a [`Verification`] request (a response extension,
/// never a header): the attempts of the request, as its record has them.
#[derive(Debug, Clone, Default)]
pub struct VerifiedAttempts(pub Vec<AttemptRecord>);

/// One route plan of an environment, as the gateway serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanTargets {
    pub plan: String,
    /// The first (by name) of the model names the plan serves.
    pub model: String,
    /// (provider, upstream model) of each target, in the plan's order.
    pub targets: Vec<(String, String)>,
}

impl Gateway {
    /// The data-plane hosts bound to the environment (sorted; empty when
    /// none is) and each of its route plans, by name.
    pub fn verify_plans(&self, env_id: &str) -> Result<(Vec<String>, Vec<PlanTargets>), String> {
        let (snapshot, env) = self.loaded_env(env_id)?;
        let mut plans: BTreeMap<String, PlanTargets> = BTreeMap::new();
        // `models()` is sorted, so each plan keeps its first model name.
        for model in env.models() {
            let Some(route) = env.route(model) else {
                continue;
            };
            plans
                .entry(route.plan.clone())
                .or_insert_with(|| PlanTargets {
                    plan: route.plan.clone(),
                    model: model.clone(),
                    targets: route
                        .targets
                        .iter()
                        .map(|t| (t.provider_name.clone(), t.upstream_model.clone()))
                        .collect(),
                });
        }
        Ok((snapshot.hosts_of(env_id), plans.into_values().collect()))
    }

    /// Whether the snapshot knows key `id`: `None` when it does not,
    /// `Some(true)` when it accepts it now, `Some(false)` when it refuses it
    /// (revoked or expired).
    pub fn key_in_snapshot(&self, id: &str) -> Option<bool> {
        let snapshot = self.snapshot()?;
        let entry = snapshot.key(id)?;
        let now = crate::unix_millis();
        Some(entry.revoked_at.is_none_or(|t| t > now) && entry.expires_at.is_none_or(|t| t > now))
    }
}
