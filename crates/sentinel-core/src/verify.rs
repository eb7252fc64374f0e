//! `sentinel verify`: a run that proves an environment's request flow and
//! operator control flow end to end, kept as evidence for the readiness
//! review.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// What a verification step exercised. The review reads steps by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyStepKind {
    /// The short-lived key (and its application) was made for the run.
    Setup,
    /// A request through one route plan, answered by its first choice.
    Request,
    /// A request through a route plan whose first target was made to fail,
    /// answered by a fallback target.
    Fallback,
    /// A key created through the control plane.
    KeyCreate,
    /// That key rotated (the new key works, the overlap is honoured).
    KeyRotate,
    /// That key revoked (the gateway refuses it).
    KeyRevoke,
    /// One connectivity test of a provider and model.
    ProviderTest,
    /// A request of the run looked up by its id, with its attempts.
    RequestLookup,
    /// Everything the run made was revoked or removed.
    Cleanup,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyStep {
    pub kind: VerifyStepKind,
    /// What was done, e.g. `request through route plan chat`.
    pub name: String,
    pub ok: bool,
    pub duration_ms: i64,
    /// What happened, in Sentinel's words (never a secret or a key).
    pub detail: String,
    /// The gateway request the step made, when it made one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// One `sentinel verify` run of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyRun {
    pub id: String,
    pub env_id: String,
    /// The operator who started it.
    pub actor: String,
    pub started_at: UnixMillis,
    pub duration_ms: i64,
    /// Every step passed.
    pub ok: bool,
    pub steps: Vec<VerifyStep>,
}
