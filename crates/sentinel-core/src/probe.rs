//! Provider connectivity tests: the outcome of one minimal call to a
//! provider and model (`providers test`), kept for the readiness review.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// The outcome of one minimal chat call (`max_tokens: 1`, "ping") to a
/// provider and upstream model. Never carries an upstream body or a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderProbe {
    pub provider: String,
    pub model: String,
    /// The provider answered with a 2xx status.
    pub ok: bool,
    /// The upstream's HTTP status, when it answered.
    pub status: Option<u16>,
    pub latency_ms: i64,
    /// Why it failed, in Sentinel's words (a status or an error class).
    pub error: Option<String>,
    /// When the call was made.
    pub time: UnixMillis,
}
