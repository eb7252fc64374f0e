//! Sentinel's alerting (SPEC §8 `alerts:`, `docs/alerts.md`): alert rules
//! from each environment's document evaluated in the background over the
//! environment's request records, `ok` / `firing` states kept in the store,
//! and `firing` / `resolved` notifications to generic webhooks
//! (HMAC-SHA256 signed) and Slack-compatible webhooks, retried with
//! exponential backoff.
//!
//! Owns: signal arithmetic ([`signal`]), the state machine ([`state`]),
//! delivery ([`deliver`]) and the loop ([`Engine`]). It must not touch the
//! request path: it reads records the gateway already wrote.
//!
//! Invariants: one notification per transition per rule, across replicas
//! (the store's compare-and-set decides which replica announces it);
//! destination URLs and secrets never reach logs, errors, stored outcomes
//! or API responses; a rate or percentile over fewer than `min_requests`
//! requests never fires.

pub mod deliver;
mod engine;
pub mod signal;
pub mod state;

pub use deliver::{RetryPolicy, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
pub use engine::{Engine, EngineDeps};
