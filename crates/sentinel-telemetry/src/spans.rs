//! A finished request record → OTLP/JSON spans: one SERVER span for the
//! request and one CLIENT span per upstream attempt (retries and fallbacks
//! are siblings under the request), with the OpenTelemetry GenAI semantic
//! conventions (`gen_ai.*`) and Sentinel's own attributes (`sentinel.*`).
//! No prompt or answer text is ever put on a span.

use sentinel_core::{AttemptRecord, RequestRecord};
use serde_json::{Value, json};

use crate::context::{new_span_id, new_trace_id};

const SPAN_KIND_SERVER: u8 = 2;
const SPAN_KIND_CLIENT: u8 = 3;
const STATUS_ERROR: u8 = 2;

fn string(key: &str, value: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": value } })
}

fn int(key: &str, value: i64) -> Value {
    // OTLP/JSON writes 64-bit integers as decimal strings.
    json!({ "key": key, "value": { "intValue": value.to_string() } })
}

fn nanos(ms: i64) -> String {
    (i128::from(ms.max(0)) * 1_000_000).to_string()
}

/// `chat`, `embeddings`, … as GenAI names the operation.
fn operation(ingress: &str) -> &'static str {
    match ingress {
        "embeddings" => "embeddings",
        "chat_completions" | "anthropic_messages" => "chat",
        _ => "other",
    }
}

/// The GenAI `gen_ai.provider.name` of a provider kind.
fn provider_name(kind: &str) -> &str {
    match kind {
        "azure_openai" => "azure.ai.openai",
        "bedrock" => "aws.bedrock",
        "gemini" => "gcp.gemini",
        "vertex" => "gcp.vertex_ai",
        other => other,
    }
}

/// The spans of one request record. The trace id is the record's (a new
/// one when it has none); the SERVER span is the child of the caller's
/// span when the request carried one.
pub fn record_to_spans(record: &RequestRecord) -> Vec<Value> {
    let trace_id = record.trace_id.clone().unwrap_or_else(new_trace_id);
    let server_id = new_span_id();
    let op = operation(&record.ingress);
    let path = match record.ingress.as_str() {
        "chat_completions" => "/v1/chat/completions",
        "embeddings" => "/v1/embeddings",
        "anthropic_messages" => "/v1/messages",
        "models" => "/v1/models",
        _ => "unknown",
    };
    let mut attributes = vec![
        string(
            "http.request.method",
            if path == "/v1/models" { "GET" } else { "POST" },
        ),
        string("http.route", path),
        int("http.response.status_code", i64::from(record.status)),
        string("gen_ai.operation.name", op),
        string("sentinel.request_id", &record.id),
    ];
    let optional = [
        ("gen_ai.request.model", record.requested_model.as_deref()),
        ("gen_ai.response.model", record.upstream_model.as_deref()),
        ("sentinel.environment", record.env_name.as_deref()),
        ("sentinel.application", record.app_name.as_deref()),
        ("sentinel.key_id", record.key_id.as_deref()),
        ("sentinel.route_plan", record.route_plan.as_deref()),
        ("sentinel.provider", record.provider.as_deref()),
        ("error.type", record.error_code.as_deref()),
        ("client.address", record.client_addr.as_deref()),
        (
            "sentinel.policy.decision",
            record.policy.as_ref().map(|p| p.decision.as_str()),
        ),
        (
            "sentinel.policy.rule",
            record.policy.as_ref().and_then(|p| p.rule.as_deref()),
        ),
    ];
    attributes.extend(optional.iter().filter_map(|(k, v)| v.map(|v| string(k, v))));
    for (key, value) in [
        ("gen_ai.usage.input_tokens", record.prompt_tokens),
        ("gen_ai.usage.output_tokens", record.completion_tokens),
        ("gen_ai.request.max_tokens", record.max_tokens),
        ("sentinel.cost_usd_micros", record.cost_micros),
        ("sentinel.config_revision", record.config_revision),
        ("sentinel.time_to_first_byte_ms", record.ttfb_ms),
    ] {
        if let Some(value) = value {
            attributes.push(int(key, value));
        }
    }
    if let Some(kind) = record
        .attempts
        .last()
        .map(|a| a.kind.as_str())
        .filter(|k| !k.is_empty())
    {
        attributes.push(string("gen_ai.provider.name", provider_name(kind)));
    }
    let mut server = json!({
        "traceId": trace_id,
        "spanId": server_id,
        "name": format!("{} {path}", if path == "/v1/models" { "GET" } else { "POST" }),
        "kind": SPAN_KIND_SERVER,
        "startTimeUnixNano": nanos(record.time),
        "endTimeUnixNano": nanos(record.time.saturating_add(record.latency_ms)),
        "attributes": attributes,
        "status": status(record.status >= 500, record.error_code.as_deref()),
    });
    if let Some(parent) = &record.parent_span_id {
        server["parentSpanId"] = json!(parent);
    }
    let mut spans = vec![server];
    spans.extend(
        record
            .attempts
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                a.status.is_some()
                    || !matches!(
                        a.outcome.as_str(),
                        "circuit_open" | "unservable" | "forced_failure"
                    )
            })
            .map(|(i, attempt)| attempt_span(record, attempt, i, op, &trace_id, &server_id)),
    );
    spans
}

fn attempt_span(
    record: &RequestRecord,
    attempt: &AttemptRecord,
    index: usize,
    op: &str,
    trace_id: &str,
    parent: &str,
) -> Value {
    let start = record.time.saturating_add(attempt.started_ms);
    let mut attributes = vec![
        string("gen_ai.operation.name", op),
        string("gen_ai.request.model", &attempt.upstream_model),
        string("sentinel.provider", &attempt.provider),
        string("sentinel.attempt.outcome", &attempt.outcome),
        int(
            "sentinel.attempt.number",
            i64::try_from(index + 1).unwrap_or(i64::MAX),
        ),
    ];
    if !attempt.kind.is_empty() {
        attributes.push(string("gen_ai.provider.name", provider_name(&attempt.kind)));
    }
    if let Some(status) = attempt.status {
        attributes.push(int("http.response.status_code", i64::from(status)));
    }
    let failed = attempt.outcome != "ok";
    if failed {
        attributes.push(string("error.type", &attempt.outcome));
    }
    if let Some(next) = &attempt.next {
        attributes.push(string("sentinel.attempt.next", next));
    }
    json!({
        "traceId": trace_id,
        "spanId": new_span_id(),
        "parentSpanId": parent,
        "name": format!("{op} {}", attempt.upstream_model),
        "kind": SPAN_KIND_CLIENT,
        "startTimeUnixNano": nanos(start),
        "endTimeUnixNano": nanos(start.saturating_add(attempt.latency_ms)),
        "attributes": attributes,
        "status": status(failed, attempt.error.as_deref().or(Some(attempt.outcome.as_str())).filter(|_| failed)),
    })
}

fn status(error: bool, message: Option<&str>) -> Value {
    if error {
        json!({ "code": STATUS_ERROR, "message": message.unwrap_or_default() })
    } else {
        json!({})
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
        span["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| &a["value"])
    }

    #[test]
    fn a_retried_request_has_a_server_span_and_sibling_attempts() {
        let record = RequestRecord {
            id: "r1".into(),
            time: 1_000,
            ingress: "chat_completions".into(),
            requested_model: Some("chat".into()),
            upstream_model: Some("gpt-4o-mini".into()),
            status: 200,
            latency_ms: 250,
            prompt_tokens: Some(11),
            completion_tokens: Some(3),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            parent_span_id: Some("00f067aa0ba902b7".into()),
            attempts: vec![
                AttemptRecord {
                    provider: "a".into(),
                    kind: "openai".into(),
                    upstream_model: "gpt-4o-mini".into(),
                    status: Some(500),
                    outcome: "server_error".into(),
                    started_ms: 1,
                    latency_ms: 20,
                    next: Some("retry: server_error".into()),
                    ..AttemptRecord::default()
                },
                AttemptRecord {
                    provider: "b".into(),
                    kind: "bedrock".into(),
                    upstream_model: "gpt-4o-mini".into(),
                    status: Some(200),
                    outcome: "ok".into(),
                    started_ms: 40,
                    latency_ms: 200,
                    ..AttemptRecord::default()
                },
            ],
            ..RequestRecord::default()
        };
        let spans = record_to_spans(&record);
        assert_eq!(spans.len(), 3);
        let server = &spans[0];
        assert_eq!(server["kind"], 2);
        assert_eq!(server["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(server["parentSpanId"], "00f067aa0ba902b7");
        assert_eq!(server["startTimeUnixNano"], "1000000000");
        assert_eq!(server["endTimeUnixNano"], "1250000000");
        assert_eq!(
            attr(server, "gen_ai.operation.name").unwrap()["stringValue"],
            "chat"
        );
        assert_eq!(
            attr(server, "gen_ai.usage.input_tokens").unwrap()["intValue"],
            "11"
        );
        for attempt in &spans[1..] {
            assert_eq!(attempt["kind"], 3);
            assert_eq!(attempt["parentSpanId"], server["spanId"]);
            assert_eq!(attempt["traceId"], server["traceId"]);
        }
        assert_eq!(spans[1]["status"]["code"], 2);
        assert_eq!(
            attr(&spans[1], "error.type").unwrap()["stringValue"],
            "server_error"
        );
        assert_eq!(
            attr(&spans[2], "gen_ai.provider.name").unwrap()["stringValue"],
            "aws.bedrock"
        );
        assert_eq!(spans[2]["startTimeUnixNano"], "1040000000");
        assert_eq!(spans[2]["name"], "chat gpt-4o-mini");
    }
}
