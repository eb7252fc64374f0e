//! ConverseStream → OpenAI `chat.completion.chunk` SSE frames.
//!
//! | Converse event | OpenAI chunk |
//! |---|---|
//! | `messageStart` | `{"role": "assistant", "content": ""}` |
//! | `contentBlockStart` with `toolUse` | tool-call delta with `id`, `type`, `name`, empty `arguments` |
//! | `contentBlockDelta` `text` | `{"content": …}` |
//! | `contentBlockDelta` `toolUse.input` | tool-call delta with an `arguments` piece |
//! | `contentBlockStop` | nothing |
//! | `messageStop` | empty delta with `finish_reason` |
//! | `metadata` (`usage`) | a usage chunk with no choices, only with `stream_options.include_usage` |
//! | end of stream | `data: [DONE]` |
//!
//! Tool calls are numbered 0, 1, … in the order their blocks start.
//! Exception messages (`:message-type: exception`, e.g.
//! `throttlingException`, `modelStreamErrorException`) and `error` messages
//! end the stream with a [`ProviderError`]; so does an upstream that stops
//! before `messageStop`. Other deltas (reasoning, citations) are not relayed.

use std::collections::HashMap;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::{
    convert::finish_reason,
    error::{stream_error, stream_exception},
    eventstream::{EventStreamDecoder, Message},
    wire::{ContentBlockDeltaEvent, ContentBlockStartEvent, MessageStopEvent, MetadataEvent},
};
use crate::{
    ProviderError, ProviderErrorKind,
    chat::{ChatChunk, ChunkChoice, Delta, FunctionCallDelta, SSE_DONE, ToolCallDelta, Usage},
    stream::StreamTranslator,
};

/// Translates one ConverseStream answer.
#[derive(Debug)]
pub(crate) struct ConverseStreamTranslator {
    decoder: EventStreamDecoder,
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    started: bool,
    /// Converse content-block index → OpenAI tool-call index.
    tool_calls: HashMap<u64, u32>,
    stopped: bool,
    usage: Option<Usage>,
    failed: bool,
}

impl ConverseStreamTranslator {
    pub(crate) fn new(id: String, created: u64, model: String, include_usage: bool) -> Self {
        Self {
            decoder: EventStreamDecoder::new(),
            id,
            created,
            model,
            include_usage,
            started: false,
            tool_calls: HashMap::new(),
            stopped: false,
            usage: None,
            failed: false,
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

    /// The role chunk, once, before any content.
    fn start(&mut self, out: &mut Vec<Bytes>) {
        if !self.started {
            self.started = true;
            out.push(self.chunk(
                Delta {
                    role: Some("assistant".into()),
                    content: Some(String::new()),
                    ..Delta::default()
                },
                None,
            ));
        }
    }

    fn handle(&mut self, message: &Message, out: &mut Vec<Bytes>) -> Result<(), ProviderError> {
        match message.header(":message-type") {
            Some("event") => {}
            Some("exception") => {
                let kind = message.header(":exception-type").unwrap_or("exception");
                return Err(stream_exception(kind, &message.payload));
            }
            Some("error") => {
                return Err(stream_error(
                    message.header(":error-code").unwrap_or("error"),
                    message.header(":error-message").unwrap_or("no message"),
                ));
            }
            other => {
                return Err(protocol(&format!(
                    "event-stream message of unknown type {other:?}"
                )));
            }
        }
        match message.header(":event-type") {
            Some("messageStart") => self.start(out),
            Some("contentBlockStart") => {
                let event: ContentBlockStartEvent = payload(message)?;
                if let Some(tool) = event.start.and_then(|s| s.tool_use) {
                    self.start(out);
                    let index = u32::try_from(self.tool_calls.len()).unwrap_or(u32::MAX);
                    self.tool_calls.insert(event.content_block_index, index);
                    out.push(self.tool_delta(ToolCallDelta {
                        index,
                        id: Some(tool.tool_use_id),
                        kind: Some("function".into()),
                        function: Some(FunctionCallDelta {
                            name: Some(tool.name),
                            arguments: Some(String::new()),
                        }),
                    }));
                }
            }
            Some("contentBlockDelta") => {
                let event: ContentBlockDeltaEvent = payload(message)?;
                self.start(out);
                if let Some(text) = event.delta.text {
                    out.push(self.chunk(
                        Delta {
                            content: Some(text),
                            ..Delta::default()
                        },
                        None,
                    ));
                } else if let Some(tool) = event.delta.tool_use {
                    let index =
                        *self
                            .tool_calls
                            .get(&event.content_block_index)
                            .ok_or_else(|| {
                                protocol("toolUse delta for a content block that did not start one")
                            })?;
                    out.push(self.tool_delta(ToolCallDelta {
                        index,
                        function: Some(FunctionCallDelta {
                            name: None,
                            arguments: Some(tool.input),
                        }),
                        ..ToolCallDelta::default()
                    }));
                }
            }
            Some("messageStop") => {
                let event: MessageStopEvent = payload(message)?;
                self.start(out);
                self.stopped = true;
                out.push(self.chunk(
                    Delta::default(),
                    Some(finish_reason(&event.stop_reason).to_owned()),
                ));
            }
            Some("metadata") => {
                let event: MetadataEvent = payload(message)?;
                if let Some(usage) = event.usage {
                    self.usage = Some(Usage::new(usage.input_tokens, usage.output_tokens));
                }
            }
            // contentBlockStop, and event types added later
            _ => {}
        }
        Ok(())
    }

    fn tool_delta(&self, delta: ToolCallDelta) -> Bytes {
        self.chunk(
            Delta {
                tool_calls: Some(vec![delta]),
                ..Delta::default()
            },
            None,
        )
    }
}

impl StreamTranslator for ConverseStreamTranslator {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Bytes>, ProviderError> {
        if self.failed {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let result = self
            .decoder
            .push(chunk)
            .and_then(|messages| messages.iter().try_for_each(|m| self.handle(m, &mut out)));
        match result {
            Ok(()) => Ok(out),
            Err(error) => {
                self.failed = true;
                Err(error)
            }
        }
    }

    fn finish(&mut self) -> Result<Vec<Bytes>, ProviderError> {
        if self.failed {
            return Ok(Vec::new());
        }
        if self.decoder.has_partial() {
            return Err(protocol("bedrock stream ended in the middle of a message"));
        }
        if !self.stopped {
            return Err(protocol("bedrock stream ended before messageStop"));
        }
        let mut out = Vec::new();
        if self.include_usage
            && let Some(usage) = self.usage
        {
            out.push(
                ChatChunk {
                    id: self.id.clone(),
                    object: "chat.completion.chunk".into(),
                    created: self.created,
                    model: self.model.clone(),
                    choices: Vec::new(),
                    usage: Some(usage),
                }
                .to_sse(),
            );
        }
        out.push(Bytes::from_static(SSE_DONE));
        Ok(out)
    }
}

fn payload<T: DeserializeOwned>(message: &Message) -> Result<T, ProviderError> {
    serde_json::from_slice(&message.payload).map_err(|e| {
        protocol(&format!(
            "bedrock {} event is not valid: {e}",
            message.header(":event-type").unwrap_or("unknown")
        ))
    })
}

fn protocol(message: &str) -> ProviderError {
    ProviderError::new(ProviderErrorKind::Protocol, message)
}
