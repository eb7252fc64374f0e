//! Translation cost per request and stream throughput (issue 3).
//!
//! `cargo bench -p sentinel-providers --features bench --bench translation`
//!
//! - `request/<kind>`: a typical OpenAI chat request (system prompt, a tool,
//!   a finished tool call round trip, a follow-up question; ~1.3 KB) from
//!   bytes to the vendor's request bytes, as each provider does before its
//!   HTTP call (Bedrock: plus the SigV4 signature in `request/bedrock+sigv4`).
//! - `response/<kind>`: the vendor's answer bytes to `chat.completion` bytes.
//! - `ingress/anthropic-*`: the gateway's `/v1/messages` translation (an
//!   Anthropic request to OpenAI's format, an OpenAI completion back).
//! - `stream/<kind>`: a 256-delta answer through `stream::translate`, one
//!   upstream chunk per vendor event, against `stream/passthrough` (the same
//!   answer as OpenAI frames, which providers of kind `openai` pass on as
//!   they are). Throughput is in content deltas.
//!
//! The gateway's own work around a request (auth, routing, records, the
//! usage tap on streams) is the same for every kind and is not measured here.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark fails loudly"
)]

use std::{hint::black_box, time::Duration};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use sentinel_providers::{
    ByteStream, ProviderError, anthropic_ingress,
    bench_api::{
        anthropic_request, anthropic_response, anthropic_stream, bedrock_request, bedrock_response,
        bedrock_sign, bedrock_stream, gemini_request, gemini_response, gemini_stream,
    },
    stream::{StreamTranslator, translate},
};
use serde_json::json;

const DELTAS: usize = 256;

/// A typical chat request: a system prompt, a tool, a finished tool call
/// round trip and a follow-up question.
fn chat_request(model: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a concise travel assistant. Answer in two sentences at most and use the tools when the user asks about the weather."},
            {"role": "user", "content": "I am flying to Paris tomorrow morning. What is the weather going to be like there?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_0001", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"day\":\"tomorrow\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_0001", "content": "{\"city\":\"Paris\",\"forecast\":\"sunny\",\"high_c\":24,\"low_c\":14}"},
            {"role": "assistant", "content": "Tomorrow in Paris it will be sunny, between 14 and 24 degrees."},
            {"role": "user", "content": "Great. Should I pack an umbrella for the evening walk along the Seine?"}
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_weather",
            "description": "The weather forecast for a city and a day",
            "parameters": {"type": "object", "properties": {
                "city": {"type": "string", "description": "City name"},
                "day": {"type": "string", "enum": ["today", "tomorrow"]}
            }, "required": ["city"]}
        }}],
        "tool_choice": "auto",
        "temperature": 0.7,
        "max_tokens": 512,
        "stop": ["\n\n\n"],
        "user": "user-1234"
    }))
    .unwrap()
}

fn anthropic_answer() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "No umbrella needed: the evening stays dry and mild, around 18 degrees. A light jacket is enough for the walk along the Seine."}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 212, "output_tokens": 31, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    }))
    .unwrap()
}

fn gemini_answer() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "candidates": [{
            "content": {"parts": [{"text": "No umbrella needed: the evening stays dry and mild, around 18 degrees. A light jacket is enough for the walk along the Seine."}], "role": "model"},
            "finishReason": "STOP", "index": 0,
            "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
        }],
        "usageMetadata": {"promptTokenCount": 212, "candidatesTokenCount": 31, "totalTokenCount": 243},
        "modelVersion": "gemini-2.5-flash", "responseId": "abc123"
    }))
    .unwrap()
}

fn bedrock_answer() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "output": {"message": {"role": "assistant", "content": [
            {"text": "No umbrella needed: the evening stays dry and mild, around 18 degrees. A light jacket is enough for the walk along the Seine."}
        ]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 212, "outputTokens": 31, "totalTokens": 243},
        "metrics": {"latencyMs": 900}
    }))
    .unwrap()
}

fn per_request(c: &mut Criterion) {
    let claude = chat_request("claude-sonnet-4-5");
    let gemini = chat_request("gemini-2.5-flash");
    let bedrock = chat_request("anthropic.claude-3-5-sonnet-20240620-v1:0");
    let (anthropic_body, gemini_body, bedrock_body) =
        (anthropic_answer(), gemini_answer(), bedrock_answer());
    // Each translator must accept these inputs, or the numbers mean nothing.
    anthropic_request(&claude).unwrap();
    gemini_request(&gemini).unwrap();
    let converse = bedrock_request(&bedrock).unwrap();
    anthropic_response(&anthropic_body).unwrap();
    gemini_response("gemini-2.5-flash", &gemini_body).unwrap();
    bedrock_response("m", &bedrock_body).unwrap();

    let mut group = c.benchmark_group("request");
    group.bench_function("anthropic", |b| {
        b.iter(|| anthropic_request(black_box(&claude)).unwrap());
    });
    group.bench_function("gemini", |b| {
        b.iter(|| gemini_request(black_box(&gemini)).unwrap());
    });
    group.bench_function("bedrock", |b| {
        b.iter(|| bedrock_request(black_box(&bedrock)).unwrap());
    });
    group.bench_function("bedrock+sigv4", |b| {
        b.iter(|| {
            let body = bedrock_request(black_box(&bedrock)).unwrap();
            bedrock_sign("/model/anthropic.claude/converse", &body)
        });
    });
    group.bench_function("sigv4-only", |b| {
        b.iter(|| bedrock_sign("/model/anthropic.claude/converse", black_box(&converse)));
    });
    group.finish();

    let mut group = c.benchmark_group("response");
    group.bench_function("anthropic", |b| {
        b.iter(|| anthropic_response(black_box(&anthropic_body)).unwrap());
    });
    group.bench_function("gemini", |b| {
        b.iter(|| gemini_response("gemini-2.5-flash", black_box(&gemini_body)).unwrap());
    });
    group.bench_function("bedrock", |b| {
        b.iter(|| bedrock_response("m", black_box(&bedrock_body)).unwrap());
    });
    group.finish();

    // The gateway's Anthropic-style front door: a Messages request in, the
    // OpenAI completion back out as a Messages response.
    let messages_request =
        include_bytes!("../tests/fixtures/anthropic/ingress_request.anthropic.json");
    let completion = include_bytes!("../tests/fixtures/anthropic/ingress_response.openai.json");
    let mut group = c.benchmark_group("ingress");
    group.bench_function("anthropic-request", |b| {
        b.iter(|| {
            let chat = anthropic_ingress::to_chat_request(black_box(messages_request)).unwrap();
            serde_json::to_vec(&chat).unwrap()
        });
    });
    group.bench_function("anthropic-response", |b| {
        b.iter(|| {
            let message = anthropic_ingress::to_messages_response(black_box(completion)).unwrap();
            serde_json::to_vec(&message).unwrap()
        });
    });
    group.finish();
}

fn word(i: usize) -> String {
    format!("word{i} ")
}

/// Anthropic SSE, one upstream chunk per event.
fn anthropic_events() -> Vec<Bytes> {
    let event = |name: &str, data: serde_json::Value| {
        Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
    };
    let mut out = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 212, "output_tokens": 1}}}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    for i in 0..DELTAS {
        out.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word(i)}}),
        ));
    }
    out.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    out.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": DELTAS}}),
    ));
    out.push(event("message_stop", json!({"type": "message_stop"})));
    out
}

/// Gemini `alt=sse`, one upstream chunk per event.
fn gemini_events() -> Vec<Bytes> {
    let mut out: Vec<Bytes> = (0..DELTAS)
        .map(|i| {
            let data = json!({"candidates": [{"content": {"parts": [{"text": word(i)}], "role": "model"}, "index": 0}],
                "usageMetadata": {"promptTokenCount": 212, "totalTokenCount": 212},
                "modelVersion": "gemini-2.5-flash", "responseId": "abc123"});
            Bytes::from(format!("data: {data}\r\n\r\n"))
        })
        .collect();
    let last = json!({"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 212, "candidatesTokenCount": DELTAS, "totalTokenCount": 212 + DELTAS},
        "modelVersion": "gemini-2.5-flash", "responseId": "abc123"});
    out.push(Bytes::from(format!("data: {last}\r\n\r\n")));
    out
}

/// One AWS event-stream message with string headers.
fn event_stream_message(event_type: &str, payload: &serde_json::Value) -> Bytes {
    let mut headers = Vec::new();
    for (name, value) in [
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ] {
        headers.push(u8::try_from(name.len()).unwrap());
        headers.extend_from_slice(name.as_bytes());
        headers.push(7);
        headers.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
        headers.extend_from_slice(value.as_bytes());
    }
    let payload = serde_json::to_vec(payload).unwrap();
    let total = u32::try_from(16 + headers.len() + payload.len()).unwrap();
    let mut message = total.to_be_bytes().to_vec();
    message.extend_from_slice(&u32::try_from(headers.len()).unwrap().to_be_bytes());
    let crc = crc32fast::hash(&message);
    message.extend_from_slice(&crc.to_be_bytes());
    message.extend_from_slice(&headers);
    message.extend_from_slice(&payload);
    let crc = crc32fast::hash(&message);
    message.extend_from_slice(&crc.to_be_bytes());
    Bytes::from(message)
}

/// Bedrock ConverseStream, one upstream chunk per event.
fn bedrock_events() -> Vec<Bytes> {
    let mut out = vec![event_stream_message(
        "messageStart",
        &json!({"role": "assistant", "p": "abcdefgh"}),
    )];
    for i in 0..DELTAS {
        out.push(event_stream_message(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": word(i)}, "p": "abcd"}),
        ));
    }
    out.push(event_stream_message(
        "contentBlockStop",
        &json!({"contentBlockIndex": 0, "p": "ab"}),
    ));
    out.push(event_stream_message(
        "messageStop",
        &json!({"stopReason": "end_turn", "p": "abc"}),
    ));
    out.push(event_stream_message(
        "metadata",
        &json!({"usage": {"inputTokens": 212, "outputTokens": DELTAS, "totalTokens": 212 + DELTAS}, "metrics": {"latencyMs": 700}}),
    ));
    out
}

/// The same answer as OpenAI frames, as an `openai` provider passes them on.
fn openai_frames() -> Vec<Bytes> {
    let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
        let data = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        Bytes::from(format!("data: {data}\n\n"))
    };
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        json!(null),
    )];
    for i in 0..DELTAS {
        out.push(chunk(json!({"content": word(i)}), json!(null)));
    }
    out.push(chunk(json!({}), json!("stop")));
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}

fn upstream(chunks: &[Bytes]) -> ByteStream {
    let items: Vec<Result<Bytes, ProviderError>> = chunks.iter().cloned().map(Ok).collect();
    Box::pin(futures_util::stream::iter(items))
}

/// Drains a stream; returns (frames, bytes) so nothing is optimised away.
async fn drain(mut stream: ByteStream) -> (usize, usize) {
    let (mut frames, mut bytes) = (0, 0);
    while let Some(frame) = stream.next().await {
        bytes += frame.unwrap().len();
        frames += 1;
    }
    (frames, bytes)
}

fn streams(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let anthropic = anthropic_events();
    let gemini = gemini_events();
    let bedrock = bedrock_events();
    let openai = openai_frames();
    // Every translated stream yields at least one frame per content delta.
    let check = |name: &str, frames: usize| {
        assert!(frames > DELTAS, "{name}: {frames} frames");
    };
    check(
        "anthropic",
        runtime
            .block_on(drain(translate(
                upstream(&anthropic),
                anthropic_stream(true),
            )))
            .0,
    );
    check(
        "gemini",
        runtime
            .block_on(drain(translate(
                upstream(&gemini),
                gemini_stream("gemini-2.5-flash", true),
            )))
            .0,
    );
    check(
        "bedrock",
        runtime
            .block_on(drain(translate(
                upstream(&bedrock),
                bedrock_stream("m", true),
            )))
            .0,
    );

    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Elements(DELTAS as u64));
    group.bench_function("passthrough", |b| {
        b.iter(|| runtime.block_on(drain(upstream(black_box(&openai)))));
    });
    fn run<T: StreamTranslator>(
        runtime: &tokio::runtime::Runtime,
        chunks: &[Bytes],
        translator: impl Fn() -> T,
    ) -> (usize, usize) {
        runtime.block_on(drain(translate(upstream(black_box(chunks)), translator())))
    }
    group.bench_function("anthropic", |b| {
        b.iter(|| run(&runtime, &anthropic, || anthropic_stream(true)));
    });
    group.bench_function("gemini", |b| {
        b.iter(|| {
            run(&runtime, &gemini, || {
                gemini_stream("gemini-2.5-flash", true)
            })
        });
    });
    group.bench_function("bedrock", |b| {
        b.iter(|| run(&runtime, &bedrock, || bedrock_stream("m", true)));
    });
    group.finish();
}

fn config() -> Criterion {
    // Short runs: these are per-call costs in microseconds, stable well
    // within a second of sampling; CLI flags still override.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = per_request, streams
}
criterion_main!(benches);
