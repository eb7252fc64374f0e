//! The change feed across replicas. Every replica on one PostgreSQL
//! database hears every other replica's control-plane changes through
//! `LISTEN/NOTIFY` on one channel, and bumps its local change counter, so
//! each gateway rebuilds its snapshot within moments of a change anywhere.
//!
//! A notification is only a hint to reload; it carries nothing. If the
//! listening connection drops, notifications sent meanwhile are lost, so a
//! reconnect bumps the counter too (the reload that follows reads the
//! store's current state, whatever it missed). The gateway's periodic
//! reload remains the safety net under all of this.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::watch;

/// The channel every replica listens on.
const CHANNEL: &str = "sentinel_changes";
/// Wait before listening again after the connection failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Tells the other replicas that the control plane changed. Best effort: a
/// lost notification is covered by their periodic reload. The payload is
/// this store's instance id, so its own listener skips it (the local
/// counter already moved).
pub(crate) async fn notify(pool: PgPool, instance: String) {
    if let Err(error) = sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(instance)
        .execute(&pool)
        .await
    {
        tracing::debug!(%error, "change notification not sent; other replicas reload on their timer");
    }
}

/// Listens for other replicas' changes until the pool closes.
pub(crate) async fn listen(pool: PgPool, changes: watch::Sender<u64>, instance: String) {
    let bump = || changes.send_modify(|n| *n += 1);
    let mut first = true;
    loop {
        if pool.is_closed() {
            return;
        }
        let mut listener = match subscribe(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for control-plane changes; retrying");
                tokio::time::sleep(RECONNECT_AFTER).await;
                continue;
            }
        };
        // After a reconnect, whatever happened while we were not listening
        // is read now. (At start the first snapshot reads everything.)
        if !std::mem::take(&mut first) {
            bump();
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) if notification.payload() == instance => {}
                Ok(Some(_)) => bump(),
                // The connection dropped; the listener reconnects on the
                // next call. Changes may have been missed: reload.
                Ok(None) => bump(),
                Err(sqlx::Error::PoolClosed) => return,
                Err(error) => {
                    tracing::warn!(%error, "change feed interrupted; listening again");
                    tokio::time::sleep(RECONNECT_AFTER).await;
                    break;
                }
            }
        }
    }
}

async fn subscribe(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
