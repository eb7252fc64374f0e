//! respond (streaming): upstream SSE chunks go to the client as they arrive,
//! through a tap that notes usage and completion (in the upstream's wire
//! format: OpenAI chunks, or Anthropic events on native `/v1/messages`). The
//! request record (its tokens and cost included) is finished when the stream
//! ends or the client goes away, whichever is first.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use futures_util::Stream;
use sentinel_core::{BODY_CAP, ErrorCode, Price, PriceSource, RequestRecord};
use sentinel_providers::{ByteStream, ProviderError, stream::StreamTranslator};
use tokio::time::Instant;

use super::policy::Settlement;
use crate::{
    endpoint::{EndpointKey, SharedEndpoint, lock},
    error::ClientApi,
    record::RecordSink,
    sse::SseTap,
};

/// Where a stream reports its outcome to the endpoint's circuit breaker.
pub(crate) struct BreakerReport {
    pub(crate) endpoint: SharedEndpoint,
    pub(crate) key: EndpointKey,
    pub(crate) probe: bool,
}

/// Finishes and submits the record exactly once, on drop.
struct StreamRecord {
    record: RequestRecord,
    started: Instant,
    sink: RecordSink,
    tap: SseTap,
    upstream_failed: Option<String>,
    breaker: BreakerReport,
    /// The answering target's price, for the record's cost.
    price: Option<(Price, PriceSource)>,
    /// The policy counters to settle with the real usage.
    settlement: Option<Settlement>,
    /// The request's span (it carries the request id), entered while the
    /// stream is polled and finished, after the handler has returned.
    span: tracing::Span,
    /// The bytes forwarded so far, up to [`BODY_CAP`], when the environment
    /// keeps bodies; whether more were forwarded than kept.
    captured: Option<(Vec<u8>, bool)>,
}

/// Hands a chunk to the client, keeping a copy (up to the cap) in
/// `captured` when bodies are kept. Never waits.
fn forward(
    captured: &mut Option<(Vec<u8>, bool)>,
    chunk: Bytes,
) -> Poll<Option<Result<Bytes, std::io::Error>>> {
    if let Some((kept, truncated)) = captured {
        let room = BODY_CAP.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        *truncated |= chunk.len() > room;
    }
    Poll::Ready(Some(Ok(chunk)))
}

impl Drop for StreamRecord {
    fn drop(&mut self) {
        let span = self.span.clone();
        let _entered = span.enter();
        let mut record = std::mem::take(&mut self.record);
        record.latency_ms = millis(self.started);
        if let (Some((kept, truncated)), Some(bodies)) =
            (self.captured.take(), record.bodies.as_mut())
        {
            bodies.response = Some(Bytes::from(kept));
            bodies.response_truncated = truncated;
        }
        let completed = self.tap.done && self.upstream_failed.is_none() && !self.tap.error;
        // A client that leaves early is not the endpoint's failure.
        let failure = self
            .upstream_failed
            .clone()
            .or_else(|| self.tap.error.then(|| "error event mid-stream".to_owned()));
        // The endpoint's latency is its time to the first chunk, as for
        // complete answers: a stream's length is the answer's, not the
        // endpoint's.
        let first_chunk_ms = record.attempts.last().map_or(0, |a| a.latency_ms);
        lock(&self.breaker.endpoint).record(
            &self.breaker.key,
            record.time + record.latency_ms,
            first_chunk_ms,
            failure.as_deref(),
            self.breaker.probe,
        );
        record.stream_completed = Some(completed);
        if let Some(usage) = self.tap.usage {
            record.prompt_tokens = usage.prompt_tokens;
            record.completion_tokens = usage.completion_tokens;
            record.total_tokens = usage.total_tokens;
        }
        // Streams are chat answers: prompt and completion are both charged.
        // A stream cut short without usage has no cost.
        record.set_cost(self.price.as_ref().map(|(p, source)| (p, *source)), false);
        if let Some(error) = self.upstream_failed.take() {
            record.error_code = Some(ErrorCode::UpstreamError.as_str().to_owned());
            record.error_detail = Some(format!("stream broke after the first byte: {error}"));
        } else if self.tap.error {
            record.error_code = Some(ErrorCode::UpstreamError.as_str().to_owned());
            record.error_detail = Some("provider sent an error event mid-stream".to_owned());
        } else if !self.tap.done {
            record.error_detail = Some("client disconnected before the stream finished".to_owned());
        }
        if let Some(settlement) = self.settlement.take() {
            settlement.finish(&record);
        }
        self.sink.submit(record);
    }
}

/// The client-facing stream.
pub(crate) struct RecordedStream {
    inner: Option<ByteStream>,
    state: StreamRecord,
    /// Re-encodes the OpenAI chunks for clients of another API.
    encoder: Option<Box<dyn StreamTranslator>>,
    api: ClientApi,
}

impl RecordedStream {
    pub(crate) fn new(
        inner: ByteStream,
        record: RequestRecord,
        started: Instant,
        sink: RecordSink,
        breaker: BreakerReport,
        encoder: Option<Box<dyn StreamTranslator>>,
        api: ClientApi,
    ) -> Self {
        let record_keeps_bodies = record.bodies.is_some();
        Self {
            inner: Some(inner),
            encoder,
            api,
            state: StreamRecord {
                record,
                started,
                sink,
                tap: SseTap::default(),
                upstream_failed: None,
                breaker,
                price: None,
                settlement: None,
                span: tracing::Span::current(),
                captured: record_keeps_bodies.then(|| (Vec::new(), false)),
            },
        }
    }

    /// Taps the upstream stream with `tap` (the default reads OpenAI chunks).
    pub(crate) fn with_tap(mut self, tap: SseTap) -> Self {
        self.state.tap = tap;
        self
    }

    /// Sets the price the record's cost is computed with when it ends.
    #[must_use]
    pub(crate) fn with_price(mut self, price: Option<(Price, PriceSource)>) -> Self {
        self.state.price = price;
        self
    }

    pub(crate) fn with_settlement(mut self, settlement: Option<Settlement>) -> Self {
        self.state.settlement = settlement;
        self
    }
}

impl Stream for RecordedStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let _entered = this.state.span.enter();
        loop {
            let Some(inner) = this.inner.as_mut() else {
                return Poll::Ready(None);
            };
            let failure = match inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if this.state.record.ttfb_ms.is_none() {
                        this.state.record.ttfb_ms = Some(millis(this.state.started));
                    }
                    this.state.tap.observe(&chunk);
                    let Some(encoder) = this.encoder.as_mut() else {
                        return forward(&mut this.state.captured, chunk);
                    };
                    match encoder.feed(&chunk) {
                        Ok(frames) if frames.is_empty() => continue,
                        Ok(frames) => return forward(&mut this.state.captured, join(frames)),
                        Err(error) => error,
                    }
                }
                Poll::Ready(None) => {
                    this.inner = None;
                    let Some(encoder) = this.encoder.as_mut() else {
                        return Poll::Ready(None);
                    };
                    match encoder.finish() {
                        Ok(frames) if frames.is_empty() => return Poll::Ready(None),
                        Ok(frames) => return forward(&mut this.state.captured, join(frames)),
                        Err(error) => error,
                    }
                }
                Poll::Ready(Some(Err(error))) => error,
            };
            // Bytes already reached the client: no retry, no fallback. The
            // client gets an in-stream error event and the stream ends.
            this.inner = None;
            let frame = match this.api {
                ClientApi::OpenAi => error_event(&failure, &this.state.record.id),
                ClientApi::Anthropic => sentinel_providers::anthropic_ingress::error_event(
                    ErrorCode::UpstreamError.status(),
                    &format!(
                        "the provider stream failed ({}); the answer is incomplete",
                        failure.kind.as_str()
                    ),
                ),
            };
            this.state.upstream_failed = Some(failure.to_string());
            return forward(&mut this.state.captured, frame);
        }
    }
}

fn join(frames: Vec<Bytes>) -> Bytes {
    if frames.len() == 1 {
        return frames.into_iter().next().unwrap_or_default();
    }
    Bytes::from(frames.concat())
}

fn error_event(error: &ProviderError, request_id: &str) -> Bytes {
    let code = ErrorCode::UpstreamError;
    let body = serde_json::json!({
        "error": {
            "message": format!("the provider stream failed ({}); the answer is incomplete", error.kind.as_str()),
            "type": code.kind().as_str(),
            "param": null,
            "code": code.as_str(),
            "request_id": request_id,
        }
    });
    Bytes::from(format!("data: {body}\n\n"))
}

pub(crate) fn millis(since: Instant) -> i64 {
    i64::try_from(since.elapsed().as_millis()).unwrap_or(i64::MAX)
}
