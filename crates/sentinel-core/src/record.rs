//! The request record: one per data-plane request, written asynchronously.

use serde::{Deserialize, Serialize};

use crate::{
    UnixMillis,
    price::{PRICE_SOURCE_UNKNOWN, Price, PriceSource},
};

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
    /// What the request cost, in micro-USD (1 USD = 1 000 000), from the
    /// tokens above and the target's price. `None` when the price or the
    /// token counts are unknown; never estimated.
    #[serde(default)]
    pub cost_micros: Option<i64>,
    /// Where the price came from: `builtin`, `environment`, or `unknown`
    /// (the target's upstream model has no price). `None` when no target
    /// answered.
    #[serde(default)]
    pub price_source: Option<String>,
    pub latency_ms: i64,
    pub ttfb_ms: Option<i64>,
    pub client_addr: Option<String>,
    pub route_plan: Option<String>,
    pub config_revision: Option<i64>,
    pub attempts: Vec<AttemptRecord>,
    /// What policy decided, when a policy applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyOutcome>,
    /// The request body's size, for replaying policies (`policy simulate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<i64>,
    /// The output-token cap the request asked for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<i64>,
    /// Names (never values) of the `x-` metadata headers the request
    /// carried, for replaying `required_metadata` rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<String>,
    /// The W3C trace id: the caller's (from `traceparent`) or, when traces
    /// are exported, a new one. 32 lowercase hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The caller's span that this request's span is a child of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    /// The bodies captured for this request when its environment keeps
    /// them. Never serialized with the record: the record writer stores
    /// them in their own table (and a spooled record has none).
    #[serde(skip)]
    pub bodies: Option<Box<RecordBodies>>,
    /// `canary` when the route plan's canary (staged rollout) served the
    /// request; absent for the plan itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_variant: Option<String>,
}

/// What an environment keeps of request and response bodies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyMode {
    /// Nothing is kept (the default).
    #[default]
    Off,
    /// Kept after personal data and secrets are replaced by placeholders.
    Redacted,
    /// Kept verbatim.
    Full,
}

impl BodyMode {
    /// Every mode with its name in documents.
    pub const ALL: [BodyMode; 3] = [Self::Off, Self::Redacted, Self::Full];

    /// The mode's name in documents and stored rows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Redacted => "redacted",
            Self::Full => "full",
        }
    }

    /// The mode called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// Most bytes of each body kept; longer bodies are cut and marked truncated.
pub const BODY_CAP: usize = 256 * 1024;

/// A request's body and the answer's body as the client sent and received
/// them (never headers, so never the client's key), each cut at
/// [`BODY_CAP`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordBodies {
    pub mode: BodyMode,
    pub request: Option<bytes::Bytes>,
    pub request_truncated: bool,
    pub response: Option<bytes::Bytes>,
    pub response_truncated: bool,
}

impl RecordBodies {
    /// An empty capture in `mode`, or `None` when the mode keeps nothing.
    pub fn start(mode: BodyMode) -> Option<Box<Self>> {
        (mode != BodyMode::Off).then(|| {
            Box::new(Self {
                mode,
                ..Self::default()
            })
        })
    }

    /// Keeps the request body (a shared view of it, not a copy).
    pub fn set_request(&mut self, body: &bytes::Bytes) {
        self.request_truncated = body.len() > BODY_CAP;
        self.request = Some(body.slice(..body.len().min(BODY_CAP)));
    }

    /// Keeps a complete response body (a shared view of it, not a copy).
    pub fn set_response(&mut self, body: &bytes::Bytes) {
        self.response_truncated = body.len() > BODY_CAP;
        self.response = Some(body.slice(..body.len().min(BODY_CAP)));
    }
}

/// The policy stage's verdict on a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyOutcome {
    /// `allowed`, `denied`, `rate_limited`, `budget_exceeded` or
    /// `counters_unavailable`.
    pub decision: String,
    /// The rule that refused the request, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Every rule that refused or, in shadow mode, would have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<PolicyFinding>,
    /// Redactions made (enforce) or that would have been made (shadow).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redactions: Vec<RedactionCount>,
    /// `open` when the counters could not be reached and the request went
    /// through uncounted; `closed` when it was refused for that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<String>,
}

/// One rule's refusal (enforce) or would-be refusal (shadow).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFinding {
    pub rule: String,
    /// `enforce` or `shadow`.
    pub mode: String,
    pub message: String,
}

/// Matches of one kind of data replaced or found in the prompt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedactionCount {
    /// `email`, `phone`, `card` or `secret`.
    pub kind: String,
    pub mode: String,
    pub count: u64,
}

impl RequestRecord {
    /// Fills in `cost_micros` and `price_source` from the recorded token
    /// counts and the price of the target that answered (`None`: the model
    /// has no known price). With `prompt_only` (embeddings) only prompt
    /// tokens are charged. The cost stays `None` when a needed token count
    /// is missing or negative, or the prompt is beyond what the price covers.
    pub fn set_cost(&mut self, price: Option<(&Price, PriceSource)>, prompt_only: bool) {
        let Some((price, source)) = price else {
            self.price_source = Some(PRICE_SOURCE_UNKNOWN.to_owned());
            self.cost_micros = None;
            return;
        };
        self.price_source = Some(source.as_str().to_owned());
        let tokens = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok());
        let prompt = tokens(self.prompt_tokens);
        let completion = if prompt_only {
            Some(0)
        } else {
            tokens(self.completion_tokens)
        };
        self.cost_micros = match (prompt, completion) {
            (Some(prompt), Some(completion)) => price
                .cost(prompt, completion)
                .map(|cost| i64::try_from(cost).unwrap_or(i64::MAX)),
            _ => None,
        };
    }
}

/// One upstream call made for a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub provider: String,
    /// The provider's kind, e.g. `openai`, `anthropic`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub upstream_model: String,
    pub status: Option<u16>,
    /// `ok`, `rate_limited`, `server_error`, `client_error`, `timeout`,
    /// `connect_error`, `protocol_error`, `circuit_open` (skipped, not sent),
    /// `unservable` (skipped, not sent), `forced_failure` (`sentinel
    /// verify` failed it on purpose, not sent).
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn records_stored_before_costs_existed_still_load() {
        let old = r#"{"id":"r","org_id":"o","time":1,"env_id":null,"env_name":null,"app_id":null,
            "app_name":null,"key_id":null,"ingress":"chat_completions","requested_model":null,
            "provider":null,"upstream_model":null,"upstream_status":null,"status":200,
            "error_code":null,"error_detail":null,"stream":false,"stream_completed":null,
            "prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"latency_ms":4,
            "ttfb_ms":null,"client_addr":null,"route_plan":null,"config_revision":null,"attempts":[]}"#;
        let record: RequestRecord = serde_json::from_str(old).unwrap();
        assert_eq!(record.cost_micros, None);
        assert_eq!(record.price_source, None);
        assert_eq!(record.total_tokens, Some(3));
    }

    #[test]
    fn costs_follow_tokens_and_price() {
        let price = Price::new(2_500_000, 10_000_000);
        let mut record = RequestRecord {
            prompt_tokens: Some(11),
            completion_tokens: Some(3),
            ..RequestRecord::default()
        };
        record.set_cost(Some((&price, PriceSource::Environment)), false);
        assert_eq!(record.cost_micros, Some(58));
        assert_eq!(record.price_source.as_deref(), Some("environment"));

        // Embeddings: prompt tokens only, even when completion is missing.
        record.completion_tokens = None;
        record.set_cost(Some((&price, PriceSource::Builtin)), true);
        assert_eq!(record.cost_micros, Some(28));
        // A chat answer without completion tokens has no cost.
        record.set_cost(Some((&price, PriceSource::Builtin)), false);
        assert_eq!(record.cost_micros, None);
        assert_eq!(record.price_source.as_deref(), Some("builtin"));

        record.completion_tokens = Some(-1);
        record.set_cost(Some((&price, PriceSource::Builtin)), false);
        assert_eq!(record.cost_micros, None);

        record.completion_tokens = Some(3);
        record.set_cost(None, false);
        assert_eq!(record.cost_micros, None);
        assert_eq!(record.price_source.as_deref(), Some("unknown"));
    }
}
