//! The Redis back end: counters shared by every replica of the gateway.
//!
//! Each admission is one round trip: one Lua script (EVALSHA, loaded again
//! on NOSCRIPT) observes every counter the request touches and, only if all
//! enforced limits have room, takes all of them. The script reads the
//! server's `TIME`, so replicas with skewed clocks share the same windows
//! and periods; the `now` arguments of [`Counters`] are ignored here.
//! Settling is one script call too, run on the runtime in the background.
//!
//! Keys (one per counter, plus one alert set per spend counter and period):
//! - `{prefix}:rpm:<scope>`, `{prefix}:tpm:<scope>`: hash of the current
//!   window number and the amounts taken in it and in the one before;
//! - `{prefix}:concurrency:<scope>`: sorted set of lease ids scored by
//!   expiry, so the leases of a crashed replica lapse after [`LEASE_TTL_MS`];
//! - `{prefix}:spend_day:<scope>`, `{prefix}:spend_month:<scope>`: hash of
//!   the current bucket's committed and reserved micro-USD, and the previous
//!   bucket's (for leases settled after the period turned);
//! - `{prefix}:alert:<kind>:<scope>:<bucket>`: set of the alert thresholds
//!   already announced in that bucket (`SADD` decides which replica emits).
//!
//! Invariants:
//! - every key carries a TTL (rate keys 3 min, day keys 2 days, month keys
//!   32 days, concurrency keys the lease TTL plus a minute); the settle
//!   script only rewrites existing keys, which keeps their TTL;
//! - every key starts with the hash tag `{prefix}`, so one script's keys
//!   share a cluster slot;
//! - every call is bounded by the configured timeout, and its outcome sets
//!   [`Counters::health`];
//! - no message, `Debug` output or log line carries the URL's password.
//!
//! A lease that is never settled (crash, or a settle that failed) keeps its
//! spend reservation as spend (as a settle without a reported cost would)
//! and its tokens estimate. Amounts and limits are capped at 2^53 on the way
//! to Lua, whose numbers are doubles.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{RedisResult, Script, ScriptInvocation};
use tokio::runtime::Handle;
use tokio::sync::{Notify, broadcast};

use crate::period::{DAY_MS, WINDOW_MS, ms_left_in_window, ms_to_next_day, ms_to_next_month};
use crate::rules::{self, CounterId, CounterKind, Observed, limit_value, threshold_amount};
use crate::{
    Actual, Admission, Charge, CounterError, CounterHealth, Counters, Demand, Held, LEASE_TTL_MS,
    Lease, Limit, Refusal, ThresholdCrossed, UnixMillis, Usage,
};

/// How many threshold events a slow subscriber may fall behind by.
const EVENT_CAPACITY: usize = 256;
/// Rate keys outlive their window and the one after it.
const RATE_KEY_TTL_MS: i64 = 3 * WINDOW_MS;
/// Day keys outlive their day and the one after it.
const DAY_KEY_TTL_MS: i64 = 2 * DAY_MS;
/// Month keys outlive their month by a day at least.
const MONTH_KEY_TTL_MS: i64 = 32 * DAY_MS;
/// Connection attempts per reconnect, after the first.
const RECONNECT_RETRIES: usize = 1;

static ADMIT_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/common.lua"),
        include_str!("lua/admit.lua")
    ))
});

static SETTLE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/common.lua"),
        include_str!("lua/settle.lua")
    ))
});

/// Counters in Redis, shared by every gateway replica that uses the same
/// Redis and key prefix. Windows and periods follow the Redis server's
/// clock: the `now` arguments are ignored.
pub struct RedisCounters {
    shared: Arc<Shared>,
    /// Where background settles run.
    runtime: Handle,
}

/// What the background settles need too.
struct Shared {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    /// The URL without its password, for messages.
    endpoint: String,
    /// Forms of the URL's password to scrub from messages.
    secrets: Vec<String>,
    health: Mutex<HealthState>,
    events: broadcast::Sender<ThresholdCrossed>,
    /// The Redis channel threshold events go through, so every replica's
    /// subscribers (the alert evaluator runs on one) hear every crossing.
    events_channel: String,
    /// The task relaying the channel to `events`; stopped on drop.
    relay: Mutex<Option<tokio::task::AbortHandle>>,
    pending_settles: AtomicUsize,
    settle_done: Notify,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(relay) = self
            .relay
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            relay.abort();
        }
    }
}

#[derive(Debug, Default)]
struct HealthState {
    ok: bool,
    last_error: Option<String>,
}

impl std::fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCounters")
            .field("endpoint", &self.shared.endpoint)
            .field("prefix", &self.shared.prefix)
            .field("timeout", &self.shared.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisCounters {
    /// Prepares counters in the Redis at `url`, with keys under `{prefix}:`.
    ///
    /// Succeeds while Redis is down: the connection is made on first use and
    /// remade after failures, and [`Counters::health`] reports the outcome
    /// of the initial `PING`. Fails only for an unusable configuration: a
    /// URL that does not parse, or a prefix that is empty or contains a
    /// brace or whitespace. Must be called within a Tokio runtime.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self, CounterError> {
        validate_prefix(prefix)?;
        let secrets = url_secrets(url);
        let endpoint = redact_url(url);
        let runtime = Handle::try_current()
            .map_err(|_| CounterError("RedisCounters::connect needs a Tokio runtime".to_owned()))?;
        let client = ::redis::Client::open(url).map_err(|error| {
            CounterError(scrub(
                &format!("redis URL {endpoint} is unusable: {error}"),
                &secrets,
            ))
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(2));
        let relay_client = client.clone();
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|error| {
                CounterError(scrub(
                    &format!("redis {endpoint}: cannot prepare a connection: {error}"),
                    &secrets,
                ))
            })?;
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let counters = Self {
            shared: Arc::new(Shared {
                connection,
                prefix: prefix.to_owned(),
                timeout,
                endpoint,
                secrets,
                health: Mutex::new(HealthState::default()),
                events: events.clone(),
                events_channel: format!("{prefix}:threshold-events"),
                relay: Mutex::new(None),
                pending_settles: AtomicUsize::new(0),
                settle_done: Notify::new(),
            }),
            runtime,
        };
        let (subscribed, ready) = tokio::sync::oneshot::channel();
        let relay = tokio::spawn(relay_events(
            relay_client,
            counters.shared.events_channel.clone(),
            events,
            subscribed,
        ));
        *counters
            .shared
            .relay
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(relay.abort_handle());
        // Down at start is reported by health(), not an error; the relay
        // keeps trying to subscribe in the background.
        let _ = counters.ping().await;
        let _ = tokio::time::timeout(timeout, ready).await;
        Ok(counters)
    }

    /// Checks that Redis answers, within the timeout; updates the health.
    pub async fn ping(&self) -> Result<(), CounterError> {
        let mut connection = self.shared.connection.clone();
        let ping = ::redis::cmd("PING");
        self.shared
            .bounded(ping.query_async::<String>(&mut connection))
            .await
            .map(drop)
    }

    /// Waits until every settle started so far has finished (or failed).
    pub async fn wait_for_settles(&self) {
        loop {
            let done = self.shared.settle_done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if self.shared.pending_settles.load(Ordering::SeqCst) == 0 {
                return;
            }
            done.await;
        }
    }

    /// Runs the admit script: observes the charges' counters and, in
    /// [`ScriptMode::Admit`], takes them if every enforced limit has room.
    async fn observe(
        &self,
        mode: ScriptMode,
        charges: &[Charge],
        demand: Demand,
        lease_id: &str,
    ) -> Result<AdmitReply, CounterError> {
        let counters = rules::counters_of(charges);
        let mut invocation = ADMIT_SCRIPT.prepare_invoke();
        invocation
            .arg(mode.name())
            .arg(lease_id)
            .arg(LEASE_TTL_MS)
            .arg(RATE_KEY_TTL_MS)
            .arg(DAY_KEY_TTL_MS)
            .arg(MONTH_KEY_TTL_MS);
        for id in &counters {
            invocation
                .key(counter_key(&self.shared.prefix, id))
                .arg(admit_kind(id.kind))
                .arg(lua_number(id.kind.amount(demand)))
                .arg(tightest_enforced_limit(charges, id).map_or(-1, lua_number));
        }
        let raw = self.shared.run_script(&invocation).await?;
        AdmitReply::parse(&raw, counters).map_err(|error| self.shared.failure(&error))
    }
}

#[async_trait::async_trait]
impl Counters for RedisCounters {
    async fn admit(
        &self,
        charges: &[Charge],
        demand: Demand,
        _now: UnixMillis,
    ) -> Result<Result<Admission, Refusal>, CounterError> {
        if charges.is_empty() {
            return Ok(Ok(empty_admission(demand)));
        }
        let needs_lease = charges
            .iter()
            .any(|charge| CounterKind::of(charge.limit) == CounterKind::Concurrency);
        let lease_id = if needs_lease {
            uuid::Uuid::new_v4().to_string()
        } else {
            String::new()
        };
        let reply = self
            .observe(ScriptMode::Admit, charges, demand, &lease_id)
            .await?;
        Ok(reply.into_admission(charges, demand, lease_id))
    }

    fn settle(&self, lease: Lease, actual: Actual, _now: UnixMillis) {
        let Some(plan) = SettlePlan::new(&self.shared.prefix, &lease, actual) else {
            return;
        };
        let pending = PendingSettle::start(&self.shared);
        self.runtime.spawn(async move {
            pending.0.settle(plan).await;
            drop(pending);
        });
    }

    async fn usage(
        &self,
        charges: &[Charge],
        _now: UnixMillis,
    ) -> Result<Vec<Usage>, CounterError> {
        if charges.is_empty() {
            return Ok(Vec::new());
        }
        let reply = self
            .observe(ScriptMode::Peek, charges, Demand::default(), "")
            .await?;
        let observed = reply.observed();
        Ok(charges
            .iter()
            .map(|charge| {
                let id = CounterId::of(charge);
                let used = observed.get(&id).map_or(0, Observed::used);
                Usage {
                    scope: charge.scope.clone(),
                    rule: charge.rule.clone(),
                    limit: charge.limit,
                    used,
                }
            })
            .collect())
    }

    fn health(&self) -> CounterHealth {
        let state = self
            .shared
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        CounterHealth {
            backend: "redis",
            ok: state.ok,
            last_error: state.last_error.clone(),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<ThresholdCrossed> {
        self.shared.events.subscribe()
    }
}

impl Shared {
    /// Runs a script, bounded by the timeout; records the outcome.
    async fn run_script(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<Vec<i64>, CounterError> {
        let mut connection = self.connection.clone();
        self.bounded(invocation.invoke_async::<Vec<i64>>(&mut connection))
            .await
    }

    /// Awaits `call` for at most the timeout; records the outcome in the
    /// health state.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, CounterError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => {
                self.record_success();
                Ok(value)
            }
            Ok(Err(error)) => Err(self.failure(&error.to_string())),
            Err(_elapsed) => {
                Err(self.failure(&format!("no answer within {} ms", self.timeout.as_millis())))
            }
        }
    }

    fn record_success(&self) {
        let mut state = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        state.ok = true;
        state.last_error = None;
    }

    /// Records a failure in the health state and turns it into an error.
    fn failure(&self, message: &str) -> CounterError {
        let message = scrub(
            &format!("redis at {}: {message}", self.endpoint),
            &self.secrets,
        );
        let mut state = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        state.ok = false;
        state.last_error = Some(message.clone());
        CounterError(message)
    }

    /// Announces a crossing to every replica through the events channel;
    /// when Redis cannot take it, to this replica's subscribers at least.
    async fn announce(&self, event: ThresholdCrossed) {
        let payload = encode_event(&event);
        let mut connection = self.connection.clone();
        let mut publish = ::redis::cmd("PUBLISH");
        publish.arg(&self.events_channel).arg(payload);
        if self
            .bounded(publish.query_async::<i64>(&mut connection))
            .await
            .is_err()
        {
            // No subscriber is fine.
            let _ = self.events.send(event);
        }
    }

    async fn settle(&self, plan: SettlePlan) {
        let mut invocation = SETTLE_SCRIPT.prepare_invoke();
        for key in &plan.keys {
            invocation.key(key);
        }
        for arg in &plan.args {
            invocation.arg(arg);
        }
        match self.run_script(&invocation).await {
            Ok(reply) => {
                for event in plan.events(&reply) {
                    self.announce(event).await;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "settling a lease failed; its estimates stay counted");
            }
        }
    }
}

/// What the admit script does after observing the counters.
#[derive(Debug, Clone, Copy)]
enum ScriptMode {
    /// Take every counter if all enforced limits have room.
    Admit,
    /// Take nothing (for [`Counters::usage`]).
    Peek,
}

impl ScriptMode {
    fn name(self) -> &'static str {
        match self {
            Self::Admit => "admit",
            Self::Peek => "peek",
        }
    }
}

/// Counts a background settle from spawn to end (also on panic).
struct PendingSettle(Arc<Shared>);

impl PendingSettle {
    fn start(shared: &Arc<Shared>) -> Self {
        shared.pending_settles.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(shared))
    }
}

impl Drop for PendingSettle {
    fn drop(&mut self) {
        self.0.pending_settles.fetch_sub(1, Ordering::SeqCst);
        self.0.settle_done.notify_waiters();
    }
}

/// The admit script's reply.
#[derive(Debug)]
struct AdmitReply {
    admitted: bool,
    /// 1-based index into `counters` of the first refusing counter; 0: none.
    refused: usize,
    server_now: UnixMillis,
    counters: Vec<CounterId>,
    views: Vec<View>,
}

/// One counter as the script saw it, before this request.
#[derive(Debug, Clone, Copy)]
struct View {
    bucket: i64,
    x: u64,
    y: u64,
}

impl AdmitReply {
    fn parse(raw: &[i64], counters: Vec<CounterId>) -> Result<Self, String> {
        let expected = 3 + 3 * counters.len();
        let ([admitted, refused, server_now], rest) = (raw.split_first_chunk::<3>())
            .filter(|_| raw.len() == expected)
            .map(|(head, rest)| (*head, rest))
            .ok_or_else(|| {
                format!(
                    "admit script answered {} values, expected {expected}",
                    raw.len()
                )
            })?;
        let views = rest
            .chunks_exact(3)
            .map(|view| View {
                bucket: view[0],
                x: u64::try_from(view[1]).unwrap_or(0),
                y: u64::try_from(view[2]).unwrap_or(0),
            })
            .collect();
        Ok(Self {
            admitted: admitted == 1,
            refused: usize::try_from(refused).unwrap_or(0),
            server_now,
            counters,
            views,
        })
    }

    fn observed(&self) -> BTreeMap<CounterId, Observed> {
        self.counters
            .iter()
            .zip(&self.views)
            .map(|(id, view)| (id.clone(), observed(id.kind, *view, self.server_now)))
            .collect()
    }

    fn into_admission(
        self,
        charges: &[Charge],
        demand: Demand,
        lease_id: String,
    ) -> Result<Admission, Refusal> {
        let observed = self.observed();
        let assessment = rules::assess(charges, demand, &observed);
        if self.admitted && assessment.refusal.is_some() {
            tracing::warn!(
                refusal = ?assessment.refusal,
                "the Redis admit script admitted a request the client would refuse; admitted"
            );
        }
        if !self.admitted {
            return Err(assessment
                .refusal
                .or_else(|| self.refusal_by_script(charges, demand, &observed))
                .unwrap_or_else(|| unexplained_refusal(charges)));
        }
        let buckets: BTreeMap<&CounterId, i64> = self
            .counters
            .iter()
            .zip(&self.views)
            .map(|(id, view)| (id, view.bucket))
            .collect();
        let inner = charges
            .iter()
            .map(|charge| Held {
                charge: charge.clone(),
                bucket: buckets.get(&CounterId::of(charge)).copied().unwrap_or(0),
            })
            .collect();
        Ok(Admission {
            lease: Lease {
                inner,
                demand,
                id: lease_id,
            },
            shadow_breaches: assessment.shadow_breaches,
            requests: assessment.requests,
            tokens: assessment.tokens,
        })
    }

    /// The refusal of the counter the script named, should the script and
    /// [`rules::assess`] ever disagree (rounding at extreme values).
    fn refusal_by_script(
        &self,
        charges: &[Charge],
        demand: Demand,
        observed: &BTreeMap<CounterId, Observed>,
    ) -> Option<Refusal> {
        let id = self.counters.get(self.refused.checked_sub(1)?)?;
        let state = observed.get(id)?;
        let charge = charges
            .iter()
            .filter(|charge| charge.enforce && CounterId::of(charge) == *id)
            .min_by_key(|charge| limit_value(charge.limit))?;
        Some(rules::refusal(charge, state, id.kind.amount(demand)))
    }
}

/// A refusal naming the first enforced charge, when nothing better is known.
fn unexplained_refusal(charges: &[Charge]) -> Refusal {
    let charge = charges
        .iter()
        .find(|charge| charge.enforce)
        .or(charges.first());
    Refusal {
        rule: charge.map(|charge| charge.rule.clone()).unwrap_or_default(),
        scope: charge
            .map(|charge| charge.scope.clone())
            .unwrap_or_default(),
        limit: charge.map_or(crate::Limit::RequestsPerMinute(0), |charge| charge.limit),
        used: 0,
        retry_after_s: None,
    }
}

/// The counter state behind a script view, at server time `now`.
fn observed(kind: CounterKind, view: View, now: UnixMillis) -> Observed {
    match kind {
        CounterKind::Requests | CounterKind::Tokens => Observed::Rate {
            current: view.x,
            previous: view.y,
            ms_left: ms_left_in_window(now),
        },
        CounterKind::Concurrency => Observed::Concurrency { in_flight: view.x },
        CounterKind::SpendDay => Observed::Spend {
            committed: view.x,
            reserved: view.y,
            ms_to_period_end: ms_to_next_day(now),
        },
        CounterKind::SpendMonth => Observed::Spend {
            committed: view.x,
            reserved: view.y,
            ms_to_period_end: ms_to_next_month(now),
        },
    }
}

/// The script calls for one settle, and how to read its reply.
#[derive(Debug)]
struct SettlePlan {
    keys: Vec<String>,
    args: Vec<String>,
    /// Per counter (script numbering from 1), per threshold: the charge and
    /// permille it stands for.
    alerts: Vec<Vec<(Charge, u32)>>,
}

impl SettlePlan {
    /// `None` when there is nothing to correct (only requests/min, or an
    /// empty lease).
    fn new(prefix: &str, lease: &Lease, actual: Actual) -> Option<Self> {
        let steps = settle_steps(lease, actual);
        if steps.is_empty() {
            return None;
        }
        let mut keys: Vec<String> = steps
            .iter()
            .map(|(id, _)| counter_key(prefix, id))
            .collect();
        let mut args = vec![
            lease.id.clone(),
            steps.len().to_string(),
            DAY_KEY_TTL_MS.to_string(),
            MONTH_KEY_TTL_MS.to_string(),
        ];
        let mut alerts = Vec::with_capacity(steps.len());
        for (id, step) in steps {
            let alert_key_index = if step.alerts.is_empty() {
                0
            } else {
                keys.push(alert_key(prefix, &id, step.bucket));
                keys.len()
            };
            args.extend([
                step.kind.to_owned(),
                step.bucket.to_string(),
                lua_number(step.estimate).to_string(),
                lua_number(step.actual).to_string(),
                alert_key_index.to_string(),
                step.alerts.len().to_string(),
            ]);
            for (charge, permille) in &step.alerts {
                let limit = limit_value(charge.limit);
                args.push(format!("{limit}:{permille}"));
                args.push(lua_number(threshold_amount(limit, *permille)).to_string());
            }
            alerts.push(step.alerts);
        }
        Some(Self { keys, args, alerts })
    }

    /// The threshold events of a settle reply.
    fn events(&self, reply: &[i64]) -> Vec<ThresholdCrossed> {
        reply
            .chunks_exact(3)
            .filter_map(|won| {
                let counter = usize::try_from(won[0]).ok()?.checked_sub(1)?;
                let threshold = usize::try_from(won[1]).ok()?.checked_sub(1)?;
                let (charge, permille) = self.alerts.get(counter)?.get(threshold)?;
                Some(ThresholdCrossed {
                    scope: charge.scope.clone(),
                    rule: charge.rule.clone(),
                    limit: charge.limit,
                    threshold_permille: *permille,
                    spent_micros: u64::try_from(won[2]).unwrap_or(0),
                })
            })
            .collect()
    }
}

/// The settle steps of a lease, one per counter that needs one.
fn settle_steps(lease: &Lease, actual: Actual) -> Vec<(CounterId, SettleStep)> {
    let mut by_counter: BTreeMap<CounterId, Vec<&Held>> = BTreeMap::new();
    for held in &lease.inner {
        by_counter
            .entry(CounterId::of(&held.charge))
            .or_default()
            .push(held);
    }
    by_counter
        .into_iter()
        .filter_map(|(id, held)| {
            let bucket = held.first().map_or(0, |held| held.bucket);
            let step = SettleStep::new(&id, bucket, lease, actual, &held)?;
            Some((id, step))
        })
        .collect()
}

/// What the settle script does to one counter.
#[derive(Debug)]
struct SettleStep {
    kind: &'static str,
    bucket: i64,
    estimate: u64,
    actual: u64,
    alerts: Vec<(Charge, u32)>,
}

impl SettleStep {
    fn new(
        id: &CounterId,
        bucket: i64,
        lease: &Lease,
        actual: Actual,
        held: &[&Held],
    ) -> Option<Self> {
        let demand = lease.demand;
        let step = |kind, estimate, actual| Self {
            kind,
            bucket,
            estimate,
            actual,
            alerts: Vec::new(),
        };
        match id.kind {
            CounterKind::Requests => None,
            CounterKind::Tokens => {
                let real = actual.tokens.filter(|real| *real != demand.tokens)?;
                Some(step("t", demand.tokens, real))
            }
            CounterKind::Concurrency => (!lease.id.is_empty()).then(|| step("c", 0, 0)),
            CounterKind::SpendDay | CounterKind::SpendMonth => {
                let kind = if id.kind == CounterKind::SpendDay {
                    "d"
                } else {
                    "m"
                };
                let real = actual.cost_micros.unwrap_or(demand.cost_micros);
                let mut spend = step(kind, demand.cost_micros, real);
                spend.alerts = held
                    .iter()
                    .flat_map(|held| {
                        held.charge
                            .alert_at_permille
                            .iter()
                            .map(|permille| (held.charge.clone(), *permille))
                    })
                    .collect();
                Some(spend)
            }
        }
    }
}

/// The admission of a request that touches no counter.
fn empty_admission(demand: Demand) -> Admission {
    Admission {
        lease: Lease {
            inner: Vec::new(),
            demand,
            id: String::new(),
        },
        shadow_breaches: Vec::new(),
        requests: None,
        tokens: None,
    }
}

/// The tightest limit among the enforced charges on counter `id`.
fn tightest_enforced_limit(charges: &[Charge], id: &CounterId) -> Option<u64> {
    charges
        .iter()
        .filter(|charge| charge.enforce && CounterId::of(charge) == *id)
        .map(|charge| limit_value(charge.limit))
        .min()
}

/// `value` capped where Lua's numbers (doubles) stop being exact integers:
/// 2^53, about 9 × 10^15 (micro-USD: 9 billion USD).
fn lua_number(value: u64) -> i64 {
    const EXACT_MAX: u64 = 1 << 53;
    i64::try_from(value.min(EXACT_MAX)).unwrap_or(i64::MAX)
}

/// The admit script's name for a kind.
fn admit_kind(kind: CounterKind) -> &'static str {
    match kind {
        CounterKind::Requests | CounterKind::Tokens => "r",
        CounterKind::Concurrency => "c",
        CounterKind::SpendDay => "d",
        CounterKind::SpendMonth => "m",
    }
}

pub(crate) fn counter_key(prefix: &str, id: &CounterId) -> String {
    format!("{{{prefix}}}:{}:{}", id.kind.tag(), id.scope)
}

fn alert_key(prefix: &str, id: &CounterId, bucket: i64) -> String {
    format!("{{{prefix}}}:alert:{}:{}:{bucket}", id.kind.tag(), id.scope)
}

/// A prefix becomes the keys' hash tag: it must be non-empty and must not
/// end the tag early.
fn validate_prefix(prefix: &str) -> Result<(), CounterError> {
    let unusable = prefix.is_empty()
        || prefix
            .chars()
            .any(|c| c == '{' || c == '}' || c.is_whitespace() || c.is_control());
    if unusable {
        return Err(CounterError(format!(
            "redis key prefix {prefix:?} is unusable: it must be non-empty, without braces or whitespace"
        )));
    }
    Ok(())
}

/// The URL with its password replaced by `***`; `<unparsable URL>` if it
/// does not parse (it could be anything, a password included).
fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "<unparsable URL>".to_owned();
    };
    if parsed.password().is_some() && parsed.set_password(Some("***")).is_err() {
        return "<unparsable URL>".to_owned();
    }
    parsed.to_string()
}

/// The URL's password, as written and percent-decoded.
fn url_secrets(url: &str) -> Vec<String> {
    let Some(password) = url::Url::parse(url)
        .ok()
        .and_then(|parsed| parsed.password().map(str::to_owned))
    else {
        return Vec::new();
    };
    let mut secrets = vec![password.clone()];
    if let Ok(decoded) = percent_decode(&password) {
        secrets.push(decoded);
    }
    secrets.retain(|secret| !secret.is_empty());
    secrets
}

/// Decodes `%XX` escapes.
fn percent_decode(text: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded)
}

/// `message` with every secret replaced by `***`.
fn scrub(message: &str, secrets: &[String]) -> String {
    secrets.iter().fold(message.to_owned(), |text, secret| {
        text.replace(secret, "***")
    })
}

/// Relays the events channel to this process's subscribers until aborted,
/// resubscribing after a failure. Events published while the subscription
/// is down are missed (the alert evaluator's next crossing, or the budget's
/// own refusals, still show).
async fn relay_events(
    client: ::redis::Client,
    channel: String,
    events: broadcast::Sender<ThresholdCrossed>,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    use futures_util::StreamExt as _;
    let mut subscribed = Some(subscribed);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    if let Some(subscribed) = subscribed.take() {
                        let _ = subscribed.send(());
                    }
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let Ok(payload) = message.get_payload::<String>() else {
                            continue;
                        };
                        match decode_event(&payload) {
                            // No subscriber is fine.
                            Some(event) => drop(events.send(event)),
                            None => {
                                tracing::warn!("ignored a malformed threshold event from Redis")
                            }
                        }
                    }
                }
                Err(error) => tracing::debug!(%error, "cannot subscribe to threshold events"),
            },
            Err(error) => tracing::debug!(%error, "cannot connect for threshold events"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `scope \t rule \t kind \t limit \t permille \t spent` — scopes and
/// rule ids never contain tabs.
fn encode_event(event: &ThresholdCrossed) -> String {
    let (kind, value) = match event.limit {
        Limit::RequestsPerMinute(v) => ("rpm", v),
        Limit::TokensPerMinute(v) => ("tpm", v),
        Limit::Concurrency(v) => ("concurrency", v),
        Limit::SpendPerDay(v) => ("day", v),
        Limit::SpendPerMonth(v) => ("month", v),
    };
    format!(
        "{}\t{}\t{kind}\t{value}\t{}\t{}",
        event.scope, event.rule, event.threshold_permille, event.spent_micros
    )
}

fn decode_event(payload: &str) -> Option<ThresholdCrossed> {
    let mut fields = payload.split('\t');
    let scope = fields.next()?.to_owned();
    let rule = fields.next()?.to_owned();
    let kind = fields.next()?;
    let value = fields.next()?.parse().ok()?;
    let limit = match kind {
        "rpm" => Limit::RequestsPerMinute(value),
        "tpm" => Limit::TokensPerMinute(value),
        "concurrency" => Limit::Concurrency(value),
        "day" => Limit::SpendPerDay(value),
        "month" => Limit::SpendPerMonth(value),
        _ => return None,
    };
    let threshold_permille = fields.next()?.parse().ok()?;
    let spent_micros = fields.next()?.parse().ok()?;
    if fields.next().is_some() {
        return None;
    }
    Some(ThresholdCrossed {
        scope,
        rule,
        limit,
        threshold_permille,
        spent_micros,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use super::*;
    use crate::period::{DAY_MS, month_of};

    #[test]
    fn keys_share_the_prefix_hash_tag() {
        let id = CounterId {
            kind: CounterKind::SpendDay,
            scope: "org/a/app/b".into(),
        };
        assert_eq!(counter_key("gw", &id), "{gw}:spend_day:org/a/app/b");
        assert_eq!(
            alert_key("gw", &id, 7),
            "{gw}:alert:spend_day:org/a/app/b:7"
        );
    }

    #[test]
    fn prefixes_that_break_the_hash_tag_are_refused() {
        for bad in ["", "a}b", "{a", "a b", "a\nb"] {
            assert!(validate_prefix(bad).is_err(), "{bad:?}");
        }
        assert!(validate_prefix("sentinel:prod").is_ok());
    }

    #[test]
    fn passwords_never_reach_messages() {
        let url = "redis://user:p%40ss@cache.internal:6380/2";
        let redacted = redact_url(url);
        assert_eq!(redacted, "redis://user:***@cache.internal:6380/2");
        let secrets = url_secrets(url);
        assert_eq!(secrets, vec!["p%40ss".to_owned(), "p@ss".to_owned()]);
        let scrubbed = scrub("auth failed for p@ss (p%40ss)", &secrets);
        assert_eq!(scrubbed, "auth failed for *** (***)");
        assert_eq!(redact_url("not a url with secret"), "<unparsable URL>");
        assert!(url_secrets("redis://cache:6379").is_empty());
    }

    #[test]
    fn admit_replies_of_the_wrong_shape_are_errors() {
        let id = CounterId {
            kind: CounterKind::Requests,
            scope: "s".into(),
        };
        assert!(AdmitReply::parse(&[1, 0, 5], vec![id.clone()]).is_err());
        let reply = AdmitReply::parse(&[1, 0, 5, 9, 2, -1], vec![id]).unwrap();
        assert!(reply.admitted);
        assert_eq!(
            (reply.views[0].bucket, reply.views[0].x, reply.views[0].y),
            (9, 2, 0)
        );
    }

    #[test]
    fn settle_plan_skips_requests_and_unchanged_tokens() {
        let charge = |limit| Charge {
            scope: "s".into(),
            rule: "r".into(),
            limit,
            enforce: true,
            alert_at_permille: vec![800],
        };
        let lease = Lease {
            inner: vec![
                Held {
                    charge: charge(crate::Limit::RequestsPerMinute(5)),
                    bucket: 3,
                },
                Held {
                    charge: charge(crate::Limit::TokensPerMinute(5)),
                    bucket: 3,
                },
            ],
            demand: Demand {
                tokens: 10,
                cost_micros: 0,
            },
            id: String::new(),
        };
        let same = Actual {
            tokens: Some(10),
            cost_micros: None,
        };
        assert!(SettlePlan::new("p", &lease, same).is_none());
        let fewer = Actual {
            tokens: Some(4),
            cost_micros: None,
        };
        let plan = SettlePlan::new("p", &lease, fewer).unwrap();
        assert_eq!(plan.keys, vec!["{p}:tpm:s".to_owned()]);
        assert_eq!(plan.args[4..], ["t", "3", "10", "4", "0", "0"]);
    }

    /// The Lua month arithmetic agrees with the `time` crate's calendar.
    #[tokio::test]
    async fn lua_months_match_the_calendar() {
        let script = Script::new(concat!(
            include_str!("lua/common.lua"),
            "local out = {} for i = 1, #ARGV do out[i] = month_of_day(tonumber(ARGV[i])) end return out"
        ));
        let client = ::redis::Client::open("redis://127.0.0.1:6379").unwrap();
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("Redis must run at 127.0.0.1:6379 for the Redis tests");
        // Every day from 1999 to 2101 (leap years, centuries, 2000).
        let days: Vec<i64> = (10_592..48_000).collect();
        for chunk in days.chunks(4_000) {
            let mut invocation = script.prepare_invoke();
            for day in chunk {
                invocation.arg(*day);
            }
            let months: Vec<i64> = invocation.invoke_async(&mut connection).await.unwrap();
            for (day, month) in chunk.iter().zip(months) {
                assert_eq!(month, month_of(day * DAY_MS), "day {day}");
            }
        }
    }

    #[test]
    fn threshold_events_survive_the_channel() {
        for limit in [
            Limit::SpendPerDay(1_000),
            Limit::SpendPerMonth(5),
            Limit::RequestsPerMinute(7),
        ] {
            let event = ThresholdCrossed {
                scope: "app/checkout".into(),
                rule: "app/checkout.budget.usd_per_day".into(),
                limit,
                threshold_permille: 800,
                spent_micros: 812,
            };
            assert_eq!(decode_event(&encode_event(&event)), Some(event));
        }
        assert_eq!(decode_event("a\tb\tday\t1\t2"), None, "a field short");
        assert_eq!(decode_event("a\tb\tyear\t1\t2\t3"), None, "unknown kind");
        assert_eq!(
            decode_event("a\tb\tday\t1\t2\t3\t4"),
            None,
            "a field too many"
        );
    }
}
