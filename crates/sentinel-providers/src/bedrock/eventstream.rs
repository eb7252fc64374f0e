//! Decoder for AWS's binary event-stream framing
//! (`application/vnd.amazon.eventstream`), used by ConverseStream.
//!
//! A message is: total length (u32 BE, whole message), headers length (u32
//! BE), prelude CRC32 (of the first 8 bytes), headers, payload, message
//! CRC32 (of everything before it). A header is: name length (u8), name
//! (UTF-8), value type (u8), value. Both CRCs are verified; any mismatch, a
//! length out of bounds or a malformed header is a protocol error. Memory is
//! bounded: a message longer than [`MAX_MESSAGE_BYTES`] is refused from its
//! prelude, before its bytes are buffered.

use bytes::{Buf, Bytes, BytesMut};

use crate::{ProviderError, ProviderErrorKind};

/// Largest event-stream message accepted (8 MiB; Bedrock's are far smaller).
pub(crate) const MAX_MESSAGE_BYTES: usize = 8 << 20;

const PRELUDE: usize = 12;
const OVERHEAD: usize = 16;

/// One decoded message: its string-typed headers (other types are checked
/// and skipped) and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) payload: Bytes,
}

impl Message {
    /// The value of the string header `name`.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Incremental decoder: feed bytes as they arrive, get complete messages.
#[derive(Debug, Default)]
pub(crate) struct EventStreamDecoder {
    buffer: BytesMut,
}

impl EventStreamDecoder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Decodes `chunk`, returning every message it completes.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<Message>, ProviderError> {
        self.buffer.extend_from_slice(chunk);
        let mut messages = Vec::new();
        while self.buffer.len() >= PRELUDE {
            let total = be_u32(&self.buffer[0..4]) as usize;
            let headers_len = be_u32(&self.buffer[4..8]) as usize;
            if crc32fast::hash(&self.buffer[0..8]) != be_u32(&self.buffer[8..12]) {
                return Err(protocol("event-stream prelude CRC mismatch"));
            }
            if !(OVERHEAD..=MAX_MESSAGE_BYTES).contains(&total) {
                return Err(protocol(&format!(
                    "event-stream message length {total} is out of bounds"
                )));
            }
            if headers_len > total - OVERHEAD {
                return Err(protocol("event-stream headers exceed the message"));
            }
            if self.buffer.len() < total {
                break;
            }
            let message = self.buffer.split_to(total).freeze();
            if crc32fast::hash(&message[..total - 4]) != be_u32(&message[total - 4..]) {
                return Err(protocol("event-stream message CRC mismatch"));
            }
            let headers = parse_headers(&message[PRELUDE..PRELUDE + headers_len])?;
            let payload = message.slice(PRELUDE + headers_len..total - 4);
            messages.push(Message { headers, payload });
        }
        Ok(messages)
    }

    /// True when bytes of an unfinished message are buffered.
    pub(crate) fn has_partial(&self) -> bool {
        !self.buffer.is_empty()
    }
}

fn parse_headers(mut bytes: &[u8]) -> Result<Vec<(String, String)>, ProviderError> {
    let bad = || protocol("malformed event-stream header");
    let mut headers = Vec::new();
    while bytes.has_remaining() {
        let name_len = usize::from(bytes.get_u8());
        if bytes.remaining() < name_len + 1 {
            return Err(bad());
        }
        let name = std::str::from_utf8(&bytes[..name_len])
            .map_err(|_| bad())?
            .to_owned();
        bytes.advance(name_len);
        let kind = bytes.get_u8();
        let fixed = match kind {
            0 | 1 => Some(0), // bool true / false
            2 => Some(1),     // byte
            3 => Some(2),     // short
            4 => Some(4),     // integer
            5 | 8 => Some(8), // long, timestamp
            9 => Some(16),    // uuid
            6 | 7 => None,    // byte array, string: u16 length prefix
            _ => return Err(bad()),
        };
        match fixed {
            Some(n) => {
                if bytes.remaining() < n {
                    return Err(bad());
                }
                bytes.advance(n);
            }
            None => {
                if bytes.remaining() < 2 {
                    return Err(bad());
                }
                let len = usize::from(bytes.get_u16());
                if bytes.remaining() < len {
                    return Err(bad());
                }
                if kind == 7 {
                    let value = std::str::from_utf8(&bytes[..len]).map_err(|_| bad())?;
                    headers.push((name, value.to_owned()));
                }
                bytes.advance(len);
            }
        }
    }
    Ok(headers)
}

fn be_u32(bytes: &[u8]) -> u32 {
    let mut out = [0u8; 4];
    out.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(out)
}

fn protocol(message: &str) -> ProviderError {
    ProviderError::new(ProviderErrorKind::Protocol, message)
}
