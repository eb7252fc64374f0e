//! The mock's answers, in OpenAI's wire format.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{Value, json};

use super::MockOptions;
use crate::ByteStream;

/// The text of a message's content: a string, or the text parts of an array.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn messages(body: &Value) -> &[Value] {
    body.get("messages")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Whitespace-separated words: the mock's token count.
fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn model(body: &Value) -> &str {
    body.get("model").and_then(Value::as_str).unwrap_or("mock")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// FNV-1a, for deterministic ids and vectors.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The reply text and token usage for a chat request.
fn answer(body: &Value) -> (String, u64, u64) {
    let msgs = messages(body);
    let last_user = msgs
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
        .map(content_text)
        .unwrap_or_default();
    let reply = format!("echo: {last_user}");
    let prompt: u64 = msgs
        .iter()
        .filter_map(|m| m.get("content"))
        .map(|c| words(&content_text(c)))
        .sum();
    let completion = words(&reply);
    (reply, prompt, completion)
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion })
}

fn completion_id(body: &Value) -> String {
    format!("chatcmpl-mock{:016x}", fnv(body.to_string().as_bytes()))
}

/// A non-streaming `chat.completion`.
pub(crate) fn chat(body: &Value) -> Value {
    let (reply, prompt, completion) = answer(body);
    json!({
        "id": completion_id(body),
        "object": "chat.completion",
        "created": now_secs(),
        "model": model(body),
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": reply, "refusal": null },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage(prompt, completion),
    })
}

/// Splits `text` into `n` pieces on character boundaries (fewer if short).
fn split(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n.max(1)).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// A `chat.completion.chunk` SSE stream: a role chunk, content chunks, a
/// finish chunk, a usage chunk if `stream_options.include_usage`, `[DONE]`.
pub(crate) fn chat_stream(body: &Value, options: &MockOptions) -> ByteStream {
    let (reply, prompt, completion) = answer(body);
    let id = completion_id(body);
    let created = now_secs();
    let model = model(body).to_owned();
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
        })
    };
    let mut events = vec![chunk(
        json!({ "role": "assistant", "content": "" }),
        Value::Null,
    )];
    for piece in split(&reply, options.stream_chunks) {
        events.push(chunk(json!({ "content": piece }), Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if include_usage {
        events.push(json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [], "usage": usage(prompt, completion),
        }));
    }
    let mut frames: Vec<Bytes> = events
        .into_iter()
        .map(|e| Bytes::from(format!("data: {e}\n\n")))
        .collect();
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    let delay = options.chunk_delay;
    Box::pin(futures_util::stream::unfold(
        (frames.into_iter(), true),
        move |(mut frames, first)| async move {
            let frame = frames.next()?;
            if !first && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Some((Ok(frame), (frames, false)))
        },
    ))
}

/// An embeddings `list`, one deterministic unit vector per input.
pub(crate) fn embeddings(body: &Value, dims: usize) -> Value {
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let raw: Vec<f64> = (0..dims)
                .map(|d| {
                    let h = fnv(format!("{d}:{text}").as_bytes());
                    (h % 2001) as f64 / 1000.0 - 1.0
                })
                .collect();
            let norm = raw
                .iter()
                .map(|x| x * x)
                .sum::<f64>()
                .sqrt()
                .max(f64::MIN_POSITIVE);
            let vector: Vec<f64> = raw.iter().map(|x| x / norm).collect();
            json!({ "object": "embedding", "index": index, "embedding": vector })
        })
        .collect();
    let tokens: u64 = inputs.iter().map(|t| words(t)).sum();
    json!({
        "object": "list",
        "data": data,
        "model": model(body),
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    })
}

/// An OpenAI-shaped error for `fail_status`.
pub(crate) fn error_body(status: u16) -> Value {
    let kind = match status {
        429 => "rate_limit_exceeded",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    };
    json!({ "error": { "message": format!("mock provider configured to fail with {status}"), "type": kind, "param": null, "code": null } })
}

pub(crate) fn invalid_request(message: &str) -> Value {
    json!({ "error": { "message": message, "type": "invalid_request_error", "param": null, "code": null } })
}
