//! The connection pool, opening and migrating, the change feed, and the two
//! macros that let each query be written once for both engines.

use std::{str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};
use tokio::sync::watch;

use crate::{MasterKey, StoreError, crypto::Crypto};

pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

pub(crate) struct Inner {
    pub(crate) pool: Pool,
    /// SQLite: the one connection that writes request records. Batches
    /// arrive every few tens of milliseconds; on a pooled connection each
    /// would find its page cache stale (another connection wrote last) and
    /// read the tables' and indexes' pages again. `None` on PostgreSQL.
    pub(crate) record_writer: Option<SqlitePool>,
    pub(crate) crypto: Crypto,
    /// SQLite allows one writer at a time; writers queue here instead of
    /// failing with SQLITE_BUSY. Unused with PostgreSQL.
    pub(crate) write_lock: tokio::sync::Mutex<()>,
    pub(crate) changes: watch::Sender<u64>,
    /// Identifies this store's own change notifications on PostgreSQL.
    pub(crate) instance: String,
}

/// Sentinel's store: SQLite or PostgreSQL behind one API. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_name())
            .finish_non_exhaustive()
    }
}

/// Runs `$body` with `$pool` bound to whichever pool the store has. The body
/// is compiled once per engine, so one query text serves both.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.inner.pool {
            $crate::backend::Pool::Sqlite($pool) => $body,
            $crate::backend::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// [`with_pool`] for writing request records: on SQLite, the record
/// writer's own connection.
macro_rules! with_record_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.inner.pool {
            $crate::backend::Pool::Sqlite(shared) => {
                let $pool = $store.inner.record_writer.as_ref().unwrap_or(shared);
                $body
            }
            $crate::backend::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_record_pool;

/// Runs `$body` inside a write transaction bound to `$tx`, commits when it
/// returns `Ok`, and publishes a change. Writers race for the next audit
/// sequence number only under PostgreSQL; the loser's transaction is retried.
/// `write_tx!(quiet store, |tx| …)` publishes nothing: for writes that change
/// no configuration (an audit event of a read or a failed login), so they
/// never make the gateway rebuild its snapshot.
macro_rules! write_tx {
    ($store:expr, |$tx:ident| $body:expr) => {{
        $crate::backend::write_tx!(quiet $store, |$tx| $body).inspect(|_| $store.publish_change())
    }};
    (quiet $store:expr, |$tx:ident| $body:expr) => {{
        let _serial = $store.write_guard().await;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result: Result<_, $crate::StoreError> =
                $crate::backend::with_pool!($store, |pool| {
                    async {
                        let mut $tx = pool.begin_with($store.begin_statement()).await?;
                        let value = $body;
                        $tx.commit().await?;
                        Ok(value)
                    }
                    .await
                });
            match result {
                Err($crate::StoreError::AuditContention) if attempt < 20 => {
                    tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt) * 3))
                        .await;
                }
                other => break other,
            }
        }
    }};
}
pub(crate) use write_tx;

impl Store {
    /// Opens `sqlite://PATH[?mode=rwc]` or `postgres://…` and runs migrations.
    pub async fn open(url: &str, master_key: MasterKey) -> Result<Self, StoreError> {
        let mut record_writer = None;
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|_| StoreError::Database("invalid sqlite URL".into()))?
                .create_if_missing(true)
                // 16 KiB pages for a new database (an existing one keeps its
                // own): request records are appended about 1.4 KB at a time
                // with their index entries, and bigger pages mean a quarter
                // of the WAL frames, write calls and B-tree splits per record.
                .page_size(16 * 1024)
                .journal_mode(SqliteJournalMode::Wal)
                // Checkpoint after about 4 MiB of WAL, as SQLite's default
                // of 1000 pages did with 4 KiB pages: a checkpoint runs on
                // the record writer's thread, and a bigger one would hold
                // it (and, on a one-core host, the request path) longer.
                .pragma("wal_autocheckpoint", "256")
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options.clone())
                .await?;
            sqlx::migrate!("migrations/sqlite").run(&pool).await?;
            // An in-memory database is private to its connection: records
            // go through the shared pool there.
            if !url.contains(":memory:") && !url.contains("mode=memory") {
                record_writer = Some(
                    SqlitePoolOptions::new()
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None)
                        // Each batch's statement journal stays in memory
                        // rather than in a temporary file created and
                        // deleted per batch; this connection only inserts.
                        .connect_with(options.pragma("temp_store", "memory"))
                        .await?,
                );
            }
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|_| StoreError::Database("invalid postgres URL".into()))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await?;
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
            Pool::Postgres(pool)
        } else {
            return Err(StoreError::Database(
                "store URL must start with sqlite:// or postgres://".into(),
            ));
        };
        let changes = watch::Sender::new(0);
        let instance = uuid::Uuid::new_v4().simple().to_string();
        if let Pool::Postgres(pg) = &pool {
            tokio::spawn(crate::feed::listen(
                pg.clone(),
                changes.clone(),
                instance.clone(),
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                record_writer,
                crypto: Crypto::new(&master_key),
                write_lock: tokio::sync::Mutex::new(()),
                changes,
                instance,
            }),
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.inner.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(StoreError::from))
    }

    /// Closes the pool, waiting for connections to return.
    pub async fn close(&self) {
        if let Some(pool) = &self.inner.record_writer {
            pool.close().await;
        }
        with_pool!(self, |pool| pool.close().await);
    }

    /// A counter bumped after every committed control-plane change, this
    /// process's or (on PostgreSQL) another replica's. The gateway rebuilds
    /// its snapshot when it moves.
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    pub(crate) fn publish_change(&self) {
        self.inner.changes.send_modify(|n| *n += 1);
        if let Pool::Postgres(pool) = &self.inner.pool {
            tokio::spawn(crate::feed::notify(
                pool.clone(),
                self.inner.instance.clone(),
            ));
        }
    }

    /// How a write transaction begins. SQLite takes its write lock up front
    /// (waiting up to `busy_timeout`): a deferred transaction that has read
    /// first fails at once with SQLITE_BUSY when it tries to write while
    /// another connection still holds the lock, e.g. a dropped transaction
    /// whose rollback has not run yet.
    pub(crate) fn begin_statement(&self) -> &'static str {
        match self.inner.pool {
            Pool::Sqlite(_) => "BEGIN IMMEDIATE",
            Pool::Postgres(_) => "BEGIN",
        }
    }

    /// The start and the end of an `INSERT` that skips rows whose id is
    /// already stored (replays of request records and bodies).
    ///
    /// On SQLite this is `INSERT OR IGNORE` rather than an upsert clause:
    /// with every constraint resolved by ignoring the row, the statement
    /// cannot abort halfway, so SQLite opens no statement journal for it. A
    /// multi-row insert that might abort inside a transaction first copies
    /// every page it modifies into that journal, which was about 6% of all
    /// instructions per proxied request. The rows inserted are the same: the
    /// tables have no unique constraint besides the id, and the NOT NULL
    /// columns are filled from non-optional fields.
    pub(crate) fn insert_skipping_known_ids(&self) -> (&'static str, &'static str) {
        match self.inner.pool {
            Pool::Sqlite(_) => ("INSERT OR IGNORE INTO ", ""),
            Pool::Postgres(_) => ("INSERT INTO ", " ON CONFLICT (id) DO NOTHING"),
        }
    }

    /// Serializes writers on SQLite; a no-op guard on PostgreSQL.
    pub(crate) async fn write_guard(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.inner.pool {
            Pool::Sqlite(_) => Some(self.inner.write_lock.lock().await),
            Pool::Postgres(_) => None,
        }
    }
}

/// Milliseconds since the unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A new time-ordered id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
