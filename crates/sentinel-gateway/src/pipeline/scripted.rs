//! A scripted provider and route builder for tests and the dispatch
//! micro-benchmarks: no network, outcomes played from a shared script.

#![cfg_attr(
    not(test),
    allow(dead_code, reason = "the benchmarks play only successes")
)]

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use sentinel_config::{RetryOn, RetryPolicy, Strategy, Timeouts};
use sentinel_core::{breaker::BreakerParams, retry::Backoff};
use sentinel_providers::{
    Provider, ProviderError, ProviderErrorKind, UpstreamBody, UpstreamRequest, UpstreamResponse,
};

use crate::{
    endpoint::{EndpointKey, EndpointRegistry},
    snapshot::{Route, TargetRuntime},
};

/// What the scripted provider does on one call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Script {
    Ok,
    Status(u16),
    Timeout,
    Connect,
}

pub(crate) const ALL: [Script; 6] = [
    Script::Ok,
    Script::Status(500),
    Script::Status(429),
    Script::Status(400),
    Script::Timeout,
    Script::Connect,
];

/// A provider that plays a shared script and counts its calls.
#[derive(Debug)]
pub(crate) struct Scripted {
    script: Arc<Mutex<VecDeque<Script>>>,
    calls: Arc<Mutex<u32>>,
}

#[async_trait::async_trait]
impl Provider for Scripted {
    fn kind(&self) -> &'static str {
        "scripted"
    }

    async fn send(&self, _request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        *self
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        let step = self
            .script
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
            .unwrap_or(Script::Ok);
        let response = |status| UpstreamResponse {
            status,
            content_type: Some("application/json".into()),
            upstream_request_id: None,
            retry_after: None,
            body: UpstreamBody::Full(Bytes::from_static(b"{}")),
        };
        match step {
            Script::Ok => Ok(response(200)),
            Script::Status(status) => Ok(response(status)),
            Script::Timeout => Err(ProviderError::new(ProviderErrorKind::Timeout, "slow")),
            Script::Connect => Err(ProviderError::new(ProviderErrorKind::Connect, "refused")),
        }
    }
}

pub(crate) fn route(
    targets: usize,
    max_attempts: u32,
    script: &Arc<Mutex<VecDeque<Script>>>,
    calls: &Arc<Mutex<u32>>,
) -> Route {
    let registry = EndpointRegistry::default();
    let targets = (0..targets)
        .map(|i| {
            let key = EndpointKey {
                org_id: "o".into(),
                env_id: "e".into(),
                env_name: "dev".into(),
                provider: format!("p{i}"),
                model: "m".into(),
            };
            TargetRuntime {
                provider_name: format!("p{i}"),
                provider: Arc::new(Scripted {
                    script: script.clone(),
                    calls: calls.clone(),
                }),
                upstream_model: "m".into(),
                weight: 1,
                endpoint: registry.endpoint(
                    &key,
                    BreakerParams {
                        min_requests: 1_000,
                        ..BreakerParams::default()
                    },
                ),
                key,
                price: None,
                answer_time: Default::default(),
            }
        })
        .collect();
    Route {
        plan: "r".into(),
        strategy: Strategy::Fallback,
        targets,
        retry: RetryPolicy {
            max_attempts,
            backoff: Backoff {
                base_ms: 0,
                max_ms: 0,
            },
            retry_after_cap_ms: 1_000,
            on: RetryOn::ALL.iter().map(|(c, _)| *c).collect(),
            budget_ratio: 1.0,
        },
        timeouts: Timeouts::default(),
        budget: registry.budget("e", "r", 1.0),
        canary: None,
    }
}
