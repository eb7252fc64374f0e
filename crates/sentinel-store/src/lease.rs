//! Leases for singleton background jobs (the pruner, the alert evaluator):
//! among replicas sharing one PostgreSQL database, one at a time runs each.
//!
//! On PostgreSQL a lease is a session-level advisory lock held by a
//! connection taken out of the pool for the purpose. If the replica dies or
//! its connection breaks, PostgreSQL releases the lock and another replica's
//! next attempt takes it; the holder notices the broken connection on its
//! next [`Lease::check`] and stops the job. On SQLite there is one process
//! per database file, so a lease is always granted.

use sqlx::{Postgres, pool::PoolConnection};

use crate::{Store, StoreError, backend::Pool};

/// The right to run one singleton job until dropped.
pub struct Lease {
    job: String,
    /// The connection holding the advisory lock; `None` on SQLite.
    holder: Option<PoolConnection<Postgres>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("job", &self.job)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Takes the lease for `job` if no other replica holds it. `Ok(None)`
    /// means another replica runs the job.
    pub async fn try_lease(&self, job: &str) -> Result<Option<Lease>, StoreError> {
        let Pool::Postgres(pool) = &self.inner.pool else {
            return Ok(Some(Lease {
                job: job.to_owned(),
                holder: None,
            }));
        };
        let mut conn = pool.acquire().await?;
        let (taken,): (bool,) =
            sqlx::query_as("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(lock_name(job))
                .fetch_one(&mut *conn)
                .await?;
        if !taken {
            return Ok(None);
        }
        // Never hand a connection that holds the lock back to the pool: the
        // lock would outlive the lease.
        conn.close_on_drop();
        Ok(Some(Lease {
            job: job.to_owned(),
            holder: Some(conn),
        }))
    }
}

impl Lease {
    /// The job this lease is for.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// Whether the lease still holds (its connection answers). A lease that
    /// fails this check is lost for good: drop it and try to take it again.
    pub async fn check(&mut self) -> bool {
        let Some(conn) = self.holder.as_mut() else {
            return true;
        };
        // A session-level advisory lock is released only by unlocking or by
        // the session ending: while the session answers, the lock is ours.
        let held: Result<(i32,), sqlx::Error> =
            sqlx::query_as("SELECT 1").fetch_one(&mut **conn).await;
        held.is_ok()
    }
}

fn lock_name(job: &str) -> String {
    format!("sentinel:job:{job}")
}
