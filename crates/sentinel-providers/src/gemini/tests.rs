//! Golden translation tests over `tests/fixtures/gemini/`, stream chunking
//! tests and refusals of unsupported features.

use serde_json::{Value, json};

use super::{
    convert::{self, ChatContext},
    error,
    stream::GeminiStream,
};
use crate::{ProviderErrorKind, stream::StreamTranslator};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/gemini/",
            $name
        ))
    };
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Replaces generated values: `created` → 0, random ids → placeholders
/// (`<id>` for completion ids not taken from Google, `<call>` for the nonce
/// of tool-call ids, keeping any thought-signature suffix).
fn redact(mut value: Value) -> Value {
    if let Some(created) = value.get_mut("created") {
        *created = json!(0);
    }
    if let Some(id) = value
        .get_mut("id")
        .and_then(|v| v.as_str().map(str::to_owned))
    {
        let fixed = matches!(id.as_str(), "chatcmpl-abc123" | "chatcmpl-def456");
        if !fixed {
            value["id"] = json!("<id>");
        }
    }
    redact_calls(&mut value);
    value
}

fn redact_calls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("function")
                && let Some(Value::String(id)) = map.get_mut("id")
            {
                assert!(id.starts_with("call_"), "{id}");
                *id = match id.split_once("~ts~") {
                    Some((_, signature)) => format!("<call>~ts~{signature}"),
                    None => "<call>".to_owned(),
                };
            }
            map.values_mut().for_each(redact_calls);
        }
        Value::Array(items) => items.iter_mut().for_each(redact_calls),
        _ => {}
    }
}

fn context(include_usage: bool) -> ChatContext {
    ChatContext {
        model: "gemini-2.5-flash".into(),
        include_usage,
    }
}

#[test]
fn chat_request_translates_to_generate_content() {
    let (body, context) =
        convert::chat_request("gemini", fixture!("chat_request.json").as_bytes()).unwrap();
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json(fixture!("chat_request.expected.json"))
    );
    assert_eq!(context.model, "gemini-2.5-flash");
    assert!(context.include_usage);
}

#[test]
fn answers_translate_to_chat_completions() {
    for (input, expected) in [
        (
            fixture!("response_text.json"),
            fixture!("response_text.expected.json"),
        ),
        (
            fixture!("response_tool_calls.json"),
            fixture!("response_tool_calls.expected.json"),
        ),
        (
            fixture!("response_blocked.json"),
            fixture!("response_blocked.expected.json"),
        ),
    ] {
        let out = convert::chat_response(&context(false), input.as_bytes()).unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(redact(out), json(expected), "{input}");
    }
}

#[test]
fn google_errors_translate() {
    let out = error::openai_error(429, fixture!("error_429.json").as_bytes());
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out, json(fixture!("error_429.expected.json")));
}

#[test]
fn finish_reasons_map() {
    let cases = [
        ("STOP", false, "stop"),
        ("STOP", true, "tool_calls"),
        ("MAX_TOKENS", false, "length"),
        ("MAX_TOKENS", true, "length"),
        ("SAFETY", false, "content_filter"),
        ("RECITATION", false, "content_filter"),
        ("PROHIBITED_CONTENT", false, "content_filter"),
        ("OTHER", false, "stop"),
    ];
    for (reason, calls, expected) in cases {
        assert_eq!(convert::finish_reason(reason, calls), expected, "{reason}");
    }
}

/// Runs a stream through the translator in pieces of the given sizes.
fn translate(input: &[u8], cuts: &[usize], include_usage: bool) -> Vec<Value> {
    let mut translator = GeminiStream::new(context(include_usage));
    let mut frames = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        frames.extend(translator.feed(&input[start..cut]).unwrap());
        start = cut;
    }
    frames.extend(translator.finish().unwrap());
    frames
        .iter()
        .map(|frame| {
            let text = std::str::from_utf8(frame).unwrap();
            let data = text
                .strip_prefix("data: ")
                .and_then(|t| t.strip_suffix("\n\n"))
                .unwrap();
            if data == "[DONE]" {
                json!("[DONE]")
            } else {
                redact(serde_json::from_str(data).unwrap())
            }
        })
        .collect()
}

#[test]
fn streams_translate_to_chunks() {
    let text = translate(fixture!("stream_text.sse").as_bytes(), &[], true);
    assert_eq!(json!(text), json(fixture!("stream_text.expected.json")));
    let calls = translate(fixture!("stream_tool_call.sse").as_bytes(), &[], false);
    assert_eq!(
        json!(calls),
        json(fixture!("stream_tool_call.expected.json"))
    );
}

#[test]
fn stream_output_does_not_depend_on_where_the_bytes_are_split() {
    let input = fixture!("stream_text.sse").as_bytes();
    let whole = translate(input, &[], true);
    for cut in 0..=input.len() {
        assert_eq!(translate(input, &[cut], true), whole, "split at {cut}");
    }
    let bytes: Vec<usize> = (1..input.len()).collect();
    assert_eq!(translate(input, &bytes, true), whole, "one byte at a time");
}

#[test]
fn usage_chunk_only_when_asked() {
    let frames = translate(fixture!("stream_text.sse").as_bytes(), &[], false);
    assert!(frames.iter().all(|f| f.get("usage").is_none()));
    assert_eq!(frames.last(), Some(&json!("[DONE]")));
}

#[test]
fn a_stream_cut_before_its_finish_reason_is_an_error() {
    let input = fixture!("stream_text.sse");
    let first_event = &input[..input.find("\r\n\r\n").unwrap() + 4];
    let mut translator = GeminiStream::new(context(true));
    assert_eq!(translator.feed(first_event.as_bytes()).unwrap().len(), 2);
    let error = translator.finish().unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Protocol);

    let mut translator = GeminiStream::new(context(true));
    translator.feed(&input.as_bytes()[..40]).unwrap();
    assert!(translator.finish().is_err());
}

#[test]
fn an_error_event_mid_stream_ends_the_stream() {
    let mut translator = GeminiStream::new(context(false));
    let error = translator
        .feed(b"data: {\"error\": {\"code\": 503, \"message\": \"overloaded\", \"status\": \"UNAVAILABLE\"}}\r\n\r\n")
        .unwrap_err();
    assert!(error.message.contains("UNAVAILABLE"), "{}", error.message);
}

/// Refusals name the feature and the provider kind.
#[test]
fn unsupported_features_are_refused_by_name() {
    let base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let with = |patch: Value| {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (with(json!({"n": 2})), "n greater than 1"),
        (with(json!({"logprobs": true})), "logprobs"),
        (with(json!({"top_logprobs": 3})), "logprobs"),
        (
            with(json!({"logit_bias": {"1": 2}})),
            "request field `logit_bias`",
        ),
        (
            with(json!({"audio": {"voice": "alloy"}})),
            "request field `audio`",
        ),
        (
            with(json!({"parallel_tool_calls": false})),
            "parallel_tool_calls: false",
        ),
        (
            with(json!({"response_format": {"type": "grammar"}})),
            "response_format type `grammar`",
        ),
        (
            with(json!({"messages": [{"role": "user", "content": [
                {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}]}]})),
            "content part type `input_audio`",
        ),
        (
            with(json!({"messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]})),
            "image_url with an http(s) URL",
        ),
        (
            with(
                json!({"tools": [{"type": "function", "function": {"name": "f",
                "parameters": {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}}}}]}),
            ),
            "`$ref`",
        ),
        (
            with(json!({"tools": [{"type": "web_search", "function": {"name": "f"}}]})),
            "tool type `web_search`",
        ),
        (
            with(json!({"messages": [{"role": "user", "content": "hi", "audio": {"id": "a"}}]})),
            "message field `audio`",
        ),
    ];
    for (body, feature) in cases {
        let error = convert::chat_request("gemini", body.to_string().as_bytes()).unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Unsupported, "{body}");
        assert!(
            error.message.contains(feature) && error.message.contains("gemini"),
            "{feature}: {}",
            error.message
        );
    }
}

#[test]
fn harmless_fields_are_accepted() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi", "name": "bob"}],
        "n": 1, "logprobs": false, "store": false, "user": "u", "metadata": null,
        "parallel_tool_calls": true, "response_format": {"type": "text"}});
    let (request, _) = convert::chat_request("gemini", body.to_string().as_bytes()).unwrap();
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    );
}

#[test]
fn malformed_requests_are_invalid() {
    let cases = [
        json!({"model": "m"}),
        json!({"model": "m", "messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}),
        json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]}),
        json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}),
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema"}}),
    ];
    for body in cases {
        let error = convert::chat_request("gemini", body.to_string().as_bytes()).unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::InvalidRequest, "{body}");
    }
}

#[test]
fn tool_choice_modes_map() {
    let cases = [
        (json!("auto"), json!({"mode": "AUTO"})),
        (json!("none"), json!({"mode": "NONE"})),
        (json!("required"), json!({"mode": "ANY"})),
        (
            json!({"type": "function", "function": {"name": "f"}}),
            json!({"mode": "ANY", "allowedFunctionNames": ["f"]}),
        ),
    ];
    for (choice, expected) in cases {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": choice});
        let (request, _) = convert::chat_request("gemini", body.to_string().as_bytes()).unwrap();
        let request = serde_json::to_value(&request).unwrap();
        assert_eq!(request["toolConfig"]["functionCallingConfig"], expected);
    }
}

#[test]
fn json_object_sets_the_mime_type() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_object"}, "max_tokens": 5});
    let (request, _) = convert::chat_request("gemini", body.to_string().as_bytes()).unwrap();
    assert_eq!(
        serde_json::to_value(&request).unwrap()["generationConfig"],
        json!({"maxOutputTokens": 5, "responseMimeType": "application/json"})
    );
}

#[test]
fn embeddings_requests_are_checked() {
    let ok = convert::embeddings_request(
        "gemini",
        br#"{"model":"text-embedding-004","input":["a","b"],"dimensions":8,"encoding_format":"base64","user":"u"}"#,
    )
    .unwrap();
    assert_eq!(ok.inputs, vec!["a", "b"]);
    assert_eq!(ok.dimensions, Some(8));
    assert!(ok.base64);
    assert_eq!(
        serde_json::to_value(convert::batch_embed_body(&ok, "text-embedding-004")).unwrap(),
        json!({"requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 8},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 8}
        ]})
    );

    let tokens =
        convert::embeddings_request("gemini", br#"{"model":"m","input":[[1,2,3]]}"#).unwrap_err();
    assert_eq!(tokens.kind, ProviderErrorKind::Unsupported);
    assert!(tokens.message.contains("token-array"), "{}", tokens.message);
    let extra =
        convert::embeddings_request("gemini", br#"{"model":"m","input":"a","x":1}"#).unwrap_err();
    assert!(extra.message.contains("request field `x`"));
}

#[test]
fn base64_embeddings_are_little_endian_f32() {
    let request = convert::embeddings_request(
        "gemini",
        br#"{"model":"m","input":"a","encoding_format":"base64"}"#,
    )
    .unwrap();
    let out = convert::embeddings_response(&request, vec![vec![1.0, -2.0]], 0).unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    // 1.0f32 = 00 00 80 3f, -2.0f32 = 00 00 00 c0
    assert_eq!(out["data"][0]["embedding"], json!("AACAPwAAAMA="));
}

#[test]
fn model_names_are_checked_before_they_reach_a_url() {
    assert_eq!(
        convert::model_segment("models/gemini-2.5-flash").unwrap(),
        "gemini-2.5-flash"
    );
    for bad in ["", "a/b", "m:generateContent", "m?x", "../x"] {
        assert!(convert::model_segment(bad).is_err(), "{bad}");
    }
}
