//! The request record: one per data-plane request, written asynchronously.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// What happened to one data-plane request, as operators triage it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Time-ordered request id (UUIDv7), also sent as `x-sentinel-request-id`.
    pub id: String,
    pub org_id: String,
    /// When the request arrived.
    pub time: UnixMillis,
    /// Environment id, when it could be determined (from the key or host).
    pub env_id: Option<String>,
    pub env_name: Option<String>,
    pub app_id: Option<String>,
    pub app_name: Option<String>,
    pub key_id: Option<String>,
    /// `POST /v1/chat/completions` → `chat_completions`, etc.
    pub ingress: String,
    pub requested_model: Option<String>,
    pub provider: Option<String>,
    pub upstream_model: Option<String>,
    pub upstream_status: Option<u16>,
    /// The HTTP status the client received.
    pub status: u16,
    /// The stable error code the client received, if any.
    pub error_code: Option<String>,
    /// More detail for operators (never shown to clients, never secret).
    pub error_detail: Option<String>,
    pub stream: bool,
    /// For streams: whether the upstream finished and the client got it all.
    pub stream_completed: Option<bool>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub latency_ms: i64,
    pub ttfb_ms: Option<i64>,
    pub client_addr: Option<String>,
    pub route_plan: Option<String>,
    pub config_revision: Option<i64>,
    pub attempts: Vec<AttemptRecord>,
}

/// One upstream call made for a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub provider: String,
    pub upstream_model: String,
    pub status: Option<u16>,
    /// `ok`, `rate_limited`, `server_error`, `client_error`, `timeout`,
    /// `connect_error`, `protocol_error`, `circuit_open` (skipped, not sent).
    pub outcome: String,
    /// When the attempt started, in ms after the request arrived.
    #[serde(default)]
    pub started_ms: i64,
    pub latency_ms: i64,
    pub error: Option<String>,
    /// What Sentinel did next and why, e.g. `retry: server_error`,
    /// `fallback: timeout`, `stop: retry budget exhausted`.
    #[serde(default)]
    pub next: Option<String>,
}
