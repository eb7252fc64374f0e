//! Reads the store into [`Facts`]: the environment, its current document
//! and history, secrets (metadata only), keys, connectivity tests, alert
//! deliveries, recent traffic, workflow audit events and verify runs of the
//! environment and of its staging environment.

use std::collections::{BTreeMap, BTreeSet};

use sentinel_config::{RawEnvDocument, parse_document};
use sentinel_core::{ConfigRevision, Environment, UnixMillis};
use sentinel_store::{AlertEventFilter, AuditFilter, RecordFilter, Store, StoreError};

use crate::{
    facts::{Facts, RevisionFacts, ServerFacts, Traffic, WORKFLOW_ACTIONS},
    judge::ACTIVITY_WINDOW_MS,
};

/// Records read per environment for the traffic facts.
const MAX_RECORDS: usize = 2000;
/// Revisions read to tell when each route plan last changed.
const MAX_REVISIONS: usize = 200;
/// Alert events read for delivery outcomes.
const MAX_ALERT_EVENTS: u32 = 500;

/// Why facts could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    #[error("no environment named {0:?} to take staging evidence from")]
    NoStaging(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Gathers the facts about `env` of organization `org_id` (named
/// `organization`). Staging evidence comes from `staging` when given, else
/// from an environment named `staging` when there is one (and it is not
/// `env` itself).
pub async fn gather(
    store: &Store,
    org_id: &str,
    organization: &str,
    env: Environment,
    staging: Option<&str>,
    server: ServerFacts,
    now: UnixMillis,
) -> Result<Facts, GatherError> {
    let all = store.list_environments(org_id).await?;
    let staging_env = match staging {
        Some(name) => Some(
            all.iter()
                .find(|e| e.name == name)
                .cloned()
                .ok_or_else(|| GatherError::NoStaging(name.to_owned()))?,
        ),
        None => all.iter().find(|e| e.name == "staging").cloned(),
    }
    .filter(|s| s.id != env.id);
    let others: Vec<Environment> = all.into_iter().filter(|e| e.id != env.id).collect();
    // This environment first, then staging.
    let sources: Vec<&Environment> = std::iter::once(&env).chain(staging_env.as_ref()).collect();

    let authors: BTreeMap<String, String> = store
        .list_operators(org_id)
        .await?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let revisions = store.list_revisions(org_id, &env.id).await?;
    let document = revisions
        .first()
        .and_then(|r| parse_document(&r.document).ok());
    let history = revisions
        .iter()
        .take(MAX_REVISIONS)
        .map(|r| revision_facts(r, &authors))
        .collect();

    let secrets = store.list_secrets(org_id, &env.id).await?;
    let mut other_secrets = Vec::new();
    for other in &others {
        for meta in store.list_secrets(org_id, &other.id).await? {
            other_secrets.push((other.name.clone(), meta));
        }
    }
    let keys = store.list_keys(org_id, Some(&env.id)).await?;

    let since = now - ACTIVITY_WINDOW_MS;
    let mut provider_tests = Vec::new();
    let mut traffic = BTreeMap::new();
    let mut workflow_actions = BTreeMap::new();
    let mut verify_runs = Vec::new();
    for source in &sources {
        for probe in store.latest_provider_tests(org_id, &source.id).await? {
            provider_tests.push((source.name.clone(), probe));
        }
        traffic.insert(
            source.name.clone(),
            read_traffic(store, org_id, &source.id, since).await?,
        );
        for action in WORKFLOW_ACTIONS {
            let filter = AuditFilter {
                action: Some(action.to_owned()),
                env_id: Some(source.id.clone()),
                since: Some(since),
                until: None,
                before_seq: None,
                limit: 1,
            };
            if let Some(event) = store.list_audit(org_id, filter).await?.into_iter().next() {
                let newer = workflow_actions
                    .get(action)
                    .is_none_or(|(_, at): &(String, UnixMillis)| *at < event.time);
                if newer {
                    workflow_actions.insert(action.to_owned(), (source.name.clone(), event.time));
                }
            }
        }
        if let Some(run) = store.latest_verify_run(org_id, &source.id).await? {
            verify_runs.push((source.name.clone(), run));
        }
    }

    let alert_filter = AlertEventFilter {
        env_id: Some(env.id.clone()),
        rule: None,
        cursor: None,
        limit: MAX_ALERT_EVENTS,
    };
    let deliveries = store
        .list_alert_events(org_id, &alert_filter)
        .await?
        .events
        .into_iter()
        .flat_map(|e| e.deliveries)
        .collect();

    Ok(Facts {
        now,
        organization: organization.to_owned(),
        server,
        staging: staging_env.map(|s| s.name),
        env,
        others,
        document,
        history,
        secrets,
        other_secrets,
        keys,
        provider_tests,
        deliveries,
        traffic,
        workflow_actions,
        audit_exported_seq: store.audit_exported_seq(org_id).await?,
        verify_runs,
    })
}

fn revision_facts(revision: &ConfigRevision, authors: &BTreeMap<String, String>) -> RevisionFacts {
    let document: RawEnvDocument = parse_document(&revision.document).unwrap_or_default();
    let staged = document
        .rollout
        .as_ref()
        .is_some_and(|r| r.open_to.is_some())
        || document.route_plans.values().any(|p| p.canary.is_some());
    RevisionFacts {
        revision: revision.revision,
        author: authors
            .get(&revision.author)
            .cloned()
            .unwrap_or_else(|| revision.author.clone()),
        message: revision.message.clone(),
        created_at: revision.created_at,
        route_plans: document
            .route_plans
            .iter()
            .map(|(name, plan)| (name.clone(), serde_json::to_value(plan).unwrap_or_default()))
            .collect(),
        staged,
    }
}

async fn read_traffic(
    store: &Store,
    org_id: &str,
    env_id: &str,
    since: UnixMillis,
) -> Result<Traffic, StoreError> {
    let mut traffic = Traffic::default();
    let mut applications = BTreeSet::new();
    let mut filter = RecordFilter {
        env_id: Some(env_id.to_owned()),
        since: Some(since),
        limit: 500,
        ..RecordFilter::default()
    };
    let mut read = 0;
    loop {
        let page = store.search_records(org_id, &filter).await?;
        for record in &page.records {
            traffic.records += 1;
            if let Some(app) = &record.app_name {
                applications.insert(app.clone());
            }
            if let Some(policy) = &record.policy {
                if policy.findings.iter().any(|f| f.mode == "shadow") {
                    traffic.shadow_findings += 1;
                }
                if policy.decision != "allowed" {
                    *traffic.refusals.entry(policy.decision.clone()).or_default() += 1;
                }
            }
        }
        read += page.records.len();
        match page.next_cursor {
            Some(cursor) if read < MAX_RECORDS => filter.cursor = Some(cursor),
            _ => break,
        }
    }
    traffic.applications = applications.into_iter().collect();
    Ok(traffic)
}
