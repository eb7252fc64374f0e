//! Golden translation tests against the fixtures in
//! `tests/fixtures/anthropic/`, stream chunking, refusals and options.

use serde_json::{Value, json};

use super::{
    Options,
    convert::{to_chat_response, to_messages_request},
    error::openai_error_body,
    messages_url,
    stream::ChunkTranslator,
    wire::MessagesResponse,
};
use crate::{ProviderErrorKind, chat::ChatRequest, stream::StreamTranslator};

const CREATED: u64 = 1_700_000_000;

pub(super) fn fixture_text(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/anthropic/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

pub(super) fn fixture(name: &str) -> Value {
    serde_json::from_str(&fixture_text(name)).unwrap()
}

fn translate_request(openai: &Value) -> Result<Value, crate::ProviderError> {
    let stream = openai["stream"] == json!(true);
    let request: ChatRequest = serde_json::from_value(openai.clone()).unwrap();
    to_messages_request(request, 4096, stream).map(|r| serde_json::to_value(r).unwrap())
}

#[test]
fn requests_translate_to_the_golden_messages_requests() {
    for case in ["request_basic", "request_tools"] {
        let input = fixture(&format!("{case}.openai.json"));
        let expected = fixture(&format!("{case}.anthropic.json"));
        assert_eq!(translate_request(&input).unwrap(), expected, "{case}");
    }
}

#[test]
fn responses_translate_to_the_golden_completions() {
    for case in ["response_text", "response_tool_use"] {
        let input: MessagesResponse =
            serde_json::from_value(fixture(&format!("{case}.anthropic.json"))).unwrap();
        let expected = fixture(&format!("{case}.openai.json"));
        let actual = serde_json::to_value(to_chat_response(input, CREATED)).unwrap();
        assert_eq!(actual, expected, "{case}");
    }
}

#[test]
fn stop_reasons_map_to_finish_reasons() {
    let check = |stop: &str, finish: &str| {
        let mut body = fixture("response_text.anthropic.json");
        body["stop_reason"] = json!(stop);
        let response = to_chat_response(serde_json::from_value(body).unwrap(), CREATED);
        assert_eq!(
            response.choices[0].finish_reason.as_deref(),
            Some(finish),
            "{stop}"
        );
    };
    check("end_turn", "stop");
    check("stop_sequence", "stop");
    check("max_tokens", "length");
    check("tool_use", "tool_calls");
    check("refusal", "content_filter");
    check("pause_turn", "stop");
}

#[test]
fn parallel_tool_calls_false_without_a_choice_means_auto_without_parallel_use() {
    let request = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "parallel_tool_calls": false});
    let out = translate_request(&request).unwrap();
    assert_eq!(
        out["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    for (choice, expected) in [
        (json!("none"), json!({"type": "none"})),
        (json!("auto"), json!({"type": "auto"})),
        (json!("required"), json!({"type": "any"})),
    ] {
        let mut request = request.clone();
        request["tool_choice"] = choice;
        request
            .as_object_mut()
            .unwrap()
            .remove("parallel_tool_calls");
        assert_eq!(
            translate_request(&request).unwrap()["tool_choice"],
            expected
        );
    }
}

#[test]
fn unsupported_features_are_refused_by_name() {
    let base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let cases: Vec<(Value, &str)> = vec![
        (json!({"n": 2}), "n > 1"),
        (json!({"seed": 7}), "seed"),
        (json!({"logprobs": true}), "logprobs"),
        (json!({"top_logprobs": 2}), "top_logprobs"),
        (json!({"presence_penalty": 0.5}), "presence_penalty"),
        (json!({"logit_bias": {"1": 3}}), "logit_bias"),
        (json!({"audio": {"voice": "x"}}), "audio"),
        (json!({"modalities": ["text", "audio"]}), "modalities"),
        (json!({"reasoning_effort": "high"}), "reasoning_effort"),
        (
            json!({"response_format": {"type": "json_object"}}),
            "response_format json_object",
        ),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}}),
            "response_format json_schema",
        ),
        (
            json!({"tools": [{"type": "function", "function": {"name": "f", "strict": true}}]}),
            "strict function schemas",
        ),
        (
            json!({"tools": [{"type": "custom", "function": {"name": "f"}}]}),
            "custom tools",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}]}),
            "input_audio content parts in user messages",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}]}),
            "file content parts in user messages",
        ),
        (
            json!({"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}),
            "image content in system messages",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]}),
            "image URLs other than https:// and base64 data: URLs",
        ),
        (
            json!({"messages": [{"role": "function", "name": "f", "content": "x"}]}),
            "function messages",
        ),
    ];
    for (patch, feature) in cases {
        let mut request = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            request[k] = v.clone();
        }
        let error = translate_request(&request).unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Unsupported, "{feature}");
        assert!(
            error.message.starts_with(feature) && error.message.ends_with("anthropic providers"),
            "{feature}: {}",
            error.message
        );
    }
}

#[test]
fn harmless_fields_are_accepted() {
    let request = json!({"model": "m", "messages": [{"role": "user", "content": "hi", "name": "a"}],
        "n": 1, "store": true, "metadata": {"k": "v"}, "logprobs": false, "presence_penalty": 0,
        "logit_bias": {}, "service_tier": "auto", "modalities": ["text"], "top_logprobs": null,
        "response_format": {"type": "text"}});
    let out = translate_request(&request).unwrap();
    assert_eq!(out["max_tokens"], json!(4096));
    assert_eq!(out.get("metadata"), None);
}

#[test]
fn malformed_requests_are_invalid_not_unsupported() {
    let cases = [
        json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}),
        json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
        json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]}),
        json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1, 2]"}}]}]}),
        json!({"model": "m", "messages": [], "tool_choice": "sometimes"}),
    ];
    for case in cases {
        let error = translate_request(&case).unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::InvalidRequest, "{case}");
    }
}

#[test]
fn anthropic_errors_become_openai_errors() {
    let body = fixture_text("error_overloaded.anthropic.json");
    let actual: Value = serde_json::from_slice(&openai_error_body(529, body.as_bytes())).unwrap();
    assert_eq!(actual, fixture("error_overloaded.openai.json"));

    let check = |status: u16, kind: &str, openai_type: &str| {
        let body = json!({"type": "error", "error": {"type": kind, "message": "m"}}).to_string();
        let out: Value =
            serde_json::from_slice(&openai_error_body(status, body.as_bytes())).unwrap();
        assert_eq!(
            out,
            json!({"error": {"message": "m", "type": openai_type, "param": null, "code": kind}})
        );
    };
    check(400, "invalid_request_error", "invalid_request_error");
    check(401, "authentication_error", "authentication_error");
    check(403, "permission_error", "permission_error");
    check(404, "not_found_error", "not_found_error");
    check(413, "request_too_large", "invalid_request_error");
    check(429, "rate_limit_error", "rate_limit_error");
    check(500, "api_error", "server_error");

    let out: Value =
        serde_json::from_slice(&openai_error_body(502, b"<html>bad gateway</html>")).unwrap();
    assert_eq!(
        out,
        json!({"error": {"message": "anthropic answered status 502", "type": "server_error", "param": null, "code": null}})
    );
}

/// Feeds `pieces` to a fresh translator; the frames as JSON values
/// (`"[DONE]"` as a string), or the first error.
fn run_stream(pieces: &[&[u8]], include_usage: bool) -> Result<Vec<Value>, crate::ProviderError> {
    let mut translator = ChunkTranslator::new(include_usage, CREATED);
    let mut frames = Vec::new();
    for piece in pieces {
        frames.extend(translator.feed(piece)?);
    }
    frames.extend(translator.finish()?);
    Ok(frames
        .iter()
        .map(|frame| {
            let text = std::str::from_utf8(frame).unwrap();
            let data = text
                .strip_prefix("data: ")
                .and_then(|t| t.strip_suffix("\n\n"))
                .unwrap();
            serde_json::from_str(data).unwrap_or_else(|_| json!(data))
        })
        .collect())
}

#[test]
fn a_stream_translates_the_same_at_every_byte_boundary() {
    let input = fixture_text("stream_tool_use.sse");
    let bytes = input.as_bytes();
    let expected: Vec<Value> =
        serde_json::from_value(fixture("stream_tool_use.chunks.json")).unwrap();
    assert_eq!(run_stream(&[bytes], true).unwrap(), expected);
    for split in 0..=bytes.len() {
        let (a, b) = bytes.split_at(split);
        assert_eq!(
            run_stream(&[a, b], true).unwrap(),
            expected,
            "split at {split}"
        );
    }
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(run_stream(&singles, true).unwrap(), expected);
}

#[test]
fn usage_chunk_only_when_asked_for() {
    let input = fixture_text("stream_tool_use.sse");
    let frames = run_stream(&[input.as_bytes()], false).unwrap();
    assert!(frames.iter().all(|f| f.get("usage").is_none()));
    assert_eq!(frames.last(), Some(&json!("[DONE]")));
}

#[test]
fn an_error_event_ends_the_stream_with_an_error() {
    let input = fixture_text("stream_error.sse");
    let mut translator = ChunkTranslator::new(false, CREATED);
    let error = translator.feed(input.as_bytes()).unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Protocol);
    assert!(
        error.message.contains("overloaded_error"),
        "{}",
        error.message
    );
}

#[test]
fn a_stream_cut_before_message_stop_is_an_error() {
    let input = fixture_text("stream_tool_use.sse");
    let cut = input.find("event: message_stop").unwrap();
    let error = run_stream(&[&input.as_bytes()[..cut]], false).unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Protocol);
    let error = run_stream(
        &[b"event: ping\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"],
        false,
    )
    .unwrap_err();
    assert!(error.message.contains("message_start"), "{}", error.message);
}

#[test]
fn options_are_checked_with_paths() {
    let parse = |options: Value| {
        Options::parse(options.as_object().unwrap().iter())
            .map_err(|errors| errors.into_iter().map(|e| e.path).collect::<Vec<_>>())
    };
    assert_eq!(parse(json!({})).unwrap(), Options::default());
    let parsed = parse(json!({"anthropic_version": "2024-01-01",
        "anthropic_beta": ["a-2024", "b-2025"], "default_max_tokens": 1000}))
    .unwrap();
    assert_eq!(parsed.version, "2024-01-01");
    assert_eq!(parsed.beta.as_deref(), Some("a-2024,b-2025"));
    assert_eq!(parsed.default_max_tokens, 1000);
    assert_eq!(
        parse(
            json!({"anthropic_version": "", "anthropic_beta": [], "default_max_tokens": 0, "x": 1})
        )
        .unwrap_err(),
        vec![
            "options.anthropic_version",
            "options.anthropic_beta",
            "options.default_max_tokens",
            "options.x"
        ]
    );
}

#[test]
fn messages_url_appends_v1_once() {
    for (base, expected) in [
        (
            "https://api.anthropic.com",
            "https://api.anthropic.com/v1/messages",
        ),
        (
            "https://api.anthropic.com/",
            "https://api.anthropic.com/v1/messages",
        ),
        (
            "https://api.anthropic.com/v1",
            "https://api.anthropic.com/v1/messages",
        ),
        (
            "https://proxy.example/anthropic",
            "https://proxy.example/anthropic/v1/messages",
        ),
    ] {
        assert_eq!(
            messages_url(&url::Url::parse(base).unwrap()).as_str(),
            expected
        );
    }
}

#[test]
fn client_betas_are_merged_after_the_configured_ones_once() {
    let mut client = http::HeaderMap::new();
    client.append(
        "anthropic-beta",
        http::HeaderValue::from_static(
            "interleaved-thinking-2025-05-14, prompt-caching-2024-07-31",
        ),
    );
    client.append(
        "anthropic-beta",
        http::HeaderValue::from_static("context-1m-2025-08-07"),
    );
    assert_eq!(
        super::merged_beta(Some("prompt-caching-2024-07-31"), &client).unwrap(),
        Some(
            "prompt-caching-2024-07-31,interleaved-thinking-2025-05-14,context-1m-2025-08-07"
                .to_owned()
        )
    );
    assert_eq!(
        super::merged_beta(None, &http::HeaderMap::new()).unwrap(),
        None
    );
    let mut bad = http::HeaderMap::new();
    bad.insert("anthropic-beta", http::HeaderValue::from_static("a b"));
    let error = super::merged_beta(None, &bad).unwrap_err();
    assert_eq!(error.kind, crate::ProviderErrorKind::InvalidRequest);
}
