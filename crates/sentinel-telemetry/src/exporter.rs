//! The OTLP/HTTP exporter: a bounded queue of finished request records and
//! a background task that turns them into spans and posts them in batches.
//!
//! Invariants: [`TraceExporter::offer`] never waits — a full queue drops the
//! record's spans and counts it; a collector that is slow, down or refusing
//! costs only that task's time; the exporter never retries a batch (traces
//! are best effort; requests records are the durable truth).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use sentinel_core::RequestRecord;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::spans::record_to_spans;

/// Where and how spans are sent.
#[derive(Debug, Clone)]
pub struct TraceSettings {
    /// The collector's OTLP/HTTP base URL, e.g. `http://127.0.0.1:4318`;
    /// spans go to `{endpoint}/v1/traces`.
    pub endpoint: String,
    /// Records waiting to be exported at most; beyond, they are dropped.
    pub queue: usize,
    /// Records per export request at most.
    pub batch: usize,
    /// Time allowed for one export request.
    pub timeout: Duration,
    /// `service.name` of the spans.
    pub service_name: String,
}

impl TraceSettings {
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            queue: 4096,
            batch: 256,
            timeout: Duration::from_secs(5),
            service_name: "sentinel".to_owned(),
        }
    }
}

/// What the exporter has done since start.
#[derive(Debug, Default)]
pub struct ExporterStats {
    /// Records whose spans were accepted by the collector.
    pub exported: AtomicU64,
    /// Records dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Records whose export request failed (collector down or refusing).
    pub failed: AtomicU64,
}

impl ExporterStats {
    pub fn to_json(&self) -> Value {
        json!({
            "exported": self.exported.load(Ordering::Relaxed),
            "dropped": self.dropped.load(Ordering::Relaxed),
            "failed": self.failed.load(Ordering::Relaxed),
        })
    }
}

/// The request path's handle: cheap to clone.
#[derive(Debug, Clone)]
pub struct TraceExporter {
    tx: mpsc::Sender<RequestRecord>,
    stats: Arc<ExporterStats>,
}

impl TraceExporter {
    /// The handle and the task that exports (spawn it); the task ends when
    /// `shutdown` is cancelled, after sending what is queued.
    pub fn start(
        settings: TraceSettings,
        shutdown: CancellationToken,
    ) -> Result<(Self, impl Future<Output = ()> + Send + 'static), String> {
        let url = format!("{}/v1/traces", settings.endpoint.trim_end_matches('/'));
        let parsed = reqwest::Url::parse(&url).map_err(|e| format!("OTLP endpoint: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("OTLP endpoint: use an http:// or https:// URL".to_owned());
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(settings.timeout)
            .build()
            .map_err(|e| format!("OTLP client: {e}"))?;
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        let stats = Arc::new(ExporterStats::default());
        let task = Task {
            http,
            url: parsed,
            settings,
            stats: stats.clone(),
        };
        Ok((Self { tx, stats }, task.run(rx, shutdown)))
    }

    /// Queues a finished record's spans; drops (and counts) when full.
    pub fn offer(&self, record: &RequestRecord) {
        if self.tx.try_send(record.clone()).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn stats(&self) -> &ExporterStats {
        &self.stats
    }
}

struct Task {
    http: reqwest::Client,
    url: reqwest::Url,
    settings: TraceSettings,
    stats: Arc<ExporterStats>,
}

impl Task {
    async fn run(self, mut rx: mpsc::Receiver<RequestRecord>, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(self.settings.batch);
        loop {
            tokio::select! {
                received = rx.recv_many(&mut batch, self.settings.batch) => {
                    if received == 0 {
                        return;
                    }
                    self.export(&mut batch).await;
                }
                () = shutdown.cancelled() => break,
            }
        }
        // Send what is queued, within one export's time at most: a collector
        // that is down must not hold up shutdown.
        rx.close();
        let drain = async {
            while rx.recv_many(&mut batch, self.settings.batch).await > 0 {
                self.export(&mut batch).await;
            }
        };
        if tokio::time::timeout(self.settings.timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                "traces still queued at shutdown were not sent: the collector is too slow"
            );
        }
    }

    async fn export(&self, batch: &mut Vec<RequestRecord>) {
        let count = batch.len() as u64;
        let spans: Vec<Value> = batch.iter().flat_map(record_to_spans).collect();
        batch.clear();
        let body = json!({
            "resourceSpans": [{
                "resource": { "attributes": [
                    { "key": "service.name", "value": { "stringValue": self.settings.service_name } },
                    { "key": "service.version", "value": { "stringValue": env!("CARGO_PKG_VERSION") } },
                ] },
                "scopeSpans": [{
                    "scope": { "name": "sentinel", "version": env!("CARGO_PKG_VERSION") },
                    "spans": spans,
                }],
            }],
        });
        let outcome = self.http.post(self.url.clone()).json(&body).send().await;
        match outcome {
            Ok(response) if response.status().is_success() => {
                self.stats.exported.fetch_add(count, Ordering::Relaxed);
            }
            Ok(response) => {
                self.stats.failed.fetch_add(count, Ordering::Relaxed);
                tracing::warn!(status = %response.status(), spans = count, "the OTLP collector refused spans");
            }
            Err(error) => {
                self.stats.failed.fetch_add(count, Ordering::Relaxed);
                tracing::warn!(error = %error.without_url(), spans = count, "spans could not be sent to the OTLP collector");
            }
        }
    }
}
