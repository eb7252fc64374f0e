//! `GET /api/v1/environments/{env}/stats`: an environment's traffic over a
//! recent window, bucketed for the console's overview charts — requests,
//! client and server errors, timeouts, latency percentiles and spend — and
//! its providers as the records saw them.
//!
//! Computed from the stored request records on each call (the newest
//! [`MAX_POINTS`] of the window at most; `truncated` says when the window
//! held more), so it needs no extra bookkeeping on the request path.

use std::collections::BTreeMap;

use axum::{
    Json as JsonOut,
    extract::{Path, State},
};
use sentinel_core::Permission;
use sentinel_store::RecordPoint;
use serde::{Deserialize, Serialize};

use crate::{
    ConsoleDeps, auth::Caller, clock::now_ms, environments, error::ApiError, extract::Query,
};

/// Records read per call at most.
pub(crate) const MAX_POINTS: u32 = 50_000;

/// The windows the overview offers: name, length and bucket width (ms).
const WINDOWS: &[(&str, i64, i64)] = &[
    ("15m", 15 * MINUTE, 15_000),
    ("1h", HOUR, MINUTE),
    ("6h", 6 * HOUR, 5 * MINUTE),
    ("24h", 24 * HOUR, 15 * MINUTE),
    ("7d", 7 * 24 * HOUR, 2 * HOUR),
];
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// The gateway's code for a request whose last attempt ran out of time.
const TIMEOUT_CODE: &str = "upstream_timeout";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsQuery {
    window: Option<String>,
}

/// Counts of one bucket (or of the whole window).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub(crate) struct Counts {
    requests: u64,
    /// Answers with a 4xx status (refused: bad key, policy, rate limit…).
    client_errors: u64,
    /// Answers with a 5xx status (upstream failures, timeouts, outages).
    server_errors: u64,
    /// Answers whose code is `upstream_timeout`.
    timeouts: u64,
    /// Latency percentiles of the bucket's requests, ms.
    p50_ms: Option<i64>,
    p95_ms: Option<i64>,
    /// Spend, micro-USD (requests with a known price only).
    cost_micros: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Bucket {
    /// Unix ms of the bucket's start.
    start: i64,
    #[serde(flatten)]
    counts: Counts,
}

/// Requests and failures per provider that answered.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub(crate) struct ProviderCounts {
    provider: String,
    requests: u64,
    server_errors: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Stats {
    environment: String,
    window: String,
    since: i64,
    until: i64,
    bucket_ms: i64,
    /// Whether the window held more records than were read (the oldest
    /// buckets then undercount).
    truncated: bool,
    totals: Counts,
    buckets: Vec<Bucket>,
    providers: Vec<ProviderCounts>,
}

fn window(name: Option<&str>) -> Result<(&'static str, i64, i64), ApiError> {
    let name = name.unwrap_or("1h");
    WINDOWS
        .iter()
        .find(|(n, _, _)| *n == name)
        .copied()
        .ok_or_else(|| {
            let names: Vec<&str> = WINDOWS.iter().map(|(n, _, _)| *n).collect();
            ApiError::InvalidRequest(format!(
                "window must be one of {}, got {name:?}",
                names.join(", ")
            ))
        })
}

/// The value at fraction `q` of sorted `values` (nearest rank).
fn percentile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a rank within a slice of at most MAX_POINTS values"
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

#[derive(Default)]
struct Acc {
    counts: Counts,
    latencies: Vec<i64>,
}

impl Acc {
    fn add(&mut self, p: &RecordPoint) {
        let c = &mut self.counts;
        c.requests += 1;
        if (400..500).contains(&p.status) {
            c.client_errors += 1;
        }
        if p.status >= 500 {
            c.server_errors += 1;
        }
        if p.error_code.as_deref() == Some(TIMEOUT_CODE) {
            c.timeouts += 1;
        }
        c.cost_micros = c.cost_micros.saturating_add(p.cost_micros.unwrap_or(0));
        if let Some(ms) = p.latency_ms {
            self.latencies.push(ms);
        }
    }

    fn finish(mut self) -> Counts {
        self.latencies.sort_unstable();
        self.counts.p50_ms = percentile(&self.latencies, 0.50);
        self.counts.p95_ms = percentile(&self.latencies, 0.95);
        self.counts
    }
}

/// Buckets `points` (all within `[since, until)`) into `bucket_ms` slots;
/// every slot is present, empty ones with zero counts.
fn bucketize(
    points: &[RecordPoint],
    since: i64,
    until: i64,
    bucket_ms: i64,
) -> (Counts, Vec<Bucket>, Vec<ProviderCounts>) {
    let first = since - since.rem_euclid(bucket_ms);
    let mut slots: BTreeMap<i64, Acc> = BTreeMap::new();
    let mut start = first;
    while start < until {
        slots.insert(start, Acc::default());
        start += bucket_ms;
    }
    let mut total = Acc::default();
    let mut providers: BTreeMap<String, ProviderCounts> = BTreeMap::new();
    for p in points {
        let slot = p.time - p.time.rem_euclid(bucket_ms);
        slots.entry(slot).or_default().add(p);
        total.add(p);
        if let Some(name) = &p.provider {
            let entry = providers
                .entry(name.clone())
                .or_insert_with(|| ProviderCounts {
                    provider: name.clone(),
                    ..ProviderCounts::default()
                });
            entry.requests += 1;
            if p.status >= 500 {
                entry.server_errors += 1;
            }
        }
    }
    let buckets = slots
        .into_iter()
        .map(|(start, acc)| Bucket {
            start,
            counts: acc.finish(),
        })
        .collect();
    (total.finish(), buckets, providers.into_values().collect())
}

pub(crate) async fn show(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
    Query(q): Query<StatsQuery>,
) -> Result<JsonOut<Stats>, ApiError> {
    let (name, length, bucket_ms) = window(q.window.as_deref())?;
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    let until = now_ms().saturating_add(1);
    let since = until - length;
    let points = deps
        .store
        .record_points(caller.org_id(), &env.id, since, until, MAX_POINTS)
        .await?;
    let truncated = points.len() >= MAX_POINTS as usize;
    let (totals, buckets, providers) = bucketize(&points, since, until, bucket_ms);
    Ok(JsonOut(Stats {
        environment: env.name,
        window: name.to_owned(),
        since,
        until,
        bucket_ms,
        truncated,
        totals,
        buckets,
        providers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(time: i64, status: i64, code: Option<&str>, latency: i64) -> RecordPoint {
        RecordPoint {
            time,
            status,
            error_code: code.map(str::to_owned),
            latency_ms: Some(latency),
            cost_micros: Some(10),
            provider: Some("p".into()),
        }
    }

    #[test]
    fn windows_are_named() {
        assert_eq!(window(None).unwrap().0, "1h");
        assert_eq!(window(Some("7d")).unwrap().1, 7 * 24 * HOUR);
        let Err(ApiError::InvalidRequest(m)) = window(Some("2y")) else {
            panic!("2y accepted")
        };
        assert!(m.contains("window must be one of 15m, 1h"), "{m}");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7], 0.95), Some(7));
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), Some(50));
        assert_eq!(percentile(&v, 0.95), Some(95));
    }

    #[test]
    fn points_land_in_their_buckets() {
        let points = [
            point(1_000, 200, None, 10),
            point(1_500, 502, Some("upstream_error"), 30),
            point(2_100, 504, Some("upstream_timeout"), 90),
            point(2_200, 429, Some("rate_limited"), 1),
        ];
        let (totals, buckets, providers) = bucketize(&points, 1_000, 4_000, 1_000);
        assert_eq!(buckets.len(), 3, "every slot, empty ones too");
        assert_eq!(buckets[0].start, 1_000);
        assert_eq!(buckets[0].counts.requests, 2);
        assert_eq!(buckets[0].counts.server_errors, 1);
        assert_eq!(buckets[0].counts.p95_ms, Some(30));
        assert_eq!(buckets[1].counts.timeouts, 1);
        assert_eq!(buckets[1].counts.client_errors, 1);
        assert_eq!(buckets[2].counts.requests, 0);
        assert_eq!(buckets[2].counts.p50_ms, None);
        assert_eq!(totals.requests, 4);
        assert_eq!(totals.server_errors, 2);
        assert_eq!(totals.cost_micros, 40);
        assert_eq!(providers.len(), 1);
        assert_eq!((providers[0].requests, providers[0].server_errors), (4, 2));
    }
}
