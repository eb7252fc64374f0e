//! `streamGenerateContent?alt=sse` → OpenAI `chat.completion.chunk` frames.
//!
//! Each Gemini event is a partial `GenerateContentResponse`. Sentinel sends a
//! role chunk first, then one chunk per text part and per function call (a
//! call arrives whole, so its id, name and arguments go in one delta), a
//! finish chunk when a finish reason arrives, and at the end of the upstream
//! stream a usage chunk (iff `stream_options.include_usage`) and `[DONE]`.
//! Thought-summary parts are not answer text and are skipped.

use bytes::Bytes;

use super::{
    convert::{ChatContext, completion_id, finish_reason, tool_call_id, unix_now, usage},
    wire::{ErrorBody, GenerateContentResponse},
};
use crate::{
    ProviderError, ProviderErrorKind,
    chat::{ChatChunk, ChunkChoice, Delta, FunctionCallDelta, SSE_DONE, ToolCallDelta, Usage},
    sse::SseDecoder,
    stream::StreamTranslator,
};

/// Translates one Gemini stream.
#[derive(Debug)]
pub(crate) struct GeminiStream {
    decoder: SseDecoder,
    context: ChatContext,
    id: String,
    model: String,
    created: u64,
    started: bool,
    tool_calls: u32,
    finished: bool,
    usage: Option<Usage>,
}

impl GeminiStream {
    pub(crate) fn new(context: ChatContext) -> Self {
        Self {
            decoder: SseDecoder::new(),
            model: context.model.clone(),
            context,
            id: String::new(),
            created: unix_now(),
            started: false,
            tool_calls: 0,
            finished: false,
            usage: None,
        }
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<&str>) -> Bytes {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish_reason.map(str::to_owned),
                logprobs: None,
            }],
            usage: None,
        }
        .to_sse()
    }

    fn on_event(&mut self, data: &str) -> Result<Vec<Bytes>, ProviderError> {
        let value: serde_json::Value = serde_json::from_str(data).map_err(|e| {
            ProviderError::new(
                ProviderErrorKind::Protocol,
                format!("invalid stream event: {e}"),
            )
        })?;
        if value.get("error").is_some() {
            let error: ErrorBody = serde_json::from_value(value).unwrap_or_default();
            return Err(ProviderError::new(
                ProviderErrorKind::Protocol,
                format!(
                    "upstream stream failed: {} {}",
                    error.error.status.unwrap_or_default(),
                    error.error.message
                ),
            ));
        }
        let response: GenerateContentResponse = serde_json::from_value(value).map_err(|e| {
            ProviderError::new(
                ProviderErrorKind::Protocol,
                format!("invalid stream event: {e}"),
            )
        })?;
        let mut frames = Vec::new();
        if !self.started {
            self.started = true;
            self.id = completion_id(response.response_id.as_deref());
            if let Some(version) = &response.model_version {
                self.model.clone_from(version);
            }
            frames.push(self.chunk(
                Delta {
                    role: Some("assistant".into()),
                    content: Some(String::new()),
                    tool_calls: None,
                },
                None,
            ));
        }
        if let Some(metadata) = &response.usage_metadata {
            self.usage = Some(usage(metadata));
        }
        if self.finished {
            return Ok(frames);
        }
        let Some(candidate) = response.candidates.first() else {
            if response
                .prompt_feedback
                .as_ref()
                .is_some_and(|f| f.block_reason.is_some())
            {
                self.finished = true;
                frames.push(self.chunk(Delta::default(), Some("content_filter")));
            }
            return Ok(frames);
        };
        for part in candidate.content.iter().flat_map(|c| c.parts.iter()) {
            if part.thought == Some(true) {
                continue;
            }
            if let Some(text) = part.text.as_ref().filter(|t| !t.is_empty()) {
                frames.push(self.chunk(
                    Delta {
                        content: Some(text.clone()),
                        ..Delta::default()
                    },
                    None,
                ));
            }
            if let Some(call) = &part.function_call {
                let index = self.tool_calls;
                self.tool_calls += 1;
                frames.push(self.chunk(
                    Delta {
                        tool_calls: Some(vec![ToolCallDelta {
                            index,
                            id: Some(tool_call_id(part.thought_signature.as_deref())),
                            kind: Some("function".into()),
                            function: Some(FunctionCallDelta {
                                name: Some(call.name.clone()),
                                arguments: Some(call.args.to_string()),
                            }),
                        }]),
                        ..Delta::default()
                    },
                    None,
                ));
            }
        }
        if let Some(reason) = &candidate.finish_reason {
            self.finished = true;
            let reason = finish_reason(reason, self.tool_calls > 0);
            frames.push(self.chunk(Delta::default(), Some(reason)));
        }
        Ok(frames)
    }
}

impl StreamTranslator for GeminiStream {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Bytes>, ProviderError> {
        let mut frames = Vec::new();
        for event in self.decoder.push(chunk)? {
            if event.data.trim().is_empty() {
                continue;
            }
            frames.extend(self.on_event(&event.data)?);
        }
        Ok(frames)
    }

    fn finish(&mut self) -> Result<Vec<Bytes>, ProviderError> {
        let mut frames = Vec::new();
        if self.decoder.has_partial() {
            // An event not closed by a blank line: complete JSON is used, a
            // cut one fails to parse and ends the stream with an error.
            for event in self.decoder.push(b"\n\n")? {
                if !event.data.trim().is_empty() {
                    frames.extend(self.on_event(&event.data)?);
                }
            }
        }
        self.close(frames)
    }
}

impl GeminiStream {
    fn close(&mut self, mut frames: Vec<Bytes>) -> Result<Vec<Bytes>, ProviderError> {
        if !self.finished {
            return Err(ProviderError::new(
                ProviderErrorKind::Protocol,
                "the upstream stream ended before a finish reason",
            ));
        }
        if self.context.include_usage {
            let chunk = ChatChunk {
                id: self.id.clone(),
                object: "chat.completion.chunk".into(),
                created: self.created,
                model: self.model.clone(),
                choices: Vec::new(),
                usage: Some(self.usage.unwrap_or_default()),
            };
            frames.push(chunk.to_sse());
        }
        frames.push(Bytes::from_static(SSE_DONE));
        Ok(frames)
    }
}
