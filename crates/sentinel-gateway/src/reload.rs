//! Snapshot reloads: startup is the first reload; after that, every store
//! change (and a periodic check, as a safety net) builds a new snapshot and
//! swaps it in. A failed build leaves the current snapshot serving.

use std::{sync::Arc, time::Duration};

use sentinel_store::StoreError;
use tokio_util::sync::CancellationToken;

use crate::{Gateway, snapshot};

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    Applied { generation: u64 },
    Unchanged { generation: u64 },
}

impl Gateway {
    /// Builds a snapshot from the store and publishes it. Reloads are
    /// serialized; a reload of an unchanged store does nothing.
    pub async fn reload(&self) -> Result<ReloadOutcome, StoreError> {
        let _guard = self.inner.reload_lock.lock().await;
        // Read the change counter first: a change during the build bumps it
        // again and triggers another reload.
        let generation = *self.inner.store.subscribe_changes().borrow();
        let previous = self.snapshot();
        if let Some(p) = &previous
            && p.generation == generation
            && generation != 0
        {
            return Ok(ReloadOutcome::Unchanged { generation });
        }
        let next = snapshot::build(
            &self.inner.store,
            &self.inner.deps,
            generation,
            previous.as_deref(),
        )
        .await?;
        let (endpoints, plans) = next.live_state();
        self.inner.snapshot.store(Some(Arc::new(next)));
        self.inner.deps.endpoints.retain(&endpoints, &plans);
        tracing::info!(generation, "snapshot published");
        Ok(ReloadOutcome::Applied { generation })
    }

    /// Reloads on every store change until `shutdown`, with a periodic
    /// rebuild as a safety net (e.g. keys expiring, missed notifications).
    pub async fn run_reloader(self, shutdown: CancellationToken, every: Duration) {
        let mut changes = self.inner.store.subscribe_changes();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
                _ = tick.tick() => {}
            }
            if let Err(error) = self.reload().await {
                tracing::error!(%error, "snapshot reload failed; still serving the previous snapshot");
            }
        }
    }
}
