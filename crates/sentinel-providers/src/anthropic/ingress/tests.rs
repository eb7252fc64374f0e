//! Ingress golden tests, round trips through the egress translation, and
//! refusals.

use serde_json::{Value, json};

use super::{
    IngressError, error_body, error_type,
    stream::{MessagesStreamTranslator, error_event},
    to_chat_request, to_messages_response,
};
use crate::{
    ProviderErrorKind,
    anthropic::{
        convert::{to_chat_response, to_messages_request},
        tests::{fixture, fixture_text},
        wire::MessagesResponse,
    },
    stream::StreamTranslator,
};

fn to_openai(anthropic: &Value) -> Result<Value, IngressError> {
    to_chat_request(anthropic.to_string().as_bytes()).map(|r| serde_json::to_value(r).unwrap())
}

#[test]
fn a_messages_request_translates_to_the_golden_chat_request() {
    let input = fixture("ingress_request.anthropic.json");
    assert_eq!(
        to_openai(&input).unwrap(),
        fixture("ingress_request.openai.json")
    );
}

#[test]
fn a_completion_translates_to_the_golden_messages_response() {
    let input = fixture_text("ingress_response.openai.json");
    assert_eq!(
        to_messages_response(input.as_bytes()).unwrap(),
        fixture("ingress_response.anthropic.json")
    );
}

#[test]
fn requests_survive_ingress_then_egress() {
    // Already in the normal form egress writes: content as blocks, no
    // cache hints, no error flags.
    let original = json!({
        "model": "claude-haiku-4-5",
        "max_tokens": 300,
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lG"}}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "cold"},
                {"type": "text", "text": "Thanks"}]}
        ],
        "metadata": {"user_id": "u-9"},
        "stop_sequences": ["\n\nHuman:"],
        "stream": true,
        "temperature": 0.3,
        "top_k": 5,
        "tools": [{"name": "weather", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "weather", "disable_parallel_tool_use": true},
    });
    let chat = to_chat_request(original.to_string().as_bytes()).unwrap();
    let stream = chat.stream == Some(true);
    let back = to_messages_request(chat, 4096, stream).unwrap();
    assert_eq!(serde_json::to_value(back).unwrap(), original);
}

#[test]
fn responses_survive_egress_then_ingress() {
    let original = fixture("response_tool_use.anthropic.json");
    let message: MessagesResponse = serde_json::from_value(original.clone()).unwrap();
    let completion = serde_json::to_vec(&to_chat_response(message, 1)).unwrap();
    assert_eq!(to_messages_response(&completion).unwrap(), original);
}

#[test]
fn unsupported_features_are_refused_by_name() {
    let base =
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let with_content = |role: &str, block: Value| {
        let mut request = base.clone();
        request["messages"] = json!([{"role": role, "content": [block]}]);
        request
    };
    let mut cases: Vec<(Value, &str)> = Vec::new();
    for (field, value) in [
        (
            "thinking",
            json!({"type": "enabled", "budget_tokens": 2000}),
        ),
        (
            "mcp_servers",
            json!([{"type": "url", "url": "https://x", "name": "x"}]),
        ),
        ("container", json!("c1")),
        ("service_tier", json!("standard_only")),
    ] {
        let mut request = base.clone();
        request[field] = value;
        cases.push((request, field));
    }
    cases.push((
        with_content("user", json!({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}})),
        "document content blocks",
    ));
    cases.push((
        with_content(
            "user",
            json!({"type": "search_result", "source": "s", "title": "t", "content": []}),
        ),
        "search_result content blocks",
    ));
    cases.push((
        with_content(
            "user",
            json!({"type": "image", "source": {"type": "file", "file_id": "f"}}),
        ),
        "file image sources",
    ));
    cases.push((
        with_content(
            "assistant",
            json!({"type": "thinking", "thinking": "hmm", "signature": "s"}),
        ),
        "thinking content blocks",
    ));
    cases.push((
        with_content(
            "assistant",
            json!({"type": "redacted_thinking", "data": "x"}),
        ),
        "redacted_thinking content blocks",
    ));
    cases.push((
        with_content(
            "user",
            json!({"type": "tool_result", "tool_use_id": "t",
            "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}),
        ),
        "image content blocks in tool_result",
    ));
    let mut server_tool = base.clone();
    server_tool["tools"] =
        json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]);
    cases.push((server_tool, "server tool web_search_20250305"));
    let mut system = base.clone();
    system["system"] = json!([{"type": "image", "source": {"type": "url", "url": "https://x"}}]);
    cases.push((system, "image content blocks in system"));

    for (request, feature) in cases {
        assert_eq!(
            to_openai(&request).unwrap_err(),
            IngressError::Unsupported {
                feature: feature.into()
            },
            "{request}"
        );
    }
}

#[test]
fn malformed_requests_are_invalid() {
    for body in [
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        json!({"model": "m", "max_tokens": 1, "messages": [{"role": "system", "content": "hi"}]}),
        json!({"model": "m", "max_tokens": 1, "messages": [], "tool_choice": {"type": "tool"}}),
        json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [
            {"type": "tool_use", "id": "t", "name": "n", "input": {}}]}]}),
        json!({"max_tokens": 1, "messages": []}),
    ] {
        let error = to_openai(&body).unwrap_err();
        assert!(
            matches!(error, IngressError::Invalid(_)),
            "{body}: {error:?}"
        );
        assert_eq!(
            error.to_body("req_1")["error"]["type"],
            "invalid_request_error"
        );
    }
    assert!(matches!(
        to_chat_request(b"{not json"),
        Err(IngressError::Invalid(_))
    ));
}

#[test]
fn error_bodies_follow_anthropics_shape() {
    assert_eq!(
        error_body(529, "Overloaded", "req_1"),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_1"})
    );
    for (status, kind) in [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
    ] {
        assert_eq!(error_type(status), kind, "{status}");
    }
    assert_eq!(
        std::str::from_utf8(&error_event(502, "upstream broke")).unwrap(),
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"upstream broke\"}}\n\n"
    );
}

#[test]
fn completion_errors_are_protocol_errors() {
    for body in [
        b"{}".as_slice(),
        br#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[]}"#,
        br#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"finish_reason":"tool_calls","logprobs":null,
            "message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}}]}"#,
    ] {
        assert_eq!(
            to_messages_response(body).unwrap_err().kind,
            ProviderErrorKind::Protocol
        );
    }
}

/// Runs the ingress stream translator over `pieces`; events as
/// `{"event", "data"}` values.
fn run(pieces: &[&[u8]]) -> Result<Vec<Value>, crate::ProviderError> {
    let mut translator = MessagesStreamTranslator::new();
    let mut frames = Vec::new();
    for piece in pieces {
        frames.extend(translator.feed(piece)?);
    }
    frames.extend(translator.finish()?);
    Ok(frames
        .iter()
        .map(|frame| {
            let text = std::str::from_utf8(frame).unwrap();
            let (event, data) = text
                .strip_prefix("event: ")
                .and_then(|t| t.strip_suffix("\n\n"))
                .and_then(|t| t.split_once("\ndata: "))
                .unwrap();
            json!({"event": event, "data": serde_json::from_str::<Value>(data).unwrap()})
        })
        .collect())
}

#[test]
fn an_openai_stream_becomes_anthropic_events_at_every_byte_boundary() {
    let input = fixture_text("ingress_stream.openai.sse");
    let bytes = input.as_bytes();
    let expected: Vec<Value> =
        serde_json::from_value(fixture("ingress_stream.anthropic.json")).unwrap();
    assert_eq!(run(&[bytes]).unwrap(), expected);
    for split in 0..=bytes.len() {
        let (a, b) = bytes.split_at(split);
        assert_eq!(run(&[a, b]).unwrap(), expected, "split at {split}");
    }
}

#[test]
fn the_requested_model_can_replace_the_upstream_model() {
    let input = fixture_text("ingress_stream.openai.sse");
    let mut translator = MessagesStreamTranslator::new().with_model("claude-alias");
    let frames = translator.feed(input.as_bytes()).unwrap();
    let first = std::str::from_utf8(&frames[0]).unwrap();
    assert!(first.contains("\"model\":\"claude-alias\""), "{first}");
}

#[test]
fn a_stream_without_done_closes_after_a_finish_reason_and_fails_without_one() {
    let input = fixture_text("ingress_stream.openai.sse");
    let without_done = input.replace("data: [DONE]\n\n", "");
    let events = run(&[without_done.as_bytes()]).unwrap();
    assert_eq!(events.last().unwrap()["event"], "message_stop");

    let cut = input.find("\"finish_reason\":\"tool_calls\"").unwrap();
    let head = &input.as_bytes()[..input[..cut].rfind("data: ").unwrap()];
    assert_eq!(run(&[head]).unwrap_err().kind, ProviderErrorKind::Protocol);

    let error = run(&[b"data: {\"error\":{\"message\":\"boom\"}}\n\n"]).unwrap_err();
    assert!(error.message.contains("boom"), "{}", error.message);
}
