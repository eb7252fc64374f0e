//! Provider connectivity tests (`providers test`): one minimal chat call
//! (`max_tokens: 1`, "ping") to each (provider, upstream model) the
//! environment's route plans use, through the same provider clients (and
//! credentials) the data plane uses. Calls bypass circuit breakers and
//! health counts: a test is not traffic.
//!
//! Outcomes carry the upstream status and an error class, never the
//! upstream's body (which may echo part of a credential).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use sentinel_core::ProviderProbe;
use sentinel_providers::{Operation, Provider, UpstreamRequest};
use tokio::time::Instant;

use crate::{Gateway, unix_millis};

/// Each (provider, upstream model) with its client and call timeout.
type Targets = BTreeMap<(String, String), (Arc<dyn Provider>, Duration)>;

/// The longest a test call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl Gateway {
    /// The (provider, upstream model) pairs the environment's route plans
    /// use, sorted; only `provider`'s when given.
    pub fn provider_targets(
        &self,
        env_id: &str,
        provider: Option<&str>,
    ) -> Result<Vec<(String, String)>, String> {
        Ok(self.probe_targets(env_id, provider)?.into_keys().collect())
    }

    /// The current snapshot and environment `env_id` in it, or why not,
    /// for the operator-side tools (tests of providers, `verify`).
    pub(crate) fn loaded_env(
        &self,
        env_id: &str,
    ) -> Result<
        (
            Arc<crate::snapshot::Snapshot>,
            Arc<crate::snapshot::EnvRuntime>,
        ),
        String,
    > {
        let snapshot = self
            .snapshot()
            .ok_or_else(|| "the gateway has not loaded its configuration yet".to_owned())?;
        let env = snapshot
            .env(env_id)
            .cloned()
            .ok_or_else(|| "the environment is not loaded in the gateway".to_owned())?;
        Ok((snapshot, env))
    }

    fn probe_targets(&self, env_id: &str, provider: Option<&str>) -> Result<Targets, String> {
        let (_, env) = self.loaded_env(env_id)?;
        let mut targets = BTreeMap::new();
        for route in env.routes() {
            let timeout = Duration::from_millis(route.timeouts.total_ms).min(CALL_TIMEOUT);
            for target in &route.targets {
                if provider.is_some_and(|p| p != target.provider_name) {
                    continue;
                }
                targets
                    .entry((target.provider_name.clone(), target.upstream_model.clone()))
                    .or_insert_with(|| (target.provider.clone(), timeout));
            }
        }
        if let Some(name) = provider
            && targets.is_empty()
        {
            return Err(format!(
                "no route plan of the environment uses provider {name:?}"
            ));
        }
        Ok(targets)
    }

    /// Calls each target once, one after another; returns every outcome.
    pub async fn test_providers(
        &self,
        env_id: &str,
        provider: Option<&str>,
    ) -> Result<Vec<ProviderProbe>, String> {
        let targets = self.probe_targets(env_id, provider)?;
        let mut outcomes = Vec::with_capacity(targets.len());
        for ((provider, model), (client, timeout)) in targets {
            outcomes.push(probe(provider, model, client.as_ref(), timeout).await);
        }
        Ok(outcomes)
    }
}

async fn probe(
    provider: String,
    model: String,
    client: &dyn Provider,
    timeout: Duration,
) -> ProviderProbe {
    let body = serde_json::json!({
        "model": model,
        "messages": [{ "role": "user", "content": "ping" }],
        "max_tokens": 1,
    });
    let request = UpstreamRequest {
        operation: Operation::ChatCompletions,
        body: bytes::Bytes::from(body.to_string()),
        stream: false,
        client_headers: http::HeaderMap::new(),
    };
    let time = unix_millis();
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, client.send(request)).await;
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (ok, status, error) = match outcome {
        Ok(Ok(response)) if (200..300).contains(&response.status) => {
            (true, Some(response.status), None)
        }
        Ok(Ok(response)) => (
            false,
            Some(response.status),
            Some(format!("the provider answered HTTP {}", response.status)),
        ),
        Ok(Err(error)) => (
            false,
            None,
            Some(format!("no answer: {}", error.kind.as_str())),
        ),
        Err(_) => (
            false,
            None,
            Some(format!("no answer within {} s", timeout.as_secs())),
        ),
    };
    ProviderProbe {
        provider,
        model,
        ok,
        status,
        latency_ms,
        error,
        time,
    }
}
