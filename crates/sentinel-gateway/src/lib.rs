//! Sentinel's data plane: the gateway listener's routes, the request
//! pipeline, the in-memory snapshot it serves from, and the asynchronous
//! request-record writer.
//!
//! Invariants: the request path never waits on the store (it reads the
//! snapshot; records go through a bounded channel); every response carries
//! `x-sentinel-request-id`; administrative paths do not exist here (404).
//! This crate never depends on the console.

mod endpoint;
mod error;
mod explain;
mod health;
pub mod metrics;
mod models;
mod pipeline;
mod policy_stats;
mod probe;
pub mod record;
mod reload;
mod retention;
pub use retention::Pruned;
pub mod snapshot;
mod sse;
mod verify;

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use arc_swap::ArcSwapOption;
use axum::{
    Router,
    extract::{ConnectInfo, Request, State},
    response::Response,
    routing::{get, post},
};
use pipeline::Ingress;
use sentinel_core::ErrorCode;
use sentinel_limits::Counters;
use sentinel_store::Store;

pub use endpoint::{EndpointHealth, EndpointRegistry, Percentiles, Window};
pub use error::{ClientApi, GatewayError};
pub use explain::{Explanation, explain};
pub use health::readiness;
pub use pipeline::REQUEST_ID_HEADER;
pub use pipeline::policy::{CounterIds, DEFAULT_OUTPUT_TOKENS, charges, estimate_tokens};
pub use policy_stats::PolicyStats;
pub use record::{RecordSink, writer as record_writer};
pub use reload::ReloadOutcome;
pub use snapshot::{BuildDeps, Snapshot};
pub use verify::{ForceFallback, PlanTargets, Verification, VerifiedAttempts};

/// Data-plane settings.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// A public docs site (`https://…`): error bodies then carry
    /// `error.doc_url` = `{docs_base_url}/errors#{code}`. `None` (the
    /// default, when the docs are only served by the private console
    /// listener) sends no link.
    pub docs_base_url: Option<String>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            docs_base_url: None,
        }
    }
}

/// The gateway: shared by every request; cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    snapshot: ArcSwapOption<Snapshot>,
    store: Store,
    records: RecordSink,
    deps: BuildDeps,
    settings: GatewaySettings,
    counters: Arc<dyn Counters>,
    policy_stats: PolicyStats,
    metrics: Arc<metrics::Metrics>,
    reload_lock: tokio::sync::Mutex<()>,
}

impl Gateway {
    /// A gateway with no snapshot yet; call [`Gateway::reload`] to load one.
    pub fn new(
        store: Store,
        records: RecordSink,
        deps: BuildDeps,
        settings: GatewaySettings,
        counters: Arc<dyn Counters>,
    ) -> Self {
        let metrics = Arc::new(metrics::Metrics::new());
        Self {
            inner: Arc::new(Inner {
                snapshot: ArcSwapOption::empty(),
                store,
                records: records.observed_by(metrics.clone()),
                metrics,
                deps,
                settings,
                counters,
                policy_stats: PolicyStats::default(),
                reload_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The snapshot requests are served from, if one is loaded.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.inner.snapshot.load_full()
    }

    /// Breaker state and recent errors of every endpoint, on this replica.
    pub fn provider_health(&self) -> Vec<EndpointHealth> {
        self.inner.deps.endpoints.report(unix_millis())
    }

    /// This gateway's metrics in the Prometheus text format: what its
    /// requests did, and the breakers and record writer as they are now.
    pub fn render_metrics(&self) -> String {
        let records = &self.inner.records;
        self.inner
            .metrics
            .render(&self.provider_health(), records.stats(), records.backlog())
    }

    /// Keeps the metrics' memory bounded between scrapes, until `stop`.
    pub async fn run_metrics_upkeep(self, stop: tokio_util::sync::CancellationToken) {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = every.tick() => self.inner.metrics.run_upkeep(),
            }
        }
    }

    pub fn records(&self) -> &RecordSink {
        &self.inner.records
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The rate-limit and budget counters.
    pub fn counters(&self) -> &Arc<dyn Counters> {
        &self.inner.counters
    }

    /// What the policy stage did on this replica.
    pub fn policy_stats(&self) -> &PolicyStats {
        &self.inner.policy_stats
    }

    /// Logs every budget threshold crossing the counters report, until the
    /// counters are dropped. Spawn it once per gateway.
    pub async fn log_budget_events(self) {
        let mut events = self.inner.counters.subscribe();
        loop {
            match events.recv().await {
                Ok(event) => tracing::warn!(
                    event = "budget_threshold_crossed",
                    rule = %event.rule,
                    scope = %event.scope,
                    threshold_percent = event.threshold_permille / 10,
                    spent_usd = %sentinel_policy::usd(event.spent_micros),
                    "budget threshold crossed"
                ),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "budget threshold events were missed");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    fn max_body_bytes(&self) -> usize {
        self.inner.settings.max_body_bytes
    }

    /// The docs entry of an error code, when a public docs site is set.
    pub(crate) fn doc_url(&self, code: sentinel_core::ErrorCode) -> Option<String> {
        self.inner
            .settings
            .docs_base_url
            .as_deref()
            .map(|base| format!("{}/errors#{}", base.trim_end_matches('/'), code.as_str()))
    }

    /// The gateway listener's routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/messages", post(messages))
            .route("/v1/models", get(models::list))
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz))
            .fallback(not_found)
            .with_state(self.clone())
    }
}

async fn chat_completions(State(gw): State<Gateway>, request: Request) -> Response {
    pipeline::handle(gw, Ingress::ChatCompletions, request).await
}

async fn embeddings(State(gw): State<Gateway>, request: Request) -> Response {
    pipeline::handle(gw, Ingress::Embeddings, request).await
}

async fn messages(State(gw): State<Gateway>, request: Request) -> Response {
    pipeline::handle(gw, Ingress::AnthropicMessages, request).await
}

/// A fresh random number for jitter, weighted choice and canary shares: a
/// per-thread wyrand generator seeded from the OS (a few instructions, no
/// shared state, good enough for spreading load; not for secrets).
pub(crate) fn random() -> u64 {
    fastrand::u64(..)
}

/// The client's address, as the listener recorded it.
pub(crate) fn peer(request: &Request) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Every other path, administrative ones included: 404, recorded.
async fn not_found(State(gw): State<Gateway>, request: Request) -> Response {
    let started = tokio::time::Instant::now();
    let record = pipeline::start_record(&gw, "unknown", peer(&request));
    let error = GatewayError::new(
        ErrorCode::NotFound,
        format!(
            "no such endpoint: {} {}",
            request.method(),
            request.uri().path()
        ),
    );
    pipeline::refuse(&gw, record, started, &error)
}

/// Milliseconds since the unix epoch, now.
pub(crate) fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// In-process measurements of the dispatch loop, for `benches/dispatch.rs`
/// (`cargo bench -p sentinel-gateway --features bench --bench dispatch`).
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench {
    use std::{
        collections::VecDeque,
        sync::{Arc, Mutex},
        time::Duration,
    };

    use sentinel_core::RequestRecord;

    use crate::{endpoint::lock, pipeline::scripted};

    /// Time of each of `n` dispatches through a plan of `targets` targets
    /// whose first target answers at once.
    pub async fn happy_path(targets: usize, n: usize) -> Vec<Duration> {
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let calls = Arc::new(Mutex::new(0));
        let route = scripted::route(targets, 3, &script, &calls);
        measure(&route, n).await
    }

    /// Time of each of `n` dispatches through a plan whose every target's
    /// circuit is open.
    pub async fn open_circuit(targets: usize, n: usize) -> Vec<Duration> {
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let calls = Arc::new(Mutex::new(0));
        let route = scripted::route(targets, 3, &script, &calls);
        for target in &route.targets {
            let mut state = lock(&target.endpoint);
            for _ in 0..1_000 {
                state.record(&target.key, crate::unix_millis(), 1, Some("down"), false);
            }
        }
        measure(&route, n).await
    }

    async fn measure(route: &crate::snapshot::Route, n: usize) -> Vec<Duration> {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let mut record = RequestRecord::default();
            let started = tokio::time::Instant::now();
            let answered = crate::pipeline::dispatch_for_bench(route, &mut record).await;
            times.push(started.elapsed());
            std::hint::black_box(answered);
        }
        times
    }
}
