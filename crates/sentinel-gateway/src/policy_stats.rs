//! Counts of what the policy stage did on this replica, for `/readyz` and
//! metrics: refusals, shadow findings, and what happened when the
//! rate-limit and budget counters could not be reached.

use std::sync::atomic::{AtomicU64, Ordering};

use sentinel_policy::CounterFailure;

/// Monotonic counts since start.
#[derive(Debug, Default)]
pub struct PolicyStats {
    /// Requests refused by an enforced rule, limit or budget.
    pub denials: AtomicU64,
    /// Would-be refusals recorded in shadow mode.
    pub shadow_findings: AtomicU64,
    /// Requests admitted uncounted because the counters were unreachable
    /// (`on_counter_failure: open`).
    pub counters_failed_open: AtomicU64,
    /// Requests refused because the counters were unreachable
    /// (`on_counter_failure: closed`).
    pub counters_failed_closed: AtomicU64,
}

impl PolicyStats {
    pub(crate) fn count_denial(&self) {
        self.denials.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_shadow(&self) {
        self.shadow_findings.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_counter_failure(&self, mode: CounterFailure) {
        match mode {
            CounterFailure::Open => &self.counters_failed_open,
            CounterFailure::Closed => &self.counters_failed_closed,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// The counts as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "denials": self.denials.load(Ordering::Relaxed),
            "shadow_findings": self.shadow_findings.load(Ordering::Relaxed),
            "counters_failed_open": self.counters_failed_open.load(Ordering::Relaxed),
            "counters_failed_closed": self.counters_failed_closed.load(Ordering::Relaxed),
        })
    }
}
