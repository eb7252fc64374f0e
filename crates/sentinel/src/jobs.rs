//! Singleton background jobs. The record pruner and the alert evaluator must
//! run on one replica at a time: each runs only while this replica holds the
//! job's lease in the store (a PostgreSQL advisory lock; always granted on
//! SQLite, which has one process per database). A standby replica retries
//! the lease every few seconds, so when the holder dies the job moves.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use sentinel_store::Store;
use tokio_util::sync::CancellationToken;

/// How often a standby replica tries to take a job's lease.
const LEASE_RETRY: Duration = Duration::from_secs(3);
/// How often the holder checks that its lease still holds.
const LEASE_CHECK: Duration = Duration::from_secs(3);

/// Which singleton jobs this replica runs now, for `/readyz` and `/metrics`.
#[derive(Debug, Default)]
pub struct Jobs {
    running: Mutex<BTreeMap<&'static str, bool>>,
}

impl Jobs {
    fn set(&self, job: &'static str, running: bool) {
        if let Ok(mut map) = self.running.lock() {
            map.insert(job, running);
        }
    }

    /// `(job, running here)` for every singleton job this replica knows.
    pub fn states(&self) -> Vec<(&'static str, bool)> {
        self.running
            .lock()
            .map(|map| map.iter().map(|(job, running)| (*job, *running)).collect())
            .unwrap_or_default()
    }

    /// The jobs as a JSON object: `{"pruner": "running" | "standby"}`.
    pub fn to_json(&self) -> serde_json::Value {
        self.states()
            .into_iter()
            .map(|(job, running)| {
                let state = if running { "running" } else { "standby" };
                (job.to_owned(), serde_json::Value::from(state))
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// Prometheus lines: `sentinel_job_running{job="…"} 0|1`.
    pub fn render_metrics(&self) -> String {
        let mut out = String::from(
            "# HELP sentinel_job_running Whether this replica runs the singleton job (1) or stands by (0).\n\
             # TYPE sentinel_job_running gauge\n",
        );
        for (job, running) in self.states() {
            out.push_str(&format!(
                "sentinel_job_running{{job=\"{job}\"}} {}\n",
                u8::from(running)
            ));
        }
        out
    }
}

/// Runs `job` whenever this replica holds its lease, until `stop`. `start`
/// makes one run of the job, which must end when its token is cancelled
/// (the lease was lost, or Sentinel is stopping).
pub async fn run_singleton<F, Fut>(
    store: Store,
    job: &'static str,
    jobs: Arc<Jobs>,
    stop: CancellationToken,
    start: F,
) where
    F: Fn(CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    jobs.set(job, false);
    loop {
        match store.try_lease(job).await {
            Ok(Some(mut lease)) => {
                jobs.set(job, true);
                tracing::info!(job, "this replica runs the singleton job");
                let token = stop.child_token();
                let mut run = tokio::spawn(start(token.clone()));
                let mut check = tokio::time::interval(LEASE_CHECK);
                check.reset();
                let finished = loop {
                    tokio::select! {
                        () = stop.cancelled() => break false,
                        _ = &mut run => break true,
                        _ = check.tick() => if !lease.check().await {
                            tracing::warn!(job, "lost the job's lease; another replica takes over");
                            break false;
                        },
                    }
                };
                token.cancel();
                if !finished {
                    let _ = run.await;
                }
                drop(lease);
                jobs.set(job, false);
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(job, %error, "cannot take the job's lease; retrying");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(LEASE_RETRY) => {}
        }
    }
}
