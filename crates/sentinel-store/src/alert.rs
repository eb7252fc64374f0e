//! Alerting: the state of each rule, transitions as compare-and-set (so
//! with several replicas exactly one owns each transition and sends its
//! notifications), the event history with delivery outcomes, and the
//! window of request records the evaluator reads.
//!
//! Every query filters by organization.

use sentinel_core::{AlertEvent, AlertState, Delivery, RequestRecord};

use crate::{
    Store, StoreError,
    backend::{new_id, with_pool},
};

/// The most records one evaluation reads from a window (the newest ones).
pub const MAX_WINDOW_RECORDS: u32 = 50_000;

/// A transition to write: the rule's new state and, when it changes, the
/// event announcing it.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    pub org_id: &'a str,
    pub env_id: &'a str,
    pub rule: &'a str,
    pub signal: &'a str,
    /// `ok` or `firing`.
    pub state: &'a str,
    pub value: Option<f64>,
    pub threshold: f64,
    /// When the new state began (the firing start, for `resolved`).
    pub started_at: i64,
    pub now: i64,
}

/// Who wrote a transition.
#[derive(Debug, Clone, PartialEq)]
pub enum TransitionOutcome {
    /// This caller did; it owns the event (and its notifications).
    Won(Option<AlertEvent>),
    /// Another replica got there first; nothing was written.
    Lost,
}

/// Filters for [`Store::list_alert_events`].
#[derive(Debug, Clone, Default)]
pub struct AlertEventFilter {
    pub env_id: Option<String>,
    pub rule: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, clamped to 1..=500.
    pub limit: u32,
}

/// One page of alert events, newest first.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AlertEventPage {
    pub events: Vec<AlertEvent>,
    pub next_cursor: Option<String>,
}

#[derive(sqlx::FromRow)]
struct StateRow {
    env_id: String,
    rule: String,
    state: String,
    value: Option<f64>,
    since: i64,
    evaluated_at: i64,
    version: i64,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: String,
    env_id: String,
    rule: String,
    signal: String,
    state: String,
    value: Option<f64>,
    threshold: f64,
    time: i64,
    started_at: i64,
    deliveries: String,
}

impl From<StateRow> for AlertState {
    fn from(r: StateRow) -> Self {
        Self {
            env_id: r.env_id,
            rule: r.rule,
            state: r.state,
            value: r.value,
            since: r.since,
            evaluated_at: r.evaluated_at,
            version: r.version,
        }
    }
}

impl TryFrom<EventRow> for AlertEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(Self {
            deliveries: serde_json::from_str(&r.deliveries)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            id: r.id,
            env_id: r.env_id,
            rule: r.rule,
            signal: r.signal,
            state: r.state,
            value: r.value,
            threshold: r.threshold,
            time: r.time,
            started_at: r.started_at,
        })
    }
}

impl Store {
    /// The stored state of every rule of an environment.
    pub async fn alert_states(
        &self,
        org_id: &str,
        env_id: &str,
    ) -> Result<Vec<AlertState>, StoreError> {
        let rows: Vec<StateRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT env_id, rule, state, value, since, evaluated_at, version FROM alert_states
                 WHERE org_id = $1 AND env_id = $2 ORDER BY rule",
            )
            .bind(org_id)
            .bind(env_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(AlertState::from).collect())
    }

    /// Records an evaluation that did not change the state (its value and
    /// time), if the state is still at `version`. Returns whether it did.
    pub async fn touch_alert_state(
        &self,
        org_id: &str,
        env_id: &str,
        rule: &str,
        version: i64,
        value: Option<f64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let _serial = self.write_guard().await;
        let done = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE alert_states SET value = $1, evaluated_at = $2
                 WHERE org_id = $3 AND env_id = $4 AND rule = $5 AND version = $6",
            )
            .bind(value)
            .bind(now)
            .bind(org_id)
            .bind(env_id)
            .bind(rule)
            .bind(version)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Moves a rule to `t.state` if its stored state is still at
    /// `expected_version` (`None`: no state stored yet), and, when `event` is
    /// set, appends the event announcing it, in one transaction.
    pub async fn transition_alert(
        &self,
        t: &Transition<'_>,
        expected_version: Option<i64>,
        event_state: Option<&str>,
    ) -> Result<TransitionOutcome, StoreError> {
        let _serial = self.write_guard().await;
        let event = event_state.map(|state| AlertEvent {
            id: new_id(),
            env_id: t.env_id.to_owned(),
            rule: t.rule.to_owned(),
            signal: t.signal.to_owned(),
            state: state.to_owned(),
            value: t.value,
            threshold: t.threshold,
            time: t.now,
            started_at: t.started_at,
            deliveries: Vec::new(),
        });
        let won = with_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_statement()).await?;
            let changed = match expected_version {
                None => sqlx::query(
                    "INSERT INTO alert_states (org_id, env_id, rule, state, value, since, evaluated_at, version)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 1) ON CONFLICT (org_id, env_id, rule) DO NOTHING",
                )
                .bind(t.org_id)
                .bind(t.env_id)
                .bind(t.rule)
                .bind(t.state)
                .bind(t.value)
                .bind(t.now)
                .bind(t.now)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
                Some(version) => sqlx::query(
                    "UPDATE alert_states SET state = $1, value = $2, since = $3, evaluated_at = $3, version = version + 1
                     WHERE org_id = $4 AND env_id = $5 AND rule = $6 AND version = $7",
                )
                .bind(t.state)
                .bind(t.value)
                .bind(t.now)
                .bind(t.org_id)
                .bind(t.env_id)
                .bind(t.rule)
                .bind(version)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
            };
            if changed != 1 {
                tx.rollback().await?;
                false
            } else {
                if let Some(e) = &event {
                    sqlx::query(
                        "INSERT INTO alert_events (id, org_id, env_id, rule, signal, state, value, threshold, time, started_at, deliveries)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '[]')",
                    )
                    .bind(&e.id)
                    .bind(t.org_id)
                    .bind(&e.env_id)
                    .bind(&e.rule)
                    .bind(&e.signal)
                    .bind(&e.state)
                    .bind(e.value)
                    .bind(e.threshold)
                    .bind(e.time)
                    .bind(e.started_at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                true
            }
        });
        Ok(if won {
            TransitionOutcome::Won(event)
        } else {
            TransitionOutcome::Lost
        })
    }

    /// Stores what the deliveries of an event did.
    pub async fn set_alert_deliveries(
        &self,
        org_id: &str,
        event_id: &str,
        deliveries: &[Delivery],
    ) -> Result<(), StoreError> {
        let text =
            serde_json::to_string(deliveries).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let _serial = self.write_guard().await;
        with_pool!(self, |pool| {
            sqlx::query("UPDATE alert_events SET deliveries = $1 WHERE org_id = $2 AND id = $3")
                .bind(text)
                .bind(org_id)
                .bind(event_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Alert events matching `filter`, newest first, one page at a time.
    pub async fn list_alert_events(
        &self,
        org_id: &str,
        filter: &AlertEventFilter,
    ) -> Result<AlertEventPage, StoreError> {
        let limit = filter.limit.clamp(1, 500);
        let rows: Vec<EventRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, env_id, rule, signal, state, value, threshold, time, started_at, deliveries
                 FROM alert_events WHERE org_id = $1
                   AND ($2 IS NULL OR env_id = $2) AND ($3 IS NULL OR rule = $3) AND ($4 IS NULL OR id < $4)
                 ORDER BY id DESC LIMIT $5",
            )
            .bind(org_id)
            .bind(filter.env_id.as_deref())
            .bind(filter.rule.as_deref())
            .bind(filter.cursor.as_deref())
            .bind(i64::from(limit) + 1)
            .fetch_all(pool)
            .await?
        });
        let more = rows.len() > limit as usize;
        let events = rows
            .into_iter()
            .take(limit as usize)
            .map(AlertEvent::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if more {
            events.last().map(|e| e.id.clone())
        } else {
            None
        };
        Ok(AlertEventPage {
            events,
            next_cursor,
        })
    }

    /// The request records of an environment since `since` (unix ms,
    /// inclusive), newest first, at most [`MAX_WINDOW_RECORDS`]: what alert
    /// rules are evaluated over. Off the request path.
    pub async fn records_in_window(
        &self,
        org_id: &str,
        env_id: &str,
        since: i64,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        let rows: Vec<crate::record_json::RecordRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                crate::record_json::record_columns!(),
                " FROM request_records WHERE org_id = $1 AND env_id = $2 AND time >= $3
                 ORDER BY time DESC LIMIT $4"
            ))
            .bind(org_id)
            .bind(env_id)
            .bind(since)
            .bind(i64::from(MAX_WINDOW_RECORDS))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(crate::record_json::from_row).collect()
    }
}
