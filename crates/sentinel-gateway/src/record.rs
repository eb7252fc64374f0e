//! The request-record writer: the data plane hands records to a bounded
//! channel and never waits; one background task writes them to the store in
//! batches.
//!
//! When the store is unavailable, batches are spooled to local files (JSON
//! Lines, written then renamed into place) and replayed once the store
//! answers again; the store ignores ids it already has, so a replay after a
//! partial failure duplicates nothing.
//!
//! Under load the writer lets a batch fill for up to [`FLUSH_INTERVAL`]
//! after its previous write (or until it holds [`BATCH`] records), so the
//! store sees one transaction (records and the keys' last-used times
//! together) per interval or per full batch instead of one per handful of
//! records; an idle writer writes a new record at once.
//!
//! Bodies (kept only when the environment's `retention.bodies` says so) are
//! redacted here when the mode is `redacted` and stored with their records
//! in the same transaction; they are not spooled, so a record that goes
//! through the spool keeps no bodies.
//!
//! Invariant: submitting a record never blocks and never touches the store
//! or the disk. On shutdown the writer drains the channel to the store, or to
//! the spool if the store is down.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use sentinel_core::{BodyMode, RequestRecord};
use sentinel_store::Store;
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

/// Records written per store call at most.
const BATCH: usize = 500;
/// Under load, how long after a write the next batch may wait to fill.
/// Bounds how stale the store's view of recent requests is.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Store attempts for one batch before it is spooled.
const ATTEMPTS: u32 = 3;
/// How often spooled batches are retried.
const REPLAY_EVERY: Duration = Duration::from_secs(5);

/// Counters describing the writer, read by `/readyz` and metrics.
#[derive(Debug)]
pub struct WriterStats {
    pub capacity: usize,
    pub written: AtomicU64,
    /// Records lost: queue full, or the store and the spool both failed.
    pub dropped: AtomicU64,
    /// Records written to the spool because the store was unavailable.
    pub spooled: AtomicU64,
    /// The last write attempt failed.
    pub failing: AtomicBool,
}

/// Where the request path hands its records.
#[derive(Debug, Clone)]
pub struct RecordSink {
    tx: mpsc::Sender<RequestRecord>,
    stats: Arc<WriterStats>,
    /// Where finished requests' spans go, when traces are exported.
    traces: Option<sentinel_telemetry::TraceExporter>,
    /// Counts every submitted record (the gateway's metrics).
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl RecordSink {
    /// Queues a record without waiting. When the queue is full the record is
    /// dropped and counted: the request path must never stall on records.
    pub fn submit(&self, record: RequestRecord) {
        if let Some(traces) = &self.traces {
            traces.offer(&record);
        }
        if let Some(metrics) = &self.metrics {
            metrics.observe(&record);
        }
        if let Err(error) = self.tx.try_send(record) {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            let (mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r)) =
                &error;
            tracing::warn!(request_id = %r.id, "request record dropped: writer queue full or closed");
        }
    }

    /// Also offers every submitted record's spans to `traces`.
    #[must_use]
    pub fn with_traces(mut self, traces: sentinel_telemetry::TraceExporter) -> Self {
        self.traces = Some(traces);
        self
    }

    /// The trace exporter, when traces are exported.
    pub fn traces(&self) -> Option<&sentinel_telemetry::TraceExporter> {
        self.traces.as_ref()
    }

    /// This sink, counting every record it is given in `metrics`.
    pub(crate) fn observed_by(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Records waiting to be written.
    pub fn backlog(&self) -> usize {
        self.stats.capacity - self.tx.capacity()
    }

    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// True when the queue is more than 80% full or store writes are failing.
    pub fn backed_up(&self) -> bool {
        self.backlog() * 5 > self.stats.capacity * 4 || self.stats.failing.load(Ordering::Relaxed)
    }
}

/// Starts the writer: returns the sink and the task to spawn. The task runs
/// until `shutdown` is cancelled, then drains the queue and returns.
pub fn writer(
    store: Store,
    capacity: usize,
    spool_dir: PathBuf,
    shutdown: CancellationToken,
) -> (RecordSink, impl Future<Output = ()> + Send + 'static) {
    let (tx, rx) = mpsc::channel(capacity);
    let stats = Arc::new(WriterStats {
        capacity,
        written: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        spooled: AtomicU64::new(0),
        failing: AtomicBool::new(false),
    });
    let sink = RecordSink {
        tx,
        stats: stats.clone(),
        traces: None,
        metrics: None,
    };
    let writer = Writer {
        store,
        stats,
        spool: Spool { dir: spool_dir },
    };
    (sink, writer.run(rx, shutdown))
}

struct Writer {
    store: Store,
    stats: Arc<WriterStats>,
    spool: Spool,
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<RequestRecord>, shutdown: CancellationToken) {
        self.replay().await;
        let mut batch = Vec::with_capacity(BATCH);
        let mut replay = tokio::time::interval(REPLAY_EVERY);
        replay.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_write = Instant::now();
        loop {
            tokio::select! {
                received = rx.recv_many(&mut batch, BATCH) => {
                    if received == 0 {
                        break; // every sender is gone
                    }
                    fill(&mut rx, &mut batch, next_write, &shutdown).await;
                    self.write_or_spool(&mut batch, ATTEMPTS).await;
                    next_write = Instant::now() + FLUSH_INTERVAL;
                }
                _ = replay.tick() => self.replay().await,
                () = shutdown.cancelled() => break,
            }
        }
        // Shutdown: whatever is still queued goes to the store, or the spool.
        rx.close();
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            self.write_or_spool(&mut batch, 1).await;
        }
        tracing::info!(
            written = self.stats.written.load(Ordering::Relaxed),
            spooled = self.stats.spooled.load(Ordering::Relaxed),
            dropped = self.stats.dropped.load(Ordering::Relaxed),
            "record writer stopped"
        );
    }

    /// Writes one batch, retrying briefly; spools it if the store stays down.
    async fn write_or_spool(&self, batch: &mut Vec<RequestRecord>, attempts: u32) {
        redact_bodies(batch);
        let mut backoff = Duration::from_millis(100);
        for attempt in 1..=attempts {
            match self.store.insert_records(batch).await {
                Ok(()) => {
                    if self.stats.failing.swap(false, Ordering::Relaxed) {
                        tracing::info!("request record writes recovered");
                    }
                    self.stats
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    batch.clear();
                    return;
                }
                Err(error) => {
                    if !self.stats.failing.swap(true, Ordering::Relaxed) {
                        tracing::error!(%error, records = batch.len(), "writing request records failed");
                    }
                    if attempt < attempts {
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                    }
                }
            }
        }
        match self.spool.write(batch).await {
            Ok(path) => {
                self.stats
                    .spooled
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                tracing::warn!(records = batch.len(), path = %path.display(), "store unavailable; request records spooled to disk");
            }
            Err(error) => {
                self.stats
                    .dropped
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                tracing::error!(%error, records = batch.len(), "store and spool both failed; request records lost");
            }
        }
        batch.clear();
    }

    /// Moves spooled batches into the store, oldest first; stops at the
    /// first failure and tries again later.
    async fn replay(&self) {
        let files = match self.spool.files().await {
            Ok(files) => files,
            Err(error) => {
                tracing::warn!(%error, "cannot list the record spool");
                return;
            }
        };
        for file in files {
            let records = match Spool::read(&file).await {
                Ok(records) => records,
                Err(error) => {
                    tracing::error!(%error, path = %file.display(), "unreadable spool file left in place");
                    continue;
                }
            };
            let mut ok = true;
            for chunk in records.chunks(BATCH) {
                if let Err(error) = self.store.insert_records(chunk).await {
                    tracing::debug!(%error, "store still unavailable; spool replay postponed");
                    ok = false;
                    break;
                }
            }
            if !ok {
                self.stats.failing.store(true, Ordering::Relaxed);
                return;
            }
            self.stats
                .written
                .fetch_add(records.len() as u64, Ordering::Relaxed);
            self.stats.failing.store(false, Ordering::Relaxed);
            if let Err(error) = tokio::fs::remove_file(&file).await {
                tracing::error!(%error, path = %file.display(), "replayed spool file could not be removed");
            } else {
                tracing::info!(records = records.len(), path = %file.display(), "spooled request records replayed");
            }
        }
    }
}

/// Redacts the bodies of records whose environment keeps them `redacted`.
/// Done here, in the writer, so the request path never pays for it;
/// redacting twice changes nothing.
fn redact_bodies(batch: &mut [RequestRecord]) {
    for record in batch {
        let Some(bodies) = record.bodies.as_deref_mut() else {
            continue;
        };
        if bodies.mode != BodyMode::Redacted {
            continue;
        }
        for body in [&mut bodies.request, &mut bodies.response] {
            if let Some(text) = body.take() {
                *body = Some(bytes::Bytes::from(
                    sentinel_policy::content::redact_document(&text),
                ));
            }
        }
    }
}

/// Adds records that arrive until `deadline` to `batch`, up to [`BATCH`];
/// returns at once when the deadline has passed, the batch is full, the
/// channel is closed or shutdown begins.
async fn fill(
    rx: &mut mpsc::Receiver<RequestRecord>,
    batch: &mut Vec<RequestRecord>,
    deadline: Instant,
    shutdown: &CancellationToken,
) {
    if Instant::now() >= deadline {
        return;
    }
    // One timer for the whole fill: under load this loop turns once per
    // few records, and registering a timer each turn showed in profiles.
    let expired = tokio::time::sleep_until(deadline);
    tokio::pin!(expired);
    while batch.len() < BATCH {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            () = &mut expired => return,
            received = rx.recv_many(batch, BATCH - batch.len()) => {
                if received == 0 {
                    return;
                }
            }
        }
    }
}

/// Spooled batches: one JSON Lines file each.
struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// Writes a batch to a new file, atomically (temporary name, fsync, rename).
    async fn write(&self, batch: &[RequestRecord]) -> std::io::Result<PathBuf> {
        use tokio::io::AsyncWriteExt as _;
        tokio::fs::create_dir_all(&self.dir).await?;
        let name = format!("records-{}.jsonl", uuid::Uuid::now_v7());
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut text = Vec::with_capacity(batch.len() * 512);
        for record in batch {
            serde_json::to_writer(&mut text, record).map_err(std::io::Error::other)?;
            text.push(b'\n');
        }
        let mut file = tokio::fs::File::create(&tmp).await?;
        file.write_all(&text).await?;
        file.sync_all().await?;
        drop(file);
        tokio::fs::rename(&tmp, &path).await?;
        Ok(path)
    }

    /// Spool files, oldest first (names are time-ordered).
    async fn files(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut entries = match tokio::fs::read_dir(&self.dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut files = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            let path = entry.path();
            if is_spool_file(&path) {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }

    /// Reads a spool file; lines that do not parse (a torn write cannot
    /// happen thanks to the rename, but a disk can corrupt) are skipped.
    async fn read(path: &Path) -> std::io::Result<Vec<RequestRecord>> {
        let text = tokio::fs::read_to_string(path).await?;
        let mut records = Vec::new();
        for (n, line) in text.lines().enumerate() {
            match serde_json::from_str(line) {
                Ok(record) => records.push(record),
                Err(error) => {
                    tracing::error!(%error, line = n + 1, path = %path.display(), "corrupt spooled record skipped")
                }
            }
        }
        Ok(records)
    }
}

fn is_spool_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("records-") && n.ends_with(".jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> RequestRecord {
        RequestRecord {
            id: id.to_owned(),
            status: 200,
            ..RequestRecord::default()
        }
    }

    #[tokio::test]
    async fn spool_round_trips_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool {
            dir: dir.path().join("spool"),
        };
        assert!(
            spool.files().await.unwrap().is_empty(),
            "a missing spool directory is empty"
        );
        let first = spool.write(&[record("a"), record("b")]).await.unwrap();
        let second = spool.write(&[record("c")]).await.unwrap();
        assert_eq!(spool.files().await.unwrap(), vec![first.clone(), second]);
        let ids: Vec<String> = Spool::read(&first)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_fills_until_the_deadline_only() {
        let (tx, mut rx) = mpsc::channel(16);
        let shutdown = CancellationToken::new();
        for id in ["a", "b", "c"] {
            tx.try_send(record(id)).unwrap();
        }
        // Past the deadline (an idle writer): nothing more is awaited.
        let mut batch = vec![record("first")];
        fill(&mut rx, &mut batch, Instant::now(), &shutdown).await;
        assert_eq!(batch.len(), 1);
        // Before it: what arrives meanwhile joins, then the deadline ends it.
        let deadline = Instant::now() + FLUSH_INTERVAL;
        fill(&mut rx, &mut batch, deadline, &shutdown).await;
        assert_eq!(batch.len(), 4);
        assert!(Instant::now() >= deadline);
        // Shutdown ends the wait at once.
        shutdown.cancel();
        let far = Instant::now() + Duration::from_secs(3600);
        fill(&mut rx, &mut batch, far, &shutdown).await;
        assert!(Instant::now() < far);
    }

    #[tokio::test]
    async fn corrupt_lines_are_skipped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool {
            dir: dir.path().to_path_buf(),
        };
        let path = spool.write(&[record("a")]).await.unwrap();
        let mut text = tokio::fs::read_to_string(&path).await.unwrap();
        text.push_str("{not json\n");
        tokio::fs::write(&path, text).await.unwrap();
        assert_eq!(Spool::read(&path).await.unwrap().len(), 1);
    }
}
