//! Usage for every stream: Sentinel asks OpenAI-format upstreams for the
//! final usage chunk even when the client did not, and removes that chunk
//! again before the client sees it, so records (and budgets) always get real
//! token counts and clients get exactly what they asked for.

use bytes::{Bytes, BytesMut};
use sentinel_providers::{ProviderError, stream::StreamTranslator};

/// Passes SSE events through whole, except the usage-only chunk.
#[derive(Debug, Default)]
pub(crate) struct UsageStripper {
    pending: BytesMut,
}

/// Longest event held while looking for its end (beyond it, pass through).
const MAX_HELD: usize = 1 << 20;

impl UsageStripper {
    /// A usage-only chunk: `"choices":[]` with a usage object.
    fn is_usage_only(event: &[u8]) -> bool {
        let Some(data) = event.strip_prefix(b"data:") else {
            return false;
        };
        #[derive(serde::Deserialize)]
        struct Chunk {
            choices: Option<Vec<serde_json::Value>>,
            usage: Option<serde_json::Value>,
        }
        let data = data.trim_ascii();
        memchr(data, b"\"usage\"")
            && serde_json::from_slice::<Chunk>(data).is_ok_and(|c| {
                c.choices.is_some_and(|v| v.is_empty()) && c.usage.is_some_and(|u| u.is_object())
            })
    }

    /// Complete events from the front of `pending`, usage-only ones dropped.
    fn drain(&mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Some(end) = find(&self.pending, b"\n\n") {
            let event = self.pending.split_to(end + 2).freeze();
            if !Self::is_usage_only(&event) {
                out.push(event);
            }
        }
        if self.pending.len() > MAX_HELD {
            out.push(self.pending.split().freeze());
        }
        out
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn memchr(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

impl StreamTranslator for UsageStripper {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Bytes>, ProviderError> {
        self.pending.extend_from_slice(chunk);
        Ok(self.drain())
    }

    fn finish(&mut self) -> Result<Vec<Bytes>, ProviderError> {
        let mut out = self.drain();
        if !self.pending.is_empty() {
            out.push(self.pending.split().freeze());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_chunk_is_removed_whatever_the_chunking() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\n",
            "data: [DONE]\n\n",
        );
        let expected = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n",
            "data: [DONE]\n\n"
        );
        for size in 1..=stream.len() {
            let mut stripper = UsageStripper::default();
            let mut out = Vec::new();
            for piece in stream.as_bytes().chunks(size) {
                out.extend(stripper.feed(piece).unwrap());
            }
            out.extend(stripper.finish().unwrap());
            assert_eq!(out.concat(), expected.as_bytes(), "piece size {size}");
        }
    }
}
