//! Anthropic Messages SSE → OpenAI `chat.completion.chunk` SSE.
//!
//! Event by event: `message_start` gives the role chunk (and input usage);
//! `content_block_start` of a `tool_use` block gives a tool-call chunk with
//! index, id and name; `text_delta` and `input_json_delta` give content and
//! argument chunks; `message_delta` carries the stop reason and cumulative
//! usage; `message_stop` gives the finish chunk, the usage chunk (when the
//! client asked for `stream_options.include_usage`) and `[DONE]`. `ping` and
//! unknown events are skipped; an `error` event ends the stream with an
//! error. A stream that ends before `message_stop` is an error too, so a
//! cut-off answer is never passed off as complete.

use std::collections::HashMap;

use bytes::Bytes;

use super::{
    convert::finish_reason,
    error::stream_error_message,
    wire::{Block, BlockDelta, StreamEvent, Usage as WireUsage},
};
use crate::{
    ProviderError, ProviderErrorKind,
    chat::{ChatChunk, ChunkChoice, Delta, FunctionCallDelta, SSE_DONE, ToolCallDelta, Usage},
    sse::SseDecoder,
    stream::StreamTranslator,
};

/// Translates one Anthropic stream into OpenAI chunks.
#[derive(Debug)]
pub(crate) struct ChunkTranslator {
    decoder: SseDecoder,
    include_usage: bool,
    created: u64,
    id: String,
    model: String,
    /// Anthropic block index → OpenAI tool-call index, for `tool_use` blocks.
    tool_index: HashMap<u32, u32>,
    prompt_tokens: u64,
    completion_tokens: u64,
    stop_reason: Option<String>,
    started: bool,
    done: bool,
}

impl ChunkTranslator {
    /// `created` is the Unix time reported in every chunk.
    pub(crate) fn new(include_usage: bool, created: u64) -> Self {
        Self {
            decoder: SseDecoder::new(),
            include_usage,
            created,
            id: String::new(),
            model: String::new(),
            tool_index: HashMap::new(),
            prompt_tokens: 0,
            completion_tokens: 0,
            stop_reason: None,
            started: false,
            done: false,
        }
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<String>) -> Bytes {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
                logprobs: None,
            }],
            usage: None,
        }
        .to_sse()
    }

    fn tool_chunk(&self, call: ToolCallDelta) -> Bytes {
        self.chunk(
            Delta {
                tool_calls: Some(vec![call]),
                ..Delta::default()
            },
            None,
        )
    }

    fn add_usage(&mut self, usage: &WireUsage) {
        if let Some(prompt) = usage.prompt_tokens() {
            self.prompt_tokens = prompt;
        }
        if let Some(output) = usage.output_tokens {
            self.completion_tokens = output;
        }
    }

    fn event(&mut self, event: StreamEvent, out: &mut Vec<Bytes>) -> Result<(), ProviderError> {
        if self.done {
            // Nothing may follow message_stop; ignore trailing keep-alives.
            return Ok(());
        }
        if !self.started
            && !matches!(
                event,
                StreamEvent::MessageStart { .. }
                    | StreamEvent::Ping
                    | StreamEvent::Error { .. }
                    | StreamEvent::Unknown
            )
        {
            return Err(protocol(
                "anthropic stream did not begin with message_start",
            ));
        }
        match event {
            StreamEvent::MessageStart { message } => {
                self.started = true;
                self.id = message.id;
                self.model = message.model;
                self.add_usage(&message.usage);
                out.push(self.chunk(
                    Delta {
                        role: Some("assistant".into()),
                        content: Some(String::new()),
                        tool_calls: None,
                    },
                    None,
                ));
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                Block::Text { text } if !text.is_empty() => out.push(self.text_chunk(text)),
                Block::ToolUse { id, name, .. } => {
                    let tool = u32::try_from(self.tool_index.len()).unwrap_or(u32::MAX);
                    self.tool_index.insert(index, tool);
                    out.push(self.tool_chunk(ToolCallDelta {
                        index: tool,
                        id: Some(id),
                        kind: Some("function".into()),
                        function: Some(FunctionCallDelta {
                            name: Some(name),
                            arguments: Some(String::new()),
                        }),
                    }));
                }
                // Empty text, and blocks this provider never asks for.
                _ => {}
            },
            StreamEvent::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } if !text.is_empty() => {
                    out.push(self.text_chunk(text));
                }
                BlockDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                    let tool = *self.tool_index.get(&index).ok_or_else(|| {
                        protocol("anthropic sent tool input for a block that is not a tool_use")
                    })?;
                    out.push(self.tool_chunk(ToolCallDelta {
                        index: tool,
                        function: Some(FunctionCallDelta {
                            name: None,
                            arguments: Some(partial_json),
                        }),
                        ..ToolCallDelta::default()
                    }));
                }
                _ => {}
            },
            StreamEvent::MessageDelta { delta, usage } => {
                if delta.stop_reason.is_some() {
                    self.stop_reason = delta.stop_reason;
                }
                if let Some(usage) = usage {
                    self.add_usage(&usage);
                }
            }
            StreamEvent::MessageStop => {
                self.done = true;
                let reason = finish_reason(self.stop_reason.as_deref().unwrap_or("end_turn"));
                out.push(self.chunk(Delta::default(), Some(reason.to_owned())));
                if self.include_usage {
                    out.push(
                        ChatChunk {
                            id: self.id.clone(),
                            object: "chat.completion.chunk".into(),
                            created: self.created,
                            model: self.model.clone(),
                            choices: Vec::new(),
                            usage: Some(Usage::new(self.prompt_tokens, self.completion_tokens)),
                        }
                        .to_sse(),
                    );
                }
                out.push(Bytes::from_static(SSE_DONE));
            }
            StreamEvent::Error { error } => {
                return Err(protocol(&stream_error_message(&error.kind, &error.message)));
            }
            StreamEvent::ContentBlockStop {} | StreamEvent::Ping | StreamEvent::Unknown => {}
        }
        Ok(())
    }

    fn text_chunk(&self, text: String) -> Bytes {
        self.chunk(
            Delta {
                content: Some(text),
                ..Delta::default()
            },
            None,
        )
    }
}

fn protocol(message: &str) -> ProviderError {
    ProviderError::new(ProviderErrorKind::Protocol, message)
}

impl StreamTranslator for ChunkTranslator {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Bytes>, ProviderError> {
        let mut out = Vec::new();
        for event in self.decoder.push(chunk)? {
            // Keep-alive comments never reach here; an event without data
            // (e.g. a bare `event:` line) carries nothing to translate.
            if event.data.is_empty() {
                continue;
            }
            let parsed: StreamEvent = serde_json::from_str(&event.data).map_err(|e| {
                protocol(&format!(
                    "anthropic stream event {} is not valid: {e}",
                    event.event.as_deref().unwrap_or("(unnamed)")
                ))
            })?;
            self.event(parsed, &mut out)?;
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<Bytes>, ProviderError> {
        if self.done {
            Ok(Vec::new())
        } else {
            Err(protocol("anthropic stream ended before message_stop"))
        }
    }
}
