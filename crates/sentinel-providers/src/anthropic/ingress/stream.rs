//! OpenAI `chat.completion.chunk` SSE → Anthropic Messages SSE, for the
//! gateway's `/v1/messages` route.
//!
//! The events follow Anthropic's documented sequence: `message_start`;
//! for each content block `content_block_start`, `content_block_delta`s
//! (`text_delta` or `input_json_delta`) and `content_block_stop`; then
//! `message_delta` (stop reason and usage) and `message_stop`. Text opens a
//! text block; each new tool call (a new OpenAI tool index) closes the open
//! block and opens a `tool_use` block. Usage comes from the final usage
//! chunk, which the ingress request asks for (`stream_options.include_usage`).

use std::collections::HashMap;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{error_type, stop_reason};
use crate::{
    ProviderError, ProviderErrorKind, chat::Delta, sse::SseDecoder, stream::StreamTranslator,
};

/// One Anthropic SSE frame: `event: <name>\ndata: <json>\n\n`.
fn frame(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// An Anthropic `error` event, for a failure after the stream has started
/// (e.g. the upstream broke off): `status` picks the error type.
pub fn error_event(status: u16, message: &str) -> Bytes {
    frame(
        "error",
        &json!({"type": "error", "error": {"type": error_type(status), "message": message}}),
    )
}

/// A chunk as OpenAI-compatible servers send it, read leniently: servers
/// differ in which envelope fields they fill.
#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Delta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// What kind of block is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Tool,
}

/// Translates an OpenAI chunk stream into Anthropic events.
#[derive(Debug, Default)]
pub struct MessagesStreamTranslator {
    decoder: SseDecoder,
    model: Option<String>,
    started: bool,
    done: bool,
    /// The open block and its Anthropic index.
    open: Option<(Open, u32)>,
    next_block: u32,
    /// OpenAI tool-call index → Anthropic block index.
    tools: HashMap<u32, u32>,
    finish_reason: Option<String>,
    usage: Option<(u64, u64)>,
}

impl MessagesStreamTranslator {
    /// A translator that reports the upstream's model name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports `model` in `message_start` instead of the upstream's model
    /// name (e.g. the model the client asked for).
    #[must_use]
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    fn close_block(&mut self, out: &mut Vec<Bytes>) {
        if let Some((_, index)) = self.open.take() {
            out.push(frame(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    fn open_block(&mut self, kind: Open, block: Value, out: &mut Vec<Bytes>) -> u32 {
        self.close_block(out);
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some((kind, index));
        out.push(frame(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        index
    }

    fn chunk(&mut self, chunk: Chunk, out: &mut Vec<Bytes>) -> Result<(), ProviderError> {
        if let Some(error) = chunk.error {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("upstream stream error");
            return Err(protocol(format!("upstream stream failed: {message}")));
        }
        if !self.started {
            self.started = true;
            let model = self.model.clone().unwrap_or(chunk.model);
            out.push(frame(
                "message_start",
                &json!({"type": "message_start", "message": {
                    "id": chunk.id, "type": "message", "role": "assistant", "model": model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                }}),
            ));
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some((usage.prompt_tokens, usage.completion_tokens));
        }
        for choice in chunk.choices {
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                let index = match self.open {
                    Some((Open::Text, index)) => index,
                    _ => self.open_block(Open::Text, json!({"type": "text", "text": ""}), out),
                };
                out.push(frame(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": index,
                            "delta": {"type": "text_delta", "text": text}}),
                ));
            }
            for call in choice.delta.tool_calls.unwrap_or_default() {
                let function = call.function.unwrap_or_default();
                let index = match self.tools.get(&call.index) {
                    Some(index) => *index,
                    None => {
                        let block = json!({"type": "tool_use",
                            "id": call.id.unwrap_or_default(),
                            "name": function.name.unwrap_or_default(),
                            "input": {}});
                        let index = self.open_block(Open::Tool, block, out);
                        self.tools.insert(call.index, index);
                        index
                    }
                };
                if let Some(arguments) = function.arguments.filter(|a| !a.is_empty()) {
                    out.push(frame(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": index,
                                "delta": {"type": "input_json_delta", "partial_json": arguments}}),
                    ));
                }
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
        }
        Ok(())
    }

    fn close(&mut self, out: &mut Vec<Bytes>) {
        self.done = true;
        self.close_block(out);
        let (input, output) = self.usage.unwrap_or((0, 0));
        let reason = stop_reason(self.finish_reason.as_deref().unwrap_or("stop"));
        out.push(frame(
            "message_delta",
            &json!({"type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": null},
                    "usage": {"input_tokens": input, "output_tokens": output}}),
        ));
        out.push(frame("message_stop", &json!({"type": "message_stop"})));
    }
}

fn protocol(message: String) -> ProviderError {
    ProviderError::new(ProviderErrorKind::Protocol, message)
}

impl StreamTranslator for MessagesStreamTranslator {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Bytes>, ProviderError> {
        let mut out = Vec::new();
        for event in self.decoder.push(chunk)? {
            if self.done || event.data.is_empty() {
                continue;
            }
            if event.data == "[DONE]" {
                if !self.started {
                    return Err(protocol("upstream stream ended before any chunk".into()));
                }
                self.close(&mut out);
                continue;
            }
            let parsed: Chunk = serde_json::from_str(&event.data)
                .map_err(|e| protocol(format!("upstream chunk is not valid: {e}")))?;
            self.chunk(parsed, &mut out)?;
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<Bytes>, ProviderError> {
        if self.done {
            return Ok(Vec::new());
        }
        // Some OpenAI-compatible servers omit `[DONE]`; a finish reason
        // already seen means the answer is complete.
        if self.started && self.finish_reason.is_some() {
            let mut out = Vec::new();
            self.close(&mut out);
            return Ok(out);
        }
        Err(protocol(
            "upstream stream ended before the answer finished".into(),
        ))
    }
}
