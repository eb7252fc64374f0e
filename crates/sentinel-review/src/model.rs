//! The review as answered by the API and printed by the CLI.

use serde::{Deserialize, Serialize};

/// The value of [`Review::schema`]; bumped when the JSON form changes
/// incompatibly.
pub const SCHEMA_ID: &str = "sentinel.review/v1";

/// An item's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// Sentinel cannot tell from what it holds (for example, an alert
    /// destination that has never been sent anything).
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Unknown => "unknown",
        }
    }
}

/// One judged item: a question's part or a checklist entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Stable id, e.g. `checklist.provider_connectivity`.
    pub id: String,
    pub title: String,
    pub status: Status,
    /// A failure makes the review not ready (and `sentinel review` exit 1).
    pub required: bool,
    /// What Sentinel saw, one fact per line.
    pub evidence: Vec<String>,
    /// How to make the item pass; absent when it passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// One question a production review must answer, answered by its items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// `ownership`, `separation`, `detection` or `triage`.
    pub id: String,
    pub question: String,
    /// The worst of its items: `fail` over `unknown` over `pass`.
    pub status: Status,
    pub items: Vec<Item>,
}

/// Counts over every item (questions' and checklist's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub pass: u32,
    pub fail: u32,
    pub unknown: u32,
    pub required_failed: u32,
    pub required_unknown: u32,
}

/// A readiness review of one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// [`SCHEMA_ID`].
    pub schema: String,
    pub organization: String,
    pub environment: String,
    /// Unix milliseconds.
    pub generated_at: i64,
    /// The configuration revision reviewed; absent when none was applied.
    pub config_revision: Option<i64>,
    /// No required item fails.
    pub ready: bool,
    pub summary: Summary,
    pub questions: Vec<Question>,
    pub checklist: Vec<Item>,
}

impl Review {
    /// Builds a review, computing each question's status, the summary and
    /// readiness from the items.
    pub(crate) fn new(
        organization: String,
        environment: String,
        generated_at: i64,
        config_revision: Option<i64>,
        questions: Vec<Question>,
        checklist: Vec<Item>,
    ) -> Self {
        let mut summary = Summary::default();
        for item in questions.iter().flat_map(|q| &q.items).chain(&checklist) {
            match item.status {
                Status::Pass => summary.pass += 1,
                Status::Fail => summary.fail += 1,
                Status::Unknown => summary.unknown += 1,
            }
            if item.required && item.status == Status::Fail {
                summary.required_failed += 1;
            }
            if item.required && item.status == Status::Unknown {
                summary.required_unknown += 1;
            }
        }
        Self {
            schema: SCHEMA_ID.to_owned(),
            organization,
            environment,
            generated_at,
            config_revision,
            ready: summary.required_failed == 0,
            summary,
            questions,
            checklist,
        }
    }

    /// Whether a deployment gate should let this through: no required item
    /// fails and, when `strict`, none is unknown either.
    pub fn passes_gate(&self, strict: bool) -> bool {
        self.ready && (!strict || self.summary.required_unknown == 0)
    }

    /// Every item, the questions' first.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.questions
            .iter()
            .flat_map(|q| &q.items)
            .chain(&self.checklist)
    }
}

impl Question {
    pub(crate) fn new(id: &str, question: &str, items: Vec<Item>) -> Self {
        let status = if items.iter().any(|i| i.status == Status::Fail) {
            Status::Fail
        } else if items.iter().any(|i| i.status == Status::Unknown) {
            Status::Unknown
        } else {
            Status::Pass
        };
        Self {
            id: id.to_owned(),
            question: question.to_owned(),
            status,
            items,
        }
    }
}
