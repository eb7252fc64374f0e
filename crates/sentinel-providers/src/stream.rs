//! Translating streams: upstream bytes in, OpenAI-format SSE frames out,
//! chunk by chunk as they arrive.

use bytes::Bytes;
use futures_util::StreamExt;

use crate::{ByteStream, ProviderError};

/// A vendor's streaming translation, fed upstream bytes as they arrive.
pub trait StreamTranslator: Send + 'static {
    /// Translates the next upstream bytes into zero or more client frames.
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Bytes>, ProviderError>;

    /// The upstream ended: the closing frames (finish chunk, usage, `[DONE]`),
    /// or an error when it ended before the answer was complete.
    fn finish(&mut self) -> Result<Vec<Bytes>, ProviderError>;
}

/// Wraps `upstream` so it yields translated frames.
pub fn translate(upstream: ByteStream, translator: impl StreamTranslator) -> ByteStream {
    let state = (
        Some(upstream),
        translator,
        std::collections::VecDeque::<Bytes>::new(),
    );
    Box::pin(futures_util::stream::unfold(
        state,
        |(mut upstream, mut translator, mut pending)| async move {
            loop {
                if let Some(frame) = pending.pop_front() {
                    return Some((Ok(frame), (upstream, translator, pending)));
                }
                let source = upstream.as_mut()?;
                match source.next().await {
                    Some(Ok(chunk)) => match translator.feed(&chunk) {
                        Ok(frames) => pending.extend(frames),
                        Err(error) => return Some((Err(error), (None, translator, pending))),
                    },
                    Some(Err(error)) => return Some((Err(error), (None, translator, pending))),
                    None => {
                        upstream = None;
                        match translator.finish() {
                            Ok(frames) => pending.extend(frames),
                            Err(error) => return Some((Err(error), (None, translator, pending))),
                        }
                        if pending.is_empty() {
                            return None;
                        }
                    }
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upper-cases bytes and appends `END` when the upstream finishes.
    struct Upper;

    impl StreamTranslator for Upper {
        fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Bytes>, ProviderError> {
            Ok(vec![Bytes::from(chunk.to_ascii_uppercase())])
        }
        fn finish(&mut self) -> Result<Vec<Bytes>, ProviderError> {
            Ok(vec![Bytes::from_static(b"END")])
        }
    }

    #[tokio::test]
    async fn frames_follow_upstream_chunks_then_closing_frames() {
        let upstream: ByteStream = Box::pin(futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"ab")),
            Ok(Bytes::from_static(b"c")),
        ]));
        let out: Vec<Bytes> = translate(upstream, Upper)
            .map(|r| r.unwrap())
            .collect()
            .await;
        assert_eq!(
            out,
            vec![
                Bytes::from_static(b"AB"),
                Bytes::from_static(b"C"),
                Bytes::from_static(b"END")
            ]
        );
    }

    #[tokio::test]
    async fn upstream_errors_end_the_stream() {
        let upstream: ByteStream = Box::pin(futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"a")),
            Err(ProviderError::new(
                crate::ProviderErrorKind::Protocol,
                "reset",
            )),
            Ok(Bytes::from_static(b"never")),
        ]));
        let out: Vec<_> = translate(upstream, Upper).collect().await;
        assert_eq!(out.len(), 2);
        assert!(out[1].is_err());
    }
}
