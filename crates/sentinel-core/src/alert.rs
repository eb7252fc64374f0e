//! Alert states and events as stored and shown: the current state of each
//! rule and the history of its transitions, with what each delivery did.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// The stored state of one alert rule in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    pub env_id: String,
    pub rule: String,
    /// `ok` or `firing`.
    pub state: String,
    /// The signal's value at the last evaluation (`None`: not enough data).
    pub value: Option<f64>,
    /// When the current state began.
    pub since: UnixMillis,
    /// When a replica last evaluated the rule.
    pub evaluated_at: UnixMillis,
    /// Bumped by every write; transitions compare and set it.
    pub version: i64,
}

/// One transition of an alert rule: it started firing, or it resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Time-ordered id (UUIDv7).
    pub id: String,
    pub env_id: String,
    pub rule: String,
    pub signal: String,
    /// `firing` or `resolved`.
    pub state: String,
    pub value: Option<f64>,
    pub threshold: f64,
    pub time: UnixMillis,
    /// When the alert started firing (for `resolved`, the firing it ends).
    pub started_at: UnixMillis,
    /// What each destination's delivery did; empty until it is done.
    pub deliveries: Vec<Delivery>,
}

/// The outcome of delivering one event to one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub destination: String,
    /// `webhook` or `slack`.
    pub kind: String,
    pub ok: bool,
    /// Attempts made (the first included).
    pub attempts: u32,
    /// The HTTP status of the last attempt, when one answered.
    pub status: Option<u16>,
    /// Why the last attempt failed (never a URL or a secret).
    pub error: Option<String>,
    pub at: UnixMillis,
}
