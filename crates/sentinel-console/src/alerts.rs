//! `/api/v1/environments/{env}/alerts`: the environment's alert rules with
//! their current state, and the history of firings and resolutions with
//! what each delivery did.
//!
//! Invariant: destination URLs and signing secrets are never returned (a
//! Slack URL is a credential); a destination shows its name, kind, where
//! its URL comes from and whether it signs.

use axum::{
    Json as JsonOut,
    extract::{Path, State},
};
use sentinel_config::{CompileContext, DestinationUrl};
use sentinel_core::{AlertEvent, Permission};
use sentinel_store::AlertEventFilter;
use serde::{Deserialize, Serialize};

use crate::{
    ConsoleDeps, auth::Caller, environments, error::ApiError, extract::Query, requests::limit,
};

#[derive(Debug, Serialize)]
pub(crate) struct AlertsView {
    environment: String,
    /// The configuration revision the rules come from.
    revision: Option<i64>,
    rules: Vec<RuleView>,
    destinations: Vec<DestinationView>,
    /// Why the rules could not be read, when they could not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: Vec<String>,
}

#[derive(Debug, Serialize)]
struct RuleView {
    name: String,
    signal: &'static str,
    above: f64,
    for_s: u64,
    min_requests: u64,
    provider: Option<String>,
    notify: Vec<String>,
    /// `ok`, `firing`, or `unknown` before the first evaluation.
    state: String,
    value: Option<f64>,
    since: Option<i64>,
    evaluated_at: Option<i64>,
}

#[derive(Debug, Serialize)]
struct DestinationView {
    name: String,
    kind: &'static str,
    /// `document` or `secret`.
    url_from: &'static str,
    signed: bool,
}

pub(crate) async fn list(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
) -> Result<JsonOut<AlertsView>, ApiError> {
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    let latest = deps.store.latest_revision(caller.org_id(), &env.id).await?;
    let secrets: Vec<String> = deps
        .store
        .list_secrets(caller.org_id(), &env.id)
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    let states = deps.store.alert_states(caller.org_id(), &env.id).await?;
    let mut view = AlertsView {
        environment: env.name.clone(),
        revision: latest.as_ref().map(|r| r.revision),
        rules: Vec::new(),
        destinations: Vec::new(),
        problems: Vec::new(),
    };
    let document = latest.as_ref().map_or("", |r| r.document.as_str());
    let secret_exists = |name: &str| secrets.iter().any(|s| s == name);
    let ctx = CompileContext {
        catalog: deps.registry.as_ref(),
        protected: env.protected,
        secret_exists: &secret_exists,
    };
    match sentinel_config::compile(document, &ctx) {
        Ok((config, _)) => {
            let alerts = config.alerts();
            for rule in &alerts.rules {
                let state = states.iter().find(|s| s.rule == rule.name.as_str());
                view.rules.push(RuleView {
                    name: rule.name.to_string(),
                    signal: rule.signal.as_str(),
                    above: rule.above,
                    for_s: rule.for_s,
                    min_requests: rule.min_requests,
                    provider: rule.provider.as_ref().map(ToString::to_string),
                    notify: rule.notify.iter().map(ToString::to_string).collect(),
                    state: state.map_or_else(|| "unknown".to_owned(), |s| s.state.clone()),
                    value: state.and_then(|s| s.value),
                    since: state.map(|s| s.since),
                    evaluated_at: state.map(|s| s.evaluated_at),
                });
            }
            for d in alerts.destinations.values() {
                view.destinations.push(DestinationView {
                    name: d.name.to_string(),
                    kind: d.kind.as_str(),
                    url_from: match d.url {
                        DestinationUrl::Literal(_) => "document",
                        DestinationUrl::Secret(_) => "secret",
                    },
                    signed: d.secret.is_some(),
                });
            }
        }
        Err(errors) => {
            // Paths only: messages could quote parts of the document.
            view.problems = errors
                .iter()
                .map(|e| format!("{}: the current document does not compile", e.path))
                .collect();
        }
    }
    Ok(JsonOut(view))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    rule: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
pub(crate) struct HistoryPage {
    data: Vec<AlertEvent>,
    /// Pass as `cursor` to get the next (older) page; absent on the last.
    next_cursor: Option<String>,
}

pub(crate) async fn history(
    State(deps): State<ConsoleDeps>,
    caller: Caller,
    Path(env): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<JsonOut<HistoryPage>, ApiError> {
    let limit = limit(q.limit)?;
    let env = environments::find_for(&deps, &caller, &env, Permission::Read).await?;
    let filter = AlertEventFilter {
        env_id: Some(env.id),
        rule: q.rule,
        cursor: q.cursor,
        limit,
    };
    let page = deps
        .store
        .list_alert_events(caller.org_id(), &filter)
        .await?;
    Ok(JsonOut(HistoryPage {
        data: page.events,
        next_cursor: page.next_cursor,
    }))
}
