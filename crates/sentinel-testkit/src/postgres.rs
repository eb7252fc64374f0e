//! One PostgreSQL database per test, on the local server.

use sqlx::{Connection, PgConnection};

/// The server tests use; override with `SENTINEL_TEST_POSTGRES_URL`.
pub fn server_url() -> String {
    std::env::var("SENTINEL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A freshly created, uniquely named database.
#[derive(Debug)]
pub struct TestDatabase {
    /// Connection URL of the new database.
    pub url: String,
    pub name: String,
}

impl TestDatabase {
    /// Creates `sentinel_test_<uuid>`. Panics (failing the test) when the
    /// server is unreachable: `./scripts/test.sh` starts it.
    pub async fn create() -> Self {
        let server = server_url();
        let mut admin = PgConnection::connect(&server).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is not reachable at {server} ({e}); run the tests with ./scripts/test.sh, which starts it")
        });
        drop_stale_databases(&mut admin).await;
        let name = format!("sentinel_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let base = server
            .rsplit_once('/')
            .map_or(server.as_str(), |(b, _)| b)
            .to_owned();
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

/// Drops `sentinel_test_*` databases created more than two hours ago: the
/// background drop below does not finish when the test process exits first.
/// Best effort: reading a database's creation time needs a superuser.
async fn drop_stale_databases(admin: &mut PgConnection) {
    let stale: Vec<(String,)> = sqlx::query_as(
        "SELECT datname FROM pg_database WHERE datname LIKE 'sentinel\\_test\\_%'
           AND (pg_stat_file('base/' || oid || '/PG_VERSION')).modification < now() - interval '2 hours'",
    )
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    for (name,) in stale {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut *admin)
        .await;
    }
}

impl Drop for TestDatabase {
    /// Drops the database in the background (best effort; a crash leaves a
    /// `sentinel_test_*` database behind, which is harmless).
    fn drop(&mut self) {
        let name = self.name.clone();
        let server = server_url();
        std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&server).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
            });
        });
    }
}
