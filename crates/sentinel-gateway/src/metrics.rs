//! Prometheus metrics of one gateway, rendered on the console's `/metrics`.
//!
//! Two sources:
//!
//! - **Per request**, [`Metrics::observe`] reads the finished request record
//!   (status, environment, application, route plan, provider, tokens, cost,
//!   attempts, policy outcome) once, where the record is submitted to the
//!   writer, so the pipeline itself has no metrics calls. The values go to a
//!   `metrics-exporter-prometheus` recorder owned by this gateway (never a
//!   process-global one, so tests that run several gateways in one process
//!   see their own numbers).
//! - **At scrape time**, [`Metrics::render`] appends state read from its
//!   owners: circuit breakers, the record writer's backlog and counts, and
//!   build information.
//!
//! The series every request touches (requests, duration, tokens, cost and
//! upstream attempts) are registered once per label set and their handles
//! kept in [`SeriesCache`]s, so counting a request is a hash of borrowed
//! label values and a few atomic adds, not a registry look-up that first
//! copies every label value.
//!
//! Invariant: label values are bounded and never secret. They are names from
//! configuration (environment, application, route plan, provider, upstream
//! model, policy rule), fixed vocabularies (status class, error code, attempt
//! outcome, token kind) or the fixed value `none`. Never a key id, a request
//! id, a client address or the client's requested model (an unknown model is
//! counted under route `none`). Rule ids of key scopes name a key id, so they
//! are counted as `key/{id}.…`.

use std::{
    collections::HashMap,
    fmt::Write as _,
    hash::BuildHasher as _,
    sync::{Mutex, PoisonError, atomic::Ordering},
};

use ::metrics::{
    Counter, Histogram, Unit, counter, describe_counter, describe_histogram, histogram,
    with_local_recorder,
};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use sentinel_core::{ErrorCode, RequestRecord};

use crate::{EndpointHealth, record::WriterStats};

/// Bucket bounds of `sentinel_request_duration_seconds`.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The label value for "not known for this request".
const NONE: &str = "none";

/// One gateway's metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// By environment, application, route, provider, API, status class.
    requests: SeriesCache<RequestSeries>,
    /// By environment, provider, upstream model, outcome.
    attempts: SeriesCache<Counter>,
}

/// The series of one request label set. Token and cost counters are
/// registered when first used, so a label set that never reported tokens
/// shows no token sample (as when they were looked up per request).
struct RequestSeries {
    requests: Counter,
    duration: Histogram,
    prompt_tokens: Option<Counter>,
    completion_tokens: Option<Counter>,
    cost: Option<Counter>,
}

/// Handles of registered series by their label values. Label values are
/// bounded (see the module invariant), and so is the cache; like the
/// registry itself, it keeps a series until the process ends.
///
/// Label values come from configuration and fixed sets, not from clients,
/// so the cache hashes with foldhash (randomly seeded) rather than
/// SipHash: it runs on every request, twice (the values, then the map key).
struct SeriesCache<T> {
    hasher: foldhash::fast::RandomState,
    /// By the hash of the label values; entries whose values collide share
    /// a bucket.
    map: Mutex<HashMap<u64, Bucket<T>, foldhash::fast::RandomState>>,
}

/// The series whose label values share a hash, with their values.
type Bucket<T> = Vec<(Box<[String]>, T)>;

impl<T> SeriesCache<T> {
    fn new() -> Self {
        Self {
            hasher: foldhash::fast::RandomState::default(),
            map: Mutex::new(HashMap::default()),
        }
    }

    /// Runs `use_series` on the series of `labels`, registering it with
    /// `register` the first time. The lock is held for a few atomic adds.
    fn with<R>(
        &self,
        labels: &[&str],
        register: impl FnOnce() -> T,
        use_series: impl FnOnce(&mut T) -> R,
    ) -> R {
        let hash = self.hasher.hash_one(labels);
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = map.entry(hash).or_default();
        let found = bucket
            .iter()
            .position(|(values, _)| values.iter().map(String::as_str).eq(labels.iter().copied()));
        let index = found.unwrap_or_else(|| {
            let values = labels.iter().map(|v| (*v).to_owned()).collect();
            bucket.push((values, register()));
            bucket.len() - 1
        });
        use_series(&mut bucket[index].1)
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A recorder with Sentinel's histogram buckets and metric descriptions.
    pub fn new() -> Self {
        let builder = PrometheusBuilder::new();
        // `set_buckets_for_metric` fails only on an empty bucket list.
        let builder = match builder.set_buckets_for_metric(
            Matcher::Full("sentinel_request_duration_seconds".to_owned()),
            DURATION_BUCKETS,
        ) {
            Ok(builder) => builder,
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let metrics = Self {
            recorder,
            handle,
            requests: SeriesCache::new(),
            attempts: SeriesCache::new(),
        };
        metrics.describe();
        metrics
    }

    fn describe(&self) {
        with_local_recorder(&self.recorder, || {
            describe_counter!(
                "sentinel_requests_total",
                "Data-plane requests, by environment, application, route plan, answering provider, API and status class"
            );
            describe_histogram!(
                "sentinel_request_duration_seconds",
                Unit::Seconds,
                "Time from arrival to the end of the answer (for streams, the end of the stream)"
            );
            describe_counter!(
                "sentinel_request_errors_total",
                "Requests answered with an error, by the error code the client received"
            );
            describe_counter!(
                "sentinel_upstream_attempts_total",
                "Upstream attempts by outcome (ok, rate_limited, server_error, client_error, timeout, connect_error, protocol_error, circuit_open, unservable, forced_failure)"
            );
            describe_counter!(
                "sentinel_retries_total",
                "Attempts followed by a retry of the same target"
            );
            describe_counter!(
                "sentinel_fallbacks_total",
                "Attempts followed by a fallback to another target"
            );
            describe_counter!(
                "sentinel_tokens_total",
                "Tokens reported by providers, by kind (prompt, completion)"
            );
            describe_counter!(
                "sentinel_cost_usd_micros_total",
                "Cost of answered requests in micro-USD (requests without a known price add nothing)"
            );
            describe_counter!(
                "sentinel_policy_refusals_total",
                "Requests refused by policy, by rule and kind (denied, rate_limited, budget_exceeded, counters_unavailable, payload_too_large)"
            );
            describe_counter!(
                "sentinel_policy_shadow_findings_total",
                "Would-be refusals of rules in shadow mode, by rule"
            );
            describe_counter!(
                "sentinel_counter_failures_total",
                "Requests that met unreachable rate-limit and budget counters, by mode (open: let through uncounted, closed: refused)"
            );
        });
    }

    /// Counts one finished request. Called once per request record.
    pub fn observe(&self, record: &RequestRecord) {
        self.observe_request(record);
        self.observe_attempts(record);
        let eventful = record.error_code.is_some()
            || record.policy.is_some()
            || record.attempts.iter().any(|a| a.next.is_some());
        if eventful {
            with_local_recorder(&self.recorder, || observe_outcome(record));
        }
    }

    /// The request, its duration, tokens and cost, in the series of its
    /// label set.
    fn observe_request(&self, record: &RequestRecord) {
        let environment = label(record.env_name.as_deref());
        let application = label(record.app_name.as_deref());
        let route = label(record.route_plan.as_deref());
        let provider = label(record.provider.as_deref());
        // The ingress names a fixed set of APIs (`models`, `unknown` included).
        let api = match record.ingress.as_str() {
            api @ ("chat_completions" | "embeddings" | "anthropic_messages" | "models") => api,
            _ => "other",
        };
        let class = status_class(record.status);
        let labels = [environment, application, route, provider, api, class];
        #[expect(
            clippy::cast_precision_loss,
            reason = "a latency in ms is far below 2^52"
        )]
        let seconds = record.latency_ms.max(0) as f64 / 1000.0;
        let positive = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok()).filter(|n| *n > 0);
        let series_labels = |extra: &[(&'static str, &str)]| -> Vec<::metrics::Label> {
            [
                ("environment", environment),
                ("application", application),
                ("route", route),
                ("provider", provider),
            ]
            .iter()
            .chain(extra)
            .map(|(name, value)| ::metrics::Label::new(*name, (*value).to_owned()))
            .collect()
        };
        self.requests.with(
            &labels,
            || {
                with_local_recorder(&self.recorder, || RequestSeries {
                    requests: counter!(
                        "sentinel_requests_total",
                        series_labels(&[("api", api), ("status_class", class)])
                    ),
                    duration: histogram!(
                        "sentinel_request_duration_seconds",
                        series_labels(&[("status_class", class)])
                    ),
                    prompt_tokens: None,
                    completion_tokens: None,
                    cost: None,
                })
            },
            |series| {
                series.requests.increment(1);
                series.duration.record(seconds);
                let tokens = [
                    ("prompt", &mut series.prompt_tokens, record.prompt_tokens),
                    (
                        "completion",
                        &mut series.completion_tokens,
                        record.completion_tokens,
                    ),
                ];
                for (kind, handle, tokens) in tokens {
                    if let Some(n) = positive(tokens) {
                        handle
                            .get_or_insert_with(|| {
                                with_local_recorder(&self.recorder, || {
                                    counter!(
                                        "sentinel_tokens_total",
                                        series_labels(&[("kind", kind)])
                                    )
                                })
                            })
                            .increment(n);
                    }
                }
                if let Some(cost) = positive(record.cost_micros) {
                    series
                        .cost
                        .get_or_insert_with(|| {
                            with_local_recorder(&self.recorder, || {
                                counter!("sentinel_cost_usd_micros_total", series_labels(&[]))
                            })
                        })
                        .increment(cost);
                }
            },
        );
    }

    /// Each upstream attempt, by its outcome.
    fn observe_attempts(&self, record: &RequestRecord) {
        let environment = label(record.env_name.as_deref());
        for attempt in &record.attempts {
            let outcome = match attempt.outcome.as_str() {
                o @ ("ok" | "rate_limited" | "server_error" | "client_error" | "timeout"
                | "connect_error" | "protocol_error" | "circuit_open" | "unservable"
                | "forced_failure") => o,
                _ => "other",
            };
            let labels = [
                environment,
                attempt.provider.as_str(),
                attempt.upstream_model.as_str(),
                outcome,
            ];
            self.attempts.with(
                &labels,
                || {
                    with_local_recorder(&self.recorder, || {
                        counter!("sentinel_upstream_attempts_total",
                            "environment" => environment.to_owned(),
                            "provider" => attempt.provider.clone(),
                            "model" => attempt.upstream_model.clone(),
                            "outcome" => outcome.to_owned())
                    })
                },
                |counter| counter.increment(1),
            );
        }
    }

    /// The Prometheus text exposition: the recorded metrics, then the state
    /// read now from the breakers and the record writer.
    pub(crate) fn render(
        &self,
        endpoints: &[EndpointHealth],
        writer: &WriterStats,
        backlog: usize,
    ) -> String {
        let mut out = self.handle.render();
        render_state(&mut out, endpoints, writer, backlog);
        out
    }

    /// The recorded metrics alone, for `benches/observability.rs`.
    #[doc(hidden)]
    pub fn render_for_bench(&self) -> String {
        self.handle.render()
    }

    /// Drains histogram samples into their buckets. Rendering does it too;
    /// run this periodically so memory stays bounded when nobody scrapes.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        5 => "5xx",
        _ => "other",
    }
}

/// A label value from an optional configured name.
fn name(value: Option<&String>) -> String {
    value.map_or_else(|| NONE.to_owned(), Clone::clone)
}

/// [`name`], borrowed.
fn label(value: Option<&str>) -> &str {
    value.unwrap_or(NONE)
}

/// A policy rule id as a label: key scopes name a key id, which is not a
/// label value (`key/0123abcd.max_tokens` → `key/{id}.max_tokens`).
fn rule_label(rule: &str) -> String {
    match rule.strip_prefix("key/") {
        Some(rest) if !rest.starts_with('*') => match rest.split_once('.') {
            Some((_, tail)) => format!("key/{{id}}.{tail}"),
            None => "key/{id}".to_owned(),
        },
        _ => rule.to_owned(),
    }
}

/// Errors, retries, fallbacks and policy outcomes: the rarer series, looked
/// up in the registry when they occur.
fn observe_outcome(record: &RequestRecord) {
    let environment = name(record.env_name.as_ref());
    let application = name(record.app_name.as_ref());
    let route = name(record.route_plan.as_ref());

    if let Some(code) = &record.error_code {
        let code = ErrorCode::from_str_code(code).map_or("other", ErrorCode::as_str);
        counter!("sentinel_request_errors_total",
            "environment" => environment.clone(), "application" => application,
            "route" => route.clone(), "code" => code)
        .increment(1);
    }

    for attempt in &record.attempts {
        match attempt.next.as_deref() {
            Some(next) if next.starts_with("retry") => {
                counter!("sentinel_retries_total",
                    "environment" => environment.clone(), "route" => route.clone(),
                    "provider" => attempt.provider.clone())
                .increment(1);
            }
            Some(next) if next.starts_with("fallback") => {
                counter!("sentinel_fallbacks_total",
                    "environment" => environment.clone(), "route" => route.clone(),
                    "provider" => attempt.provider.clone())
                .increment(1);
            }
            _ => {}
        }
    }

    if let Some(policy) = &record.policy {
        if policy.decision != "allowed" {
            let kind = match policy.decision.as_str() {
                d @ ("denied"
                | "rate_limited"
                | "budget_exceeded"
                | "counters_unavailable"
                | "payload_too_large") => d.to_owned(),
                _ => "other".to_owned(),
            };
            counter!("sentinel_policy_refusals_total",
                "environment" => environment.clone(),
                "rule" => policy.rule.as_deref().map_or_else(|| NONE.to_owned(), rule_label),
                "kind" => kind)
            .increment(1);
        }
        for finding in policy.findings.iter().filter(|f| f.mode == "shadow") {
            counter!("sentinel_policy_shadow_findings_total",
                "environment" => environment.clone(), "rule" => rule_label(&finding.rule))
            .increment(1);
        }
        if let Some(mode) = policy.counters.as_deref() {
            let mode = if mode == "closed" { "closed" } else { "open" };
            counter!("sentinel_counter_failures_total",
                "environment" => environment.clone(), "mode" => mode)
            .increment(1);
        }
    }
}

/// Appends the metrics read at scrape time.
fn render_state(
    out: &mut String,
    endpoints: &[EndpointHealth],
    writer: &WriterStats,
    backlog: usize,
) {
    let spins = sentinel_runtime::spin::stats();
    // `write!` to a String cannot fail.
    let _ = writeln!(
        out,
        "# HELP sentinel_breaker_open 1 while the endpoint's circuit breaker is open (rejecting), else 0 (closed or half-open)\n\
         # TYPE sentinel_breaker_open gauge"
    );
    for e in endpoints {
        let _ = writeln!(
            out,
            "sentinel_breaker_open{{environment=\"{}\",provider=\"{}\",model=\"{}\"}} {}",
            escape(&e.environment),
            escape(&e.provider),
            escape(&e.model),
            u8::from(e.breaker == "open")
        );
    }
    let _ = writeln!(
        out,
        "# HELP sentinel_record_writer_backlog Request records queued for the writer\n\
         # TYPE sentinel_record_writer_backlog gauge\n\
         sentinel_record_writer_backlog {backlog}\n\
         # HELP sentinel_record_writer_capacity Size of the record writer's queue\n\
         # TYPE sentinel_record_writer_capacity gauge\n\
         sentinel_record_writer_capacity {}\n\
         # HELP sentinel_records_written_total Request records written to the store\n\
         # TYPE sentinel_records_written_total counter\n\
         sentinel_records_written_total {}\n\
         # HELP sentinel_records_dropped_total Request records lost (queue full, or store and spool both failed)\n\
         # TYPE sentinel_records_dropped_total counter\n\
         sentinel_records_dropped_total {}\n\
         # HELP sentinel_records_spooled_total Request records spooled to disk while the store was unavailable\n\
         # TYPE sentinel_records_spooled_total counter\n\
         sentinel_records_spooled_total {}\n\
         # HELP sentinel_idle_spins_total Times the runtime thread spun instead of halting while a fast upstream answer was awaited\n\
         # TYPE sentinel_idle_spins_total counter\n\
         sentinel_idle_spins_total {}\n\
         # HELP sentinel_idle_spins_caught_total Spins that ended because work arrived (the rest ran out their window, then halted)\n\
         # TYPE sentinel_idle_spins_caught_total counter\n\
         sentinel_idle_spins_caught_total {}\n\
         # HELP sentinel_build_info The running Sentinel's version\n\
         # TYPE sentinel_build_info gauge\n\
         sentinel_build_info{{version=\"{}\"}} 1",
        writer.capacity,
        writer.written.load(Ordering::Relaxed),
        writer.dropped.load(Ordering::Relaxed),
        writer.spooled.load(Ordering::Relaxed),
        spins.spins,
        spins.caught,
        env!("CARGO_PKG_VERSION"),
    );
}

/// A label value escaped for the text exposition format.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
