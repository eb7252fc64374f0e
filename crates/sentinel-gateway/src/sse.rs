//! A tap on a server-sent event stream: bytes are forwarded untouched while
//! this watches them for usage, completion and in-stream errors, in the
//! stream's wire format:
//!
//! - OpenAI ([`SseTap::default`]): the usage chunk, `data: [DONE]`, and
//!   chunks carrying `error`;
//! - Anthropic ([`SseTap::anthropic`], for native `/v1/messages` streams):
//!   `message_start` (input tokens, cached input included),
//!   `message_delta` (cumulative usage: the latest count wins),
//!   `message_stop` (completion) and `error` events.
//!
//! Invariant: memory stays bounded whatever the upstream sends; a line longer
//! than [`MAX_LINE`] is skipped rather than buffered.

use serde::Deserialize;

/// Longest SSE line the tap will buffer to inspect (1 MiB).
pub const MAX_LINE: usize = 1 << 20;

/// Token counts reported by the provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: Option<i64>,
    #[serde(default)]
    pub completion_tokens: Option<i64>,
    #[serde(default)]
    pub total_tokens: Option<i64>,
}

/// The event format a tap reads.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Wire {
    #[default]
    OpenAi,
    Anthropic,
}

/// Anthropic's token counts as reported so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
struct AnthropicUsage {
    #[serde(default)]
    input_tokens: Option<i64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<i64>,
    #[serde(default)]
    cache_read_input_tokens: Option<i64>,
    #[serde(default)]
    output_tokens: Option<i64>,
}

impl AnthropicUsage {
    /// Later counts replace earlier ones, field by field (Anthropic's
    /// `message_delta` usage is cumulative).
    fn update(&mut self, newer: Self) {
        self.input_tokens = newer.input_tokens.or(self.input_tokens);
        self.cache_creation_input_tokens = newer
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = newer
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        self.output_tokens = newer.output_tokens.or(self.output_tokens);
    }

    /// As the record counts tokens: cached input is input (as the
    /// `anthropic` kind reports it to OpenAI clients).
    fn to_usage(self) -> Usage {
        let parts = [
            self.input_tokens,
            self.cache_creation_input_tokens,
            self.cache_read_input_tokens,
        ];
        let prompt = parts
            .iter()
            .any(Option::is_some)
            .then(|| parts.iter().flatten().sum::<i64>());
        let total = match (prompt, self.output_tokens) {
            (None, None) => None,
            (p, c) => Some(p.unwrap_or(0) + c.unwrap_or(0)),
        };
        Usage {
            prompt_tokens: prompt,
            completion_tokens: self.output_tokens,
            total_tokens: total,
        }
    }
}

/// The usage of a complete (non-streaming) Anthropic Messages answer.
pub fn anthropic_usage(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct Message {
        usage: Option<AnthropicUsage>,
    }
    serde_json::from_slice::<Message>(body)
        .ok()?
        .usage
        .map(AnthropicUsage::to_usage)
}

/// What the tap has seen so far.
#[derive(Debug, Default)]
pub struct SseTap {
    line: Vec<u8>,
    skipping: bool,
    wire: Wire,
    anthropic: AnthropicUsage,
    pub usage: Option<Usage>,
    /// The stream's end marker arrived (`[DONE]` or `message_stop`).
    pub done: bool,
    pub error: bool,
}

impl SseTap {
    /// A tap for Anthropic's native event stream.
    pub fn anthropic() -> Self {
        Self {
            wire: Wire::Anthropic,
            ..Self::default()
        }
    }

    /// Feeds the next chunk of the stream, in whatever pieces it arrived.
    pub fn observe(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while !rest.is_empty() {
            match rest.iter().position(|b| *b == b'\n') {
                Some(end) => {
                    self.push(&rest[..end]);
                    self.finish_line();
                    rest = &rest[end + 1..];
                }
                None => {
                    self.push(rest);
                    rest = &[];
                }
            }
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.skipping {
            return;
        }
        if self.line.len() + bytes.len() > MAX_LINE {
            self.skipping = true;
            self.line.clear();
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn finish_line(&mut self) {
        let skipped = std::mem::replace(&mut self.skipping, false);
        let line = std::mem::take(&mut self.line);
        if skipped {
            return;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        if self.wire == Wire::Anthropic {
            self.anthropic_event(data);
            return;
        }
        if data == b"[DONE]" {
            self.done = true;
            return;
        }
        // Parse only the lines that can matter; most chunks carry neither.
        if contains(data, b"\"usage\"") || contains(data, b"\"error\"") {
            #[derive(Deserialize)]
            struct Chunk {
                usage: Option<Usage>,
                error: Option<serde_json::Value>,
            }
            if let Ok(chunk) = serde_json::from_slice::<Chunk>(data) {
                if let Some(usage) = chunk.usage {
                    self.usage = Some(usage);
                }
                if chunk.error.is_some() {
                    self.error = true;
                }
            }
        }
    }
}

impl SseTap {
    /// One Anthropic event's data. Only the events that can matter are
    /// parsed (text deltas, the bulk of a stream, are skipped unread).
    fn anthropic_event(&mut self, data: &[u8]) {
        if !(contains(data, b"\"message_") || contains(data, b"\"error\"")) {
            return;
        }
        #[derive(Deserialize)]
        struct Event {
            #[serde(rename = "type")]
            kind: String,
            message: Option<Start>,
            usage: Option<AnthropicUsage>,
        }
        #[derive(Deserialize)]
        struct Start {
            usage: Option<AnthropicUsage>,
        }
        let Ok(event) = serde_json::from_slice::<Event>(data) else {
            return;
        };
        let usage = match event.kind.as_str() {
            "message_start" => event.message.and_then(|m| m.usage),
            "message_delta" => event.usage,
            "message_stop" => {
                self.done = true;
                None
            }
            "error" => {
                self.error = true;
                None
            }
            _ => None,
        };
        if let Some(usage) = usage {
            self.anthropic.update(usage);
            self.usage = Some(self.anthropic.to_usage());
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n",
        ": keep-alive comment\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5,\"total_tokens\":8}}\r\n\r\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn finds_usage_and_done_whatever_the_chunking() {
        for size in [1, 2, 3, 7, 64, STREAM.len()] {
            let mut tap = SseTap::default();
            for piece in STREAM.as_bytes().chunks(size) {
                tap.observe(piece);
            }
            assert!(tap.done, "chunk size {size}");
            assert!(!tap.error);
            assert_eq!(
                tap.usage,
                Some(Usage {
                    prompt_tokens: Some(3),
                    completion_tokens: Some(5),
                    total_tokens: Some(8)
                }),
                "chunk size {size}"
            );
        }
    }

    #[test]
    fn notices_in_stream_errors() {
        let mut tap = SseTap::default();
        tap.observe(b"data: {\"error\":{\"message\":\"overloaded\"}}\n\n");
        assert!(tap.error);
        assert!(!tap.done);
    }

    const ANTHROPIC: &str = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":90,\"output_tokens\":1}}}\n\n",
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"the \\\"message_stop\\\" and \\\"error\\\" words\"}}\r\n\r\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n",
        "event: message_delta\n",
        "data: {\"type\": \"message_delta\", \"delta\": {}, \"usage\": {\"output_tokens\": 12}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );

    #[test]
    fn anthropic_events_give_usage_and_completion_whatever_the_chunking() {
        for size in 1..=ANTHROPIC.len() {
            let mut tap = SseTap::anthropic();
            for piece in ANTHROPIC.as_bytes().chunks(size) {
                tap.observe(piece);
            }
            assert!(tap.done, "piece size {size}");
            assert!(!tap.error, "text mentioning error is not an error event");
            assert_eq!(
                tap.usage,
                Some(Usage {
                    prompt_tokens: Some(100),
                    completion_tokens: Some(12),
                    total_tokens: Some(112),
                }),
                "piece size {size}"
            );
        }
    }

    #[test]
    fn an_anthropic_stream_without_message_stop_is_not_done() {
        let cut = ANTHROPIC.find("event: message_stop").unwrap();
        let mut tap = SseTap::anthropic();
        tap.observe(&ANTHROPIC.as_bytes()[..cut]);
        assert!(!tap.done);
        assert_eq!(tap.usage.and_then(|u| u.completion_tokens), Some(12));
        // OpenAI's marker means nothing in Anthropic's format.
        tap.observe(b"data: [DONE]\n\n");
        assert!(!tap.done);
    }

    #[test]
    fn anthropic_error_events_are_noticed() {
        let mut tap = SseTap::anthropic();
        tap.observe(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n");
        assert!(tap.error);
        assert!(!tap.done);
        assert_eq!(tap.usage, None);
    }

    #[test]
    fn complete_anthropic_answers_give_usage() {
        assert_eq!(
            anthropic_usage(br#"{"type":"message","usage":{"input_tokens":11,"cache_creation_input_tokens":4,"output_tokens":3}}"#),
            Some(Usage {
                prompt_tokens: Some(15),
                completion_tokens: Some(3),
                total_tokens: Some(18),
            })
        );
        assert_eq!(anthropic_usage(b"{}"), None);
        assert_eq!(anthropic_usage(b"not json"), None);
    }

    #[test]
    fn endless_line_does_not_grow_memory() {
        let mut tap = SseTap::default();
        let junk = vec![b'x'; 64 * 1024];
        for _ in 0..40 {
            tap.observe(&junk);
        }
        assert!(tap.line.len() <= MAX_LINE);
        tap.observe(b"\ndata: [DONE]\n");
        assert!(tap.done, "the tap recovers at the next line");
    }
}
