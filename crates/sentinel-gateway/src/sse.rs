//! A tap on an OpenAI-format server-sent event stream: bytes are forwarded
//! untouched while this watches them for the usage chunk, the `[DONE]`
//! marker and in-stream errors.
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

/// What the tap has seen so far.
#[derive(Debug, Default)]
pub struct SseTap {
    line: Vec<u8>,
    skipping: bool,
    pub usage: Option<Usage>,
    pub done: bool,
    pub error: bool,
}

impl SseTap {
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
