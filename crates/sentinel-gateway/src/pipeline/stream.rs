//! respond (streaming): upstream SSE chunks go to the client as they arrive,
//! through a tap that notes usage and completion. The request record is
//! finished when the stream ends or the client goes away, whichever is first.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use futures_util::Stream;
use sentinel_core::{ErrorCode, RequestRecord};
use sentinel_providers::{ByteStream, ProviderError};
use tokio::time::Instant;

use crate::{
    endpoint::{EndpointKey, SharedEndpoint, lock},
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
}

impl Drop for StreamRecord {
    fn drop(&mut self) {
        let mut record = std::mem::take(&mut self.record);
        record.latency_ms = millis(self.started);
        let completed = self.tap.done && self.upstream_failed.is_none() && !self.tap.error;
        // A client that leaves early is not the endpoint's failure.
        let failure = self
            .upstream_failed
            .clone()
            .or_else(|| self.tap.error.then(|| "error event mid-stream".to_owned()));
        lock(&self.breaker.endpoint).record(
            &self.breaker.key,
            record.time + record.latency_ms,
            failure.as_deref(),
            self.breaker.probe,
        );
        record.stream_completed = Some(completed);
        if let Some(usage) = self.tap.usage {
            record.prompt_tokens = usage.prompt_tokens;
            record.completion_tokens = usage.completion_tokens;
            record.total_tokens = usage.total_tokens;
        }
        if let Some(error) = self.upstream_failed.take() {
            record.error_code = Some(ErrorCode::UpstreamError.as_str().to_owned());
            record.error_detail = Some(format!("stream broke after the first byte: {error}"));
        } else if self.tap.error {
            record.error_code = Some(ErrorCode::UpstreamError.as_str().to_owned());
            record.error_detail = Some("provider sent an error event mid-stream".to_owned());
        } else if !self.tap.done {
            record.error_detail = Some("client disconnected before the stream finished".to_owned());
        }
        self.sink.submit(record);
    }
}

/// The client-facing stream.
pub(crate) struct RecordedStream {
    inner: Option<ByteStream>,
    state: StreamRecord,
}

impl RecordedStream {
    pub(crate) fn new(
        inner: ByteStream,
        record: RequestRecord,
        started: Instant,
        sink: RecordSink,
        breaker: BreakerReport,
    ) -> Self {
        Self {
            inner: Some(inner),
            state: StreamRecord {
                record,
                started,
                sink,
                tap: SseTap::default(),
                upstream_failed: None,
                breaker,
            },
        }
    }
}

impl Stream for RecordedStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if this.state.record.ttfb_ms.is_none() {
                    this.state.record.ttfb_ms = Some(millis(this.state.started));
                }
                this.state.tap.observe(&chunk);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(error))) => {
                // Bytes already reached the client: no retry, no fallback. The
                // client gets an in-stream error event and the stream ends.
                this.inner = None;
                let frame = error_event(&error, &this.state.record.id);
                this.state.upstream_failed = Some(error.to_string());
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.inner = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
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
