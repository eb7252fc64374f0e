//! The production readiness review (`sentinel review`): answers, from the
//! live store and config, the questions a production review must answer
//! (who owns keys, secrets and route definitions; how environments are
//! separated; how failures are detected; how a client error leads to its
//! record) and judges the rollout checklist, each item `pass`, `fail` or
//! `unknown` with its evidence and how to fix it.
//!
//! The work is split so the judgement is testable without I/O:
//! [`gather`] reads the store into [`Facts`]; [`judge`] turns facts into a
//! [`Review`] (pure, no clock: `now` is a fact); [`render`] prints a review
//! as text or Markdown. The review's JSON form is described by
//! `docs/schemas/review.schema.json`.
//!
//! Invariants: a review never carries a secret value, a key or a digest
//! (only names, versions, fingerprints and ids); a required item that fails
//! makes the review not ready, and `unknown` never passes for evidence.

mod facts;
mod gather;
mod judge;
mod model;
pub mod render;

pub use facts::{Facts, MasterKeyOrigin, RevisionFacts, ServerFacts, Traffic, WORKFLOW_ACTIONS};
pub use gather::{GatherError, gather};
pub use judge::{ACTIVITY_WINDOW_MS, RECENT_WINDOW_MS, judge};
pub use model::{Item, Question, Review, SCHEMA_ID, Status, Summary};

#[cfg(test)]
mod tests;
