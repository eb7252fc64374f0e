//! A server-sent-events decoder for vendor streams (WHATWG framing: `\n`,
//! `\r\n` or `\r` line ends, `data:` lines joined with `\n`, comments
//! ignored). Memory is bounded: a line or event beyond [`MAX_EVENT_BYTES`]
//! is a protocol error, not an ever-growing buffer.

use crate::{ProviderError, ProviderErrorKind};

/// Largest SSE line or event accepted from an upstream (4 MiB).
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// `data:` lines joined with `\n`.
    pub data: String,
}

/// Incremental decoder: feed bytes as they arrive, get complete events.
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    /// The previous chunk ended in `\r`; a leading `\n` belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes `chunk`, returning every event it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, ProviderError> {
        let mut events = Vec::new();
        for &byte in chunk {
            if self.after_cr {
                self.after_cr = false;
                if byte == b'\n' {
                    continue;
                }
            }
            match byte {
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_done(&line)? {
                        events.push(event);
                    }
                }
                _ => {
                    if self.line.len() >= MAX_EVENT_BYTES {
                        return Err(too_large());
                    }
                    self.line.push(byte);
                }
            }
        }
        Ok(events)
    }

    /// True when bytes of an unfinished event are buffered.
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.has_data || self.event.is_some()
    }

    fn line_done(&mut self, line: &[u8]) -> Result<Option<SseEvent>, ProviderError> {
        if line.is_empty() {
            if !self.has_data && self.event.is_none() {
                return Ok(None);
            }
            self.has_data = false;
            return Ok(Some(SseEvent {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            }));
        }
        if line[0] == b':' {
            return Ok(None);
        }
        let text = std::str::from_utf8(line).map_err(|_| {
            ProviderError::new(ProviderErrorKind::Protocol, "stream line is not UTF-8")
        })?;
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (text, ""),
        };
        match field {
            "data" => {
                if self.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                    return Err(too_large());
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            _ => {} // id, retry and unknown fields do not matter to a proxy
        }
        Ok(None)
    }
}

fn too_large() -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::Protocol,
        format!("stream event larger than {MAX_EVENT_BYTES} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::new();
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            out.extend(decoder.push(chunk).unwrap());
        }
        out
    }

    #[test]
    fn events_are_the_same_whatever_the_chunking() {
        let input = b"event: message_start\ndata: {\"a\":1}\n\n: comment\r\n\r\ndata: one\r\ndata: two\r\n\r\nevent: ping\rdata:x\r\r";
        let expected = vec![
            SseEvent {
                event: Some("message_start".into()),
                data: "{\"a\":1}".into(),
            },
            SseEvent {
                event: None,
                data: "one\ntwo".into(),
            },
            SseEvent {
                event: Some("ping".into()),
                data: "x".into(),
            },
        ];
        for piece in 1..=input.len() {
            assert_eq!(decode_all(input, piece), expected, "piece size {piece}");
        }
    }

    #[test]
    fn endless_lines_are_refused() {
        let mut decoder = SseDecoder::new();
        let junk = vec![b'x'; 1 << 20];
        let mut failed = false;
        for _ in 0..8 {
            if decoder.push(&junk).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
    }
}
