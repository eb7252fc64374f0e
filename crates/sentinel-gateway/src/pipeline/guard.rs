//! Time limits on a committed stream: the longest silence between chunks
//! (`stream_idle_ms`) and the request's overall deadline (`total_ms`). When
//! either passes, the stream yields a timeout error, which the client sees
//! as a final error event.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures_util::Stream;
use sentinel_providers::{ByteStream, ProviderError, ProviderErrorKind};
use tokio::time::{Instant, Sleep};

/// A stream that gives up after `idle` of silence or at `deadline`.
pub(crate) struct Guarded {
    inner: ByteStream,
    idle: Duration,
    idle_timer: Pin<Box<Sleep>>,
    deadline: Pin<Box<Sleep>>,
    done: bool,
}

impl Guarded {
    pub(crate) fn new(inner: ByteStream, idle: Duration, deadline: Instant) -> Self {
        Self {
            inner,
            idle,
            idle_timer: Box::pin(tokio::time::sleep(idle)),
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            done: false,
        }
    }

    pub(crate) fn boxed(self) -> ByteStream {
        Box::pin(self)
    }
}

impl Stream for Guarded {
    type Item = Result<Bytes, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = self.inner.as_mut().poll_next(cx) {
            if item.is_some() {
                let next = Instant::now() + self.idle;
                self.idle_timer.as_mut().reset(next);
            } else {
                self.done = true;
            }
            return Poll::Ready(item);
        }
        let timeout = |message: String| {
            Poll::Ready(Some(Err(ProviderError::new(
                ProviderErrorKind::Timeout,
                message,
            ))))
        };
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.done = true;
            return timeout("the request's total time limit passed mid-stream".to_owned());
        }
        if self.idle_timer.as_mut().poll(cx).is_ready() {
            self.done = true;
            let ms = self.idle.as_millis();
            return timeout(format!("the stream was idle for {ms} ms"));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_streams_time_out() {
        let silent: ByteStream = Box::pin(futures_util::stream::pending());
        let mut guarded = Guarded::new(
            silent,
            Duration::from_millis(500),
            Instant::now() + Duration::from_secs(60),
        );
        let error = guarded.next().await.unwrap().unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Timeout);
        assert!(error.message.contains("idle for 500 ms"));
        assert!(guarded.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn chunks_reset_the_idle_timer_but_not_the_deadline() {
        let ticking: ByteStream = Box::pin(futures_util::stream::iter(0..).then(|_| async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok(Bytes::from_static(b"x"))
        }));
        let mut guarded = Guarded::new(
            ticking,
            Duration::from_millis(500),
            Instant::now() + Duration::from_millis(1_900),
        );
        let mut chunks = 0;
        loop {
            match guarded.next().await.unwrap() {
                Ok(_) => chunks += 1,
                Err(error) => {
                    assert!(error.message.contains("total time limit"), "{error}");
                    break;
                }
            }
        }
        assert_eq!(chunks, 4, "1.9 s of 400 ms chunks");
    }
}
