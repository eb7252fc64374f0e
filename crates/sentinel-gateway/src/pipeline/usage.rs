//! Token usage, read from what providers answer.
//!
//! Complete answers: [`of_answer`] reads the `usage` member of an
//! OpenAI-format answer, looking near the end first (where OpenAI and
//! compatible servers put it) so most answers are not parsed whole.
//!
//! Streams: Sentinel asks OpenAI-format upstreams for the final usage chunk
//! even when the client did not, and removes that chunk again before the
//! client sees it, so records (and budgets) always get real token counts and
//! clients get exactly what they asked for.

use bytes::{Bytes, BytesMut};
use sentinel_providers::{ProviderError, stream::StreamTranslator};
use serde::{Deserialize, de::IgnoredAny};

use crate::sse::Usage;

/// The usage object of a complete OpenAI-format answer; `None` when it has
/// none or is not a JSON object.
pub(crate) fn of_answer(body: &[u8]) -> Option<Usage> {
    trailing_usage(body).unwrap_or_else(|| parsed_usage(body))
}

/// The answer's top-level `usage`, from a parse of the whole body.
fn parsed_usage(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct WithUsage {
        usage: Option<Usage>,
    }
    serde_json::from_slice::<WithUsage>(body).ok()?.usage
}

/// The answer's top-level `usage`, read without parsing what comes before
/// it, when it is the last `"usage"` key of the body and only other members
/// follow it; `None` when that is not so (the caller parses the whole body).
///
/// Why this finds the top-level member: an unescaped `"usage"` preceded by
/// `{` or `,` and followed by `:` is a key; when the members after its value
/// parse as the rest of an object that the body's final `}` closes, that
/// object is the body itself.
fn trailing_usage(body: &[u8]) -> Option<Option<Usage>> {
    const KEY: &[u8] = b"\"usage\"";
    let body = body.trim_ascii_end();
    let (&b'}', inner) = body.split_last()? else {
        return None;
    };
    let at = inner.windows(KEY.len()).rposition(|w| w == KEY)?;
    if !matches!(inner[..at].trim_ascii_end().last(), Some(b'{' | b',')) {
        return None;
    }
    let after_key = inner[at + KEY.len()..].trim_ascii_start();
    let value = after_key.strip_prefix(b":")?;
    let mut values = serde_json::Deserializer::from_slice(value).into_iter::<Option<Usage>>();
    let usage = values.next()?.ok()?;
    let rest = value[values.byte_offset()..].trim_ascii();
    if rest.is_empty() {
        return Some(usage);
    }
    // Other members follow: they must make a valid object once opened.
    let members = rest.strip_prefix(b",")?;
    let mut object = Vec::with_capacity(members.len() + 2);
    object.push(b'{');
    object.extend_from_slice(members);
    object.push(b'}');
    serde_json::from_slice::<IgnoredAny>(&object).ok()?;
    Some(usage)
}

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

    fn usage(prompt: i64, completion: i64, total: i64) -> Option<Usage> {
        Some(Usage {
            prompt_tokens: Some(prompt),
            completion_tokens: Some(completion),
            total_tokens: Some(total),
        })
    }

    #[test]
    fn usage_is_read_from_complete_answers_wherever_it_is() {
        let cases: &[(&str, Option<Usage>)] = &[
            // Last, as most OpenAI-compatible servers send it.
            (
                r#"{"id":"x","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
                usage(1, 2, 3),
            ),
            // Followed by other members, as OpenAI sends it.
            (
                r#"{"id":"x","usage":{"prompt_tokens":24,"completion_tokens":41,"total_tokens":65,"completion_tokens_details":{"reasoning_tokens":0}} , "system_fingerprint":"fp_x","n":[1,{"a":null}]}"#,
                usage(24, 41, 65),
            ),
            // First, with a nested `usage` key after it.
            (
                r#"{"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11},"meta":{"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":99}}}"#,
                usage(5, 6, 11),
            ),
            // Only nested: no top-level usage.
            (
                r#"{"id":"x","meta":{"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":99}}}"#,
                None,
            ),
            // Inside strings, escaped: never a key.
            (
                r#"{"content":"say \"usage\":{\"total_tokens\":7}","x":"\"usage"}"#,
                None,
            ),
            (
                r#"{"content":"x\",\"usage\":{\"total_tokens\":7}}","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#,
                usage(1, 1, 2),
            ),
            (r#"{"usage":null}"#, None),
            (
                r#"{"usage":{"total_tokens":4}}"#,
                Some(Usage {
                    total_tokens: Some(4),
                    ..Usage::default()
                }),
            ),
            // Not an object, or broken after the usage member.
            (r#"[]"#, None),
            (r#""usage""#, None),
            (r#"{"usage":{"total_tokens":4},"x":}"#, None),
            ("not json", None),
            ("", None),
        ];
        for (body, expected) in cases {
            assert_eq!(of_answer(body.as_bytes()), *expected, "{body}");
            assert_eq!(
                parsed_usage(body.as_bytes()),
                *expected,
                "full parse of {body}"
            );
        }
    }

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
