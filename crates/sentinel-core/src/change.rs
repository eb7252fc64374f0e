//! Change requests: a proposed config document against a base revision,
//! with its review and its outcome (SPEC §2).

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// Where a change request's document came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A document an operator wrote (`config apply`).
    Apply,
    /// A past revision of the same environment (`config rollback`).
    Rollback,
    /// Sections of another environment's current revision (`promote`).
    Promotion,
}

impl ChangeKind {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "apply",
            Self::Rollback => "rollback",
            Self::Promotion => "promotion",
        }
    }

    /// The kind named `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Apply, Self::Rollback, Self::Promotion]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Where a change request stands. Only `pending` ones can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    /// Waiting for an approval and/or to be applied.
    Pending,
    /// Applied as a new revision.
    Applied,
    /// Refused by a reviewer (or withdrawn by its author).
    Rejected,
    /// Its base revision is no longer the current one: it must be re-planned.
    Stale,
}

impl ChangeStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 4] = [Self::Pending, Self::Applied, Self::Rejected, Self::Stale];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Applied => "applied",
            Self::Rejected => "rejected",
            Self::Stale => "stale",
        }
    }

    /// The status named `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One change request of one environment, numbered from 1 per environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRequest {
    pub org_id: String,
    pub env_id: String,
    pub number: i64,
    pub kind: ChangeKind,
    pub status: ChangeStatus,
    /// The proposed document, whole.
    pub document: String,
    pub message: String,
    /// Operator id and name of the author.
    pub author_id: String,
    pub author: String,
    pub created_at: UnixMillis,
    /// The revision the document was planned against (0 = none yet).
    pub base_revision: i64,
    /// For promotions, the source environment's name; for rollbacks, this
    /// environment's.
    pub source_env: Option<String>,
    /// The revision the document was taken from (promotions, rollbacks).
    pub source_revision: Option<i64>,
    /// Operator id and name of the approver, and when.
    pub approved_by_id: Option<String>,
    pub approved_by: Option<String>,
    pub approved_at: Option<UnixMillis>,
    /// Who applied, rejected or found it stale, and when.
    pub decided_by: Option<String>,
    pub decided_at: Option<UnixMillis>,
    /// A rejection's reason, or why it went stale.
    pub reason: Option<String>,
    /// The revision it became, once applied.
    pub applied_revision: Option<i64>,
}
