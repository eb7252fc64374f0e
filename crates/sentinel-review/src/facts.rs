//! What the review judges: everything read from the store and the running
//! process, gathered once (see [`crate::gather`]) so the judgement itself
//! is pure.

use std::collections::BTreeMap;

use sentinel_config::RawEnvDocument;
use sentinel_core::{
    ApiKey, Delivery, Environment, ProviderProbe, SecretMeta, UnixMillis, VerifyRun,
};
use serde::{Deserialize, Serialize};

/// The audit actions that show operators exercised their workflows.
pub const WORKFLOW_ACTIONS: [&str; 5] = [
    "key.create",
    "key.rotate",
    "secret.set",
    "secret.rotate",
    "providers.test",
];

/// Where this process's master key (which encrypts provider secrets) comes
/// from. Never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MasterKeyOrigin {
    /// `SENTINEL_MASTER_KEY`.
    Environment,
    /// A key file the operator provided.
    File { path: String },
    /// A key file `--demo` generated beside the store.
    Generated { path: String },
    /// The process serving the review does not know.
    Unknown,
}

/// Facts about the running process, supplied by the binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFacts {
    /// `sqlite` or `postgres`.
    pub store_backend: String,
    pub master_key: MasterKeyOrigin,
    /// Traces are exported over OTLP.
    pub otlp_traces: bool,
    /// Rate limits and budgets are counted in Redis (shared by replicas).
    pub redis_counters: bool,
    pub gateway_tls: bool,
    pub console_tls: bool,
}

impl ServerFacts {
    /// Facts for a process that knows nothing about itself (tests, tools).
    pub fn unknown(store_backend: &str) -> Self {
        Self {
            store_backend: store_backend.to_owned(),
            master_key: MasterKeyOrigin::Unknown,
            otlp_traces: false,
            redis_counters: false,
            gateway_tls: false,
            console_tls: false,
        }
    }
}

/// One stored configuration revision, read for what the review needs.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionFacts {
    pub revision: i64,
    /// The author's name (their id when the operator is gone).
    pub author: String,
    pub message: String,
    pub created_at: UnixMillis,
    /// Each route plan as JSON, to tell when it last changed.
    pub route_plans: BTreeMap<String, serde_json::Value>,
    /// The revision opened the environment to listed applications only or
    /// staged a route plan change (`rollout.open_to`, `canary:`).
    pub staged: bool,
}

/// What recent request records show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Records read (the newest first, up to a cap).
    pub records: u64,
    /// Records with a finding of a rule in shadow mode.
    pub shadow_findings: u64,
    /// Refusals by policy decision (`denied`, `rate_limited`,
    /// `budget_exceeded`, …).
    pub refusals: BTreeMap<String, u64>,
    /// Applications that sent them, by name.
    pub applications: Vec<String>,
}

/// Everything the review judges, about one environment (and its staging
/// environment, whose evidence counts for the rollout checklist).
#[derive(Debug, Clone)]
pub struct Facts {
    pub now: UnixMillis,
    pub organization: String,
    pub server: ServerFacts,
    pub env: Environment,
    /// The organization's other environments.
    pub others: Vec<Environment>,
    /// The staging environment whose evidence counts too (absent when the
    /// environment reviewed is it, or there is none).
    pub staging: Option<String>,
    /// The current document, parsed; absent when no revision was applied.
    pub document: Option<RawEnvDocument>,
    /// Revisions, newest first (the current one first).
    pub history: Vec<RevisionFacts>,
    pub secrets: Vec<SecretMeta>,
    /// Other environments' secrets, with their environment's name.
    pub other_secrets: Vec<(String, SecretMeta)>,
    pub keys: Vec<ApiKey>,
    /// The latest connectivity test of each (provider, model), with the
    /// environment it ran in (this one or staging).
    pub provider_tests: Vec<(String, ProviderProbe)>,
    /// Alert deliveries made from this environment's recent alert events.
    pub deliveries: Vec<Delivery>,
    /// Recent traffic of this environment and of staging, by environment name.
    pub traffic: BTreeMap<String, Traffic>,
    /// The latest time of each workflow action (see [`WORKFLOW_ACTIONS`])
    /// in the activity window, with the environment it happened in.
    pub workflow_actions: BTreeMap<String, (String, UnixMillis)>,
    /// How far the audit trail has been exported completely (0: never).
    pub audit_exported_seq: i64,
    /// The latest `sentinel verify` run of this environment and of staging,
    /// with the environment's name.
    pub verify_runs: Vec<(String, VerifyRun)>,
}
